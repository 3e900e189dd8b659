/**
 * Elastic LoRA: a LoRA adapter whose rank can be switched at run time.
 *
 * Weights are allocated at the maximum rank r_max: A is [r_max, in] and B is [out, r_max]
 * (PEFT's layout). Active rank r uses A[:r] and B[:, :r]; r = 0 switches the adapter off.
 * Switching rank only changes a number: no weights are copied, and the slices taken in the
 * forward pass have gradients that are exactly zero outside the active block.
 *
 * Internally A and B are stored transposed (A^T [in, r_max], B^T [r_max, out]) so that
 * both products are non-transposed 2-D matMuls (src/ops/linalg.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, LinearHook, LinearSlot } from '../model/linear.js';
import { linear } from '../ops/linalg.js';
import { type AdapterPlanEntry, loraScale } from '../space/search-space.js';

/**
 * What is needed to create one elastic adapter: the module key, r_max, alpha, scaling rule
 * and dropout of a search space's adapter plan entry.
 */
export type ElasticLoraSpec = Pick<AdapterPlanEntry, 'key' | 'rMax' | 'alpha' | 'scaling' | 'dropout'>;

/** One elastic LoRA adapter, attached to a {@link LinearSlot} as its hook. */
export class ElasticLoraAdapter implements LinearHook {
  /** Currently active rank, 0..rMax. */
  private rank: number;

  /**
   * @param aT - A transposed, [in, rMax].
   * @param bT - B transposed, [rMax, out].
   */
  constructor(
    readonly spec: ElasticLoraSpec,
    readonly aT: tf.Variable<tf.Rank.R2>,
    readonly bT: tf.Variable<tf.Rank.R2>,
  ) {
    this.rank = spec.rMax;
  }

  /** The active rank. */
  get activeRank(): number {
    return this.rank;
  }

  /** Set the active rank (0 = off). Copies no weights. */
  setActiveRank(rank: number): void {
    if (!Number.isInteger(rank) || rank < 0 || rank > this.spec.rMax) {
      throw new RangeError(`${this.spec.key}: rank must be an integer in [0, ${this.spec.rMax}], got ${rank}`);
    }
    this.rank = rank;
  }

  /** Scale applied at the active rank. */
  get scale(): number {
    return loraScale(this.spec, this.rank);
  }

  /** Trainable parameters at the active rank: r * (in + out). */
  activeParameterCount(): number {
    return this.rank * (this.aT.shape[0] + this.bT.shape[1]);
  }

  /** The low-rank delta `scale * B_r A_r x` for input [..., in] -> [..., out]. */
  delta(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const r = this.rank;
    const inDim = this.aT.shape[0];
    const outDim = this.bT.shape[1];
    let input = x;
    if (ctx.training && this.spec.dropout > 0) input = tf.dropout(x, this.spec.dropout, undefined, ctx.nextSeed());
    const a = r === this.spec.rMax ? this.aT : (tf.slice(this.aT, [0, 0], [inDim, r]) as tf.Tensor2D);
    const b = r === this.spec.rMax ? this.bT : (tf.slice(this.bT, [0, 0], [r, outDim]) as tf.Tensor2D);
    return tf.mul(linear(linear(input, a), b), this.scale);
  }

  /** {@inheritDoc LinearHook.forward} */
  forward(x: tf.Tensor, _slot: LinearSlot, base: (x: tf.Tensor) => tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.rank === 0) return base(x);
    return tf.add(base(x), this.delta(x, ctx));
  }

  /** Free the adapter's weights. */
  dispose(): void {
    this.aT.dispose();
    this.bT.dispose();
  }
}
