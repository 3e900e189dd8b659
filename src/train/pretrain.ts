/**
 * Pre-training (or full fine-tuning) of a base model: every base weight trains, no adapters.
 * Used to build the demo model; shares the loop, optimizer and checkpoints with supernet training.
 */
import type { LlamaModel } from '../model/llama.js';
import type { BatchSource } from './batch.js';
import { createTrainingEngine, type EngineChoice } from './engines.js';
import { runTrainingLoop, type TrainingTask, type TrainLoopOptions, type TrainLoopResult } from './loop.js';

/** Options of {@link pretrain}. */
export interface PretrainOptions extends Omit<TrainLoopOptions, 'taskName'> {
  /** Training engine (default `tfjs`; `auto` = onnx where onnxruntime-node loads). */
  readonly engine?: EngineChoice;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
}

/** Train all base weights of `model` on `data` (next-token prediction). */
export async function pretrain(model: LlamaModel, data: BatchSource, options: PretrainOptions): Promise<TrainLoopResult & { readonly engine: 'tfjs' | 'onnx' }> {
  model.setBaseTrainable(true);
  try {
    const engine = await createTrainingEngine(options.engine ?? 'tfjs', {
      model,
      variables: model.namedBaseVariables(),
      trainBase: true,
      optimizer: { weightDecay: options.weightDecay ?? 0.01 },
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
    const task: TrainingTask = { engine, passes: () => [{ label: 'base' }] };
    try {
      const result = await runTrainingLoop(task, data, { ...options, taskName: 'pretrain' });
      await engine.finish();
      return { ...result, engine: engine.name };
    } finally {
      await engine.dispose();
    }
  } finally {
    model.setBaseTrainable(false);
  }
}
