/**
 * Adapter feeds of the unmerged form: zero-padding to r_max and slicing to the rank are exact
 * (bit for bit against a naive sequential-sum reference of the tfjs computation, which slices),
 * the scale follows the scaling rule, and rank 0 contributes nothing. Properties over random
 * shapes, ranks and factors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adapterFeed, type AdapterFactors } from '../../src/engine/onnx/weights.js';
import { loraScale } from '../../src/space/search-space.js';

/** x [rows, in] @ a [in, r] @ b [r, out], summed in index order (float64 then rounded per step as float32). */
function lowRank(x: Float32Array, rows: number, a: Float32Array, aDims: readonly [number, number], b: Float32Array, bDims: readonly [number, number]): Float32Array {
  const [inDim, r] = aDims;
  const out = bDims[1];
  const h = new Float32Array(rows * r);
  for (let t = 0; t < rows; t++) for (let j = 0; j < r; j++) {
    let acc = 0;
    for (let i = 0; i < inDim; i++) acc = Math.fround(acc + Math.fround(x[t * inDim + i]! * a[i * r + j]!));
    h[t * r + j] = acc;
  }
  const y = new Float32Array(rows * out);
  for (let t = 0; t < rows; t++) for (let o = 0; o < out; o++) {
    let acc = 0;
    for (let j = 0; j < r; j++) acc = Math.fround(acc + Math.fround(h[t * r + j]! * b[j * out + o]!));
    y[t * out + o] = acc;
  }
  return y;
}

const factorsArb = fc
  .record({ inDim: fc.integer({ min: 1, max: 6 }), outDim: fc.integer({ min: 1, max: 6 }), rMax: fc.integer({ min: 1, max: 5 }), alphaByR: fc.boolean(), seed: fc.integer() })
  .chain((s) =>
    fc.record({
      s: fc.constant(s),
      rank: fc.integer({ min: 0, max: s.rMax }),
      aT: fc.float32Array({ minLength: s.inDim * s.rMax, maxLength: s.inDim * s.rMax, noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }),
      bT: fc.float32Array({ minLength: s.rMax * s.outDim, maxLength: s.rMax * s.outDim, noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }),
      x: fc.float32Array({ minLength: 2 * s.inDim, maxLength: 2 * s.inDim, noNaN: true, noDefaultInfinity: true, min: -4, max: 4 }),
    }),
  );

describe('adapter feeds', () => {
  it('padded and sliced feeds give bit-identical low-rank products, equal to slicing the stored factors (property)', () => {
    fc.assert(
      fc.property(factorsArb, ({ s, rank, aT, bT, x }) => {
        const spec = { key: 'layers.0.q_proj', rMax: s.rMax, alpha: 8, scaling: s.alphaByR ? ('alpha/r' as const) : ('alpha/r_max' as const), dropout: 0 };
        const f: AdapterFactors = { spec, inDim: s.inDim, outDim: s.outDim, aT, bT };
        const padded = adapterFeed(f, rank, 'padded');
        const sliced = adapterFeed(f, rank, 'sliced');
        expect(padded.aDims).toEqual([s.inDim, s.rMax]);
        expect(padded.bDims).toEqual([s.rMax, s.outDim]);
        expect(sliced.aDims).toEqual([s.inDim, rank]);
        expect(sliced.bDims).toEqual([rank, s.outDim]);
        // The reference: the tfjs computation's operands, A^T[:, :r] and scale * B^T[:r].
        const scale = loraScale(spec, rank);
        const refA = new Float32Array(s.inDim * rank);
        for (let i = 0; i < s.inDim; i++) for (let j = 0; j < rank; j++) refA[i * rank + j] = aT[i * s.rMax + j]!;
        const refB = Float32Array.from(bT.subarray(0, rank * s.outDim), (v) => v * scale);
        expect(Array.from(sliced.a)).toEqual(Array.from(refA));
        expect(Array.from(sliced.b)).toEqual(Array.from(refB));
        const ref = lowRank(x, 2, refA, [s.inDim, rank], refB, [rank, s.outDim]);
        const viaPadded = lowRank(x, 2, padded.a, padded.aDims, padded.b, padded.bDims);
        // Padding rows of B are zero: their terms add exactly +-0, so the sums are the same bits
        // (up to the sign of an all-zero sum).
        expect(Array.from(viaPadded).map((v) => v + 0)).toEqual(Array.from(ref).map((v) => v + 0));
        if (rank === 0) expect(viaPadded.every((v) => v === 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a rank outside [0, r_max], naming the module', () => {
    const f: AdapterFactors = { spec: { key: 'layers.1.v_proj', rMax: 2, alpha: 4, scaling: 'alpha/r_max', dropout: 0 }, inDim: 1, outDim: 1, aT: new Float32Array(2), bT: new Float32Array(2) };
    expect(() => adapterFeed(f, 3)).toThrow(/layers\.1\.v_proj.*\[0, 2\], got 3|\[0, 2\], got 3/);
    expect(() => adapterFeed(f, 1.5)).toThrow(/got 1\.5/);
  });
});
