/**
 * The safetensors checkpoint format, read and written with plain typed arrays (no tfjs), plus
 * HF-style sharded checkpoints (`model.safetensors` or `model.safetensors.index.json` + shards).
 *
 * Layout of a file: an 8-byte little-endian u64 `N`, `N` bytes of UTF-8 JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } }`, then the
 * data buffer; offsets are relative to the start of the data buffer, which the tensors must cover
 * exactly (no holes, no overlaps), as the reference implementation requires.
 *
 * Writing follows the reference implementation (huggingface/safetensors, Rust): the header is
 * padded with spaces to a multiple of 8 bytes, and tensors are laid out by decreasing item size,
 * then by name (UTF-16 code unit order). That order is deterministic (the same tensors always give
 * the same bytes, whatever the Map's insertion order) and keeps every tensor aligned to its item
 * size, so a reader may view the bytes in place.
 *
 * Float tensors always come back as `Float32Array` (F16 and BF16 are widened exactly); integer
 * tensors come back raw (I8, U8, I32; I64 as Int32Array when every value fits) for later use by
 * quantization code.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

// ---------------------------------------------------------------------------------------------
// float32 <-> float16 / bfloat16
// ---------------------------------------------------------------------------------------------

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The IEEE 754 binary32 bit pattern of `x` (after rounding `x` to float32), as an unsigned integer. */
export function float32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The float32 value whose bit pattern is `bits` (taken as an unsigned 32-bit integer). */
export function float32FromBits(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

/**
 * Round a float32 bit pattern to a binary16 bit pattern, round-to-nearest-even (the IEEE 754
 * default, as torch and numpy do).
 *
 * Values at or above 65520 round to ±Inf (65504 is the largest half); tiny values go through the
 * half subnormals (ulp 2^-24) to ±0; NaN stays a quiet NaN keeping its top payload bits.
 */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top 10 payload bits and is forced quiet so it cannot turn into Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal or zero. The value is M * 2^(exp-150) with M the 24-bit significand, and a
    // half subnormal ulp is 2^-24, so the half mantissa is M / 2^(14 - e), rounded.
    if (e < -10) return sign; // below 2^-25, half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of the subnormal range gives 0x400, the smallest normal: the right answer.
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry into the exponent is the right answer too, up to and including Inf.
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1;
  return sign | h;
}

let halfTableCache: Float32Array | undefined;

/** All 65536 half values as float32, built once (256 KiB): exact, and faster than bit twiddling. */
function halfTable(): Float32Array {
  if (halfTableCache) return halfTableCache;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 0x1f) t[h] = m === 0 ? s * Infinity : NaN;
    else t[h] = s * (1024 + m) * 2 ** (e - 25);
  }
  halfTableCache = t;
  return t;
}

/** The value of a binary16 bit pattern (exactly representable in float32; NaN payloads are dropped). */
export function f16BitsToF32(h: number): number {
  return halfTable()[h & 0xffff]!;
}

/** Round a float32 bit pattern to a bfloat16 bit pattern, round-to-nearest-even; NaN stays a quiet NaN. */
export function f32BitsToBf16Bits(bits: number): number {
  const b = bits >>> 0;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit, then truncating, rounds to nearest with ties to even;
  // a carry into the exponent is the right answer (up to Inf). The sum stays below 2^32.
  return Math.floor((b + 0x7fff + ((b >>> 16) & 1)) / 65536) & 0xffff;
}

/** The value of a bfloat16 bit pattern (exact, NaN payloads included). */
export function bf16BitsToF32(h: number): number {
  return float32FromBits((h & 0xffff) << 16);
}

/** float32 values to binary16 bit patterns, round-to-nearest-even. */
export function float32ToFloat16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** binary16 bit patterns to float32 values (exact). */
export function float16ToFloat32Array(src: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

/** float32 values to bfloat16 bit patterns, round-to-nearest-even. */
export function float32ToBfloat16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]!);
  return out;
}

/** bfloat16 bit patterns to float32 values (exact). */
export function bfloat16ToFloat32Array(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i]! << 16;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Every dtype the safetensors specification defines, with its size in bytes. */
const KNOWN_DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

/** A dtype name the safetensors specification defines (readable in a header). */
export type KnownSafetensorsDtype = keyof typeof KNOWN_DTYPE_SIZES;

/** The dtypes nls reads and writes tensor data for. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I32' | 'I64';

/** The float dtypes; their data is a `Float32Array` in memory whatever the dtype on disk. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

/** The dtypes nls reads and writes data for, in the order error messages list them. */
export const SUPPORTED_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'I8', 'U8', 'I32', 'I64'];

const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

/** Tensor values in memory: float dtypes as Float32Array; I8, U8, I32 raw; I64 as Int32Array. */
export type TensorData = Float32Array | Int8Array | Uint8Array | Int32Array;

/** A tensor as read from a safetensors file. */
export interface TensorRecord {
  /** The dtype on disk (F16/BF16 data has been widened to float32 in `data`). */
  dtype: SafetensorsDtype;
  /** Row-major shape; `[]` for a scalar. */
  shape: number[];
  /** Values, row-major; `data.length` is the product of `shape`. */
  data: TensorData;
}

/**
 * A tensor to write. `dtype` is optional: Float32Array data is written as the `dtype` option of
 * the writer, else this `dtype` if it is a float dtype, else F32; integer data is written as its
 * own type (Int8Array: I8, Uint8Array: U8, Int32Array: I32, or I64 when `dtype` says so).
 */
export interface TensorInput {
  readonly shape: readonly number[];
  readonly data: TensorData;
  readonly dtype?: SafetensorsDtype;
}

/** A float tensor (F32/F16/BF16 on disk), the only kind a model's weights are. */
export interface FloatTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** One header entry, validated. */
export interface TensorHeaderEntry {
  /** Any dtype of the specification; data can be read only for {@link SUPPORTED_DTYPES}. */
  dtype: KnownSafetensorsDtype;
  shape: number[];
  /** `[begin, end)` byte offsets, relative to the start of the data buffer. */
  dataOffsets: [number, number];
}

/** The validated header of a safetensors file. */
export interface SafetensorsHeader {
  /** Entries in header (JSON) order. */
  tensors: Map<string, TensorHeaderEntry>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Byte offset of the data buffer in the file: 8 + header length. */
  dataStart: number;
  /** Size of the data buffer in bytes. */
  dataLength: number;
}

/** Tensors as a Map (kept in order) or a plain object. */
export type TensorCollection = ReadonlyMap<string, TensorInput> | Readonly<Record<string, TensorInput>>;

/** Options for {@link serializeSafetensors} and {@link writeSafetensors}. */
export interface SerializeOptions {
  /** dtype for float (Float32Array) tensors; default: each tensor's own float dtype, else F32. */
  dtype?: FloatDtype;
  /** Written as `__metadata__` (omitted when empty). */
  metadata?: Readonly<Record<string, string>>;
}

const METADATA_KEY = '__metadata__';
const HOST_LITTLE_ENDIAN = os.endianness() === 'LE';
const HINT = 'the file is corrupt or was not written as safetensors; re-export or re-download it';

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isSupported(dtype: string): dtype is SafetensorsDtype {
  return (SUPPORTED_DTYPES as readonly string[]).includes(dtype);
}

function isFloatDtype(dtype: string): dtype is FloatDtype {
  return FLOAT_DTYPES.includes(dtype);
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function entries(tensors: TensorCollection): [string, TensorInput][] {
  if (tensors instanceof Map) return [...(tensors as ReadonlyMap<string, TensorInput>)];
  return Object.entries(tensors as Readonly<Record<string, TensorInput>>);
}

// ---------------------------------------------------------------------------------------------
// Header parsing and validation
// ---------------------------------------------------------------------------------------------

/**
 * The keys of the top-level object of already-validated JSON text, duplicates included.
 * JSON.parse silently keeps the last of duplicate keys, which would hide a corrupt header.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Validate the header JSON bytes against a data buffer of `dataLength` bytes. */
function parseHeaderBytes(headerBytes: Uint8Array, headerLength: number, dataLength: number, file: string): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch (cause) {
    throw new NlsError(`the ${headerLength}-byte header is not valid UTF-8; ${HINT}`, { file, field: 'header', cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new NlsError(`the ${headerLength}-byte header is not valid JSON (${msg}); ${HINT}`, { file, field: 'header', cause });
  }
  if (!isPlainObject(json)) {
    throw new NlsError(`the header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}; ${HINT}`, {
      file,
      field: 'header',
    });
  }
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) {
      throw new NlsError(`the header lists this name twice; every tensor name must be unique (${HINT})`, { file, field: key });
    }
    seen.add(key);
  }

  const metadata: Record<string, string> = {};
  const rawMeta = json[METADATA_KEY];
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isPlainObject(rawMeta)) {
      throw new NlsError(`must be an object of string values, got ${JSON.stringify(rawMeta)}; ${HINT}`, { file, field: METADATA_KEY });
    }
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') {
        throw new NlsError(`must be a string, got ${JSON.stringify(v)}; safetensors metadata values are strings`, {
          file,
          field: `${METADATA_KEY}.${k}`,
        });
      }
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  const tensors = new Map<string, TensorHeaderEntry>();
  for (const [name, raw] of Object.entries(json)) {
    if (name === METADATA_KEY) continue;
    const field = name;
    if (!isPlainObject(raw)) {
      throw new NlsError(`header entry must be an object {dtype, shape, data_offsets}, got ${JSON.stringify(raw)}; ${HINT}`, { file, field });
    }
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== 'string' || !Object.hasOwn(KNOWN_DTYPE_SIZES, dtype)) {
      throw new NlsError(
        `unknown dtype ${JSON.stringify(dtype)}; safetensors dtypes are ${Object.keys(KNOWN_DTYPE_SIZES).join(', ')} ` +
          `(nls reads ${SUPPORTED_DTYPES.join(', ')}); ${HINT}`,
        { file, field },
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      throw new NlsError(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}; ${HINT}`, { file, field });
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0]! > offsets[1]!) {
      throw new NlsError(
        `data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}; ${HINT}`,
        { file, field },
      );
    }
    const [begin, end] = offsets as [number, number];
    const itemSize = KNOWN_DTYPE_SIZES[dtype as KnownSafetensorsDtype];
    const expected = product(shape as number[]) * itemSize;
    if (end - begin !== expected) {
      throw new NlsError(
        `data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} ` +
          `needs ${expected} bytes (${itemSize} per element); ${HINT}`,
        { file, field },
      );
    }
    if (end > dataLength) {
      throw new NlsError(
        `data_offsets [${begin}, ${end}] reach past the end of the ${dataLength}-byte data buffer: ` +
          `the file is truncated (an interrupted download or copy?); re-download or re-export it`,
        { file, field },
      );
    }
    tensors.set(name, { dtype: dtype as KnownSafetensorsDtype, shape: [...(shape as number[])], dataOffsets: [begin, end] });
  }

  // The tensors must tile the data buffer exactly: sort by offsets and walk.
  const order = [...tensors].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let cursor = 0;
  let prevName: string | undefined;
  for (const [name, entry] of order) {
    const [begin, end] = entry.dataOffsets;
    if (begin < cursor) {
      throw new NlsError(
        `data_offsets [${begin}, ${end}] overlap tensor ${JSON.stringify(prevName)} (which ends at byte ${cursor}); ${HINT}`,
        { file, field: name },
      );
    }
    if (begin > cursor) {
      throw new NlsError(
        `data_offsets [${begin}, ${end}] leave a hole: bytes [${cursor}, ${begin}) of the data buffer belong to no tensor ` +
          `(safetensors requires the buffer to be fully covered); ${HINT}`,
        { file, field: name },
      );
    }
    cursor = end;
    prevName = name;
  }
  if (cursor !== dataLength) {
    throw new NlsError(
      `the data buffer has ${dataLength} bytes but the tensors cover only ${cursor}` +
        (prevName === undefined ? '' : ` (the last one, ${JSON.stringify(prevName)}, ends there)`) +
        `: trailing bytes belong to no tensor; ${HINT}`,
      { file, field: prevName ?? 'header' },
    );
  }
  return { tensors, metadata, dataStart: 8 + headerLength, dataLength };
}

/** Read and bound-check the u64 header length of a file of `fileSize` bytes. */
function headerLengthOf(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) {
    throw new NlsError(
      `file is ${fileSize} bytes, shorter than the 8-byte header length every safetensors file starts with; ` +
        `the file is truncated or not safetensors`,
      { file, field: 'header' },
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new NlsError(
      `header length ${n} (first 8 bytes, little-endian u64) is beyond the ${fileSize}-byte file; ` +
        `the file is truncated or not safetensors`,
      { file, field: 'header' },
    );
  }
  return Number(n);
}

// ---------------------------------------------------------------------------------------------
// Decoding / encoding tensor bytes
// ---------------------------------------------------------------------------------------------

/**
 * Decode one tensor's bytes. `bytes` must own its buffer from offset 0 (a fresh copy), so typed
 * arrays can view it without copying again.
 */
function decodeTensor(bytes: Uint8Array, entry: TensorHeaderEntry, name: string, file: string): TensorRecord {
  const { dtype, shape } = entry;
  if (!isSupported(dtype)) {
    throw new NlsError(
      `dtype ${dtype} is not supported by nls (it reads ${SUPPORTED_DTYPES.join(', ')}); ` +
        `convert the checkpoint, e.g. to float16 or bfloat16, with torch or safetensors`,
      { file, field: name },
    );
  }
  const n = product(shape);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (HOST_LITTLE_ENDIAN) return { dtype, shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, n) };
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat32(i * 4, true);
      return { dtype, shape, data };
    }
    case 'F16':
    case 'BF16': {
      let half: Uint16Array;
      if (HOST_LITTLE_ENDIAN) half = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      else {
        half = new Uint16Array(n);
        for (let i = 0; i < n; i++) half[i] = dv.getUint16(i * 2, true);
      }
      return { dtype, shape, data: dtype === 'F16' ? float16ToFloat32Array(half) : bfloat16ToFloat32Array(half) };
    }
    case 'I8':
      return { dtype, shape, data: new Int8Array(bytes.buffer, bytes.byteOffset, n) };
    case 'U8':
      return { dtype, shape, data: bytes };
    case 'I32': {
      if (HOST_LITTLE_ENDIAN) return { dtype, shape, data: new Int32Array(bytes.buffer, bytes.byteOffset, n) };
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = dv.getInt32(i * 4, true);
      return { dtype, shape, data };
    }
    case 'I64': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = dv.getBigInt64(i * 8, true);
        if (v < -2147483648n || v > 2147483647n) {
          throw new NlsError(
            `I64 element ${i} is ${v}, outside the int32 range nls holds I64 tensors in; ` +
              `this tensor cannot be used by nls (drop it from the checkpoint or store it as I32)`,
            { file, field: name },
          );
        }
        data[i] = Number(v);
      }
      return { dtype, shape, data };
    }
  }
}

/** The dtype a tensor is written as, and a check that data and shape agree. */
function targetDtype(name: string, t: TensorInput, floatDtype: FloatDtype | undefined, file: string): SafetensorsDtype {
  if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) {
    throw new NlsError(`shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`, { file, field: name });
  }
  const n = product(t.shape);
  if (t.data.length !== n) {
    throw new NlsError(`has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${n}`, { file, field: name });
  }
  const declared = t.dtype;
  const mismatch = (kind: string): NlsError =>
    new NlsError(`dtype ${declared} does not match its ${kind} data; pass the data type that dtype stores`, { file, field: name });
  if (t.data instanceof Float32Array) {
    if (declared !== undefined && !isFloatDtype(declared)) throw mismatch('Float32Array');
    return floatDtype ?? (declared as FloatDtype | undefined) ?? 'F32';
  }
  if (t.data instanceof Int8Array) {
    if (declared !== undefined && declared !== 'I8') throw mismatch('Int8Array');
    return 'I8';
  }
  if (t.data instanceof Uint8Array) {
    if (declared !== undefined && declared !== 'U8') throw mismatch('Uint8Array');
    return 'U8';
  }
  if (t.data instanceof Int32Array) {
    if (declared !== undefined && declared !== 'I32' && declared !== 'I64') throw mismatch('Int32Array');
    return declared ?? 'I32';
  }
  throw new NlsError(`data must be a Float32Array, Int8Array, Uint8Array or Int32Array`, { file, field: name });
}

function itemSize(dtype: SafetensorsDtype): number {
  return KNOWN_DTYPE_SIZES[dtype];
}

/** Write `t` as `dtype` into `out` (little-endian), which has exactly the right length. */
function encodeInto(out: Uint8Array, t: TensorInput, dtype: SafetensorsDtype): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const src = t.data;
  switch (dtype) {
    case 'F32':
    case 'I32':
      if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      else if (src instanceof Float32Array) src.forEach((v, i) => dv.setFloat32(i * 4, v, true));
      else src.forEach((v, i) => dv.setInt32(i * 4, v, true));
      return;
    case 'F16':
    case 'BF16': {
      const half = dtype === 'F16' ? float32ToFloat16Array(src as Float32Array) : float32ToBfloat16Array(src as Float32Array);
      if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(half.buffer));
      else half.forEach((v, i) => dv.setUint16(i * 2, v, true));
      return;
    }
    case 'I8':
    case 'U8':
      out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      return;
    case 'I64':
      src.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Public API: bytes
// ---------------------------------------------------------------------------------------------

/**
 * Parse the header of an in-memory safetensors file without decoding any tensor.
 * @param bytes the whole file (or at least its header: pass `fileSize` then).
 * @param file the path, for error messages.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, file: string, fileSize = bytes.length): SafetensorsHeader {
  const n = headerLengthOf(bytes, fileSize, file);
  if (bytes.length < 8 + n) {
    throw new NlsError(`only ${bytes.length} bytes given, the header needs ${8 + n}`, { file, field: 'header' });
  }
  return parseHeaderBytes(bytes.subarray(8, 8 + n), n, fileSize - 8 - n, file);
}

/**
 * Parse an in-memory safetensors file. Float tensors (F32/F16/BF16) come back as Float32Array;
 * I8/U8/I32 raw; I64 as Int32Array if every value fits. Every structural problem is an
 * {@link NlsError} naming `file` and the tensor.
 * @param bytes the file's bytes.
 * @param file the path, for error messages.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  file: string,
): { tensors: Map<string, TensorRecord>; metadata: Record<string, string> } {
  const header = parseSafetensorsHeader(bytes, file);
  const tensors = new Map<string, TensorRecord>();
  for (const [name, entry] of header.tensors) {
    const [begin, end] = entry.dataOffsets;
    // Copy into a fresh buffer at offset 0 (aligned, not aliasing the input) that the decoded
    // arrays may view in place. Not bytes.slice(): on a Node Buffer that is a view, not a copy.
    const own = new Uint8Array(end - begin);
    own.set(bytes.subarray(header.dataStart + begin, header.dataStart + end));
    tensors.set(name, decodeTensor(own, entry, name, file));
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Serialize tensors to safetensors bytes. Layout: header padded with spaces to 8 bytes; tensors
 * by decreasing item size, then by name; offsets contiguous. See {@link TensorInput} for how each
 * tensor's dtype is chosen.
 */
export function serializeSafetensors(tensors: TensorCollection, options: SerializeOptions = {}, file = '<memory>'): Uint8Array {
  if (options.dtype !== undefined && !isFloatDtype(options.dtype)) {
    throw new NlsError(`dtype must be one of ${FLOAT_DTYPES.join(', ')}, got ${JSON.stringify(options.dtype)}`, { file, field: 'dtype' });
  }
  const planned = entries(tensors).map(([name, t]) => {
    if (name === METADATA_KEY) {
      throw new NlsError(`${METADATA_KEY} is reserved by safetensors and cannot name a tensor; rename it`, { file, field: name });
    }
    const dtype = targetDtype(name, t, options.dtype, file);
    return { name, t, dtype, size: itemSize(dtype) };
  });
  planned.sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // Null-prototype object so a tensor named "__proto__" is an ordinary key.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const meta = options.metadata ?? {};
  if (Object.keys(meta).length > 0) {
    const m: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') {
        throw new NlsError(`metadata values must be strings, got ${JSON.stringify(v)}`, { file, field: `${METADATA_KEY}.${k}` });
      }
      m[k] = v;
    }
    header[METADATA_KEY] = m;
  }
  let offset = 0;
  const layout = planned.map((p) => {
    const bytes = product(p.t.shape) * p.size;
    const begin = offset;
    offset += bytes;
    header[p.name] = { dtype: p.dtype, shape: [...p.t.shape], data_offsets: [begin, offset] };
    return { ...p, begin, end: offset };
  });
  const headerBytesRaw = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (headerBytesRaw.length % 8)) % 8; // spaces to 8-byte alignment, as the reference writer does
  const headerLength = headerBytesRaw.length + pad;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(headerBytesRaw, 8);
  out.fill(0x20, 8 + headerBytesRaw.length, 8 + headerLength);
  const dataStart = 8 + headerLength;
  for (const l of layout) encodeInto(out.subarray(dataStart + l.begin, dataStart + l.end), l.t, l.dtype);
  return out;
}

/**
 * Keep only float tensors, as `{shape, data: Float32Array}`; a non-float tensor is an error
 * naming it (a model's weights are all float).
 */
export function requireFloatTensors(tensors: ReadonlyMap<string, TensorRecord>, file: string): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) {
      throw new NlsError(`is ${t.dtype}, but model weights must be F32, F16 or BF16 (quantized checkpoints are not supported)`, {
        file,
        field: name,
      });
    }
    out.set(name, { shape: t.shape, data: t.data });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Public API: files
// ---------------------------------------------------------------------------------------------

/** Fill `buf` from `handle` at `position`, in chunks below the 2 GiB single-read limit. */
async function readFully(handle: fsp.FileHandle, buf: Uint8Array, position: number, file: string): Promise<void> {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < buf.length) {
    const len = Math.min(CHUNK, buf.length - done);
    const { bytesRead } = await handle.read(buf, done, len, position + done);
    if (bytesRead === 0) {
      throw new NlsError(`unexpected end of file at byte ${position + done}; the file changed while being read or is truncated`, {
        file,
      });
    }
    done += bytesRead;
  }
}

async function openForRead(file: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new NlsError(code === 'ENOENT' ? 'file does not exist; check the path' : `cannot open file (${code ?? String(cause)})`, {
      file,
      cause,
    });
  }
}

async function readHeaderFromHandle(handle: fsp.FileHandle, file: string): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  const prefix = new Uint8Array(8);
  if (size >= 8) await readFully(handle, prefix, 0, file);
  const n = headerLengthOf(prefix, size, file);
  const headerBytes = new Uint8Array(n);
  await readFully(handle, headerBytes, 8, file);
  return parseHeaderBytes(headerBytes, n, size - 8 - n, file);
}

/**
 * Read and validate only the header of a safetensors file (cheap for multi-GB checkpoints):
 * names, dtypes (any of the specification), shapes, offsets and metadata.
 */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const handle = await openForRead(file);
  try {
    return await readHeaderFromHandle(handle, file);
  } finally {
    await handle.close();
  }
}

/** Options for {@link readSafetensors}. */
export interface ReadOptions {
  /** Load only the tensors this accepts (the whole header is still validated). */
  filter?: (name: string) => boolean;
}

/**
 * Read a safetensors file, tensor by tensor (the file is never held in memory whole, so files
 * beyond Node's buffer limit load too). Same results and errors as {@link parseSafetensors}.
 */
export async function readSafetensors(
  file: string,
  options: ReadOptions = {},
): Promise<{ tensors: Map<string, TensorRecord>; metadata: Record<string, string> }> {
  const handle = await openForRead(file);
  try {
    const header = await readHeaderFromHandle(handle, file);
    const tensors = new Map<string, TensorRecord>();
    for (const [name, entry] of header.tensors) {
      if (options.filter && !options.filter(name)) continue;
      const [begin, end] = entry.dataOffsets;
      const bytes = new Uint8Array(end - begin);
      await readFully(handle, bytes, header.dataStart + begin, file);
      tensors.set(name, decodeTensor(bytes, entry, name, file));
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}

/** Serialize (see {@link serializeSafetensors}) and write atomically. */
export async function writeSafetensors(file: string, tensors: TensorCollection, options: SerializeOptions = {}): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, options, file));
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (single file or HF shards)
// ---------------------------------------------------------------------------------------------

/** File name of a single-file checkpoint. */
export const SINGLE_FILE = 'model.safetensors';
/** File name of a sharded checkpoint's index. */
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_RE = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** HF shard file name, 1-based: `model-00001-of-00002.safetensors`. */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

/**
 * Load all weights of a checkpoint folder: `model.safetensors` if present (as transformers
 * prefers it), else `model.safetensors.index.json` and its shards. For shards, every shard must
 * exist and contain every tensor the index maps to it (checked on headers before any data is
 * read); tensors a shard holds but the index does not map are not loaded, as in transformers.
 */
export async function loadCheckpoint(dir: string): Promise<Map<string, TensorRecord>> {
  const single = path.join(dir, SINGLE_FILE);
  if (existsSync(single)) return (await readSafetensors(single)).tensors;
  const indexFile = path.join(dir, INDEX_FILE);
  if (!existsSync(indexFile)) {
    throw new NlsError(`no ${SINGLE_FILE} or ${INDEX_FILE} in this folder; point nls at a folder holding a safetensors checkpoint`, {
      file: dir,
    });
  }
  const weightMap = await readIndex(indexFile);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of weightMap) {
    const list = byShard.get(shard);
    if (list) list.push(name);
    else byShard.set(shard, [name]);
  }
  for (const [shard, names] of byShard) {
    const shardPath = path.join(dir, shard);
    if (!existsSync(shardPath)) {
      throw new NlsError(`shard ${shard} (holding ${names.length} tensors, e.g. ${names[0]}) does not exist; the download is incomplete`, {
        file: indexFile,
        field: `weight_map.${names[0]}`,
      });
    }
    const header = await readSafetensorsHeader(shardPath);
    for (const name of names) {
      if (!header.tensors.has(name)) {
        throw new NlsError(`the index maps this tensor to ${shard}, which does not contain it; the index and shards disagree`, {
          file: shardPath,
          field: name,
        });
      }
    }
  }
  const out = new Map<string, TensorRecord>();
  for (const [shard, names] of byShard) {
    const wanted = new Set(names);
    const { tensors } = await readSafetensors(path.join(dir, shard), { filter: (n) => wanted.has(n) });
    for (const [name, t] of tensors) out.set(name, t);
  }
  return out;
}

async function readIndex(indexFile: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await fsp.readFile(indexFile, 'utf8'));
  } catch (cause) {
    throw new NlsError(`is not valid JSON (${cause instanceof Error ? cause.message : String(cause)}); re-download it`, {
      file: indexFile,
      cause,
    });
  }
  if (!isPlainObject(json) || !isPlainObject(json.weight_map)) {
    throw new NlsError(`must be an object with a weight_map {tensorName: shardFile}; re-download it`, {
      file: indexFile,
      field: 'weight_map',
    });
  }
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(json.weight_map)) {
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '.' || shard === '..' || shard.includes('\\')) {
      throw new NlsError(`must be a shard file name in the same folder, got ${JSON.stringify(shard)}`, {
        file: indexFile,
        field: `weight_map.${name}`,
      });
    }
    out.set(name, shard);
  }
  return out;
}

/** Options for {@link saveCheckpoint}. */
export interface SaveCheckpointOptions extends SerializeOptions {
  /**
   * Shard when the tensors take more than this many bytes (after dtype conversion). Tensors are
   * packed in iteration order; a tensor larger than the limit gets a shard of its own (as HF does).
   * Default: never shard.
   */
  maxShardBytes?: number;
}

/**
 * Save weights as an HF checkpoint: `model.safetensors`, or shards
 * `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json` when they exceed
 * `maxShardBytes`. Every file is written atomically; checkpoint files of the other layout left
 * in `dir` from an earlier save are removed afterwards so {@link loadCheckpoint} cannot pick a
 * stale one. Metadata defaults to `{format: "pt"}`, which transformers requires to load the file.
 * @returns the file names written (relative to `dir`).
 */
export async function saveCheckpoint(dir: string, tensors: TensorCollection, options: SaveCheckpointOptions = {}): Promise<string[]> {
  const { maxShardBytes } = options;
  if (maxShardBytes !== undefined && (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0)) {
    throw new NlsError(`maxShardBytes must be a positive integer, got ${maxShardBytes}`, { file: dir, field: 'maxShardBytes' });
  }
  const serializeOptions: SerializeOptions = { metadata: options.metadata ?? { format: 'pt' } };
  if (options.dtype !== undefined) serializeOptions.dtype = options.dtype;
  const list = entries(tensors);
  const sized = list.map(([name, t]) => {
    const dtype = targetDtype(name, t, options.dtype, dir);
    return { name, t, bytes: product(t.shape) * itemSize(dtype) };
  });
  const total = sized.reduce((s, x) => s + x.bytes, 0);
  await fsp.mkdir(dir, { recursive: true });

  let written: string[];
  if (maxShardBytes === undefined || total <= maxShardBytes) {
    await writeSafetensors(path.join(dir, SINGLE_FILE), tensors, serializeOptions);
    written = [SINGLE_FILE];
  } else {
    const shards: (typeof sized)[] = [];
    let current: typeof sized = [];
    let currentBytes = 0;
    for (const s of sized) {
      if (current.length > 0 && currentBytes + s.bytes > maxShardBytes) {
        shards.push(current);
        current = [];
        currentBytes = 0;
      }
      current.push(s);
      currentBytes += s.bytes;
    }
    if (current.length > 0) shards.push(current);
    const weightMap: Record<string, string> = Object.create(null) as Record<string, string>;
    written = [];
    for (let i = 0; i < shards.length; i++) {
      const shardName = shardFileName(i + 1, shards.length);
      const shard = new Map<string, TensorInput>(shards[i]!.map((s) => [s.name, s.t]));
      await writeSafetensors(path.join(dir, shardName), shard, serializeOptions);
      for (const s of shards[i]!) weightMap[s.name] = shardName;
      written.push(shardName);
    }
    const sortedMap: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const k of Object.keys(weightMap).sort()) sortedMap[k] = weightMap[k]!;
    const index = { metadata: { total_size: total }, weight_map: sortedMap };
    await writeFileAtomic(path.join(dir, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
    written.push(INDEX_FILE);
  }

  // Remove checkpoint files of an earlier save that are not part of this one.
  const keep = new Set(written);
  for (const f of await fsp.readdir(dir)) {
    if ((f === SINGLE_FILE || f === INDEX_FILE || SHARD_RE.test(f)) && !keep.has(f)) await fsp.rm(path.join(dir, f), { force: true });
  }
  return written;
}
