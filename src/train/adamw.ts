/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) over tfjs variables, with state that can
 * be saved and restored exactly.
 *
 * Like PyTorch's AdamW, a variable that received no gradient in a step (an adapter switched
 * off, rank 0) is skipped entirely: its moments, step count and weights stay as they are. A
 * variable whose gradient is partly zero (an inactive rank slice) is updated as a whole, so
 * momentum still moves the inactive slice, exactly as in PyTorch implementations of NLS.
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';

/** AdamW hyper-parameters. */
export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  readonly weightDecay?: number;
}

/** Saved optimizer state of one variable. */
export interface AdamWSlotState {
  readonly step: number;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

interface Slot {
  step: number;
  m: tf.Variable;
  v: tf.Variable;
}

/** AdamW over a fixed, ordered list of variables. */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly slots: Slot[];

  constructor(
    /** The variables it updates, in a fixed order (the order of saved state). */
    readonly variables: readonly tf.Variable[],
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    // tidy frees the zerosLike temporaries; the variables survive it.
    this.slots = variables.map((v) => ({
      step: 0,
      m: tf.tidy(() => tf.variable(tf.zerosLike(v), false)),
      v: tf.tidy(() => tf.variable(tf.zerosLike(v), false)),
    }));
  }

  /**
   * Apply one update with learning rate `lr`. `grads` maps variable name to gradient; missing
   * entries mean "no gradient this step".
   */
  apply(grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    this.variables.forEach((variable, i) => {
      const g = grads[variable.name];
      if (!g) return;
      const slot = this.slots[i]!;
      slot.step += 1;
      const t = slot.step;
      const b1 = this.beta1;
      const b2 = this.beta2;
      tf.tidy(() => {
        const m = tf.add(tf.mul(slot.m, b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(slot.v, b2), tf.mul(tf.square(g), 1 - b2));
        const stepSize = lr / (1 - b1 ** t);
        const denom = tf.add(tf.sqrt(tf.div(v, 1 - b2 ** t)), this.epsilon);
        // Decoupled decay first (PyTorch order): p <- p * (1 - lr * wd), then the Adam step.
        const decayed = this.weightDecay > 0 ? tf.mul(variable, 1 - lr * this.weightDecay) : variable;
        variable.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
        slot.m.assign(m);
        slot.v.assign(v);
      });
    });
  }

  /** The optimizer state, for a checkpoint. */
  async state(): Promise<AdamWSlotState[]> {
    return Promise.all(
      this.slots.map(async (s) => ({ step: s.step, m: (await s.m.data()) as Float32Array, v: (await s.v.data()) as Float32Array })),
    );
  }

  /** Restore state saved by {@link AdamW.state} (same variables, same order). */
  restore(state: readonly AdamWSlotState[], source = 'checkpoint'): void {
    if (state.length !== this.slots.length) {
      throw new NlsError(`optimizer state has ${state.length} slots but ${this.slots.length} variables train; the checkpoint belongs to another setup`, {
        file: source,
      });
    }
    state.forEach((s, i) => {
      const slot = this.slots[i]!;
      if (s.m.length !== slot.m.size || s.v.length !== slot.v.size) {
        throw new NlsError(`optimizer slot ${i} has ${s.m.length} values, expected ${slot.m.size}`, { file: source });
      }
      slot.step = s.step;
      tf.tidy(() => {
        slot.m.assign(tf.tensor(s.m, slot.m.shape));
        slot.v.assign(tf.tensor(s.v, slot.v.shape));
      });
    });
  }

  /** Free the optimizer's state tensors (not the variables it updates). */
  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
  }
}

/**
 * Scale gradients in place so that their global L2 norm is at most `maxNorm`; resolves to the
 * norm before clipping (NaN/Inf when a gradient is not finite). Asynchronous because it reads the
 * norm back from the device, and the webgpu backend has no synchronous read in Node.js.
 */
export async function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): Promise<number> {
  const names = Object.keys(grads);
  if (names.length === 0) return 0;
  const normT = tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))));
  const norm = (await normT.data())[0]!;
  normT.dispose();
  if (Number.isFinite(norm) && maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const n of names) {
      const old = grads[n]!;
      grads[n] = tf.mul(old, scale);
      old.dispose();
    }
  }
  return norm;
}
