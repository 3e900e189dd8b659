/**
 * Reverse-mode differentiation of an ONNX graph under construction: given a scalar loss and the
 * inputs to differentiate with respect to, add the backward nodes (each operator's registered
 * vector-Jacobian product, ops/) to the same graph and return the gradients' value names. The
 * training graph is thus the evaluation graph plus what this pass derives from it; nothing of
 * the backward pass is written by hand.
 *
 * - Static shapes: every graph input has numeric dimensions (training graphs are built for one
 *   batch and sequence length), so gradients of broadcast operands are summed over exactly the
 *   broadcast axes.
 * - Only what is needed is built: a value needs a gradient when it depends on a `wrt` input
 *   through differentiable operators; a node's gradient is built for the inputs that need one
 *   (a frozen weight, an initializer, gets none), and only for nodes the loss depends on.
 * - Gradients reaching a value from several consumers are summed with one `Sum` node.
 * - A value with a hand-written gradient (`GraphBuilder.customGradient`, e.g. the straight-
 *   through estimator of fake quantization) sends its gradient through that instead.
 */
import { NlsError } from '../../errors.js';
import type { GraphBuilder } from './graph.js';
import { GradientContext, isFloatType, NodeView, opDefinition, type ValueType } from './ops/index.js';
import { OnnxDataType, type OnnxTensor } from './proto.js';

/** The static type of every value of the graph built so far (inputs, initializers, node outputs). */
export function inferValueTypes(g: GraphBuilder): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  for (const input of g.graphInputs) {
    if (input.dims.some((d) => typeof d !== 'number')) {
      throw new NlsError(`input ${input.name} has a symbolic dimension [${input.dims.join(', ')}]; differentiation needs static shapes (build the graph for one batch and sequence length)`, {
        field: 'onnx graph',
      });
    }
    types.set(input.name, { dataType: input.dataType, dims: input.dims as number[] });
  }
  const constantOf = (name: string): OnnxTensor | undefined => g.initializerOf(name);
  const typeOf = (name: string): ValueType | undefined => {
    if (name === '') return undefined;
    const known = types.get(name);
    if (known) return known;
    const init = g.initializerOf(name);
    if (!init) throw new NlsError(`value ${name} is used before it is defined`, { field: 'onnx graph' });
    const t = { dataType: init.dataType, dims: init.dims };
    types.set(name, t);
    return t;
  };
  for (const node of g.graphNodes) {
    const def = opDefinition(node.opType);
    if (!def || node.domain) throw new NlsError(`operator ${node.domain ? `${node.domain}.` : ''}${node.opType} has no shape rule or gradient registered (src/engine/onnx/ops/)`, { field: 'onnx graph' });
    const out = def.infer(new NodeView(node, node.inputs.map(typeOf), constantOf));
    if (out.length !== node.outputs.length) throw new NlsError(`${node.opType} node ${node.name}: its shape rule gave ${out.length} outputs for ${node.outputs.length}`, { field: 'onnx graph' });
    node.outputs.forEach((o, i) => types.set(o, out[i]!));
  }
  return types;
}

/** Options of {@link addGradients}. */
export interface GradientRequest {
  /** The scalar (shape []) value to differentiate. */
  readonly loss: string;
  /** Graph inputs (or other values) to differentiate it with respect to. */
  readonly wrt: readonly string[];
}

/**
 * Add the gradient of `loss` with respect to each of `wrt` to the graph; returns value names by
 * `wrt` entry. A `wrt` value the loss does not depend on gets zeros of its shape.
 */
export function addGradients(g: GraphBuilder, request: GradientRequest): Map<string, string> {
  const types = inferValueTypes(g);
  const lossType = types.get(request.loss);
  if (!lossType || !isFloatType(lossType.dataType) || lossType.dims.length !== 0) {
    throw new NlsError(`the loss ${request.loss} must be a float scalar, got ${lossType ? `type ${lossType.dataType} [${lossType.dims}]` : 'no such value'}`, { field: 'onnx graph' });
  }
  for (const w of request.wrt) {
    const t = types.get(w);
    if (!t || !isFloatType(t.dataType)) throw new NlsError(`cannot differentiate with respect to ${w}: ${t ? 'not a float value' : 'no such value'}`, { field: 'onnx graph' });
  }
  const nodes = [...g.graphNodes];

  // Forward: which values depend on a wrt input through differentiable operators.
  const requires = new Set(request.wrt);
  for (const node of nodes) {
    const def = opDefinition(node.opType)!;
    const flows = def.vjp !== undefined && node.inputs.some((i) => requires.has(i));
    for (const o of node.outputs) {
      const custom = g.customGradientOf(o);
      if ((custom ? requires.has(custom.x) : flows) && isFloatType(types.get(o)!.dataType)) requires.add(o);
    }
  }

  // Backward: contributions to each value's gradient, summed when the value is reached.
  const contributions = new Map<string, string[]>();
  const contribute = (value: string, grad: string) => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  const total = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list) return undefined;
    const sum = list.length === 1 ? list[0]! : g.op('Sum', list);
    contributions.set(value, [sum]);
    return sum;
  };
  contribute(request.loss, g.scalar(1, lossType.dataType));
  const constantOf = (name: string): OnnxTensor | undefined => g.initializerOf(name);

  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k]!;
    // Hand-written gradients first: they take the output's gradient away from its producer.
    for (const o of node.outputs) {
      const custom = g.customGradientOf(o);
      if (!custom) continue;
      const dy = total(o);
      contributions.delete(o);
      if (dy && requires.has(custom.x)) contribute(custom.x, custom.vjp(g, dy));
    }
    const dy = node.outputs.map(total);
    if (dy.every((d) => d === undefined)) continue;
    const needed = node.inputs.map((i) => {
      const t = i === '' ? undefined : types.get(i);
      return t !== undefined && requires.has(i) && isFloatType(t.dataType);
    });
    if (!needed.some(Boolean)) continue;
    const def = opDefinition(node.opType)!;
    const ctx = new GradientContext(
      node,
      node.inputs.map((i) => (i === '' ? undefined : types.get(i))),
      constantOf,
      g,
      node.outputs.map((o) => types.get(o)!),
      dy,
      needed,
    );
    // An operator that has a single output needs its gradient; multi-output operators (Split)
    // fill missing output gradients with zeros themselves.
    if (node.outputs.length === 1 && dy[0] === undefined) continue;
    const grads = def.vjp!(ctx);
    node.inputs.forEach((input, i) => {
      if (!needed[i]) return;
      const grad = grads[i];
      if (grad === undefined) throw new NlsError(`${node.opType} node ${node.name}: its gradient gave nothing for input ${i} (${input}), which needs one`, { field: 'onnx graph' });
      contribute(input, grad);
    });
  }

  const out = new Map<string, string>();
  for (const w of request.wrt) {
    const t = types.get(w)!;
    out.set(w, total(w) ?? g.zeros(t.dims, isFloatType(t.dataType) ? t.dataType : OnnxDataType.FLOAT));
  }
  return out;
}
