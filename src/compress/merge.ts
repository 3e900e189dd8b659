/**
 * Merging an extracted sub-adapter into the base weights: W' = W + s * (B_r A_r), or with the
 * base's sparsity kept (SparsePEFT, as in Shears/SQFT) W' = W + s * (B_r A_r) ⊙ M with
 * M = (W != 0), so that a pruned base stays exactly as sparse after the merge.
 *
 * Weights live in the model's {@link LinearSlot}s input-major (`weightT` is [in, out], the
 * transpose of HF's [out, in]), so the delta is formed transposed as well:
 * (B_r A_r)^T = A_r^T B_r^T, an [in, r] x [r, out] product.
 *
 * A quantized base (SQFT) is merged in float and put back on the base's own quantization grid:
 * the merged weight is re-quantized with the base matrix's scales and zero points
 * ({@link quantizeWithParams}), and the model's weight becomes its dequantized value. Zero
 * dequantizes to exactly zero on that grid, so a sparsity-aware merge stays as sparse.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import type { HasLinearSlots } from '../adapters/adapter-set.js';
import { NlsError } from '../errors.js';
import type { LinearSlot } from '../model/linear.js';
import type { SubAdapter, SubAdapterModule } from '../export/subnet.js';
import { dequantizeMatrix, type QuantizedMatrix, quantizeWithParams } from './quantize.js';

/** Options of {@link mergeAdapters}. */
export interface MergeOptions {
  /**
   * Keep the base weight's zeros: multiply the delta by M = (W != 0) before adding it (SparsePEFT).
   * Default false.
   */
  readonly sparsityAware?: boolean;
  /**
   * The base's quantized linears (HF layout [out, in]) by module key, e.g. a loaded folder's
   * `quantization.matrices`. Merged modules found here are re-quantized on their grid; the
   * model's weights are expected to hold these matrices' dequantized values.
   */
  readonly quantization?: ReadonlyMap<string, QuantizedMatrix>;
}

/** What the merge did to one module. */
export interface ModuleMergeRecord {
  /** Module key, `layers.{i}.{module}`. */
  readonly key: string;
  /** HF tensor name of the merged weight. */
  readonly hfName: string;
  readonly rank: number;
  readonly scale: number;
  /** Elements of the weight (in * out). */
  readonly elements: number;
  /** Non-zero weights before the merge. */
  readonly nonZerosBefore: number;
  /** Non-zero weights after it (never more than before under a sparsity-aware merge). */
  readonly nonZerosAfter: number;
  /**
   * Weights that were zero before the merge and are not after it: 0 under a sparsity-aware merge.
   * (On a quantized base, re-quantization may also turn small weights into zeros, so
   * `nonZerosAfter` can be below `nonZerosBefore`; this count is the invariant that matters.)
   */
  readonly newNonZeros: number;
  /** Largest |W' - W| over the module's weights (after re-quantization, for a quantized base). */
  readonly maxAbsChange: number;
  /** Whether the merged weight was re-quantized on the base's grid. */
  readonly requantized: boolean;
}

/** The result of {@link mergeAdapters}. */
export interface MergeResult {
  readonly sparsityAware: boolean;
  /** One record per merged module, in the order of the sub-adapter. */
  readonly modules: readonly ModuleMergeRecord[];
  /**
   * With `options.quantization`: every quantized matrix of the merged model, the merged modules
   * re-quantized and the others as given (ready for `saveQuantizedModelFolder`).
   */
  readonly quantized?: ReadonlyMap<string, QuantizedMatrix>;
}

/**
 * The merged weight of one module, input-major: `W^T + s * (A_r^T B_r^T)`, times the mask
 * `(W != 0)` when `sparsityAware`. Returns a new tensor; `weightT` is not changed.
 *
 * @param weightT - base weight, [in, out].
 */
export function mergedWeightT(weightT: tf.Tensor2D, module: SubAdapterModule, options: MergeOptions = {}): tf.Tensor2D {
  const [inDim, outDim] = weightT.shape;
  if (inDim !== module.inFeatures || outDim !== module.outFeatures) {
    throw new NlsError(`adapter is [${module.outFeatures}, ${module.inFeatures}] (out, in) but the weight is [${outDim}, ${inDim}]; fix: merge into the base model the supernet was trained on`, {
      field: module.key,
    });
  }
  if (module.a.length !== module.rank * inDim || module.b.length !== outDim * module.rank) {
    throw new NlsError(`A_r must hold ${module.rank} x ${inDim} and B_r ${outDim} x ${module.rank} values`, { field: module.key });
  }
  return tf.tidy(() => {
    const aT = tf.transpose(tf.tensor2d(module.a, [module.rank, inDim])) as tf.Tensor2D;
    const bT = tf.transpose(tf.tensor2d(module.b, [outDim, module.rank])) as tf.Tensor2D;
    let delta: tf.Tensor = tf.mul(tf.matMul(aT, bT), module.scale);
    // notEqual(w, 0) is exactly the support of W: -0 counts as zero, NaN as non-zero.
    if (options.sparsityAware) delta = tf.mul(delta, tf.cast(tf.notEqual(weightT, 0), 'float32'));
    return tf.add(weightT, delta) as tf.Tensor2D;
  });
}

/** Number of non-zero entries of `t` (computed on the backend, one scalar read back). */
export async function countNonZeros(t: tf.Tensor): Promise<number> {
  const n = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(t, 0), 'int32')));
  try {
    return (await n.data())[0] ?? 0;
  } finally {
    n.dispose();
  }
}

/**
 * Merge a sub-adapter into `model`'s base weights, in place: for every module of `adapters`
 * the slot's weight becomes W + s * (B_r A_r) (⊙ (W != 0) when `sparsityAware`).
 *
 * The slots must have no hook attached: a merged weight with its adapter still attached would
 * add the delta twice (detach with `AdapterSet.dispose()` after extracting).
 *
 * @param adapters - the sub-adapter (from `extractSubAdapter`) or its modules.
 */
export async function mergeAdapters(model: HasLinearSlots, adapters: SubAdapter | readonly SubAdapterModule[], options: MergeOptions = {}): Promise<MergeResult> {
  const modules: readonly SubAdapterModule[] = 'modules' in adapters ? adapters.modules : adapters;
  const slots = model.linearSlots();
  // Check every module before changing any weight, so a bad sub-adapter leaves the model intact.
  const targets: [SubAdapterModule, LinearSlot][] = [];
  const seen = new Set<string>();
  for (const m of modules) {
    const slot = slots.get(m.key);
    if (!slot) throw new NlsError(`no such linear module in the model (e.g. ${[...slots.keys()][0]})`, { field: m.key });
    if (seen.has(m.key)) throw new NlsError('module appears twice in the sub-adapter', { field: m.key });
    seen.add(m.key);
    if (slot.hook) throw new NlsError('an adapter is still attached to this module: merging would add its delta twice; fix: detach the adapters (AdapterSet.dispose()) after extracting the sub-adapter', { field: m.key });
    if (slot.inFeatures !== m.inFeatures || slot.outFeatures !== m.outFeatures) {
      throw new NlsError(`adapter is [${m.outFeatures}, ${m.inFeatures}] (out, in) but the weight is [${slot.outFeatures}, ${slot.inFeatures}]; fix: merge into the base model the supernet was trained on`, {
        field: m.key,
      });
    }
    targets.push([m, slot]);
  }
  const quantization = options.quantization;
  if (quantization) {
    for (const [m, slot] of targets) {
      const q = quantization.get(m.key);
      if (q && (q.rows !== slot.outFeatures || q.cols !== slot.inFeatures)) {
        throw new NlsError(`quantized base matrix is ${q.rows} x ${q.cols}, the weight is [out, in] = ${slot.outFeatures} x ${slot.inFeatures}`, { field: m.key });
      }
    }
  }
  const quantized = quantization ? new Map(quantization) : undefined;
  const records: ModuleMergeRecord[] = [];
  for (const [m, slot] of targets) {
    const nonZerosBefore = await countNonZeros(slot.weightT);
    let merged = mergedWeightT(slot.weightT, m, options);
    try {
      const like = quantization?.get(m.key);
      if (like && quantized) {
        // Back onto the base's grid: HF layout [out, in] in JavaScript, then the dequantized
        // values into the model, so that it computes exactly what the saved folder will hold.
        const hf = tf.transpose(merged);
        const values = (await hf.data()) as Float32Array;
        hf.dispose();
        const q = quantizeWithParams(values, like);
        quantized.set(m.key, q);
        merged.dispose();
        merged = tf.tidy(() => tf.transpose(tf.tensor2d(dequantizeMatrix(q), [q.rows, q.cols])) as tf.Tensor2D);
      }
      const [change, created] = tf.tidy(() => [
        tf.max(tf.abs(tf.sub(merged, slot.weightT))),
        tf.sum(tf.cast(tf.logicalAnd(tf.equal(slot.weightT, 0), tf.notEqual(merged, 0)), 'int32')),
      ]);
      const maxAbsChange = (await change!.data())[0] ?? 0;
      const newNonZeros = (await created!.data())[0] ?? 0;
      tf.dispose([change!, created!]);
      slot.weightT.assign(merged);
      records.push({
        requantized: like !== undefined,
        key: m.key,
        hfName: slot.hfName,
        rank: m.rank,
        scale: m.scale,
        elements: slot.weightT.size,
        nonZerosBefore,
        nonZerosAfter: await countNonZeros(slot.weightT),
        newNonZeros,
        maxAbsChange,
      });
    } finally {
      merged.dispose();
    }
  }
  return { sparsityAware: options.sparsityAware ?? false, modules: records, ...(quantized ? { quantized } : {}) };
}
