/**
 * Every registered operator gradient (src/engine/onnx/ops) against central finite differences,
 * with fast-check over random shapes, broadcasts, attributes and values: the float64 gradient
 * to 1e-7, the float32 one (what training runs in) to 1e-3 relative. A gradient registered
 * without a case here fails the coverage test, so a new operator cannot skip the check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { registeredOps } from '../../src/engine/onnx/ops/index.js';
import { createRng, type Rng } from '../../src/util/rng.js';
import { gradCheck, type OpCase, type Operand } from './gradcheck.js';

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Random floats in [lo, hi). */
function uniform(rng: Rng, n: number, lo = -1.5, hi = 1.5): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * rng.next());
}

/** Float values away from zero: sign * [lo, hi). */
function awayFromZero(rng: Rng, n: number, lo = 0.5, hi = 2): number[] {
  return uniform(rng, n, lo, hi).map((v) => (rng.next() < 0.5 ? -v : v));
}

const floatOperand = (dims: readonly number[], values: number[], wrt = true): Operand => ({ dims, values, kind: 'float', wrt });
const int64s = (values: readonly number[]): Operand => ({ dims: [values.length], values: [...values], kind: 'int64' });

const dimsArb = (minRank: number, maxRank: number, maxDim = 4) => fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** A shape that broadcasts to `dims`: some leading axes dropped, some axes set to 1. */
function broadcastSource(rng: Rng, dims: readonly number[]): number[] {
  const drop = Math.floor(rng.next() * (dims.length + 1));
  return dims.slice(drop).map((d) => (rng.next() < 0.4 ? 1 : d));
}

/** One operator node on the operands, with attributes. */
const node =
  (opType: string, attrs: Record<string, number | string | readonly number[]> = {}, outputs = 1) =>
  (g: Parameters<OpCase['build']>[0], inputs: readonly string[]) =>
    g.opN(opType, inputs, outputs, attrs);

/** A binary element-wise case: operands broadcast either way round; sometimes one is a constant. */
function binaryCase(opType: string, values: (rng: Rng, n: number, which: 0 | 1) => number[]) {
  return fc.record({ dims: dimsArb(1, 4), seed: seedArb, swap: fc.boolean(), constant: fc.constantFrom(-1, 0, 1) }).map(({ dims, seed, swap, constant }): OpCase => {
    const rng = createRng(seed);
    const other = broadcastSource(rng, dims);
    const shapes = swap ? [other, dims] : [dims, other];
    return {
      seed,
      operands: shapes.map((s, i) => floatOperand(s, values(rng, size(s), i as 0 | 1), constant !== i)),
      build: node(opType),
    };
  });
}

function unaryCase(opType: string, values: (rng: Rng, n: number) => number[] = (rng, n) => uniform(rng, n)) {
  return fc.record({ dims: dimsArb(0, 4), seed: seedArb }).map(({ dims, seed }): OpCase => ({
    seed,
    operands: [floatOperand(dims, values(createRng(seed), size(dims)))],
    build: node(opType),
  }));
}

/** Test cases by operator name: one arbitrary per operator with a gradient. */
const CASES: Record<string, fc.Arbitrary<OpCase>> = {
  Add: binaryCase('Add', (rng, n) => uniform(rng, n)),
  Sub: binaryCase('Sub', (rng, n) => uniform(rng, n)),
  Mul: binaryCase('Mul', (rng, n) => uniform(rng, n)),
  Div: binaryCase('Div', (rng, n, which) => (which === 1 ? awayFromZero(rng, n) : uniform(rng, n))),
  Neg: unaryCase('Neg'),
  Identity: unaryCase('Identity'),
  Exp: unaryCase('Exp'),
  Sigmoid: unaryCase('Sigmoid', (rng, n) => uniform(rng, n, -4, 4)),
  Sqrt: unaryCase('Sqrt', (rng, n) => uniform(rng, n, 0.3, 3)),
  Pow: fc.record({ dims: dimsArb(0, 3), seed: seedArb, exponent: fc.constantFrom(2, 3, 0.5, -1) }).map(({ dims, seed, exponent }): OpCase => {
    const rng = createRng(seed);
    return { seed, operands: [floatOperand(dims, exponent === 2 || exponent === 3 ? uniform(rng, size(dims)) : uniform(rng, size(dims), 0.4, 2)), floatOperand([], [exponent], false)], build: node('Pow') };
  }),
  // Ties are non-differentiable: the operands differ by at least 0.1.
  Max: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const bDims = broadcastSource(rng, dims);
    const b = uniform(rng, size(bDims));
    const strides = bDims.map((_, i) => size(bDims.slice(i + 1)));
    const a = Array.from({ length: size(dims) }, (_, flat) => {
      let rest = flat;
      let bi = 0;
      for (let ax = dims.length - 1; ax >= 0; ax--) {
        const coord = rest % dims[ax]!;
        rest = Math.floor(rest / dims[ax]!);
        const bAx = ax - (dims.length - bDims.length);
        if (bAx >= 0 && bDims[bAx] !== 1) bi += coord * strides[bAx]!;
      }
      return b[bi]! + awayFromZero(rng, 1, 0.1, 1)[0]!;
    });
    return { seed, operands: [floatOperand(dims, a), floatOperand(bDims, b)], build: node('Max') };
  }),
  Where: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const cond = broadcastSource(rng, dims);
    const aDims = broadcastSource(rng, dims);
    return {
      seed,
      operands: [{ dims: cond, values: cond.length ? Array.from({ length: size(cond) }, () => (rng.next() < 0.5 ? 1 : 0)) : [1], kind: 'bool' }, floatOperand(aDims, uniform(rng, size(aDims))), floatOperand(dims, uniform(rng, size(dims)))],
      build: node('Where'),
    };
  }),
  // Values at least 0.05 away from the bounds -0.5 and 0.7 (the gradient jumps there).
  Clip: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const values = uniform(rng, size(dims), -2, 2).map((v) => (Math.abs(v + 0.5) < 0.05 || Math.abs(v - 0.7) < 0.05 ? v + 0.2 : v));
    return { seed, operands: [floatOperand(dims, values), floatOperand([], [-0.5], false), floatOperand([], [0.7], false)], build: node('Clip') };
  }),
  Cast: fc.record({ dims: dimsArb(0, 3), seed: seedArb }).map(({ dims, seed }): OpCase => ({
    seed,
    operands: [floatOperand(dims, uniform(createRng(seed), size(dims)))],
    build: (g, [x], dtype) => [g.op('Cast', [x!], { to: dtype })],
  })),
  Reshape: fc.record({ dims: dimsArb(1, 4), seed: seedArb, style: fc.constantFrom('flat', 'minus1', 'zero') }).map(({ dims, seed, style }): OpCase => {
    const target = style === 'flat' ? [size(dims)] : style === 'minus1' ? [dims[0]!, -1] : [0, ...(dims.length > 1 ? [size(dims.slice(1))] : [])];
    return { seed, operands: [floatOperand(dims, uniform(createRng(seed), size(dims))), int64s(target)], build: node('Reshape') };
  }),
  Transpose: fc.record({ dims: dimsArb(1, 4), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const perm = [...dims.keys()].sort(() => rng.next() - 0.5);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims)))], build: node('Transpose', { perm }) };
  }),
  Slice: fc.record({ dims: dimsArb(1, 3, 5), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const axes = [...dims.keys()].filter(() => rng.next() < 0.7);
    const starts = axes.map((a) => Math.floor(rng.next() * dims[a]!) - (rng.next() < 0.3 ? dims[a]! : 0));
    const ends = axes.map((a) => (rng.next() < 0.2 ? 2 ** 40 : Math.floor(rng.next() * (dims[a]! + 1)) + 1));
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims))), int64s(starts), int64s(ends), int64s(axes)], build: node('Slice') };
  }),
  Concat: fc.record({ dims: dimsArb(1, 3), seed: seedArb, parts: fc.integer({ min: 1, max: 3 }) }).map(({ dims, seed, parts }): OpCase => {
    const rng = createRng(seed);
    const axis = Math.floor(rng.next() * dims.length);
    const shapes = Array.from({ length: parts }, () => dims.map((d, i) => (i === axis ? 1 + Math.floor(rng.next() * 3) : d)));
    return { seed, operands: shapes.map((s) => floatOperand(s, uniform(rng, size(s)))), build: node('Concat', { axis: rng.next() < 0.5 ? axis : axis - dims.length }) };
  }),
  // Some outputs left unused: their gradient is zero.
  Split: fc.record({ dims: dimsArb(1, 3), seed: seedArb, used: fc.constantFrom('all', 'first') }).map(({ dims, seed, used }): OpCase => {
    const rng = createRng(seed);
    const axis = Math.floor(rng.next() * dims.length);
    const d = [...dims];
    d[axis] = d[axis]! + 2;
    const sizes = [1, d[axis]! - 1];
    return {
      seed,
      operands: [floatOperand(d, uniform(rng, size(d))), int64s(sizes)],
      build: (g, inputs) => {
        const outs = g.opN('Split', inputs, 2, { axis });
        return used === 'all' ? outs : [outs[0]!];
      },
    };
  }),
  Squeeze: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => ({
    seed,
    operands: [floatOperand([1, ...dims, 1], uniform(createRng(seed), size(dims))), int64s([0, -1])],
    build: node('Squeeze'),
  })),
  Unsqueeze: fc.record({ dims: dimsArb(0, 3), seed: seedArb }).map(({ dims, seed }): OpCase => ({
    seed,
    operands: [floatOperand(dims, uniform(createRng(seed), size(dims))), int64s([0, dims.length + 1])],
    build: node('Unsqueeze'),
  })),
  Tile: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims))), int64s(dims.map(() => 1 + Math.floor(rng.next() * 3)))], build: node('Tile') };
  }),
  Expand: fc.record({ dims: dimsArb(1, 4), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const src = broadcastSource(rng, dims);
    return { seed, operands: [floatOperand(src, uniform(rng, size(src))), int64s(dims)], build: node('Expand') };
  }),
  ReduceMean: fc.record({ dims: dimsArb(1, 4), seed: seedArb, keepdims: fc.constantFrom(0, 1) }).map(({ dims, seed, keepdims }): OpCase => {
    const rng = createRng(seed);
    const axes = [...dims.keys()].filter(() => rng.next() < 0.5);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims)))], build: node('ReduceMean', { ...(axes.length ? { axes: axes.map((a) => (rng.next() < 0.5 ? a : a - dims.length)) } : {}), keepdims }) };
  }),
  ReduceSum: fc.record({ dims: dimsArb(1, 4), seed: seedArb, keepdims: fc.constantFrom(0, 1) }).map(({ dims, seed, keepdims }): OpCase => {
    const rng = createRng(seed);
    const axes = [...dims.keys()].filter(() => rng.next() < 0.5);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims))), ...(axes.length ? [int64s(axes)] : [])], build: node('ReduceSum', { keepdims }) };
  }),
  Softmax: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims), -3, 3))], build: node('Softmax', { axis: Math.floor(rng.next() * dims.length) }) };
  }),
  LogSoftmax: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    return { seed, operands: [floatOperand(dims, uniform(rng, size(dims), -3, 3))], build: node('LogSoftmax', { axis: -1 - Math.floor(rng.next() * dims.length) }) };
  }),
  // Batched products with broadcast batch axes, and the 2-D weight times a batch of rows.
  MatMul: fc.record({ batch: dimsArb(0, 2, 3), m: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 1, max: 4 }), seed: seedArb, weight: fc.boolean(), constant: fc.constantFrom(-1, 0, 1) }).map(
    ({ batch, m, k, n, seed, weight, constant }): OpCase => {
      const rng = createRng(seed);
      const aDims = [...batch, m, k];
      const bDims = weight ? [k, n] : [...broadcastSource(rng, batch), k, n];
      return { seed, operands: [floatOperand(aDims, uniform(rng, size(aDims)), constant !== 0), floatOperand(bDims, uniform(rng, size(bDims)), constant !== 1)], build: node('MatMul') };
    },
  ),
  // Embedding rows: repeated indices add up.
  Gather: fc.record({ rows: fc.integer({ min: 1, max: 6 }), width: dimsArb(0, 2), indices: dimsArb(1, 2), seed: seedArb }).map(({ rows, width, indices, seed }): OpCase => {
    const rng = createRng(seed);
    const dims = [rows, ...width];
    return {
      seed,
      operands: [floatOperand(dims, uniform(rng, size(dims))), { dims: indices, values: Array.from({ length: size(indices) }, () => Math.floor(rng.next() * rows)), kind: 'int32' }],
      build: node('Gather', { axis: 0 }),
    };
  }),
  GatherElements: fc.record({ dims: dimsArb(1, 3), seed: seedArb }).map(({ dims, seed }): OpCase => {
    const rng = createRng(seed);
    const axis = Math.floor(rng.next() * dims.length);
    const idxDims = dims.map((d, i) => (i === axis ? 1 + Math.floor(rng.next() * 3) : d));
    return {
      seed,
      operands: [floatOperand(dims, uniform(rng, size(dims))), { dims: idxDims, values: Array.from({ length: size(idxDims) }, () => Math.floor(rng.next() * dims[axis]!)), kind: 'int64' }],
      build: node('GatherElements', { axis }),
    };
  }),
};

describe('operator gradients (src/engine/onnx/ops) against finite differences', () => {
  const differentiable = registeredOps().filter((d) => d.vjp !== undefined).map((d) => d.opType);

  it('every registered gradient has a finite-difference case, and every case a registered gradient', () => {
    expect(differentiable.filter((op) => !(op in CASES))).toEqual([]);
    expect(Object.keys(CASES).filter((op) => !differentiable.includes(op))).toEqual([]);
  });

  for (const op of Object.keys(CASES)) {
    it(`${op}: float64 within 1e-7, float32 within 1e-3 relative`, async () => {
      await fc.assert(
        fc.asyncProperty(CASES[op]!, async (c) => {
          const r = await gradCheck(c);
          expect(r.operands).toBeGreaterThan(0);
          expect(r.errorFloat64).toBeLessThan(1e-7);
          expect(r.errorFloat32).toBeLessThan(1e-3);
        }),
        { numRuns: 12, seed: 17 },
      );
    });
  }
});

