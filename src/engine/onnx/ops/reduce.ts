/**
 * Reductions and their gradients: the gradient of a sum is the output gradient broadcast back
 * over the reduced axes; of a mean, that divided by the count. ReduceMean takes its axes as an
 * attribute in opset 17, ReduceSum as an input.
 */
import { type GradientContext, type NodeView, normAxis, registerOp, type ValueType } from './registry.js';

function reducedAxes(n: NodeView, axes: readonly number[] | undefined): number[] {
  const rank = n.input(0).dims.length;
  return axes && axes.length > 0 ? [...new Set(axes.map((a) => normAxis(a, rank, n)))].sort((a, b) => a - b) : [...Array(rank).keys()];
}

function reduceInfer(axesOf: (n: NodeView) => number[]): (n: NodeView) => ValueType[] {
  return (n) => {
    const x = n.input(0);
    const axes = axesOf(n);
    const keep = n.int('keepdims', 1) === 1;
    const dims = keep ? x.dims.map((d, i) => (axes.includes(i) ? 1 : d)) : x.dims.filter((_, i) => !axes.includes(i));
    return [{ dataType: x.dataType, dims }];
  };
}

/** dy broadcast back to the input's shape (re-inserting reduced axes first when keepdims = 0). */
function spread(c: GradientContext, axes: readonly number[]): string {
  const x = c.input(0);
  const keptDims = x.dims.map((d, i) => (axes.includes(i) ? 1 : d));
  const dy = c.int('keepdims', 1) === 1 ? c.dy[0]! : c.g.reshape(c.dy[0]!, keptDims);
  return c.g.op('Expand', [dy, c.g.int64s(x.dims)]);
}

const meanAxes = (n: NodeView): number[] => reducedAxes(n, n.ints('axes'));
// ReduceSum: axes as an input; none (or empty) means all axes unless noop_with_empty_axes.
const sumAxes = (n: NodeView): number[] => {
  const axes = n.constInts(1);
  if ((!axes || axes.length === 0) && n.int('noop_with_empty_axes', 0) === 1) return [];
  return reducedAxes(n, axes);
};

registerOp({
  opType: 'ReduceMean',
  infer: reduceInfer(meanAxes),
  vjp: (c) => {
    const axes = meanAxes(c);
    const count = axes.reduce((s, a) => s * c.input(0).dims[a]!, 1);
    return [c.g.mul(spread(c, axes), c.scalar(1 / count))];
  },
});

registerOp({
  opType: 'ReduceSum',
  infer: reduceInfer(sumAxes),
  vjp: (c) => [spread(c, sumAxes(c))],
});
