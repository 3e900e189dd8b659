/**
 * Round-to-nearest (RTN) group-wise weight quantization for SQFT's quantized base model.
 *
 * A linear weight in HF layout `[out, in]` (rows = output features) is cut, row by row, into
 * groups of `groupSize` consecutive input weights; the last group of a row is shorter when
 * `groupSize` does not divide the row length (so every model shape quantizes, whatever the
 * group size). Each group gets its own float32 scale (and, asymmetric, an integer zero point):
 *
 * - symmetric: `scale = max|w| / qmax` with `qmax = 2^(bits-1) - 1` (127 or 7),
 *   `code = clamp(round(w / scale), -qmax, qmax)`, `w' = code * scale`. The range is the
 *   *restricted* one (-127..127, -7..7): using -128 / -8 as well would make the grid lopsided
 *   for no gain, since the scale is set by `max|w|` which only needs +-qmax.
 * - asymmetric: `lo = min(min w, 0)`, `hi = max(max w, 0)`, `scale = (hi - lo) / (2^bits - 1)`,
 *   integer zero point `z = round(-lo / scale)` in `[0, 2^bits - 1]`,
 *   `code = clamp(round(w / scale) + z, 0, 2^bits - 1)`, `w' = (code - z) * scale`. Because
 *   the range always contains 0 and `z` is an integer, 0.0 maps to code `z` and back to exactly
 *   0.0: a sparse base stays exactly as sparse after quantization (SQFT relies on this).
 * - a group whose scale is 0 (all zeros, or values so tiny the float32 scale underflows) gets
 *   codes `z` (0 symmetric) and dequantizes to 0 without dividing by zero.
 *
 * Rounding is round-half-to-even and the quotient `w / scale` is the float32 quotient, exactly
 * what tfjs computes (`tf.round` is banker's rounding), so {@link fakeQuantizeT} on the backend
 * and {@link quantizeWithParams} in JavaScript pick the same codes bit for bit.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { LlamaModel } from '../model/llama.js';

/** How a matrix is quantized. */
export interface QuantSpec {
  /** Bits per weight: 8 or 4. */
  readonly bits: 4 | 8;
  /** Consecutive input weights of one row that share a scale (the last group of a row may be shorter). */
  readonly groupSize: number;
  /** Symmetric (scale only, codes -qmax..qmax) or asymmetric (scale and integer zero point, codes 0..2^bits-1). */
  readonly symmetric: boolean;
}

/** A quantized matrix in HF layout `[rows, cols]` = `[out, in]`. */
export interface QuantizedMatrix {
  readonly spec: QuantSpec;
  readonly rows: number;
  readonly cols: number;
  /** One code per weight, row-major `[rows, cols]`: Int8Array when symmetric, Uint8Array when asymmetric. */
  readonly codes: Int8Array | Uint8Array;
  /** Float32 scale per group, `[rows, groupsPerRow]` row-major. */
  readonly scales: Float32Array;
  /** Integer zero point per group, `[rows, groupsPerRow]` (asymmetric only). */
  readonly zeros?: Uint8Array | Int32Array;
}

/** The bit widths {@link QuantSpec} accepts. */
export const QUANT_BITS: readonly (4 | 8)[] = [4, 8];

/**
 * Check a spec, throwing an NlsError that names the bad field.
 * @param names - how to name the fields (and file) in messages, e.g. `--bits` for the CLI.
 */
export function validateQuantSpec(spec: QuantSpec, names: { bits?: string; groupSize?: string; file?: string } = {}): void {
  const file = names.file !== undefined ? { file: names.file } : {};
  if (!QUANT_BITS.includes(spec.bits)) {
    throw new NlsError(`must be 4 or 8 (bits per weight), got ${JSON.stringify(spec.bits)}`, { ...file, field: names.bits ?? 'bits' });
  }
  if (typeof spec.groupSize !== 'number' || !Number.isSafeInteger(spec.groupSize) || spec.groupSize <= 0) {
    throw new NlsError(`must be a positive integer (input weights per scale), got ${JSON.stringify(spec.groupSize)}`, {
      ...file,
      field: names.groupSize ?? 'groupSize',
    });
  }
  if (typeof spec.symmetric !== 'boolean') {
    throw new NlsError(`must be a boolean, got ${JSON.stringify(spec.symmetric)}`, { ...file, field: 'symmetric' });
  }
}

/** The integer code range of a spec: `[-qmax, qmax]` symmetric, `[0, 2^bits - 1]` asymmetric. */
export function codeRange(spec: QuantSpec): { readonly lo: number; readonly hi: number } {
  return spec.symmetric ? { lo: -(2 ** (spec.bits - 1) - 1), hi: 2 ** (spec.bits - 1) - 1 } : { lo: 0, hi: 2 ** spec.bits - 1 };
}

/** Groups per row: `ceil(cols / groupSize)`. */
export function groupsPerRow(cols: number, groupSize: number): number {
  return Math.ceil(cols / groupSize);
}

/** Round half to even, as `tf.round` does (Math.round rounds halves up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round(2.5) = 3 and Math.round(-2.5) = -2: only a tie that went to an odd number moves.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The code of `w` on the grid (scale, zero) clamped to [lo, hi]; a zero scale gives `zero`. */
function codeOf(w: number, scale: number, zero: number, lo: number, hi: number): number {
  if (scale === 0) return zero;
  const q = roundHalfEven(Math.fround(w / scale)) + zero;
  return q < lo ? lo : q > hi ? hi : q;
}

function checkShape(length: number, rows: number, cols: number, what: string): void {
  if (!Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(cols) || cols < 0) {
    throw new NlsError(`rows and cols must be non-negative integers, got ${rows} x ${cols}`, { field: what });
  }
  if (length !== rows * cols) throw new NlsError(`has ${length} values, but ${rows} x ${cols} = ${rows * cols}`, { field: what });
}

/**
 * Quantize `w` (row-major `[rows, cols]`, HF `[out, in]` layout) group-wise with round to nearest.
 * @throws NlsError for a bad spec, a size mismatch or a non-finite weight.
 */
export function quantizeMatrix(w: Float32Array, rows: number, cols: number, spec: QuantSpec): QuantizedMatrix {
  validateQuantSpec(spec);
  checkShape(w.length, rows, cols, 'weights');
  const gs = spec.groupSize;
  const gpr = groupsPerRow(cols, gs);
  const { lo, hi } = codeRange(spec);
  const scales = new Float32Array(rows * gpr);
  const codes = spec.symmetric ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  const zeros = spec.symmetric ? undefined : new Uint8Array(rows * gpr);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < gpr; g++) {
      const begin = r * cols + g * gs;
      const end = r * cols + Math.min(cols, (g + 1) * gs);
      // Both ranges include 0 so that 0.0 is always on the grid.
      let mn = 0;
      let mx = 0;
      for (let i = begin; i < end; i++) {
        const v = w[i]!;
        if (!Number.isFinite(v)) {
          throw new NlsError(`weight [${r}, ${i - r * cols}] is ${v}; only finite weights can be quantized`, { field: 'weights' });
        }
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      let scale: number;
      let zero = 0;
      if (spec.symmetric) {
        scale = Math.fround(Math.max(mx, -mn) / hi);
      } else {
        scale = Math.fround((mx - mn) / hi);
        if (scale !== 0) zero = Math.min(hi, Math.max(0, roundHalfEven(-mn / scale)));
        zeros![r * gpr + g] = zero;
      }
      scales[r * gpr + g] = scale;
      for (let i = begin; i < end; i++) codes[i] = codeOf(w[i]!, scale, zero, lo, hi);
    }
  }
  return { spec: { bits: spec.bits, groupSize: spec.groupSize, symmetric: spec.symmetric }, rows, cols, codes, scales, ...(zeros ? { zeros } : {}) };
}

/** Check that the arrays of `q` agree with its spec and shape. */
export function validateQuantizedMatrix(q: QuantizedMatrix, field = 'quantized matrix'): void {
  validateQuantSpec(q.spec);
  checkShape(q.codes.length, q.rows, q.cols, `${field}.codes`);
  const n = q.rows * groupsPerRow(q.cols, q.spec.groupSize);
  if (q.scales.length !== n) throw new NlsError(`has ${q.scales.length} scales, expected ${n} (rows x groups per row)`, { field: `${field}.scales` });
  if (q.spec.symmetric) {
    if (!(q.codes instanceof Int8Array)) throw new NlsError('symmetric codes must be an Int8Array', { field: `${field}.codes` });
    if (q.zeros !== undefined) throw new NlsError('a symmetric matrix has no zero points', { field: `${field}.zeros` });
  } else {
    if (!(q.codes instanceof Uint8Array)) throw new NlsError('asymmetric codes must be a Uint8Array', { field: `${field}.codes` });
    if (q.zeros === undefined || q.zeros.length !== n) {
      throw new NlsError(`asymmetric quantization needs ${n} zero points, got ${q.zeros?.length ?? 'none'}`, { field: `${field}.zeros` });
    }
  }
}

/** Zero point of group `i` (0 when symmetric). */
function zeroAt(q: QuantizedMatrix, i: number): number {
  return q.zeros ? q.zeros[i]! : 0;
}

/** The float32 values `(code - zero) * scale`, row-major `[rows, cols]`. */
export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  validateQuantizedMatrix(q);
  const { rows, cols } = q;
  const gs = q.spec.groupSize;
  const gpr = groupsPerRow(cols, gs);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = r * gpr + Math.floor(c / gs);
      // (code - zero) is an exact small integer, so this is one float32 rounding, as on the backend.
      out[r * cols + c] = (q.codes[r * cols + c]! - zeroAt(q, g)) * q.scales[g]!;
    }
  }
  return out;
}

/**
 * Re-quantize new values `w` (same shape as `like`) on the existing grid of `like`: its scales
 * and zero points are kept, only the codes change (values outside a group's range clamp).
 * This is SQFT's merge: base + adapter delta goes back onto the base's quantization grid.
 */
export function quantizeWithParams(w: Float32Array, like: QuantizedMatrix): QuantizedMatrix {
  validateQuantizedMatrix(like, 'like');
  checkShape(w.length, like.rows, like.cols, 'weights');
  const { rows, cols } = like;
  const gs = like.spec.groupSize;
  const gpr = groupsPerRow(cols, gs);
  const { lo, hi } = codeRange(like.spec);
  const codes = like.spec.symmetric ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = r * gpr + Math.floor(c / gs);
      const v = w[r * cols + c]!;
      if (Number.isNaN(v)) throw new NlsError(`weight [${r}, ${c}] is NaN; it cannot be quantized`, { field: 'weights' });
      codes[r * cols + c] = codeOf(v, like.scales[g]!, zeroAt(like, g), lo, hi);
    }
  }
  return {
    spec: like.spec,
    rows,
    cols,
    codes,
    scales: like.scales.slice(),
    ...(like.zeros ? { zeros: like.zeros.slice() } : {}),
  };
}

/** Quantization error of `q` against the original `w`. */
export interface QuantizationError {
  /** `||w - w'||_F / ||w||_F` (0 when both are zero, Infinity when only `w` is zero). */
  readonly relativeError: number;
  /** `max |w - w'|`. */
  readonly maxAbsError: number;
}

/** Relative Frobenius error and largest absolute error of `q` against the float weights `w`. */
export function quantizationError(w: Float32Array, q: QuantizedMatrix): QuantizationError {
  checkShape(w.length, q.rows, q.cols, 'weights');
  const d = dequantizeMatrix(q);
  let diff2 = 0;
  let norm2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < w.length; i++) {
    const e = w[i]! - d[i]!;
    diff2 += e * e;
    norm2 += w[i]! * w[i]!;
    if (Math.abs(e) > maxAbs) maxAbs = Math.abs(e);
  }
  const relativeError = norm2 > 0 ? Math.sqrt(diff2 / norm2) : diff2 > 0 ? Infinity : 0;
  return { relativeError, maxAbsError: maxAbs };
}

// ---------------------------------------------------------------------------------------------
// Fake quantization (QA-SparsePEFT)
// ---------------------------------------------------------------------------------------------

type GradArgs = Array<tf.Tensor | tf.GradSaveFunc>;

/**
 * The per-element grid of {@link FakeQuantizerT} as plain arrays in the model's `[in, out]`
 * layout: `scale`, `divisor` (the scale, or Infinity where it is 0: w / Inf = 0 picks code
 * `zero`), `zero` (absent when symmetric) and the code range. Shared by the tfjs fake quantizer
 * and the ONNX export, so both quantize on the same grid.
 */
export function fakeQuantGridT(like: QuantizedMatrix): { scale: Float32Array; divisor: Float32Array; zero?: Float32Array; lo: number; hi: number } {
  validateQuantizedMatrix(like, 'like');
  const { rows, cols } = like;
  const gs = like.spec.groupSize;
  const gpr = groupsPerRow(cols, gs);
  const scale = new Float32Array(rows * cols);
  const divisor = new Float32Array(rows * cols);
  const zero = like.zeros ? new Float32Array(rows * cols) : undefined;
  // Element (c, r) of the [in, out] layout is weight [r, c] of the HF layout.
  for (let c = 0; c < cols; c++) {
    const g = Math.floor(c / gs);
    for (let r = 0; r < rows; r++) {
      const s = like.scales[r * gpr + g]!;
      scale[c * rows + r] = s;
      divisor[c * rows + r] = s === 0 ? Infinity : s;
      if (zero) zero[c * rows + r] = like.zeros![r * gpr + g]!;
    }
  }
  return { scale, divisor, ...(zero ? { zero } : {}), ...codeRange(like.spec) };
}

/**
 * Fake quantization on the grid of one {@link QuantizedMatrix}, in the model's `[in, out]`
 * layout. The per-element grid tensors are built once, so a training hook can call
 * {@link FakeQuantizerT.apply} every step; {@link FakeQuantizerT.dispose} frees them.
 */
export class FakeQuantizerT {
  /** Per-element scale, `[in, out]`. */
  private readonly scale: tf.Tensor2D;
  /** Per-element divisor: the scale, or Infinity where it is 0 (w / Inf = 0 picks code `zero`). */
  private readonly divisor: tf.Tensor2D;
  /** Per-element zero point, `[in, out]` (a zero scalar when symmetric). */
  private readonly zero: tf.Tensor;
  private readonly lo: number;
  private readonly hi: number;
  private disposed = false;

  constructor(readonly like: QuantizedMatrix) {
    const { scale, divisor, zero, lo, hi } = fakeQuantGridT(like);
    const { rows, cols } = like;
    this.scale = tf.tensor2d(scale, [cols, rows]);
    this.divisor = tf.tensor2d(divisor, [cols, rows]);
    // Adding a zero (even +0) also turns the -0 of round(-0.3) into +0, as in dequantizeMatrix.
    this.zero = zero ? tf.tensor2d(zero, [cols, rows]) : tf.scalar(0);
    this.lo = lo;
    this.hi = hi;
  }

  /**
   * `dequantize(quantizeWithParams(w, like))` of `wT` ([in, out]) with a straight-through
   * gradient: the incoming gradient passes unchanged where `round(w / scale) + zero` lies in
   * the code range, and is 0 where the value was clamped (the clipped straight-through
   * estimator: moving a clamped weight further out cannot change the output).
   */
  apply(wT: tf.Tensor2D): tf.Tensor2D {
    if (this.disposed) throw new Error('FakeQuantizerT: used after dispose()');
    const [cols, rows] = [this.like.cols, this.like.rows];
    if (wT.rank !== 2 || wT.shape[0] !== cols || wT.shape[1] !== rows) {
      throw new NlsError(`weight has shape [${wT.shape}], the quantization grid is for [in, out] = [${cols}, ${rows}]`, { field: 'wT' });
    }
    const f = tf.customGrad((...args: GradArgs) => {
      const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
      const { value, pass } = tf.tidy(() => {
        const u = tf.add(tf.round(tf.div(x, this.divisor)), this.zero);
        const inside = tf.cast(tf.logicalAnd(tf.greaterEqual(u, this.lo), tf.lessEqual(u, this.hi)), 'float32');
        const v = tf.mul(tf.sub(tf.clipByValue(u, this.lo, this.hi), this.zero), this.scale) as tf.Tensor2D;
        return { value: v, pass: inside };
      });
      save([pass]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0]!)],
      };
    });
    return f(wT) as tf.Tensor2D;
  }

  /** Free the grid tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scale.dispose();
    this.divisor.dispose();
    this.zero.dispose();
  }
}

/**
 * Fake quantization of `wT` ([in, out], the model's layout) on the grid of `like` (HF layout
 * [out, in]): the forward value is `dequantize(quantizeWithParams(w, like))` bit for bit, the
 * gradient is the identity where the value is inside the representable range and 0 where it
 * was clamped. Builds the grid tensors on every call; a training loop should keep a
 * {@link FakeQuantizerT} instead.
 */
export function fakeQuantizeT(wT: tf.Tensor2D, like: QuantizedMatrix): tf.Tensor2D {
  const fq = new FakeQuantizerT(like);
  try {
    return fq.apply(wT);
  } finally {
    fq.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// int4 packing
// ---------------------------------------------------------------------------------------------

/**
 * Pack 4-bit codes two per byte, row by row: byte `j` of row `r` holds code `2j` in its low
 * nibble and code `2j + 1` in its high nibble (0 when `cols` is odd and `2j + 1 == cols`).
 * Signed codes are stored as 4-bit two's complement. Result: `[rows, ceil(cols / 2)]`.
 */
export function packInt4(codes: Int8Array | Uint8Array, rows: number, cols: number): Uint8Array {
  checkShape(codes.length, rows, cols, 'codes');
  const width = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const nibble = codes[r * cols + c]! & 0x0f;
      out[r * width + (c >> 1)]! |= (c & 1) === 0 ? nibble : nibble << 4;
    }
  }
  return out;
}

/** Inverse of {@link packInt4}; `signed` sign-extends the nibbles (symmetric codes). */
export function unpackInt4(packed: Uint8Array, rows: number, cols: number, signed: boolean): Int8Array | Uint8Array {
  const width = Math.ceil(cols / 2);
  checkShape(packed.length, rows, width, 'packed codes');
  const out = signed ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const byte = packed[r * width + (c >> 1)]!;
      const nibble = (c & 1) === 0 ? byte & 0x0f : byte >> 4;
      out[r * cols + c] = signed ? (nibble ^ 8) - 8 : nibble;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Whole models
// ---------------------------------------------------------------------------------------------

/** Error of one quantized linear. */
export interface LayerQuantizationReport extends QuantizationError {
  /** Module key `layers.{i}.{module}`. */
  readonly key: string;
  /** HF tensor name of the float weight. */
  readonly hfName: string;
  /** Output features (HF rows). */
  readonly rows: number;
  /** Input features (HF cols). */
  readonly cols: number;
}

/** What {@link quantizeModel} did. */
export interface ModelQuantizationReport {
  readonly spec: QuantSpec;
  /** One entry per decoder linear, in model order. */
  readonly layers: readonly LayerQuantizationReport[];
  /** Mean of the per-layer relative errors. */
  readonly meanRelativeError: number;
  /** Largest per-layer relative error. */
  readonly maxRelativeError: number;
  /** Weights quantized. */
  readonly parameters: number;
  /** Bytes of those weights as float32. */
  readonly floatBytes: number;
  /** Bytes of their quantized form on disk (packed codes + F32 scales + U8 zero points). */
  readonly quantizedBytes: number;
}

/** Bytes a quantized matrix takes on disk in the nls-rtn format (see docs/formats.md). */
export function quantizedByteSize(q: Pick<QuantizedMatrix, 'spec' | 'rows' | 'cols'>): number {
  const groups = q.rows * groupsPerRow(q.cols, q.spec.groupSize);
  const codeBytes = q.spec.bits === 4 ? q.rows * Math.ceil(q.cols / 2) : q.rows * q.cols;
  return codeBytes + groups * 4 + (q.spec.symmetric ? 0 : groups);
}

/** Options of {@link quantizeModel}. */
export interface QuantizeModelOptions {
  /** Called after each linear is quantized (1-based index of `total`), for progress. */
  readonly onLayer?: (layer: LayerQuantizationReport, index: number, total: number) => void;
}

/**
 * Quantize every decoder linear of `model` in place: each `LinearSlot` weight is replaced by its
 * dequantized values (so the float model computes exactly what the quantized one does), and the
 * quantized matrices (HF layout) are returned by module key with a per-layer error report.
 * Embeddings, norms and lm_head stay float.
 */
export async function quantizeModel(
  model: LlamaModel,
  spec: QuantSpec,
  options: QuantizeModelOptions = {},
): Promise<{ matrices: Map<string, QuantizedMatrix>; report: ModelQuantizationReport }> {
  validateQuantSpec(spec);
  const slots = [...model.linearSlots().values()];
  const matrices = new Map<string, QuantizedMatrix>();
  const layers: LayerQuantizationReport[] = [];
  let parameters = 0;
  let quantizedBytes = 0;
  for (const [i, slot] of slots.entries()) {
    const rows = slot.outFeatures;
    const cols = slot.inFeatures;
    const hfT = tf.transpose(slot.weightT);
    let w: Float32Array;
    try {
      w = (await hfT.data()) as Float32Array;
    } finally {
      hfT.dispose();
    }
    const q = quantizeMatrix(w, rows, cols, spec);
    const deq = dequantizeMatrix(q);
    // Transposing is exact, so the slot holds the dequantized values bit for bit.
    tf.tidy(() => slot.weightT.assign(tf.transpose(tf.tensor2d(deq, [rows, cols])) as tf.Tensor2D));
    matrices.set(slot.key, q);
    const layer: LayerQuantizationReport = { key: slot.key, hfName: slot.hfName, rows, cols, ...quantizationError(w, q) };
    layers.push(layer);
    parameters += rows * cols;
    quantizedBytes += quantizedByteSize(q);
    options.onLayer?.(layer, i + 1, slots.length);
  }
  const rel = layers.map((l) => l.relativeError);
  return {
    matrices,
    report: {
      spec: { ...spec },
      layers,
      meanRelativeError: rel.length > 0 ? rel.reduce((a, b) => a + b, 0) / rel.length : 0,
      maxRelativeError: rel.length > 0 ? Math.max(...rel) : 0,
      parameters,
      floatBytes: parameters * 4,
      quantizedBytes,
    },
  };
}
