/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter), with state that can be saved and restored
 * exactly: {@link AdamW} over tfjs variables (the tfjs engine, weights on the backend's device)
 * and {@link HostAdamW} over Float32Arrays in host memory (the onnx engine, whose weights live on
 * the host between session runs). Both are one algorithm with one state layout (a checkpoint of
 * one restores into the other): the same operations in the same order, each rounded to float32
 * as the tfjs kernels round it, so given the same gradients they produce the same bits (tested).
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

/** Hyper-parameters with their defaults filled in. */
function resolveOptions(options: AdamWOptions): Required<AdamWOptions> {
  return { beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, epsilon: options.epsilon ?? 1e-8, weightDecay: options.weightDecay ?? 0.01 };
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
    ({ beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay } = resolveOptions(options));
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
 * {@link AdamW} over host memory: each parameter is a Float32Array updated in place, with its
 * moments in Float32Arrays. Every operation is rounded to float32 (`Math.fround`) in the order
 * the tfjs version's kernels compute it, scalars included (`1 - beta1` is formed in float64 and
 * then rounded, as tfjs rounds a JS number when it becomes a scalar tensor).
 */
export class HostAdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly slots: { step: number; readonly m: Float32Array; readonly v: Float32Array }[];

  constructor(
    /** The parameters it updates, in a fixed order (the order of saved state). */
    readonly parameters: readonly Float32Array[],
    options: AdamWOptions = {},
  ) {
    ({ beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay } = resolveOptions(options));
    this.slots = parameters.map((p) => ({ step: 0, m: new Float32Array(p.length), v: new Float32Array(p.length) }));
  }

  /**
   * Apply one update with learning rate `lr`: `grads[i]` is parameter i's gradient, or undefined
   * for "no gradient this step" (the parameter, its moments and step count stay as they are).
   */
  apply(grads: readonly (Float32Array | undefined)[], lr: number): void {
    const f = Math.fround;
    const b1 = f(this.beta1);
    const b2 = f(this.beta2);
    const c1 = f(1 - this.beta1);
    const c2 = f(1 - this.beta2);
    const eps = f(this.epsilon);
    const decay = this.weightDecay > 0 ? f(1 - lr * this.weightDecay) : 1;
    this.parameters.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      if (g.length !== p.length) throw new RangeError(`gradient ${i} has ${g.length} values for a parameter of ${p.length}`);
      const slot = this.slots[i]!;
      slot.step += 1;
      const t = slot.step;
      const stepSize = f(lr / (1 - this.beta1 ** t));
      const bias2 = f(1 - this.beta2 ** t);
      const { m, v } = slot;
      for (let j = 0; j < p.length; j++) {
        const gj = g[j]!;
        const mj = f(f(m[j]! * b1) + f(gj * c1));
        const vj = f(f(v[j]! * b2) + f(f(gj * gj) * c2));
        const denom = f(f(Math.sqrt(f(vj / bias2))) + eps);
        const decayed = decay === 1 ? p[j]! : f(p[j]! * decay);
        p[j] = f(decayed - f(f(mj / denom) * stepSize));
        m[j] = mj;
        v[j] = vj;
      }
    });
  }

  /** The optimizer state, for a checkpoint (copies). */
  state(): AdamWSlotState[] {
    return this.slots.map((s) => ({ step: s.step, m: s.m.slice(), v: s.v.slice() }));
  }

  /** Restore state saved by {@link HostAdamW.state} or {@link AdamW.state} (same parameters, same order). */
  restore(state: readonly AdamWSlotState[], source = 'checkpoint'): void {
    if (state.length !== this.slots.length) {
      throw new NlsError(`optimizer state has ${state.length} slots but ${this.slots.length} variables train; the checkpoint belongs to another setup`, { file: source });
    }
    state.forEach((s, i) => {
      const slot = this.slots[i]!;
      if (s.m.length !== slot.m.length || s.v.length !== slot.v.length) throw new NlsError(`optimizer slot ${i} has ${s.m.length} values, expected ${slot.m.length}`, { file: source });
      slot.step = s.step;
      slot.m.set(s.m);
      slot.v.set(s.v);
    });
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
