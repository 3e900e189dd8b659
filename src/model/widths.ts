/**
 * Models with per-layer MLP widths (LoNAS mode B): the config and HF tensors of the smaller model
 * a width configuration exports. Pure arrays (no tfjs).
 *
 * Width `w` of layer `l` keeps the first `w` MLP channels: rows `[:w]` of `gate_proj` and
 * `up_proj` (HF `[out, in]`) and columns `[:w]` of `down_proj`. The config records the sizes in
 * `nls_intermediate_sizes` (docs/formats.md) unless every layer has the same width, in which case
 * the model is a plain LLaMA config with that `intermediate_size`.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import type { LlamaConfig } from './hf-config.js';
import type { HfTensor } from './llama.js';

/** MLP width of every layer of `cfg` as stored (`intermediateSizes`, or `intermediateSize` repeated). */
export function intermediateSizesOf(cfg: LlamaConfig): number[] {
  return Array.from({ length: cfg.numHiddenLayers }, (_, l) => cfg.intermediateSizes?.[l] ?? cfg.intermediateSize);
}

/**
 * Throw an `NlsError` naming the layer when `widths` (layer -> width) names a layer outside
 * `sizes` (each layer's full MLP width) or a width outside `[1, its size]`. Every entry is
 * checked before a caller applies any.
 */
export function checkMlpWidths(sizes: readonly number[], widths: ReadonlyMap<number, number>): void {
  for (const [l, w] of widths) {
    const full = sizes[l];
    if (full === undefined || !Number.isSafeInteger(l)) throw new NlsError(`no layer ${l} (the model has ${sizes.length})`, { field: `widths.${l}` });
    if (!Number.isSafeInteger(w) || w < 1 || w > full) throw new NlsError(`MLP width must be an integer in [1, ${full}], got ${w}`, { field: `widths.${l}` });
  }
}

/**
 * The config of the model cut to `widths` (layer -> width; other layers keep theirs):
 * `intermediateSize` is the largest layer width, and `intermediateSizes` lists every layer's
 * width unless they are all equal (then it is absent: a plain HF LLaMA config).
 */
export function configWithWidths(cfg: LlamaConfig, widths: ReadonlyMap<number, number>): LlamaConfig {
  checkMlpWidths(intermediateSizesOf(cfg), widths);
  const sizes = intermediateSizesOf(cfg).map((s, l) => widths.get(l) ?? s);
  const { intermediateSizes: _drop, ...rest } = cfg;
  void _drop;
  const uniform = sizes.every((s) => s === sizes[0]);
  return { ...rest, intermediateSize: Math.max(...sizes), ...(uniform ? {} : { intermediateSizes: sizes }) };
}

/** Rows `[:rows]` of a row-major `[r, cols]` matrix (a prefix: no copy of the kept values' order). */
function firstRows(t: HfTensor, rows: number): HfTensor {
  const cols = t.shape[1]!;
  return { shape: [rows, cols], data: t.data.slice(0, rows * cols) };
}

/** Columns `[:cols]` of a row-major `[rows, c]` matrix. */
function firstCols(t: HfTensor, cols: number): HfTensor {
  const [rows, c] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * c, r * c + cols), r * cols);
  return { shape: [rows, cols], data: out };
}

/**
 * HF-layout tensors of the model cut to `widths`: for each named layer, the first `w` rows of
 * `gate_proj` / `up_proj` and the first `w` columns of `down_proj`; every other tensor as given
 * (shared, not copied). With {@link configWithWidths} this is a complete smaller checkpoint.
 */
export function sliceMlpHfTensors(cfg: LlamaConfig, tensors: ReadonlyMap<string, HfTensor>, widths: ReadonlyMap<number, number>): Map<string, HfTensor> {
  checkMlpWidths(intermediateSizesOf(cfg), widths);
  const out = new Map(tensors);
  for (const [l, w] of widths) {
    const p = `model.layers.${l}.mlp`;
    for (const m of ['gate_proj', 'up_proj'] as const) {
      const t = tensors.get(`${p}.${m}.weight`);
      if (!t) throw new NlsError('tensor is missing', { field: `${p}.${m}.weight` });
      out.set(`${p}.${m}.weight`, firstRows(t, w));
    }
    const down = tensors.get(`${p}.down_proj.weight`);
    if (!down) throw new NlsError('tensor is missing', { field: `${p}.down_proj.weight` });
    out.set(`${p}.down_proj.weight`, firstCols(down, w));
  }
  return out;
}
