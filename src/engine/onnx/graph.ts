/**
 * Building an ONNX graph node by node: unique value names, initializers, graph inputs and
 * outputs, and typed helpers for the operators (opset 17) the LLaMA export uses. The builder
 * checks nothing about shapes: onnxruntime does when it loads the model, and the export's tests
 * compare every form against the tfjs model.
 */
import {
  encodeModel,
  type OnnxAttributeValue,
  OnnxDataType,
  type OnnxDataTypeValue,
  type OnnxDim,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
  type TensorValues,
} from './proto.js';

/** The default-domain opset the export targets (ReduceMean still takes `axes` as an attribute). */
export const ONNX_OPSET = 17;
/** IR version written (onnxruntime 1.14+ reads it). */
export const ONNX_IR_VERSION = 8;
/** onnxruntime's contrib-operator domain. */
export const MICROSOFT_DOMAIN = 'com.microsoft';

/** Attribute values as plain JS: integers, floats (by `float()`), strings, arrays. */
export type AttrInput = number | string | readonly number[] | OnnxAttributeValue;

/** Mark a number as a float attribute (a plain number is an int attribute when integral). */
export function float(value: number): OnnxAttributeValue {
  return { kind: 'float', value };
}

function toAttribute(v: AttrInput): OnnxAttributeValue {
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'float', value: v };
  if (Array.isArray(v)) return { kind: 'ints', value: v as readonly number[] };
  return v as OnnxAttributeValue;
}

/** An ONNX graph under construction. */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private readonly gradients = new Map<string, { readonly x: string; readonly vjp: (g: GraphBuilder, dy: string) => string }>();
  private initializerIndex: Map<string, OnnxTensor> | undefined;
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX graph ${this.name}: value name ${name} is used twice`);
    this.used.add(name);
    return name;
  }

  /** Declare a graph input. */
  input(name: string, dataType: OnnxDataTypeValue, dims: readonly OnnxDim[]): string {
    this.inputs.push({ name: this.claim(name), dataType, dims });
    return name;
  }

  /** Declare `value` a graph output named `name` (an Identity when the names differ). */
  output(value: string, name: string, dataType: OnnxDataTypeValue, dims: readonly OnnxDim[]): string {
    const out = value === name ? value : this.op('Identity', [value], {}, name);
    this.outputs.push({ name: out, dataType, dims });
    return out;
  }

  /** Add an initializer (a constant tensor stored in the model). */
  initializer(name: string, dataType: OnnxDataTypeValue, dims: readonly number[], values: TensorValues): string {
    this.initializers.push({ name: this.claim(name), dataType, dims, values });
    return name;
  }

  /** An initializer under a fresh name starting with `hint`. */
  constantTensor(hint: string, dataType: OnnxDataTypeValue, dims: readonly number[], values: TensorValues): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims, values });
    return name;
  }

  /** A float initializer. */
  floats(name: string, dims: readonly number[], values: Float32Array): string {
    return this.initializer(name, OnnxDataType.FLOAT, dims, values);
  }

  /** A shared int64 constant (shapes, axes, slice bounds), one initializer per distinct value. */
  int64s(values: readonly number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh(`const_i64_${values.map((v) => (v < 0 ? `m${-v}` : String(v))).join('_') || 'empty'}`);
      this.initializers.push({ name, dataType: OnnxDataType.INT64, dims: [values.length], values: BigInt64Array.from(values.map((v) => BigInt(v))) });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float scalar constant (float32 unless `dataType` is DOUBLE: gradient graphs follow their values' type). */
  scalar(value: number, dataType: typeof OnnxDataType.FLOAT | typeof OnnxDataType.DOUBLE = OnnxDataType.FLOAT): string {
    const double = dataType === OnnxDataType.DOUBLE;
    const key = `${double ? 'f64' : 'f32'}:${Object.is(value, -0) ? '-0' : value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.fresh(double ? 'const_f64' : 'const_f32');
      this.initializers.push({ name, dataType, dims: [], values: double ? Float64Array.of(value) : Float32Array.of(value) });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A tensor of zeros of `dims` (ConstantOfShape: nothing stored but the shape). */
  zeros(dims: readonly number[], dataType: typeof OnnxDataType.FLOAT | typeof OnnxDataType.DOUBLE = OnnxDataType.FLOAT): string {
    const value: OnnxTensor = { name: 'value', dataType, dims: [1], values: dataType === OnnxDataType.DOUBLE ? Float64Array.of(0) : Float32Array.of(0) };
    return this.op('ConstantOfShape', [this.int64s(dims)], { value: { kind: 'tensor', value } });
  }

  /**
   * Give `y` a hand-written gradient with respect to `x` (like tf.customGrad): reverse-mode
   * differentiation (autodiff.ts) sends y's gradient through `vjp` to x and does not
   * differentiate the nodes between them. Used for straight-through estimators.
   */
  customGradient(y: string, x: string, vjp: (g: GraphBuilder, dy: string) => string): void {
    if (this.gradients.has(y)) throw new Error(`ONNX graph ${this.name}: ${y} already has a custom gradient`);
    this.gradients.set(y, { x, vjp });
  }

  /** The hand-written gradient of `y`, if {@link customGradient} gave it one. */
  customGradientOf(y: string): { readonly x: string; readonly vjp: (g: GraphBuilder, dy: string) => string } | undefined {
    return this.gradients.get(y);
  }

  /** The nodes so far, in topological order (the order they were added). */
  get graphNodes(): readonly OnnxNode[] {
    return this.nodes;
  }

  /** The graph inputs declared so far. */
  get graphInputs(): readonly OnnxValueInfo[] {
    return this.inputs;
  }

  /** The initializer named `name`, if there is one. */
  initializerOf(name: string): OnnxTensor | undefined {
    this.initializerIndex ??= new Map();
    if (this.initializerIndex.size !== this.initializers.length) this.initializerIndex = new Map(this.initializers.map((t) => [t.name, t]));
    return this.initializerIndex.get(name);
  }

  /** Add a node with one output; returns the output's name (`out`, or a fresh one from the op type). */
  op(opType: string, inputs: readonly string[], attributes: Readonly<Record<string, AttrInput>> = {}, out?: string): string {
    return this.opN(opType, inputs, 1, attributes, out === undefined ? undefined : [out])[0]!;
  }

  /** Add a node with `count` outputs. */
  opN(opType: string, inputs: readonly string[], count: number, attributes: Readonly<Record<string, AttrInput>> = {}, outs?: readonly string[], domain?: string): string[] {
    const outputs = outs ? outs.map((o) => this.claim(o)) : Array.from({ length: count }, () => this.fresh(opType.toLowerCase()));
    const attrs: Record<string, OnnxAttributeValue> = {};
    for (const [k, v] of Object.entries(attributes)) attrs[k] = toAttribute(v);
    this.nodes.push({ opType, inputs, outputs, name: this.fresh(`node_${opType}`), attributes: attrs, ...(domain ? { domain } : {}) });
    return outputs;
  }

  // Typed helpers for the operators used by the export.
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  reshape(x: string, shape: readonly number[]): string {
    return this.op('Reshape', [x, this.int64s(shape)]);
  }
  transpose(x: string, perm: readonly number[]): string {
    return this.op('Transpose', [x], { perm });
  }

  /** The model: the graph with the default opset and nls as producer. */
  build(options: { producerVersion: string; metadata?: Readonly<Record<string, string>> }): Uint8Array {
    return encodeModel({
      irVersion: ONNX_IR_VERSION,
      // Contrib operators (com.microsoft, e.g. GroupQueryAttention) need their domain imported.
      opsets: [{ domain: '', version: ONNX_OPSET }, ...(this.nodes.some((n) => n.domain === MICROSOFT_DOMAIN) ? [{ domain: MICROSOFT_DOMAIN, version: 1 }] : [])],
      producerName: 'nls',
      producerVersion: options.producerVersion,
      graph: { name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs },
      ...(options.metadata ? { metadata: options.metadata } : {}),
    });
  }

  /** Counts, for tests and reports. */
  get stats(): { nodes: number; initializers: number; inputs: number; outputs: number } {
    return { nodes: this.nodes.length, initializers: this.initializers.length, inputs: this.inputs.length, outputs: this.outputs.length };
  }
}
