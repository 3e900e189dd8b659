/**
 * The on-disk form of an nls-rtn quantized model folder (docs/formats.md, "Quantized model
 * folders"): the `quantization_config` of config.json and the `.qweight` / `.scales` /
 * `.qzeros` tensors that replace a decoder linear's `.weight` in the safetensors checkpoint.
 *
 * This module imports nothing from the model-folder code, so model-folder.ts can use it to load
 * quantized folders without an import cycle.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import { llamaTensorNames, type LlamaConfig } from '../model/hf-config.js';
import type { TensorInput, TensorRecord } from '../model/safetensors.js';
import {
  dequantizeMatrix,
  groupsPerRow,
  packInt4,
  type QuantizedMatrix,
  type QuantSpec,
  unpackInt4,
  validateQuantizedMatrix,
  validateQuantSpec,
} from './quantize.js';

/** The `quant_method` nls writes in `quantization_config`. */
export const NLS_QUANT_METHOD = 'nls-rtn';
/** The version of the tensor layout; a folder with a higher version was written by a newer nls. */
export const NLS_QUANT_FORMAT_VERSION = 1;

/** The `quantization_config` object of config.json. */
export interface NlsQuantizationConfigJson {
  readonly quant_method: typeof NLS_QUANT_METHOD;
  readonly bits: 4 | 8;
  readonly group_size: number;
  readonly sym: boolean;
  readonly version: number;
}

/** The `quantization_config` for `spec`. */
export function quantizationConfigJson(spec: QuantSpec): NlsQuantizationConfigJson {
  validateQuantSpec(spec);
  return { quant_method: NLS_QUANT_METHOD, bits: spec.bits, group_size: spec.groupSize, sym: spec.symmetric, version: NLS_QUANT_FORMAT_VERSION };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * If the raw config.json object carries an nls-rtn `quantization_config`, return its spec and
 * the config without it (for `parseHfConfig`, which refuses every other quantization method);
 * otherwise undefined. Invalid nls-rtn fields are NlsErrors naming the field.
 */
export function splitNlsQuantizationConfig(json: unknown, file: string): { spec: QuantSpec; config: Record<string, unknown> } | undefined {
  if (!isPlainObject(json)) return undefined;
  const qc = json.quantization_config;
  if (!isPlainObject(qc) || qc.quant_method !== NLS_QUANT_METHOD) return undefined;
  const field = (name: string) => `quantization_config.${name}`;
  const version = qc.version ?? 1;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new NlsError(`must be a positive integer, got ${JSON.stringify(version)}`, { file, field: field('version') });
  }
  if (version > NLS_QUANT_FORMAT_VERSION) {
    throw new NlsError(`is ${version}, but this nls reads ${NLS_QUANT_METHOD} version ${NLS_QUANT_FORMAT_VERSION} only; upgrade nls`, {
      file,
      field: field('version'),
    });
  }
  if (typeof qc.sym !== 'boolean') throw new NlsError(`must be true or false, got ${JSON.stringify(qc.sym)}`, { file, field: field('sym') });
  const spec = { bits: qc.bits, groupSize: qc.group_size, symmetric: qc.sym } as QuantSpec;
  validateQuantSpec(spec, { bits: field('bits'), groupSize: field('group_size'), file });
  const config: Record<string, unknown> = { ...json };
  delete config.quantization_config;
  return { spec, config };
}

/** Tensor names of a quantized linear, from its HF weight name (`....q_proj.weight`). */
export function quantizedTensorNames(hfWeightName: string): { qweight: string; scales: string; qzeros: string } {
  const base = hfWeightName.endsWith('.weight') ? hfWeightName.slice(0, -'.weight'.length) : hfWeightName;
  return { qweight: `${base}.qweight`, scales: `${base}.scales`, qzeros: `${base}.qzeros` };
}

/** The safetensors tensors of one quantized linear (they replace its `.weight`). */
export function quantizedTensors(hfWeightName: string, q: QuantizedMatrix): Map<string, TensorInput> {
  validateQuantizedMatrix(q, hfWeightName);
  const names = quantizedTensorNames(hfWeightName);
  const gpr = groupsPerRow(q.cols, q.spec.groupSize);
  const out = new Map<string, TensorInput>();
  if (q.spec.bits === 4) {
    out.set(names.qweight, { shape: [q.rows, Math.ceil(q.cols / 2)], data: packInt4(q.codes, q.rows, q.cols), dtype: 'U8' });
  } else {
    out.set(names.qweight, { shape: [q.rows, q.cols], data: q.codes, dtype: q.spec.symmetric ? 'I8' : 'U8' });
  }
  // Scales stay float32 whatever dtype the float weights are saved in: the dequantized weights
  // then load back bit for bit.
  out.set(names.scales, { shape: [q.rows, gpr], data: q.scales, dtype: 'F32' });
  if (!q.spec.symmetric) {
    const zeros = q.zeros instanceof Uint8Array ? q.zeros : Uint8Array.from(q.zeros!);
    out.set(names.qzeros, { shape: [q.rows, gpr], data: zeros, dtype: 'U8' });
  }
  return out;
}

/** Linear weights of `config` by HF name: module key and HF shape `[out, in]`. */
function linearWeights(config: LlamaConfig): Map<string, { key: string; rows: number; cols: number }> {
  const out = new Map<string, { key: string; rows: number; cols: number }>();
  for (const { name, shape } of llamaTensorNames(config)) {
    const m = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+_proj)\.weight$/.exec(name);
    if (m) out.set(name, { key: `layers.${m[1]}.${m[2]}`, rows: shape[0]!, cols: shape[1]! });
  }
  return out;
}

function take(records: Map<string, TensorRecord>, name: string, dtype: string, shape: readonly number[], file: string): TensorRecord {
  const t = records.get(name);
  if (!t) throw new NlsError(`tensor is missing; a quantized linear needs .qweight, .scales (and .qzeros when asymmetric)`, { file, field: name });
  if (t.dtype !== dtype) throw new NlsError(`is ${t.dtype}, the ${NLS_QUANT_METHOD} format stores it as ${dtype}`, { file, field: name });
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new NlsError(`has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from config.json and quantization_config`, { file, field: name });
  }
  return t;
}

/**
 * Turn the quantized tensors of a checkpoint back into float `.weight` tensors: every decoder
 * linear with a `.qweight` is read (codes unpacked and range-checked), dequantized and put back
 * under its `.weight` name; its quantized tensors are removed. Linears without `.qweight` are
 * left as they are (a folder may keep some linears float). Mutates and returns `records`.
 * @returns the quantized matrices by module key (`layers.{i}.{module}`).
 */
export function dequantizeCheckpoint(
  config: LlamaConfig,
  spec: QuantSpec,
  records: Map<string, TensorRecord>,
  file: string,
): Map<string, QuantizedMatrix> {
  const matrices = new Map<string, QuantizedMatrix>();
  const lo = spec.symmetric ? -(2 ** (spec.bits - 1) - 1) : 0;
  const hi = spec.symmetric ? 2 ** (spec.bits - 1) - 1 : 2 ** spec.bits - 1;
  for (const [name, { key, rows, cols }] of linearWeights(config)) {
    const names = quantizedTensorNames(name);
    if (!records.has(names.qweight)) continue;
    if (records.has(name)) {
      throw new NlsError(`both the float weight and ${names.qweight} are present; a linear is either float or quantized`, { file, field: name });
    }
    const gpr = groupsPerRow(cols, spec.groupSize);
    let codes: Int8Array | Uint8Array;
    if (spec.bits === 4) {
      const packed = take(records, names.qweight, 'U8', [rows, Math.ceil(cols / 2)], file);
      codes = unpackInt4(packed.data as Uint8Array, rows, cols, spec.symmetric);
    } else {
      codes = take(records, names.qweight, spec.symmetric ? 'I8' : 'U8', [rows, cols], file).data as Int8Array | Uint8Array;
    }
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c < lo || c > hi) {
        throw new NlsError(`code ${c} at [${Math.floor(i / cols)}, ${i % cols}] is outside ${lo}..${hi} for ${spec.bits}-bit ${spec.symmetric ? 'symmetric' : 'asymmetric'} quantization`, {
          file,
          field: names.qweight,
        });
      }
    }
    const scales = take(records, names.scales, 'F32', [rows, gpr], file).data as Float32Array;
    for (let i = 0; i < scales.length; i++) {
      if (!Number.isFinite(scales[i]!) || scales[i]! < 0) {
        throw new NlsError(`scale ${scales[i]} at index ${i} is not a finite non-negative number`, { file, field: names.scales });
      }
    }
    let zeros: Uint8Array | undefined;
    if (!spec.symmetric) {
      zeros = take(records, names.qzeros, 'U8', [rows, gpr], file).data as Uint8Array;
      const bad = zeros.findIndex((z) => z > hi);
      if (bad >= 0) throw new NlsError(`zero point ${zeros[bad]} at index ${bad} is above ${hi}`, { file, field: names.qzeros });
    } else if (records.has(names.qzeros)) {
      throw new NlsError('symmetric quantization has no zero points, but this tensor is present', { file, field: names.qzeros });
    }
    const q: QuantizedMatrix = { spec, rows, cols, codes, scales, ...(zeros ? { zeros } : {}) };
    records.delete(names.qweight);
    records.delete(names.scales);
    records.delete(names.qzeros);
    records.set(name, { dtype: 'F32', shape: [rows, cols], data: dequantizeMatrix(q) });
    matrices.set(key, q);
  }
  return matrices;
}
