/**
 * A small protobuf encoder for the part of the ONNX schema (onnx/onnx.proto, IR version 8) that
 * an exported LLaMA graph needs: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto and their small helpers. Encode-only: nls writes graphs, onnxruntime reads them.
 *
 * Why not a package: the ONNX npm packages are generated protobufjs code that builds an object
 * per tensor value and copies weights through it; here a message is a list of byte chunks, so a
 * weight's `raw_data` is the Float32Array's own bytes, copied once when the model is joined into
 * one buffer. The wire format needs ~100 lines: varints, length-delimited fields and fixed32.
 *
 * Field numbers are those of onnx.proto; every encoder lists them next to the fields.
 */

/** ONNX `TensorProto.DataType` values used by nls. */
export const OnnxDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
/** One of {@link OnnxDataType}. */
export type OnnxDataTypeValue = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** `AttributeProto.AttributeType` values. */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/**
 * An encoded message (or part of one): byte chunks whose concatenation is the encoding. Chunks
 * are views, never copied until {@link joinChunks}, so weight bytes are copied once in all.
 */
export class Chunks {
  readonly parts: Uint8Array[] = [];
  length = 0;

  push(bytes: Uint8Array): this {
    if (bytes.length > 0) {
      this.parts.push(bytes);
      this.length += bytes.length;
    }
    return this;
  }

  append(other: Chunks): this {
    for (const p of other.parts) this.push(p);
    return this;
  }
}

/** Varint bytes of a non-negative integer or bigint (negative int64 values as 10-byte two's complement). */
export function varint(value: number | bigint): Uint8Array {
  let v = typeof value === 'bigint' ? value : BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** Fast path for small non-negative integers (tags, lengths). */
function smallVarint(value: number): Uint8Array {
  if (value < 0x80) return Uint8Array.of(value);
  if (!Number.isSafeInteger(value) || value < 0) return varint(BigInt(value));
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

function tag(field: number, wire: number): Uint8Array {
  return smallVarint(field * 8 + wire);
}

const UTF8 = new TextEncoder();

/** A message under construction: typed field writers, in field order of the caller's choosing. */
export class MessageWriter {
  readonly chunks = new Chunks();

  int(field: number, value: number | bigint): this {
    this.chunks.push(tag(field, VARINT)).push(typeof value === 'number' && value >= 0 ? smallVarint(value) : varint(value));
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.chunks.push(tag(field, FIXED32)).push(b);
    return this;
  }

  /** A double field (fixed64); unused by ONNX messages here but part of a complete wire writer. */
  double(field: number, value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.chunks.push(tag(field, FIXED64)).push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array | Chunks): this {
    const len = value instanceof Chunks ? value.length : value.length;
    this.chunks.push(tag(field, LEN)).push(smallVarint(len));
    if (value instanceof Chunks) this.chunks.append(value);
    else this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, UTF8.encode(value));
  }

  message(field: number, value: MessageWriter | Chunks): this {
    return this.bytes(field, value instanceof MessageWriter ? value.chunks : value);
  }

  /** A packed repeated varint field (proto3 default packing). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const body = new Chunks();
    for (const v of values) body.push(typeof v === 'number' && v >= 0 ? smallVarint(v) : varint(v));
    return this.bytes(field, body);
  }

  /** A packed repeated float field. */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }
}

/** Concatenate chunks into one buffer (the only copy of weight bytes). */
export function joinChunks(chunks: Chunks): Uint8Array {
  const out = new Uint8Array(chunks.length);
  let at = 0;
  for (const p of chunks.parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Element data a tensor can hold. */
export type TensorValues = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor for an initializer or a `value` attribute. */
export interface OnnxTensor {
  readonly name: string;
  readonly dataType: OnnxDataTypeValue;
  readonly dims: readonly number[];
  /** Values in row-major order; written as little-endian `raw_data`. */
  readonly values: TensorValues;
}

/** Little-endian bytes of typed-array values, without copying on a little-endian host. */
function littleEndianBytes(values: TensorValues): Uint8Array {
  const view = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (HOST_LITTLE_ENDIAN || values.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length);
  const w = values.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += w) for (let j = 0; j < w; j++) out[i + j] = view[i + w - 1 - j]!;
  return out;
}
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9. */
export function encodeTensor(t: OnnxTensor): MessageWriter {
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if (elements !== t.values.length) throw new RangeError(`tensor ${t.name}: dims [${t.dims}] hold ${elements} values, got ${t.values.length}`);
  return new MessageWriter().packedInts(1, t.dims).int(2, t.dataType).string(8, t.name).bytes(9, littleEndianBytes(t.values));
}

/** A dimension: a fixed size or a symbolic name (`dim_param`). */
export type OnnxDim = number | string;

/** A graph input or output: name, element type and shape. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dataType: OnnxDataTypeValue;
  readonly dims: readonly OnnxDim[];
}

/** ValueInfoProto: name = 1, type = 2 (TypeProto: tensor_type = 1 (elem_type = 1, shape = 2 (dim = 1 (dim_value = 1 | dim_param = 2)))). */
export function encodeValueInfo(v: OnnxValueInfo): MessageWriter {
  const shape = new MessageWriter();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new MessageWriter().int(1, d) : new MessageWriter().string(2, d));
  const tensorType = new MessageWriter().int(1, v.dataType).message(2, shape);
  return new MessageWriter().string(1, v.name).message(2, new MessageWriter().message(1, tensorType));
}

/** A node attribute value. */
export type OnnxAttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'tensor'; readonly value: OnnxTensor };

/** AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, type = 20. */
export function encodeAttribute(name: string, a: OnnxAttributeValue): MessageWriter {
  const w = new MessageWriter().string(1, name);
  switch (a.kind) {
    case 'int':
      return w.int(3, a.value).int(20, ATTR.INT);
    case 'float':
      return w.float(2, a.value).int(20, ATTR.FLOAT);
    case 'string':
      return w.string(4, a.value).int(20, ATTR.STRING);
    case 'ints':
      return w.packedInts(8, a.value).int(20, ATTR.INTS);
    case 'floats':
      return w.packedFloats(7, a.value).int(20, ATTR.FLOATS);
    case 'tensor':
      return w.message(5, encodeTensor(a.value)).int(20, ATTR.TENSOR);
  }
}

/** A graph node. */
export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name: string;
  /** Operator domain ('' = the default ONNX domain). */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7. */
export function encodeNode(n: OnnxNode): MessageWriter {
  const w = new MessageWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, encodeAttribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** A graph: nodes in topological order, initializers, inputs and outputs. */
export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/** GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12. */
export function encodeGraph(g: OnnxGraph): MessageWriter {
  const w = new MessageWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const i of g.inputs) w.message(11, encodeValueInfo(i));
  for (const o of g.outputs) w.message(12, encodeValueInfo(o));
  return w;
}

/** A model: a graph, the operator sets it uses, and metadata. */
export interface OnnxModel {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graph: OnnxGraph;
  /** `metadata_props`: free-form key/value pairs (nls records the export's form and shape here). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, graph = 7, opset_import = 8
 * (OperatorSetIdProto: domain = 1, version = 2), metadata_props = 14 (key = 1, value = 2).
 */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new MessageWriter().int(1, m.irVersion).string(2, m.producerName).string(3, m.producerVersion).message(7, encodeGraph(m.graph));
  for (const o of m.opsets) w.message(8, new MessageWriter().string(1, o.domain).int(2, o.version));
  for (const [k, v] of Object.entries(m.metadata ?? {})) w.message(14, new MessageWriter().string(1, k).string(2, v));
  return joinChunks(w.chunks);
}
