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

/** A base linear layer: `y = x @ weightT`, weight stored input-major ([in, out]). */
export class LinearSlot {
  /** Attached hook (adapter), if any. */
  hook: LinearHook | undefined;

  /**
   * @param key - module key `layers.{i}.{module}`, the name search spaces use.
   * @param hfName - the HF tensor name of the weight, e.g. `model.layers.0.self_attn.q_proj.weight`.
   * @param weightT - the weight, transposed from HF's [out, in] to [in, out].
   */
  constructor(
    readonly key: string,
    readonly hfName: string,
    readonly weightT: tf.Variable<tf.Rank.R2>,
  ) {}

  /** Input features. */
  get inFeatures(): number {
    return this.weightT.shape[0];
  }

  /** Output features. */
  get outFeatures(): number {
    return this.weightT.shape[1];
  }

  /** The base product `x @ weightT` (no weight gradient is computed while the weight is frozen). */
  base(x: tf.Tensor): tf.Tensor {
    return this.weightT.trainable ? linear(x, this.weightT) : linearFrozen(x, this.weightT);
  }

  /** The slot's output: the hook's if one is attached, else the base product. */
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (this.hook) return this.hook.forward(x, this, (v) => this.base(v), ctx);
    return this.base(x);
  }
}
