/**
 * Training engines: where the training loop (loop.ts) gets a micro-batch's loss and gradients
 * and applies the optimizer. The loop (schedule, sampling of passes, accumulation over
 * micro-batches and passes, clipping, AdamW, checkpoints, resume) is one; an engine computes:
 *
 * - `tfjs` (this file): the model's tfjs variables, `tf.variableGrads` and the tfjs AdamW, on
 *   whatever tfjs backend is initialised (wasm, cpu, webgpu, tensorflow);
 * - `onnx` (src/engine/onnx/training.ts): the training graph derived from the ONNX export, run
 *   by onnxruntime, with host copies of the trained weights and the host AdamW.
 *
 * Both hold the same parameters under the same stable names and write checkpoints of the same
 * layout, so a run checkpointed on one engine resumes on the other (docs/training.md says what
 * is bit-exact).
 */
import * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import type { EngineName } from '../engine/types.js';
import type { ForwardContext } from '../model/linear.js';
import type { LlamaModel } from '../model/llama.js';
import { tokenCrossEntropy } from '../model/loss.js';
import { AdamW, type AdamWOptions, type AdamWSlotState, clipByGlobalNorm } from './adamw.js';
import type { TokenBatch } from './batch.js';

/** Training engines are named as evaluation engines are (`tfjs`, `onnx`; src/engine/types.ts). */
export type TrainingEngineName = EngineName;

/** The configuration one pass of a step trains. */
export interface TrainingPass {
  /** What is trained, e.g. a configuration key; recorded per step. */
  readonly label: string;
  /** Active rank of every adapted module (supernet training); absent when no adapters train. */
  readonly ranks?: ReadonlyMap<string, number>;
  /** MLP width per layer (elastic widths); absent = full widths. */
  readonly widths?: ReadonlyMap<number, number>;
}

/** A parameter as the loop saves it. */
export interface ParameterSnapshot {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** What the loop needs from an engine. */
export interface TrainingEngine {
  readonly name: TrainingEngineName;
  /** Stable parameter names (checkpoint names), in optimizer order. */
  readonly names: readonly string[];
  /** Start an optimizer step: clear the gradient accumulator. */
  beginStep(): void;
  /**
   * Forward and backward pass of one micro-batch under `pass`'s configuration: resolves to its
   * loss and adds `scale` times its gradient to the accumulator. Random choices (dropout) draw
   * seeds from `ctx.nextSeed`.
   */
  accumulate(pass: TrainingPass, batch: TokenBatch, scale: number, ctx: ForwardContext): Promise<number>;
  /** Scale the accumulated gradient to a global L2 norm of at most `maxNorm` (0 = no clipping); resolves to the norm before. */
  clip(maxNorm: number): Promise<number>;
  /** One AdamW update with the accumulated gradient; parameters that got no gradient this step are left alone. */
  apply(lr: number): void;
  /** Drop the accumulated gradient without applying it. */
  discardStep(): void;
  /** The accumulated gradient by name (copies; parameters with no gradient this step are absent), for tests and diagnostics. */
  accumulatedGradients(): Promise<Map<string, Float32Array>>;
  /** Current weights by name. */
  weights(): Promise<Map<string, ParameterSnapshot>>;
  /** Overwrite the weights (resume). */
  setWeights(weights: ReadonlyMap<string, { readonly data: Float32Array }>, source: string): void;
  /** Optimizer state, in `names` order. */
  optimizerState(): Promise<AdamWSlotState[]>;
  restoreOptimizer(state: readonly AdamWSlotState[], source: string): void;
  /** Make the trained weights the model's (the onnx engine copies them back into the tfjs variables). */
  finish(): Promise<void>;
  /** Free what the engine holds (not the model's variables). */
  dispose(): Promise<void>;
}

/** What a tfjs engine trains. */
export interface TfjsEngineSpec {
  readonly model: LlamaModel;
  /** Adapters whose ranks the passes set (supernet training). */
  readonly adapters?: AdapterSet;
  /** The trained variables by stable name. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  readonly optimizer?: AdamWOptions;
}

/** A batch's tensors (int32 ids and targets, float32 weights, [batch, seq]). */
export function batchTensors(b: TokenBatch): { ids: tf.Tensor2D; targets: tf.Tensor2D; weights: tf.Tensor2D } {
  return {
    ids: tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], 'int32'),
    targets: tf.tensor2d(b.targets, [b.batchSize, b.seqLen], 'int32'),
    weights: tf.tensor2d(b.weights, [b.batchSize, b.seqLen], 'float32'),
  };
}

/**
 * `tf.variableGrads`, except that a loss reaching none of the variables (every adapter of the
 * configuration switched off) gives no gradients instead of an error.
 */
function gradsOf(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  try {
    return tf.variableGrads(f, vars);
  } catch (err) {
    if (!(err instanceof Error) || !/Cannot find a connection between any variable/.test(err.message)) throw err;
    return { value: tf.tidy(f), grads: {} };
  }
}

/** The tfjs engine (see the module comment). */
export function createTfjsTrainingEngine(spec: TfjsEngineSpec): TrainingEngine {
  const names = [...spec.variables.keys()];
  const vars = names.map((n) => spec.variables.get(n)!);
  // tfjs names gradients by variable.name; map back to our stable names.
  const byTfName = new Map(vars.map((v, i) => [v.name, names[i]!]));
  const optimizer = new AdamW(vars, spec.optimizer);
  let acc: Record<string, tf.Tensor> = {};

  const addInto = (grads: Record<string, tf.Tensor>, scale: number): void => {
    for (const [name, g] of Object.entries(grads)) {
      const scaled = scale === 1 ? g : tf.mul(g, scale);
      if (scaled !== g) g.dispose();
      const prev = acc[name];
      if (prev) {
        acc[name] = tf.add(prev, scaled);
        prev.dispose();
        scaled.dispose();
      } else {
        acc[name] = scaled;
      }
    }
  };
  const clear = (): void => {
    tf.dispose(Object.values(acc));
    acc = {};
  };

  return {
    name: 'tfjs',
    names,
    beginStep: clear,
    accumulate: async (pass, batch, scale, ctx) => {
      if (pass.ranks) spec.adapters?.setActiveRanks(pass.ranks);
      if (pass.widths) spec.model.setMlpWidths(pass.widths);
      const trainable = vars.filter((v) => v.trainable);
      const { value, grads } = gradsOf(
        () =>
          tf.tidy(() => {
            const t = batchTensors(batch);
            return tokenCrossEntropy(spec.model.forward(t.ids, ctx), t.targets, t.weights);
          }),
        trainable,
      );
      const loss = (await value.data())[0]!;
      value.dispose();
      if (!Number.isFinite(loss)) {
        tf.dispose(grads);
        return loss;
      }
      const renamed: Record<string, tf.Tensor> = {};
      for (const [tfName, g] of Object.entries(grads)) renamed[byTfName.get(tfName) ?? tfName] = g;
      addInto(renamed, scale);
      return loss;
    },
    clip: (maxNorm) => clipByGlobalNorm(acc, maxNorm),
    apply: (lr) => {
      const byVarName: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => {
        if (acc[n]) byVarName[vars[i]!.name] = acc[n]!;
      });
      optimizer.apply(byVarName, lr);
      clear();
    },
    discardStep: clear,
    accumulatedGradients: async () => {
      const out = new Map<string, Float32Array>();
      for (const n of names) if (acc[n]) out.set(n, Float32Array.from((await acc[n]!.data()) as Float32Array));
      return out;
    },
    weights: async () => {
      const out = new Map<string, ParameterSnapshot>();
      for (let i = 0; i < names.length; i++) out.set(names[i]!, { shape: vars[i]!.shape.slice(), data: (await vars[i]!.data()) as Float32Array });
      return out;
    },
    setWeights: (weights) => {
      names.forEach((n, i) => {
        const v = vars[i]!;
        tf.tidy(() => v.assign(tf.tensor(weights.get(n)!.data, v.shape)));
      });
    },
    optimizerState: () => optimizer.state(),
    restoreOptimizer: (state, source) => optimizer.restore(state, source),
    finish: async () => undefined,
    dispose: async () => {
      clear();
      optimizer.dispose();
    },
  };
}
