/**
 * The operator registry of the ONNX graphs nls builds: for every operator, a static shape rule
 * and (where gradients flow through it) its vector-Jacobian product, registered by operator name
 * the way tfjs-core registers one gradient per kernel. Reverse-mode differentiation
 * (../autodiff.ts) looks operators up here, so adding an operator to the exported graphs means
 * registering it here with its gradient; test/engine/op-gradients.test.ts checks every
 * registered gradient against finite differences.
 *
 * Shapes are static: the training graphs are built for one batch and sequence length, so every
 * dimension is a number and a gradient knows exactly which axes were broadcast.
 */
import { NlsError } from '../../../errors.js';
import type { GraphBuilder } from '../graph.js';
import { OnnxDataType, type OnnxDataTypeValue, type OnnxNode, type OnnxTensor } from '../proto.js';

/** A value's static type: element type and shape. */
export interface ValueType {
  readonly dataType: OnnxDataTypeValue;
  readonly dims: readonly number[];
}

/** The float element types gradients flow through. */
export type FloatType = typeof OnnxDataType.FLOAT | typeof OnnxDataType.DOUBLE;

/** Whether values of this type carry gradients. */
export function isFloatType(t: OnnxDataTypeValue): t is FloatType {
  return t === OnnxDataType.FLOAT || t === OnnxDataType.DOUBLE;
}

/** One node as its shape rule and gradient see it: attributes, input types, constant inputs. */
export class NodeView {
  constructor(
    readonly node: OnnxNode,
    /** Types of the inputs; undefined for an omitted optional input (''). */
    readonly inputTypes: readonly (ValueType | undefined)[],
    private readonly constantOf: (name: string) => OnnxTensor | undefined,
  ) {}

  /** Type of input `i`; throws when it is omitted. */
  input(i: number): ValueType {
    const t = this.inputTypes[i];
    if (!t) throw this.error(`input ${i} is missing`);
    return t;
  }

  /** Whether input `i` is given. */
  has(i: number): boolean {
    return i < this.node.inputs.length && this.node.inputs[i] !== '';
  }

  /** An integer attribute, or `fallback` when absent (throws when absent without a fallback). */
  int(name: string, fallback?: number): number {
    const a = this.node.attributes?.[name];
    if (a === undefined) {
      if (fallback === undefined) throw this.error(`attribute ${name} is missing`);
      return fallback;
    }
    if (a.kind !== 'int') throw this.error(`attribute ${name} is not an int`);
    return a.value;
  }

  /** An integer-list attribute, or undefined when absent. */
  ints(name: string): readonly number[] | undefined {
    const a = this.node.attributes?.[name];
    if (a === undefined) return undefined;
    if (a.kind !== 'ints') throw this.error(`attribute ${name} is not a list of ints`);
    return a.value;
  }

  /** A string attribute, or `fallback`. */
  string(name: string, fallback: string): string {
    const a = this.node.attributes?.[name];
    if (a === undefined) return fallback;
    if (a.kind !== 'string') throw this.error(`attribute ${name} is not a string`);
    return a.value;
  }

  /**
   * The integer values of input `i` when it is a constant (an initializer): shapes, axes, slice
   * bounds. Undefined when the input is omitted; throws when it is computed at run time, which
   * static shapes cannot follow.
   */
  constInts(i: number): number[] | undefined {
    if (!this.has(i)) return undefined;
    const t = this.constantOf(this.node.inputs[i]!);
    if (!t) throw this.error(`input ${i} (${this.node.inputs[i]}) must be a constant for static shapes`);
    return Array.from(t.values as ArrayLike<number | bigint>, (v) => Number(v));
  }

  /** The float values of constant input `i`, or undefined when it is not a constant. */
  constFloats(i: number): number[] | undefined {
    if (!this.has(i)) return undefined;
    const t = this.constantOf(this.node.inputs[i]!);
    return t ? Array.from(t.values as ArrayLike<number | bigint>, (v) => Number(v)) : undefined;
  }

  /** An error naming the node. */
  error(message: string): NlsError {
    return new NlsError(`${this.node.opType} node ${this.node.name}: ${message}`, { field: 'onnx graph' });
  }
}

/** What a vector-Jacobian product gets: the node, the builder to add gradient nodes to, and the output gradients. */
export class GradientContext extends NodeView {
  constructor(
    node: OnnxNode,
    inputTypes: readonly (ValueType | undefined)[],
    constantOf: (name: string) => OnnxTensor | undefined,
    /** The graph under construction; gradient nodes are added to it. */
    readonly g: GraphBuilder,
    /** Types of the node's outputs. */
    readonly outputTypes: readonly ValueType[],
    /** Gradient of the loss with respect to each output; undefined where none flows (zero). */
    readonly dy: readonly (string | undefined)[],
    private readonly needed: readonly boolean[],
  ) {
    super(node, inputTypes, constantOf);
  }

  /** Whether the gradient with respect to input `i` is wanted. */
  needs(i: number): boolean {
    return this.needed[i] === true;
  }

  /** Input `i`'s value name. */
  x(i: number): string {
    return this.node.inputs[i]!;
  }

  /** Output `i`'s value name. */
  y(i = 0): string {
    return this.node.outputs[i]!;
  }

  /** The gradient of output `i`, or zeros of its shape when none flows. */
  dyOrZeros(i: number): string {
    return this.dy[i] ?? this.g.zeros(this.outputTypes[i]!.dims, this.floatType);
  }

  /** The node's float type (of its first float input): gradient constants are of this type. */
  get floatType(): FloatType {
    for (const t of this.inputTypes) if (t && isFloatType(t.dataType)) return t.dataType;
    for (const t of this.outputTypes) if (isFloatType(t.dataType)) return t.dataType;
    throw this.error('has no float input or output');
  }

  /** A scalar constant of the node's float type. */
  scalar(value: number): string {
    return this.g.scalar(value, this.floatType);
  }

  /**
   * Sum `grad` (of shape `from`) over the axes along which a value of shape `to` was broadcast
   * to `from` (numpy rules), giving a gradient of shape `to`.
   */
  reduceTo(grad: string, from: readonly number[], to: readonly number[]): string {
    return reduceToShape(this.g, grad, from, to);
  }
}

/** Sum `grad` of shape `from` down to the broadcast source shape `to` (see {@link GradientContext.reduceTo}). */
export function reduceToShape(g: GraphBuilder, grad: string, from: readonly number[], to: readonly number[]): string {
  if (sameDims(from, to)) return grad;
  const lead = from.length - to.length;
  if (lead < 0) throw new Error(`cannot reduce a gradient of shape [${from}] to the larger shape [${to}]`);
  const axes: number[] = [];
  for (let i = 0; i < lead; i++) axes.push(i);
  to.forEach((d, j) => {
    if (d === 1 && from[lead + j] !== 1) axes.push(lead + j);
    else if (d !== from[lead + j]) throw new Error(`shape [${to}] does not broadcast to [${from}]`);
  });
  const summed = axes.length > 0 ? g.op('ReduceSum', [grad, g.int64s(axes)], { keepdims: 1 }) : grad;
  return lead > 0 ? g.reshape(summed, to) : summed;
}

/** Whether two shapes are equal. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Numpy-style broadcast of two shapes; throws when they do not broadcast. */
export function broadcastDims(a: readonly number[], b: readonly number[], where: NodeView): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw where.error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A normalised axis in [0, rank). */
export function normAxis(axis: number, rank: number, where: NodeView): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw where.error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** An operator: its static shape rule and, when gradients flow through it, its vector-Jacobian product. */
export interface OpDefinition {
  readonly opType: string;
  /** The output types from the node's input types and attributes. */
  readonly infer: (n: NodeView) => ValueType[];
  /**
   * The vector-Jacobian product: for each input `i` with `c.needs(i)`, the gradient of the loss
   * with respect to that input (exactly its shape), built from `c.dy` with `c.g`; undefined for
   * other inputs. Absent for operators no gradient flows through (comparisons, rounding, integer
   * and shape computations): their outputs are constants to differentiation.
   */
  readonly vjp?: (c: GradientContext) => readonly (string | undefined)[];
}

const REGISTRY = new Map<string, OpDefinition>();

/** Register an operator (once per name). */
export function registerOp(def: OpDefinition): void {
  if (REGISTRY.has(def.opType)) throw new Error(`operator ${def.opType} is registered twice`);
  REGISTRY.set(def.opType, def);
}

/** The registered definition of `opType`, if any. */
export function opDefinition(opType: string): OpDefinition | undefined {
  return REGISTRY.get(opType);
}

/** Every registered operator. */
export function registeredOps(): readonly OpDefinition[] {
  return [...REGISTRY.values()];
}
