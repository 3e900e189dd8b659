/**
 * Supernet training (NLS): the base model stays frozen; each optimizer step activates the
 * configuration(s) the sampling rule draws and trains the adapters' active slices. With width
 * genes (LoNAS mode B) a configuration also sets each layer's MLP width, so widths and ranks are
 * sampled together under the rule; only adapter weights train.
 */
import type * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import type { MachineSignature } from '../run/machine.js';
import type { LlamaModel } from '../model/llama.js';
import type { SearchSpace } from '../space/index.js';
import type { BatchSource } from '../train/batch.js';
import { createTrainingEngine, type EngineChoice } from '../train/engines.js';
import { runTrainingLoop, type StepRecord, type TrainingTask, type TrainLoopOptions, type TrainLoopResult } from '../train/loop.js';
import { configsForStep, type SamplingRuleName } from './sampling.js';

/** Options of {@link trainSupernet}. */
export interface SupernetTrainOptions extends Omit<TrainLoopOptions, 'taskName'> {
  /** Sampling rule (default `uniform`). */
  readonly rule?: SamplingRuleName;
  /** Training engine (default `tfjs`; `auto` = onnx where onnxruntime-node loads, src/train/engines.ts). */
  readonly engine?: EngineChoice;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
}

/** How often a configuration was trained and its running mean loss (NNCF v2.17's statistics). */
export interface ConfigStatistics {
  readonly key: string;
  readonly activations: number;
  readonly meanLoss: number;
}

/** What {@link trainSupernet} returns. */
export interface SupernetTrainResult {
  readonly records: readonly StepRecord[];
  readonly statistics: readonly ConfigStatistics[];
  readonly seconds: number;
  readonly tokens: number;
  readonly stepsDone: number;
  /** The engine that trained. */
  readonly engine: 'tfjs' | 'onnx';
  /** The machines the run ran on (see {@link TrainLoopResult.machines}). */
  readonly machines: readonly MachineSignature[];
}

/** Stable checkpoint names of the adapter variables: `<module key>.lora_A` / `.lora_B`. */
export function adapterVariables(adapters: AdapterSet): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [key, a] of adapters.adapters) {
    out.set(`${key}.lora_A`, a.aT);
    out.set(`${key}.lora_B`, a.bT);
  }
  return out;
}

/** Activation counts and mean loss per configuration key, most activated first. */
export function configStatistics(records: readonly StepRecord[]): ConfigStatistics[] {
  const acc = new Map<string, { n: number; sum: number }>();
  for (const r of records) {
    const a = acc.get(r.label) ?? { n: 0, sum: 0 };
    a.n += 1;
    a.sum += r.loss;
    acc.set(r.label, a);
  }
  return [...acc]
    .map(([key, a]) => ({ key, activations: a.n, meanLoss: a.sum / a.n }))
    .sort((x, y) => y.activations - x.activations || x.meanLoss - y.meanLoss || (x.key < y.key ? -1 : 1));
}

/** Train the adapters of `adapters` (attached to `model`) as a weight-sharing supernet over `space`. */
export async function trainSupernet(
  model: LlamaModel,
  adapters: AdapterSet,
  space: SearchSpace,
  data: BatchSource,
  options: SupernetTrainOptions,
): Promise<SupernetTrainResult> {
  const rule = options.rule ?? 'uniform';
  const engine = await createTrainingEngine(options.engine ?? 'tfjs', {
    model,
    adapters,
    variables: adapterVariables(adapters),
    elasticWidths: space.hasWidths,
    optimizer: { weightDecay: options.weightDecay ?? 0.01 },
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  const task: TrainingTask = {
    engine,
    passes: (_step, rng) =>
      configsForStep(rule, space, rng).map((config) => ({
        label: space.key(config),
        ranks: space.activeRanks(config),
        ...(space.hasWidths ? { widths: space.activeWidths(config) } : {}),
      })),
  };
  let result;
  try {
    result = await runTrainingLoop(task, data, {
      ...options,
      taskName: options.rule === 'max' ? 'lora' : 'supernet',
      fingerprint: { rule, space: space.fingerprint, user: options.fingerprint ?? null },
    });
    await engine.finish();
  } finally {
    await engine.dispose();
    // The model leaves training at full width, whatever the last step activated.
    if (space.hasWidths) model.resetMlpWidths();
  }
  return { ...result, engine: engine.name, statistics: configStatistics(result.records) };
}
