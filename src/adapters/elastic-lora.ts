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
 *
 * Sparsity-aware mode (SparsePEFT, SQFT) keeps a merged adapter from filling in a sparse base:
 * the delta is masked by the base weight's non-zero pattern, y = W x + s ((B_r A_r) ⊙ M) x, so
 * W + s (B_r A_r) ⊙ M has exactly W's zeros. With quantization awareness (QA-SparsePEFT) the
 * output is x @ FQ(W + s (B_r A_r) ⊙ M): the merged weight fake-quantized with the base's own
 * scales and a straight-through gradient, which is what merging into the quantized base gives.
 * Both need the dense [in, out] delta, so they cost one extra in x out product per module.
 *
 * Elastic widths (LoNAS mode B): when the slot is narrowed (`LinearSlot.setActiveShape`, set by
 * `LlamaModel.setMlpWidths`), the adapter is sliced to match: `A^T[:activeIn, :r]` and
 * `B^T[:r, :activeOut]`, i.e. gate/up adapters keep their first `w` output rows of B and down
 * adapters their first `w` input columns of A. Sparsity- and quantization-aware adapters refuse a
 * narrowed slot (their mask and quantization grid are full-width).
 *
 * Multi-candidate mode (inference only) runs K rank configurations in one forward pass: the
 * batch holds the same rows tiled K times, candidate-major, and each candidate's rank and scale
 * are applied through a [K, 1, R] mask on the rank dimension (R = the largest candidate rank).
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
  /** Multi-candidate state, when active (see {@link setCandidateRanks}). */
  private candidates: CandidateState | undefined;
  /** Sparsity-aware / quantization-aware state (see {@link setBaseConstraint}). */
  private constraint: BaseConstraint | undefined;

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

  /**
   * Trainable parameters at the active rank: r * (in + out), with `in` / `out` the active widths
   * when given (a narrowed slot), else the full ones.
   */
  activeParameterCount(inDim = this.aT.shape[0], outDim = this.bT.shape[1]): number {
    return this.rank * (inDim + outDim);
  }

  /**
   * The low-rank delta `scale * B_r A_r x` for input [..., in'] -> [..., outDim], where `in'` is
   * x's last dimension (at most `in`: the first `in'` rows of A^T are used) and `outDim` defaults
   * to the full output width.
   */
  delta(x: tf.Tensor, ctx: ForwardContext, outDim = this.bT.shape[1]): tf.Tensor {
    let input = x;
    if (ctx.training && this.spec.dropout > 0) input = tf.dropout(x, this.spec.dropout, undefined, ctx.nextSeed());
    return tf.mul(this.lowRankProduct(input, this.rank, undefined, outDim), this.scale);
  }

  /**
   * `B_r A_r x` without scaling: both factors sliced to rank `r` and to the active widths (A^T to
   * x's last dimension, B^T to `outDim` columns); no slice at r_max and full widths.
   */
  private lowRankProduct(x: tf.Tensor, r: number, mask?: tf.Tensor3D, outDim = this.bT.shape[1]): tf.Tensor {
    const inDim = x.shape[x.rank - 1] ?? this.aT.shape[0];
    const fullIn = inDim === this.aT.shape[0];
    const fullOut = outDim === this.bT.shape[1];
    const a = r === this.spec.rMax && fullIn ? this.aT : (tf.slice(this.aT, [0, 0], [inDim, r]) as tf.Tensor2D);
    const b = r === this.spec.rMax && fullOut ? this.bT : (tf.slice(this.bT, [0, 0], [r, outDim]) as tf.Tensor2D);
    let h = linear(x, a);
    if (mask) {
      // h is [K * rows, ..., r], candidate-major. Viewing it as [K, rest, r] lets one [K, 1, r]
      // mask serve any number of rows per candidate (reshapes copy nothing).
      const k = mask.shape[0];
      const shape = h.shape;
      h = tf.reshape(tf.mul(tf.reshape(h, [k, h.size / (k * r), r]), mask), shape);
    }
    return linear(h, b);
  }

  /**
   * Make the adapter respect its base weight (SparsePEFT / QA-SparsePEFT, see the module comment):
   * `mask` ([in, out], 1 where the base weight is non-zero) masks the delta; `fakeQuantize` maps
   * a merged weight ([in, out]) to its fake-quantized value with a straight-through gradient.
   * Takes ownership of `mask` and `fakeQuantize` (freed by {@link clearBaseConstraint} or
   * {@link dispose}).
   */
  setBaseConstraint(constraint: BaseConstraint): void {
    if (constraint.mask && (constraint.mask.shape[0] !== this.aT.shape[0] || constraint.mask.shape[1] !== this.bT.shape[1])) {
      throw new RangeError(`${this.spec.key}: the mask must be [${this.aT.shape[0]}, ${this.bT.shape[1]}] like the base weight, got [${constraint.mask.shape}]`);
    }
    this.clearBaseConstraint();
    this.constraint = { ...constraint, ...(constraint.mask ? { mask: tf.keep(constraint.mask) } : {}) };
  }

  /** Back to a plain (unconstrained) adapter; frees the mask. */
  clearBaseConstraint(): void {
    this.constraint?.mask?.dispose();
    this.constraint?.fakeQuantize?.dispose?.();
    this.constraint = undefined;
  }

  /** The constraint in force, if any. */
  get baseConstraint(): Readonly<BaseConstraint> | undefined {
    return this.constraint;
  }

  /** The dense delta `s (B_r A_r)^T` in the model's [in, out] layout, masked when the adapter is sparsity-aware. */
  deltaWeightT(rank = this.rank): tf.Tensor2D {
    return tf.tidy(() => {
      const inDim = this.aT.shape[0];
      const outDim = this.bT.shape[1];
      if (rank === 0) return tf.zeros([inDim, outDim]) as tf.Tensor2D;
      const a = rank === this.spec.rMax ? this.aT : (tf.slice(this.aT, [0, 0], [inDim, rank]) as tf.Tensor2D);
      const b = rank === this.spec.rMax ? this.bT : (tf.slice(this.bT, [0, 0], [rank, outDim]) as tf.Tensor2D);
      const delta = tf.mul(linear(a, b), loraScale(this.spec, rank)) as tf.Tensor2D;
      const mask = this.constraint?.mask;
      return mask ? (tf.mul(delta, mask) as tf.Tensor2D) : delta;
    });
  }

  /** The constrained forward pass (see {@link setBaseConstraint}). */
  private constrainedForward(x: tf.Tensor, slot: LinearSlot, base: (x: tf.Tensor) => tf.Tensor, ctx: ForwardContext, c: BaseConstraint): tf.Tensor {
    if (slot.isSliced) {
      throw new Error(`${this.spec.key}: sparsity- and quantization-aware adapters do not support elastic MLP widths (their mask and quantization grid are full-width); train plain adapters for a width search space`);
    }
    if (c.fakeQuantize) {
      // The base weight is already on the quantization grid, so at rank 0 this is the base output.
      if (this.rank === 0) return base(x);
      return linear(x, c.fakeQuantize.apply(tf.add(slot.weightT, this.deltaWeightT()) as tf.Tensor2D));
    }
    if (this.rank === 0) return base(x);
    if (ctx.training && this.spec.dropout > 0) {
      // Dropout applies to the adapter's input only: two products.
      return tf.add(base(x), linear(tf.dropout(x, this.spec.dropout, undefined, ctx.nextSeed()), this.deltaWeightT()));
    }
    // One product with the merged weight instead of two: the delta needs the weight gradient
    // x^T dy of this product anyway, so this costs what one trainable linear layer costs.
    return linear(x, tf.add(slot.weightT, this.deltaWeightT()) as tf.Tensor2D);
  }

  /**
   * Enter multi-candidate mode: the next forward passes get a batch whose leading dimension holds
   * `ranks.length` candidates' copies of the same rows, candidate-major, and candidate k is
   * computed at rank `ranks[k]` (with that rank's scale). Inference only. The single active rank
   * is kept and is in force again after {@link clearCandidates}. Creates at most one small mask
   * tensor, freed by {@link clearCandidates} (or by calling this again).
   */
  setCandidateRanks(ranks: readonly number[]): void {
    if (ranks.length === 0) throw new RangeError(`${this.spec.key}: at least one candidate rank is needed`);
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r > this.spec.rMax) {
        throw new RangeError(`${this.spec.key}: rank must be an integer in [0, ${this.spec.rMax}], got ${r}`);
      }
    }
    this.clearCandidates();
    const count = ranks.length;
    const maxRank = Math.max(...ranks);
    if (ranks.every((r) => r === ranks[0])) {
      // Every candidate sees the same adapter: the plain path computes it, no mask needed.
      this.candidates = { count, uniformRank: maxRank, maxRank, mask: undefined };
      return;
    }
    // Mask row k holds candidate k's scale on its first r_k rank columns, zero beyond: a
    // candidate at rank 0 gets an all-zero row, i.e. no delta.
    const values = new Float32Array(count * maxRank);
    ranks.forEach((r, k) => values.fill(loraScale(this.spec, r), k * maxRank, k * maxRank + r));
    // tf.keep: the mask must outlive any tidy scope this happens to be called in.
    const mask = tf.keep(tf.tensor3d(values, [count, 1, maxRank]));
    this.candidates = { count, uniformRank: undefined, maxRank, mask };
  }

  /** Leave multi-candidate mode (free its mask); the single active rank applies again. No-op when not in it. */
  clearCandidates(): void {
    this.candidates?.mask?.dispose();
    this.candidates = undefined;
  }

  /** Candidates per forward pass in multi-candidate mode; undefined in single-candidate mode. */
  get candidateCount(): number | undefined {
    return this.candidates?.count;
  }

  /** {@inheritDoc LinearHook.forward} */
  forward(x: tf.Tensor, slot: LinearSlot, base: (x: tf.Tensor) => tf.Tensor, ctx: ForwardContext): tf.Tensor {
    const c = this.candidates;
    if (c && this.constraint) throw new Error(`${this.spec.key}: multi-candidate mode does not support sparsity- or quantization-aware adapters; evaluate candidates one by one`);
    if (this.constraint) return this.constrainedForward(x, slot, base, ctx, this.constraint);
    if (c) {
      if (ctx.training) throw new Error(`${this.spec.key}: multi-candidate mode is for inference only; clear the candidates before training`);
      const rows = x.shape[0] ?? 0;
      if (x.rank < 2 || rows % c.count !== 0) {
        throw new Error(`${this.spec.key}: a multi-candidate batch must hold ${c.count} candidates' rows (leading dimension a multiple of ${c.count}), got [${x.shape}]`);
      }
      if (c.uniformRank === 0 || c.maxRank === 0) return base(x);
      if (c.uniformRank !== undefined) return tf.add(base(x), tf.mul(this.lowRankProduct(x, c.uniformRank, undefined, slot.activeOut), loraScale(this.spec, c.uniformRank)));
      return tf.add(base(x), this.lowRankProduct(x, c.maxRank, c.mask, slot.activeOut));
    }
    if (this.rank === 0) return base(x);
    return tf.add(base(x), this.delta(x, ctx, slot.activeOut));
  }

  /** Free the adapter's weights. */
  dispose(): void {
    this.clearCandidates();
    this.clearBaseConstraint();
    this.aT.dispose();
    this.bT.dispose();
  }
}

/** How an adapter respects its base weight (SparsePEFT / QA-SparsePEFT). */
export interface BaseConstraint {
  /** [in, out]: 1 where the base weight is non-zero, 0 where it was pruned. */
  readonly mask?: tf.Tensor2D;
  /** Fake-quantizes a merged [in, out] weight with the base's scales (straight-through gradient). */
  readonly fakeQuantize?: FakeQuantizer;
}

/** Fake quantization of a weight in the model's [in, out] layout (e.g. `FakeQuantizerT` of src/compress). */
export interface FakeQuantizer {
  apply(weightT: tf.Tensor2D): tf.Tensor2D;
  /** Free what it holds; called when the adapter lets go of it. */
  dispose?(): void;
}

/** Multi-candidate state of one adapter. */
interface CandidateState {
  /** K, candidates per forward pass. */
  readonly count: number;
  /** The rank of every candidate when they all agree (plain path), else undefined. */
  readonly uniformRank: number | undefined;
  /** R, the largest candidate rank: the factors are sliced to it. */
  readonly maxRank: number;
  /** [K, 1, R]: candidate k's scale on its first r_k rank columns, 0 elsewhere. */
  readonly mask: tf.Tensor3D | undefined;
}
