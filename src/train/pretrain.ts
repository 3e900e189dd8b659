/**
 * Pre-training (or full fine-tuning) of a base model: every base weight trains, no adapters.
 * Used to build the demo model; shares the loop, optimizer and checkpoints with supernet training.
 */
import * as tf from '@tensorflow/tfjs';
import type { LlamaModel } from '../model/llama.js';
import { tokenCrossEntropy } from '../model/loss.js';
import type { BatchSource } from './batch.js';
import { batchTensors, runTrainingLoop, type TrainingTask, type TrainLoopOptions, type TrainLoopResult } from './loop.js';

/** Train all base weights of `model` on `data` (next-token prediction). */
export async function pretrain(model: LlamaModel, data: BatchSource, options: Omit<TrainLoopOptions, 'taskName'>): Promise<TrainLoopResult> {
  model.setBaseTrainable(true);
  const task: TrainingTask = {
    variables: model.namedBaseVariables(),
    passes: () => [{ label: 'base', activate: () => undefined }],
    loss: (batch, ctx) =>
      tf.tidy(() => {
        const t = batchTensors(batch);
        return tokenCrossEntropy(model.forward(t.ids, ctx), t.targets, t.weights);
      }),
  };
  try {
    return await runTrainingLoop(task, data, { ...options, taskName: 'pretrain' });
  } finally {
    model.setBaseTrainable(false);
  }
}
