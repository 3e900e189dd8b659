/**
 * Reordering the MLP channels of a base model by importance, so that elastic widths (LoNAS mode
 * B), which keep the *first* `w` channels of a layer, keep the most important ones: the weight
 * reorganisation NNCF BootstrapNAS does before width elasticity.
 *
 * **Importance** of channel `c` of layer `l` (Wanda-style, docs/widths.md): the activation norm of
 * the channel over the calibration tokens times the absolute weights that read it,
 *
 *     I_c = ||X_c||_2 * sum_i |W_down[i, c]|
 *
 * where `X` is the input of `down_proj` (`silu(gate) * up`, one column per channel, rows = every
 * counted calibration token) and `W_down` is `down_proj`'s HF `[out, in]` weight: the sum of the
 * Wanda scores `|W_ic| * ||X_c||` of every weight that consumes channel `c`. A channel whose
 * removal changes the layer's output little has a small score.
 *
 * **Permutation.** Channels are sorted by descending importance (ties: lower index first; NaN
 * last); `order[k]` is the original channel that moves to position `k`. The same permutation is
 * applied to `gate_proj` and `up_proj` output rows and to `down_proj` input columns, which leaves
 * the model's function unchanged: SwiGLU is element-wise per channel and `down_proj` sums over
 * channels (only the float32 summation order changes; the tests check logits within 1e-5).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { LlamaModel } from '../model/llama.js';
import type { Progress } from '../util/progress.js';
import { type CalibrationRows, collectInputNorms } from './calibration.js';

/**
 * Importance of every channel of one MLP: `I_c = norms[c] * sum_i |W_down[i, c]|`, from
 * `down_proj`'s weight in the model's input-major layout (`downT` = W_down^T, row-major
 * `[inter, hidden]`: row `c` holds the weights reading channel `c`) and the channel norms
 * `||X_c||_2` of its input. Summed in float64.
 */
export function mlpChannelImportance(downT: Float32Array, inter: number, hidden: number, norms: ArrayLike<number>): Float64Array {
  if (downT.length !== inter * hidden) throw new NlsError(`down_proj weight has ${downT.length} values, expected ${inter} x ${hidden}`, { field: 'down_proj' });
  if (norms.length !== inter) throw new NlsError(`has ${norms.length} channel norms for ${inter} channels`, { field: 'norms' });
  const out = new Float64Array(inter);
  for (let c = 0; c < inter; c++) {
    let s = 0;
    for (let i = 0; i < hidden; i++) s += Math.abs(downT[c * hidden + i]!);
    out[c] = s * norms[c]!;
  }
  return out;
}

/**
 * The permutation sorting `scores` descending: `order[k]` is the index of the k-th most important
 * channel. Ties keep the lower index first; NaN scores go last (in index order).
 */
export function importanceOrder(scores: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  const key = (i: number) => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  idx.sort((a, b) => {
    const na = Number.isNaN(scores[a]!);
    const nb = Number.isNaN(scores[b]!);
    if (na !== nb) return na ? 1 : -1;
    return key(b) - key(a) || a - b;
  });
  return Int32Array.from(idx);
}

/** Check that `order` is a permutation of `0..n-1`. */
function checkPermutation(order: ArrayLike<number>, n: number, field: string): void {
  if (order.length !== n) throw new NlsError(`has ${order.length} entries for ${n} channels`, { field });
  const seen = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const c = order[k]!;
    if (!Number.isSafeInteger(c) || c < 0 || c >= n || seen[c]) throw new NlsError(`is not a permutation of 0..${n - 1} (entry ${k} is ${c})`, { field });
    seen[c] = 1;
  }
}

/**
 * Permute the MLP channels of layer `layer` in place: channel `order[k]` moves to position `k` in
 * `gate_proj` and `up_proj` (outputs) and `down_proj` (inputs). The model computes the same
 * function up to float32 summation order. Refuses a layer with adapters attached to its MLP (they
 * would no longer line up with the base) or a narrowed MLP width.
 */
export function permuteMlpChannels(model: LlamaModel, layer: number, order: ArrayLike<number>): void {
  const block = model.layers[layer];
  if (!block) throw new NlsError(`no layer ${layer} (the model has ${model.layers.length})`, { field: 'layer' });
  const { gate_proj: gate, up_proj: up, down_proj: down } = block.linears;
  for (const slot of [gate, up, down]) {
    if (slot.hook) throw new NlsError('has an adapter attached; reorder the base model before attaching adapters', { field: slot.key });
    if (slot.isSliced) throw new NlsError('is narrowed to an elastic width; reset the widths (model.resetMlpWidths()) before reordering', { field: slot.key });
  }
  checkPermutation(order, down.inFeatures, `layers.${layer}.mlp order`);
  const index = tf.tensor1d(Int32Array.from(order), 'int32');
  try {
    for (const slot of [gate, up]) {
      const next = tf.tidy(() => tf.gather(slot.weightT, index, 1) as tf.Tensor2D);
      slot.weightT.assign(next);
      next.dispose();
    }
    const next = tf.tidy(() => tf.gather(down.weightT, index, 0) as tf.Tensor2D);
    down.weightT.assign(next);
    next.dispose();
  } finally {
    index.dispose();
  }
}

/** What was done to one layer by {@link reorderMlpChannels}. */
export interface LayerReordering {
  readonly layer: number;
  /** `order[k]`: the original channel now at position `k`. */
  readonly order: readonly number[];
  /** Importance of the channels in their new order (descending). */
  readonly importance: readonly number[];
  /** Channels that moved. */
  readonly moved: number;
}

/** Result of {@link reorderMlpChannels}. */
export interface MlpReordering {
  /** `wanda-down`: `I_c = ||X_c|| * sum_i |W_down[i, c]|` (see the module comment). */
  readonly method: 'wanda-down';
  /** Calibration tokens counted. */
  readonly tokens: number;
  readonly layers: readonly LayerReordering[];
}

/** Options of {@link reorderMlpChannels}. */
export interface ReorderOptions {
  /** Rows per forward pass while collecting statistics (default 8). */
  readonly batchSize?: number;
  readonly progress?: Progress;
}

/**
 * Reorder every layer's MLP channels by descending importance measured on `calibration` (see
 * the module comment): one statistics pass over the calibration rows (the down_proj input norms
 * of every layer; permuting a layer does not change what later layers see), then the permutation
 * of each layer. In place; the base must have no adapters attached.
 */
export async function reorderMlpChannels(model: LlamaModel, calibration: CalibrationRows, options: ReorderOptions = {}): Promise<MlpReordering> {
  for (const slot of model.linearSlots().values()) {
    if (slot.hook) throw new NlsError('has an adapter attached; reorder the base model before attaching adapters', { field: slot.key });
  }
  options.progress?.log(`collecting MLP channel norms on ${calibration.batchSize} x ${calibration.seqLen} calibration tokens`);
  const { norms, tokens } = await collectInputNorms(model, calibration, options.batchSize !== undefined ? { batchSize: options.batchSize } : {});
  const layers: LayerReordering[] = [];
  for (let l = 0; l < model.layers.length; l++) {
    const down = model.layers[l]!.linears.down_proj;
    const downT = Float32Array.from((await down.weightT.data()) as Float32Array);
    const scores = mlpChannelImportance(downT, down.inFeatures, down.outFeatures, norms.get(down.key)!);
    const order = importanceOrder(scores);
    permuteMlpChannels(model, l, order);
    let moved = 0;
    order.forEach((c, k) => (moved += c === k ? 0 : 1));
    layers.push({ layer: l, order: Array.from(order), importance: Array.from(order, (c) => scores[c]!), moved });
    options.progress?.log(`layer ${l}: ${moved} of ${order.length} channels moved`);
  }
  return { method: 'wanda-down', tokens, layers };
}
