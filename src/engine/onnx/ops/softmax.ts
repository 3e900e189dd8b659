/**
 * Softmax and log-softmax along one axis (opset 13+ semantics) and their gradients:
 * softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy), sums over the axis.
 */
import { normAxis, registerOp, type NodeView, type ValueType } from './registry.js';

const same = (n: NodeView): ValueType[] => [n.input(0)];
const axisOf = (n: NodeView): number => normAxis(n.int('axis', -1), n.input(0).dims.length, n);

registerOp({
  opType: 'Softmax',
  infer: same,
  vjp: (c) => {
    const { g } = c;
    const inner = g.op('ReduceSum', [g.mul(c.dy[0]!, c.y()), g.int64s([axisOf(c)])], { keepdims: 1 });
    return [g.mul(c.y(), g.sub(c.dy[0]!, inner))];
  },
});

registerOp({
  opType: 'LogSoftmax',
  infer: same,
  vjp: (c) => {
    const { g } = c;
    const total = g.op('ReduceSum', [c.dy[0]!, g.int64s([axisOf(c)])], { keepdims: 1 });
    return [g.sub(c.dy[0]!, g.mul(g.op('Exp', [c.y()]), total))];
  },
});
