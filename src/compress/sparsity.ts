/**
 * Sparsify a base model in place (Shears step 1): Wanda (score `|W_ij| * ||X_j||_2`) or
 * magnitude (score `|W_ij|`) pruning of the decoder linears, unstructured per output row or
 * in an N:M pattern.
 *
 * Rules shared by both methods (docs/compression.md, "Sparsity (Wanda, magnitude)"):
 *
 * - Comparison group: one output row of the HF-layout weight `[out, in]` (Wanda's per-output
 *   grouping). Unstructured ratio `s` prunes exactly `floor(s * in)` weights of every row; an N:M
 *   pattern keeps the N highest scores of every M consecutive input weights of a row.
 * - Ties: a lower score is pruned first; among equal scores the lower input index is pruned
 *   first. NaN scores count as the lowest. So the result is a pure function of the scores.
 * - Pruned weights become exactly 0. Only q/k/v/o/gate/up/down of each block are pruned;
 *   embeddings, lm_head and the norms are never touched.
 * - Wanda is sequential by block: block i's statistics are collected with blocks 0..i-1 already
 *   pruned, in one pass before any linear of block i changes (as in the Wanda paper).
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import { LINEAR_MODULES, type LinearModuleName, type LinearSlot } from '../model/linear.js';
import type { LlamaModel } from '../model/llama.js';
import type { Progress } from '../util/progress.js';
import { type CalibrationRows, calibrationMask, checkCalibrationRows, collectInputNorms } from './calibration.js';

/** Pruning methods. */
export const SPARSITY_METHODS = ['wanda', 'magnitude'] as const;
/** One of {@link SPARSITY_METHODS}. */
export type SparsityMethod = (typeof SPARSITY_METHODS)[number];

/** An N:M pattern: keep N of every M consecutive input weights of a row. */
export interface NMPattern {
  readonly n: number;
  readonly m: number;
}

/** How many weights of a row to prune: an unstructured ratio, or an N:M pattern. */
export type PruneRule = { readonly sparsity: number } | NMPattern;

/** Parse `"2:4"` into an {@link NMPattern} (validated: 0 < n < m). */
export function parseNMPattern(text: string, field = 'pattern'): NMPattern {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  const pattern = match ? { n: Number(match[1]), m: Number(match[2]) } : undefined;
  if (pattern === undefined) {
    throw new NlsError(`${JSON.stringify(text)} is not an N:M pattern. Fix: write it as N:M with 0 < N < M, e.g. 2:4 or 4:8`, { field });
  }
  checkPattern(pattern, field);
  return pattern;
}

function checkPattern(p: NMPattern, field: string): void {
  if (!Number.isSafeInteger(p.n) || !Number.isSafeInteger(p.m) || p.n < 1 || p.m <= p.n) {
    throw new NlsError(`N:M pattern ${p.n}:${p.m} is invalid: it needs whole numbers 0 < N < M. Fix: use e.g. 2:4 or 4:8`, { field });
  }
}

function checkRatio(s: number, field: string): void {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s >= 1) {
    throw new NlsError(`sparsity must be a fraction in [0, 1), got ${s}. Fix: pass e.g. 0.5 to prune half of every row`, { field });
  }
}

/** Validate a rule for rows of `cols` input weights; `where` names the matrix in errors. */
export function checkPruneRule(rule: PruneRule, cols: number, where = 'rule'): void {
  if ('sparsity' in rule) {
    checkRatio(rule.sparsity, `${where}.sparsity`);
    return;
  }
  checkPattern(rule, `${where}.pattern`);
  if (cols % rule.m !== 0) {
    throw new NlsError(`has ${cols} input features, not a multiple of M = ${rule.m}, so rows cannot be split into groups of ${rule.m}. Fix: use a pattern whose M divides ${cols}, or unstructured --sparsity`, {
      field: where,
    });
  }
}

/**
 * Order `idx[from..to)` by ascending score, ties by ascending index (the pruning order). A NaN
 * score sorts first, so it is pruned first.
 */
function sortPruneOrder(idx: Int32Array, scores: Float32Array, base: number): void {
  idx.sort((a, b) => {
    const sa = scores[base + a]!;
    const sb = scores[base + b]!;
    const na = Number.isNaN(sa);
    const nb = Number.isNaN(sb);
    if (na !== nb) return na ? -1 : 1;
    if (!na && sa !== sb) return sa < sb ? -1 : 1;
    return a - b;
  });
}

/**
 * Prune a weight matrix in HF layout `[rows = out, cols = in]` by `scores` (same layout):
 * returns a copy in which, per row, the lowest-scoring weights are exactly 0.
 *
 * - `{ sparsity: s }`: exactly `floor(s * cols)` weights per row are zeroed.
 * - `{ n, m }`: in every group of `m` consecutive weights of a row, the `m - n` lowest scores are
 *   zeroed (so the `n` highest are kept); `cols % m` must be 0.
 *
 * Ties: lower score first, then lower column index first (so the result is deterministic).
 * A weight that is already 0 stays 0 and counts toward the pruned ones only if it is chosen.
 *
 * @throws NlsError for a bad rule, a shape mismatch or cols not divisible by m.
 */
export function pruneMatrix(weightHf: Float32Array, rows: number, cols: number, scores: Float32Array, rule: PruneRule): Float32Array {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new NlsError(`rows and cols must be non-negative integers, got ${rows} x ${cols}`, { field: 'shape' });
  }
  if (weightHf.length !== rows * cols) throw new NlsError(`has ${weightHf.length} values for ${rows} x ${cols}`, { field: 'weight' });
  if (scores.length !== rows * cols) throw new NlsError(`has ${scores.length} values for ${rows} x ${cols}`, { field: 'scores' });
  checkPruneRule(rule, cols);
  const out = Float32Array.from(weightHf);
  if ('sparsity' in rule) {
    const k = Math.floor(rule.sparsity * cols);
    if (k === 0) return out;
    const idx = new Int32Array(cols);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) idx[j] = j;
      sortPruneOrder(idx, scores, r * cols);
      for (let t = 0; t < k; t++) out[r * cols + idx[t]!] = 0;
    }
    return out;
  }
  const { n, m } = rule;
  const idx = new Int32Array(m);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < cols; g += m) {
      for (let j = 0; j < m; j++) idx[j] = j;
      sortPruneOrder(idx, scores, r * cols + g);
      for (let t = 0; t < m - n; t++) out[r * cols + g + idx[t]!] = 0;
    }
  }
  return out;
}

/** Magnitude scores `|W_ij|` of an HF-layout matrix. */
export function magnitudeScores(weightHf: Float32Array): Float32Array {
  return weightHf.map((w) => Math.abs(w));
}

/**
 * Wanda scores `S_ij = |W_ij| * ||X_j||_2` of an HF-layout matrix `[rows, cols]`, with
 * `inputNorms[j] = ||X_j||_2` (length cols).
 */
export function wandaScores(weightHf: Float32Array, rows: number, cols: number, inputNorms: Float32Array): Float32Array {
  if (inputNorms.length !== cols) throw new NlsError(`has ${inputNorms.length} values for ${cols} input features`, { field: 'inputNorms' });
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * cols + j] = Math.abs(weightHf[r * cols + j]!) * inputNorms[j]!;
  return out;
}

/**
 * 1 where the weight is nonzero, 0 where it is exactly zero; same `[in, out]` layout as the
 * slot's `weightT`. The caller owns (disposes) the result.
 */
export function sparsityMaskOf(weightT: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.notEqual(weightT, 0), 'float32') as tf.Tensor2D);
}

/** Fraction of exact zeros in a tensor or array (0 for an empty one). Async: reads the tensor back (works on every backend). */
export async function sparsityOf(values: tf.Tensor | Float32Array): Promise<number> {
  const data = values instanceof Float32Array ? values : await values.data();
  if (data.length === 0) return 0;
  let zeros = 0;
  for (const v of data) if (v === 0) zeros++;
  return zeros / data.length;
}

/** Sparsity of one decoder linear. */
export interface ModuleSparsity {
  /** `layers.{i}.{module}`. */
  readonly key: string;
  readonly layer: number;
  readonly module: LinearModuleName;
  /** HF shape [out, in]. */
  readonly shape: readonly [number, number];
  /** Exact zeros in the weight. */
  readonly zeros: number;
  /** zeros / (out * in). */
  readonly sparsity: number;
}

/** Sparsity of every decoder linear of a model and over all of them. */
export interface ModelSparsity {
  readonly modules: ModuleSparsity[];
  /** Zeros and parameters over all decoder linears (embeddings, lm_head and norms excluded). */
  readonly overall: { readonly zeros: number; readonly params: number; readonly sparsity: number };
}

function countZeros(data: ArrayLike<number>): number {
  let zeros = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0) zeros++;
  return zeros;
}

/** Per-module and overall sparsity of the decoder linears of `model`. Async: reads the weights back (works on every backend). */
export async function modelSparsity(model: LlamaModel): Promise<ModelSparsity> {
  const modules: ModuleSparsity[] = [];
  let zeros = 0;
  let params = 0;
  for (const [layer, block] of model.layers.entries()) {
    for (const module of LINEAR_MODULES) {
      const slot = block.linears[module];
      const z = countZeros(await slot.weightT.data());
      const size = slot.weightT.size;
      modules.push({ key: slot.key, layer, module, shape: [slot.outFeatures, slot.inFeatures], zeros: z, sparsity: size > 0 ? z / size : 0 });
      zeros += z;
      params += size;
    }
  }
  return { modules, overall: { zeros, params, sparsity: params > 0 ? zeros / params : 0 } };
}

/** Options of {@link sparsifyModel}. */
export interface SparsifyOptions {
  readonly method: SparsityMethod;
  /**
   * Unstructured ratio in [0, 1): `floor(sparsity * in)` weights pruned per row. With a
   * `pattern` it may be omitted; when given it must equal `1 - n/m`.
   */
  readonly sparsity?: number;
  /** N:M pattern instead of an unstructured ratio. */
  readonly pattern?: NMPattern;
  /** Calibration rows; required for Wanda, unused by magnitude pruning. */
  readonly calibration?: CalibrationRows;
  /** Rows per calibration forward pass (default 8). */
  readonly batchSize?: number;
  /** Progress on stderr: one step per decoder block. */
  readonly progress?: Progress;
}

/** What {@link sparsifyModel} did. */
export interface SparsifyReport {
  readonly method: SparsityMethod;
  /** The fraction pruned per row: the ratio, or `1 - n/m` for a pattern. */
  readonly sparsity: number;
  /** The N:M pattern, or null for unstructured pruning. */
  readonly pattern: NMPattern | null;
  /** Calibration rows (0 for magnitude pruning). */
  readonly samples: number;
  /** Calibration row length (0 for magnitude pruning). */
  readonly seqlen: number;
  /** Calibration tokens counted (mask > 0). */
  readonly calibrationTokens: number;
  /** Wall-clock seconds of the pruning. */
  readonly seconds: number;
  /** Sparsity of each decoder linear after pruning. */
  readonly modules: ModuleSparsity[];
  /** Over all decoder linears. */
  readonly overall: ModelSparsity['overall'];
}

/** The rule of a sparsify request, validated. */
export function resolvePruneRule(options: Pick<SparsifyOptions, 'sparsity' | 'pattern'>): { rule: PruneRule; sparsity: number } {
  if (options.pattern !== undefined) {
    checkPattern(options.pattern, 'pattern');
    const implied = 1 - options.pattern.n / options.pattern.m;
    if (options.sparsity !== undefined && Math.abs(options.sparsity - implied) > 1e-9) {
      throw new NlsError(
        `${options.pattern.n}:${options.pattern.m} prunes ${implied} of every row, but sparsity ${options.sparsity} was asked for. Fix: drop the sparsity or set it to ${implied}`,
        { field: 'sparsity' },
      );
    }
    return { rule: { n: options.pattern.n, m: options.pattern.m }, sparsity: implied };
  }
  if (options.sparsity === undefined) {
    throw new NlsError('neither a sparsity ratio nor an N:M pattern was given. Fix: pass a sparsity in [0, 1) (e.g. 0.5) or a pattern such as 2:4', {
      field: 'sparsity',
    });
  }
  checkRatio(options.sparsity, 'sparsity');
  return { rule: { sparsity: options.sparsity }, sparsity: options.sparsity };
}

/** HF layout `[out, in]` of a slot's weight (stored `[in, out]`). */
async function readHf(slot: LinearSlot): Promise<Float32Array> {
  const t = await slot.weightT.data();
  const inF = slot.inFeatures;
  const outF = slot.outFeatures;
  const hf = new Float32Array(inF * outF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) hf[o * inF + i] = t[i * outF + o]!;
  return hf;
}

/** Write an HF-layout matrix back into a slot's `[in, out]` variable. */
function writeHf(slot: LinearSlot, hf: Float32Array): void {
  const inF = slot.inFeatures;
  const outF = slot.outFeatures;
  const t = new Float32Array(inF * outF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) t[i * outF + o] = hf[o * inF + i]!;
  const value = tf.tensor2d(t, [inF, outF]);
  try {
    slot.weightT.assign(value);
  } finally {
    value.dispose();
  }
}

/**
 * Prune the decoder linears of `model` in place (see the module comment for the rules) and
 * report the resulting sparsity.
 *
 * Every rule is validated against every linear before any weight changes, so a bad request
 * (e.g. an N:M pattern whose M does not divide some layer's width) leaves the model untouched.
 */
export async function sparsifyModel(model: LlamaModel, options: SparsifyOptions): Promise<SparsifyReport> {
  const started = performance.now();
  if (!(SPARSITY_METHODS as readonly string[]).includes(options.method)) {
    throw new NlsError(`unknown method ${JSON.stringify(options.method)}. Fix: use one of ${SPARSITY_METHODS.join(', ')}`, { field: 'method' });
  }
  const { rule, sparsity } = resolvePruneRule(options);
  model.layers.forEach((block) => {
    for (const m of LINEAR_MODULES) checkPruneRule(rule, block.linears[m].inFeatures, block.linears[m].key);
  });
  const calibration = options.calibration;
  if (options.method === 'wanda') {
    if (calibration === undefined) {
      throw new NlsError('Wanda needs calibration rows (its scores weigh |W| by the input activations). Fix: pass calibration text, or use method magnitude', {
        field: 'calibration',
      });
    }
    checkCalibrationRows(calibration);
  }
  let tokens = 0;
  if (calibration !== undefined && options.method === 'wanda') for (const m of calibrationMask(calibration)) tokens += m;
  if (options.method === 'wanda' && tokens === 0) {
    throw new NlsError('every calibration position is masked out, so there are no activations to score by. Fix: pass unpadded calibration text', {
      field: 'calibration',
    });
  }

  options.progress?.start(`sparsify (${options.method})`, model.layers.length);
  for (let l = 0; l < model.layers.length; l++) {
    const block = model.layers[l]!;
    // All statistics of block l come from one pass, before any of its linears changes.
    const norms =
      options.method === 'wanda'
        ? (await collectInputNorms(model, calibration!, { layer: l, ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) })).norms
        : undefined;
    for (const m of LINEAR_MODULES) {
      const slot = block.linears[m];
      const rows = slot.outFeatures;
      const cols = slot.inFeatures;
      const hf = await readHf(slot);
      const scores = norms ? wandaScores(hf, rows, cols, norms.get(slot.key)!) : magnitudeScores(hf);
      writeHf(slot, pruneMatrix(hf, rows, cols, scores, rule));
    }
    options.progress?.step(l + 1, { layer: l });
  }
  const after = await modelSparsity(model);
  const used = options.method === 'wanda' ? calibration : undefined;
  return {
    method: options.method,
    sparsity,
    pattern: 'sparsity' in rule ? null : { n: rule.n, m: rule.m },
    samples: used?.batchSize ?? 0,
    seqlen: used?.seqLen ?? 0,
    calibrationTokens: tokens,
    seconds: (performance.now() - started) / 1000,
    modules: after.modules,
    overall: after.overall,
  };
}
