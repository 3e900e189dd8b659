/**
 * A base linear layer of the model and the hook through which adapters change it.
 *
 * The model knows nothing of LoRA: it calls {@link LinearSlot.forward}, and whatever is
 * attached (an elastic LoRA adapter, a sparsity-aware adapter, ...) decides what the output
 * is. This keeps adapter kinds out of the model code.
 */
import * as tf from '@tensorflow/tfjs';
import { linear, linearFrozen } from '../ops/linalg.js';

/** Names of the linear modules of a LLaMA decoder layer, as HF names them. */
export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
/** One of {@link LINEAR_MODULES}. */
export type LinearModuleName = (typeof LINEAR_MODULES)[number];

/** Per-call state threaded through a forward pass. */
export interface ForwardContext {
  /** Training mode enables dropout. */
  readonly training: boolean;
  /** Next seed for a stochastic op (dropout); drawn from the caller's seeded RNG. */
  nextSeed(): number;
}

/** A forward context for inference: no dropout, no randomness. */
export const INFERENCE: ForwardContext = {
  training: false,
  nextSeed: () => {
    throw new Error('INFERENCE context has no randomness: pass a training context to use dropout');
  },
};

/** Something attached to a linear slot that computes its output instead of the plain product. */
export interface LinearHook {
  /**
   * Compute the slot's output for input `x` ([..., in]) -> [..., out]. `base(x)` is the
   * frozen base product, for hooks that add a delta to it.
   */
  forward(x: tf.Tensor, slot: LinearSlot, base: (x: tf.Tensor) => tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

/**
 * A base linear layer: `y = x @ weightT`, weight stored input-major ([in, out]).
 *
 * **Elastic shape.** {@link setActiveShape} narrows the slot to its first `activeIn` inputs and
 * first `activeOut` outputs (elastic MLP widths: gate/up outputs, down inputs). The base product
 * then uses `weightT[:activeIn, :activeOut]`. tfjs has no strided views, so that slice is a copy;
 * for a frozen weight it is made once per shape and cached, so switching widths copies no weights
 * on the hot path after the first use of a shape (the cache costs the sliced weights' memory, at
 * most the sum of the widths used over the full width per module; {@link clearSliceCache} frees
 * it). A frozen weight's product keeps no reference for its backward pass beyond the tensor it
 * multiplies by, which the cache owns. A trainable weight (pre-training) is sliced in every pass,
 * so its gradient reaches the variable. The cache follows the weight: `weightT.assign` (a merge)
 * invalidates it.
 */
export class LinearSlot {
  /** Attached hook (adapter), if any. */
  hook: LinearHook | undefined;
  private inActive: number;
  private outActive: number;
  private readonly sliceCache = new Map<string, { readonly dataId: object; readonly weight: tf.Tensor2D }>();

  /**
   * @param key - module key `layers.{i}.{module}`, the name search spaces use.
   * @param hfName - the HF tensor name of the weight, e.g. `model.layers.0.self_attn.q_proj.weight`.
   * @param weightT - the weight, transposed from HF's [out, in] to [in, out].
   */
  constructor(
    readonly key: string,
    readonly hfName: string,
    readonly weightT: tf.Variable<tf.Rank.R2>,
  ) {
    this.inActive = weightT.shape[0];
    this.outActive = weightT.shape[1];
  }

  /** Input features of the weight (the full width, whatever the active shape). */
  get inFeatures(): number {
    return this.weightT.shape[0];
  }

  /** Output features of the weight (the full width, whatever the active shape). */
  get outFeatures(): number {
    return this.weightT.shape[1];
  }

  /** Active input features: the first `activeIn` inputs are used ({@link setActiveShape}). */
  get activeIn(): number {
    return this.inActive;
  }

  /** Active output features: the first `activeOut` outputs are computed ({@link setActiveShape}). */
  get activeOut(): number {
    return this.outActive;
  }

  /** True when the slot is narrowed below its weight's shape. */
  get isSliced(): boolean {
    return this.inActive !== this.inFeatures || this.outActive !== this.outFeatures;
  }

  /**
   * Use only the first `inDim` inputs and first `outDim` outputs (default: the full shape).
   * Copies no weights (see the class comment).
   *
   * @throws RangeError for a size outside `1..full`.
   */
  setActiveShape(inDim: number = this.inFeatures, outDim: number = this.outFeatures): void {
    for (const [v, full, what] of [
      [inDim, this.inFeatures, 'input'],
      [outDim, this.outFeatures, 'output'],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1 || v > full) throw new RangeError(`${this.key}: active ${what} features must be an integer in [1, ${full}], got ${v}`);
    }
    this.inActive = inDim;
    this.outActive = outDim;
  }

  /**
   * The weight at the active shape, `weightT[:activeIn, :activeOut]`: the variable itself at the
   * full shape, else a slice (cached for a frozen weight; owned by the slot, do not dispose).
   */
  activeWeightT(): tf.Tensor2D {
    if (!this.isSliced) return this.weightT;
    const size: [number, number] = [this.inActive, this.outActive];
    if (this.weightT.trainable) return tf.slice(this.weightT, [0, 0], size);
    const key = `${size[0]}x${size[1]}`;
    const hit = this.sliceCache.get(key);
    if (hit && hit.dataId === this.weightT.dataId) return hit.weight;
    hit?.weight.dispose();
    // tf.keep: the cached slice must outlive the tidy scope of the forward pass that makes it.
    const weight = tf.keep(tf.slice(this.weightT, [0, 0], size));
    this.sliceCache.set(key, { dataId: this.weightT.dataId, weight });
    return weight;
  }

  /** Free the cached slices (they are made again when needed). */
  clearSliceCache(): void {
    for (const { weight } of this.sliceCache.values()) weight.dispose();
    this.sliceCache.clear();
  }

  /** The base product `x @ weightT` at the active shape (no weight gradient is computed while the weight is frozen). */
  base(x: tf.Tensor): tf.Tensor {
    const w = this.activeWeightT();
    return this.weightT.trainable ? linear(x, w) : linearFrozen(x, w);
  }

  /** The slot's output: the hook's if one is attached, else the base product. */
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.hook) return this.hook.forward(x, this, (v) => this.base(v), ctx);
    return this.base(x);
  }
}
