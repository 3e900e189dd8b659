/**
 * Gathers and their gradients. `Gather` along axis 0 (the token embedding) gets its gradient as
 * one-hot rows times the output gradient, one 2-D product: rows gathered twice add up, and the
 * sum is deterministic (a scatter-add split over threads need not be). `GatherElements` (the
 * target log-probabilities of the loss) scatters its gradient back with `ScatterElements`.
 */
import { OnnxDataType } from '../proto.js';
import { normAxis, registerOp } from './registry.js';

registerOp({
  opType: 'Gather',
  infer: (n) => {
    const data = n.input(0);
    const axis = normAxis(n.int('axis', 0), data.dims.length, n);
    return [{ dataType: data.dataType, dims: [...data.dims.slice(0, axis), ...n.input(1).dims, ...data.dims.slice(axis + 1)] }];
  },
  vjp: (c) => {
    const { g } = c;
    const data = c.input(0).dims;
    if (normAxis(c.int('axis', 0), data.length, c) !== 0) throw c.error('gradients are supported along axis 0 only');
    const rows = c.input(1).dims.reduce((s, d) => s * d, 1);
    const rest = data.slice(1).reduce((s, d) => s * d, 1);
    const indices = g.reshape(g.op('Cast', [c.x(1)], { to: OnnxDataType.INT64 }), [rows]);
    const values = g.constantTensor('one_hot_values', OnnxDataType.FLOAT, [2], Float32Array.of(0, 1));
    let oneHot = g.op('OneHot', [indices, g.int64s([data[0]!]), values], { axis: -1 });
    if (c.floatType !== OnnxDataType.FLOAT) oneHot = g.op('Cast', [oneHot], { to: c.floatType });
    const grad = g.op('Gemm', [oneHot, g.reshape(c.dy[0]!, [rows, rest])], { transA: 1 });
    return [g.reshape(grad, data), undefined];
  },
});

registerOp({
  opType: 'GatherElements',
  infer: (n) => {
    if (n.input(0).dims.length !== n.input(1).dims.length) throw n.error('data and indices must have the same rank');
    return [{ dataType: n.input(0).dataType, dims: n.input(1).dims }];
  },
  vjp: (c) => {
    const axis = normAxis(c.int('axis', 0), c.input(0).dims.length, c);
    const zeros = c.g.zeros(c.input(0).dims, c.floatType);
    return [c.g.op('ScatterElements', [zeros, c.x(1), c.dy[0]!], { axis, reduction: 'add' }), undefined];
  },
});
