/**
 * Layout operators (no arithmetic: values move) and their gradients, which move the gradient
 * back: Reshape, Transpose, Slice (its gradient pads), Concat and Split (each other's gradient),
 * Squeeze / Unsqueeze, Tile and Expand (their gradients sum).
 */
import { type GradientContext, type NodeView, normAxis, registerOp, type ValueType } from './registry.js';

const reshapeBack = (c: GradientContext): string[] => [c.g.reshape(c.dy[0]!, c.input(0).dims)];

registerOp({
  opType: 'Reshape',
  infer: (n) => {
    const x = n.input(0);
    const shape = n.constInts(1)!;
    const size = x.dims.reduce((a, b) => a * b, 1);
    // 0 copies the input's dimension (allowzero = 0), -1 takes what is left.
    const dims = shape.map((d, i) => (d === 0 ? x.dims[i]! : d));
    const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const free = dims.indexOf(-1);
    if (free >= 0) dims[free] = size / known;
    if (dims.some((d) => !Number.isInteger(d) || d < 0) || dims.reduce((a, b) => a * b, 1) !== size) throw n.error(`cannot reshape [${x.dims}] to [${shape}]`);
    return [{ dataType: x.dataType, dims }];
  },
  vjp: reshapeBack,
});

function permOf(n: NodeView): number[] {
  const rank = n.input(0).dims.length;
  return [...(n.ints('perm') ?? [...Array(rank).keys()].reverse())];
}

registerOp({
  opType: 'Transpose',
  infer: (n) => {
    const x = n.input(0);
    return [{ dataType: x.dataType, dims: permOf(n).map((p) => x.dims[p]!) }];
  },
  vjp: (c) => {
    const perm = permOf(c);
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [c.g.transpose(c.dy[0]!, inverse)];
  },
});

/** Per-axis [begin, end) of a Slice with unit steps, clamped as ONNX specifies. */
function sliceBounds(n: NodeView): { begin: number[]; end: number[] } {
  const dims = n.input(0).dims;
  const starts = n.constInts(1)!;
  const ends = n.constInts(2)!;
  const axes = n.constInts(3) ?? starts.map((_, i) => i);
  const steps = n.constInts(4) ?? starts.map(() => 1);
  if (steps.some((s) => s !== 1)) throw n.error('only unit steps are supported');
  const begin = dims.map(() => 0);
  const end = [...dims];
  axes.forEach((a0, i) => {
    const a = normAxis(a0, dims.length, n);
    const d = dims[a]!;
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    begin[a] = clamp(starts[i]!);
    end[a] = Math.max(begin[a]!, clamp(ends[i]!));
  });
  return { begin, end };
}

registerOp({
  opType: 'Slice',
  infer: (n) => {
    const { begin, end } = sliceBounds(n);
    return [{ dataType: n.input(0).dataType, dims: begin.map((b, i) => end[i]! - b) }];
  },
  // The gradient is dy padded with zeros back to the input's shape.
  vjp: (c) => {
    const { begin, end } = sliceBounds(c);
    const dims = c.input(0).dims;
    const pads = [...begin, ...end.map((e, i) => dims[i]! - e)];
    return [pads.every((p) => p === 0) ? c.dy[0]! : c.g.op('Pad', [c.dy[0]!, c.g.int64s(pads)], { mode: 'constant' })];
  },
});

registerOp({
  opType: 'Concat',
  infer: (n) => {
    const first = n.input(0);
    const axis = normAxis(n.int('axis'), first.dims.length, n);
    const dims = [...first.dims];
    dims[axis] = n.inputTypes.reduce((s, t) => s + t!.dims[axis]!, 0);
    return [{ dataType: first.dataType, dims }];
  },
  vjp: (c) => {
    const axis = normAxis(c.int('axis'), c.input(0).dims.length, c);
    const sizes = c.inputTypes.map((t) => t!.dims[axis]!);
    const parts = c.g.opN('Split', [c.dy[0]!, c.g.int64s(sizes)], sizes.length, { axis });
    return parts.map((p, i) => (c.needs(i) ? p : undefined));
  },
});

function splitSizes(n: NodeView): number[] {
  const x = n.input(0);
  const axis = normAxis(n.int('axis', 0), x.dims.length, n);
  const given = n.constInts(1);
  if (given) return given;
  const parts = n.node.outputs.length;
  if (x.dims[axis]! % parts !== 0) throw n.error(`axis ${axis} of size ${x.dims[axis]} does not split into ${parts} equal parts`);
  return Array(parts).fill(x.dims[axis]! / parts);
}

registerOp({
  opType: 'Split',
  infer: (n) => {
    const x = n.input(0);
    const axis = normAxis(n.int('axis', 0), x.dims.length, n);
    return splitSizes(n).map((s) => ({ dataType: x.dataType, dims: x.dims.map((d, i) => (i === axis ? s : d)) }));
  },
  // The outputs' gradients joined again (zeros for outputs no gradient reached).
  vjp: (c) => {
    const axis = normAxis(c.int('axis', 0), c.input(0).dims.length, c);
    return [c.g.op('Concat', c.node.outputs.map((_, i) => c.dyOrZeros(i)), { axis })];
  },
});

registerOp({
  opType: 'Squeeze',
  infer: (n) => {
    const x = n.input(0);
    const axes = (n.constInts(1) ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normAxis(a, x.dims.length, n));
    for (const a of axes) if (x.dims[a] !== 1) throw n.error(`axis ${a} has size ${x.dims[a]}, not 1`);
    return [{ dataType: x.dataType, dims: x.dims.filter((_, i) => !axes.includes(i)) }];
  },
  vjp: reshapeBack,
});

registerOp({
  opType: 'Unsqueeze',
  infer: (n) => {
    const x = n.input(0);
    const rank = x.dims.length + n.constInts(1)!.length;
    const axes = n.constInts(1)!.map((a) => normAxis(a, rank, n));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : x.dims[k++]!);
    return [{ dataType: x.dataType, dims }];
  },
  vjp: reshapeBack,
});

registerOp({
  opType: 'Tile',
  infer: (n) => {
    const x = n.input(0);
    const repeats = n.constInts(1)!;
    if (repeats.length !== x.dims.length) throw n.error(`repeats [${repeats}] do not match rank ${x.dims.length}`);
    return [{ dataType: x.dataType, dims: x.dims.map((d, i) => d * repeats[i]!) }];
  },
  // Output index k * d + j along an axis reads input index j: view the gradient as
  // [r0, d0, r1, d1, ...] and sum over the repeat axes.
  vjp: (c) => {
    const dims = c.input(0).dims;
    const repeats = c.constInts(1)!;
    const interleaved = dims.flatMap((d, i) => [repeats[i]!, d]);
    const summed = c.g.op('ReduceSum', [c.g.reshape(c.dy[0]!, interleaved), c.g.int64s(dims.map((_, i) => 2 * i))], { keepdims: 0 });
    return [summed];
  },
});

registerOp({
  opType: 'Expand',
  infer: (n): ValueType[] => {
    const x = n.input(0);
    const shape = n.constInts(1)!;
    const rank = Math.max(x.dims.length, shape.length);
    const dims: number[] = [];
    for (let i = 0; i < rank; i++) {
      const a = x.dims[x.dims.length - rank + i] ?? 1;
      const b = shape[shape.length - rank + i] ?? 1;
      if (a !== b && a !== 1 && b !== 1) throw n.error(`cannot expand [${x.dims}] to [${shape}]`);
      dims.push(a === 1 ? b : a);
    }
    return [{ dataType: x.dataType, dims }];
  },
  vjp: (c) => [c.reduceTo(c.dy[0]!, c.outputTypes[0]!.dims, c.input(0).dims)],
});
