/**
 * Element-wise operators (numpy broadcasting) and their gradients: arithmetic, the activations
 * and norms the LLaMA graph uses, selection, casts, and the comparisons and rounding no gradient
 * flows through.
 */
import { OnnxDataType } from '../proto.js';
import { broadcastDims, type GradientContext, type NodeView, registerOp, type ValueType } from './registry.js';

const binary =
  (out?: ValueType['dataType']) =>
  (n: NodeView): ValueType[] => [{ dataType: out ?? n.input(0).dataType, dims: broadcastDims(n.input(0).dims, n.input(1).dims, n) }];
const unary = (n: NodeView): ValueType[] => [{ dataType: n.input(0).dataType, dims: n.input(0).dims }];
const outDims = (c: GradientContext): readonly number[] => c.outputTypes[0]!.dims;

/** The gradient `grad` (of the output's shape) brought back to input `i`'s shape. */
const toInput = (c: GradientContext, i: number, grad: string): string => c.reduceTo(grad, outDims(c), c.input(i).dims);

registerOp({
  opType: 'Add',
  infer: binary(),
  vjp: (c) => [c.needs(0) ? toInput(c, 0, c.dy[0]!) : undefined, c.needs(1) ? toInput(c, 1, c.dy[0]!) : undefined],
});

registerOp({
  opType: 'Sub',
  infer: binary(),
  vjp: (c) => [c.needs(0) ? toInput(c, 0, c.dy[0]!) : undefined, c.needs(1) ? toInput(c, 1, c.g.op('Neg', [c.dy[0]!])) : undefined],
});

registerOp({
  opType: 'Mul',
  infer: binary(),
  vjp: (c) => [c.needs(0) ? toInput(c, 0, c.g.mul(c.dy[0]!, c.x(1))) : undefined, c.needs(1) ? toInput(c, 1, c.g.mul(c.dy[0]!, c.x(0))) : undefined],
});

registerOp({
  opType: 'Div',
  infer: binary(),
  // y = a / b: da = dy / b; db = -dy * a / b^2 = -(dy * y) / b.
  vjp: (c) => [
    c.needs(0) ? toInput(c, 0, c.g.div(c.dy[0]!, c.x(1))) : undefined,
    c.needs(1) ? toInput(c, 1, c.g.op('Neg', [c.g.div(c.g.mul(c.dy[0]!, c.y()), c.x(1))])) : undefined,
  ],
});

registerOp({
  opType: 'Neg',
  infer: unary,
  vjp: (c) => [c.g.op('Neg', [c.dy[0]!])],
});

registerOp({
  opType: 'Identity',
  infer: unary,
  vjp: (c) => [c.dy[0]!],
});

registerOp({
  opType: 'Pow',
  infer: (n) => [{ dataType: n.input(0).dataType, dims: broadcastDims(n.input(0).dims, n.input(1).dims, n) }],
  // y = x^e with a constant e: dx = dy * e * x^(e-1) (x^1 for the RMSNorm square). A gradient
  // with respect to the exponent is not needed by nls's graphs and is refused.
  vjp: (c) => {
    if (c.needs(1)) throw c.error('the gradient with respect to the exponent is not supported');
    const e = c.constFloats(1);
    if (!e || e.length !== 1) throw c.error('the exponent must be a constant scalar');
    const exponent = e[0]!;
    const slope = exponent === 2 ? c.x(0) : c.g.op('Pow', [c.x(0), c.scalar(exponent - 1)]);
    return [toInput(c, 0, c.g.mul(c.dy[0]!, c.g.mul(slope, c.scalar(exponent))))];
  },
});

registerOp({
  opType: 'Sqrt',
  infer: unary,
  // y = sqrt(x): dx = dy / (2 y).
  vjp: (c) => [c.g.div(c.g.mul(c.dy[0]!, c.scalar(0.5)), c.y())],
});

registerOp({
  opType: 'Exp',
  infer: unary,
  vjp: (c) => [c.g.mul(c.dy[0]!, c.y())],
});

registerOp({
  opType: 'Sigmoid',
  infer: unary,
  // y = sigmoid(x): dx = dy * y * (1 - y).
  vjp: (c) => [c.g.mul(c.dy[0]!, c.g.mul(c.y(), c.g.sub(c.scalar(1), c.y())))],
});

registerOp({
  opType: 'Max',
  infer: (n) => {
    if (n.node.inputs.length !== 2) throw n.error('only the two-input form is supported');
    return binary()(n);
  },
  // The gradient goes to the larger input; ties go to the first (as tf.maximum's).
  vjp: (c) => {
    const firstWins = c.g.op('GreaterOrEqual', [c.x(0), c.x(1)]);
    const zero = c.scalar(0);
    return [
      c.needs(0) ? toInput(c, 0, c.g.op('Where', [firstWins, c.dy[0]!, zero])) : undefined,
      c.needs(1) ? toInput(c, 1, c.g.op('Where', [firstWins, zero, c.dy[0]!])) : undefined,
    ];
  },
});

registerOp({
  opType: 'Where',
  infer: (n) => {
    const dims = broadcastDims(broadcastDims(n.input(0).dims, n.input(1).dims, n), n.input(2).dims, n);
    return [{ dataType: n.input(1).dataType, dims }];
  },
  vjp: (c) => {
    const zero = c.scalar(0);
    return [
      undefined,
      c.needs(1) ? toInput(c, 1, c.g.op('Where', [c.x(0), c.dy[0]!, zero])) : undefined,
      c.needs(2) ? toInput(c, 2, c.g.op('Where', [c.x(0), zero, c.dy[0]!])) : undefined,
    ];
  },
});

registerOp({
  opType: 'Clip',
  infer: unary,
  // Gradient where lo <= x <= hi (bounds included, as PyTorch's clamp); the bounds get none.
  vjp: (c) => {
    if (c.needs(1) || c.needs(2)) throw c.error('gradients with respect to the clip bounds are not supported');
    let inside: string | undefined;
    if (c.has(1)) inside = c.g.op('GreaterOrEqual', [c.x(0), c.x(1)]);
    if (c.has(2)) {
      const below = c.g.op('LessOrEqual', [c.x(0), c.x(2)]);
      inside = inside ? c.g.op('And', [inside, below]) : below;
    }
    return [inside ? c.g.op('Where', [inside, c.dy[0]!, c.scalar(0)]) : c.dy[0]!];
  },
});

registerOp({
  opType: 'Cast',
  infer: (n) => [{ dataType: n.int('to') as ValueType['dataType'], dims: n.input(0).dims }],
  // Between float types the gradient is cast back; to or from integers nothing flows (autodiff
  // only asks for float inputs).
  vjp: (c) => [c.outputTypes[0]!.dataType === c.input(0).dataType ? c.dy[0]! : c.g.op('Cast', [c.dy[0]!], { to: c.input(0).dataType })],
});

// No gradient flows through these: their outputs are piecewise constant or not floats.
registerOp({ opType: 'Round', infer: unary });
registerOp({ opType: 'Equal', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'Greater', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'GreaterOrEqual', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'Less', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'LessOrEqual', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'And', infer: binary(OnnxDataType.BOOL) });
registerOp({ opType: 'Not', infer: unary });
