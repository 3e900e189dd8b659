import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  codeRange,
  dequantizeMatrix,
  fakeQuantizeT,
  FakeQuantizerT,
  groupsPerRow,
  packInt4,
  quantizationError,
  quantizeMatrix,
  quantizeWithParams,
  roundHalfEven,
  unpackInt4,
  type QuantizedMatrix,
  type QuantSpec,
} from '../../src/compress/quantize.js';
import { NlsError } from '../../src/errors.js';
import { useTestBackend } from '../helpers/backend.js';

beforeAll(useTestBackend);

const SPECS: QuantSpec[] = [
  { bits: 8, groupSize: 4, symmetric: true },
  { bits: 8, groupSize: 5, symmetric: false },
  { bits: 4, groupSize: 3, symmetric: true },
  { bits: 4, groupSize: 8, symmetric: false },
];

/**
 * Naive reference, written from the definitions with plain loops over (row, group, element):
 * float32 scale, banker's rounding of the float32 quotient, clamping.
 */
function reference(w: Float32Array, rows: number, cols: number, spec: QuantSpec): { codes: number[]; scales: number[]; zeros: number[]; deq: number[] } {
  const codes: number[] = [];
  const scales: number[] = [];
  const zeros: number[] = [];
  const deq: number[] = [];
  const bankers = (x: number) => {
    const f = Math.floor(x);
    const d = x - f;
    if (d < 0.5) return f;
    if (d > 0.5) return f + 1;
    return f % 2 === 0 ? f : f + 1;
  };
  for (let r = 0; r < rows; r++) {
    for (let g0 = 0; g0 < cols; g0 += spec.groupSize) {
      const group: number[] = [];
      for (let c = g0; c < Math.min(cols, g0 + spec.groupSize); c++) group.push(w[r * cols + c]!);
      let scale: number;
      let zero = 0;
      let lo: number;
      let hi: number;
      if (spec.symmetric) {
        const qmax = spec.bits === 8 ? 127 : 7;
        scale = Math.fround(Math.max(...group.map(Math.abs)) / qmax);
        lo = -qmax;
        hi = qmax;
      } else {
        const levels = spec.bits === 8 ? 255 : 15;
        const mn = Math.min(0, ...group);
        const mx = Math.max(0, ...group);
        scale = Math.fround((mx - mn) / levels);
        zero = scale === 0 ? 0 : Math.min(levels, Math.max(0, bankers(-mn / scale)));
        lo = 0;
        hi = levels;
        zeros.push(zero);
      }
      scales.push(scale);
      for (const v of group) {
        const code = scale === 0 ? zero : Math.min(hi, Math.max(lo, bankers(Math.fround(v / scale)) + zero));
        codes.push(code);
        deq.push(Math.fround((code - zero) * scale));
      }
    }
  }
  return { codes, scales, zeros, deq };
}

function randomMatrix(rows: number, cols: number, seed: number, sparsity = 0): Float32Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = next() < sparsity ? 0 : (next() - 0.3) * 2 * (1 + 3 * next());
  return w;
}

/** A float32 matrix with some exact zeros, and a spec. */
const matrixCase = fc
  .record({
    rows: fc.integer({ min: 1, max: 5 }),
    cols: fc.integer({ min: 1, max: 13 }),
    bits: fc.constantFrom<4 | 8>(4, 8),
    groupSize: fc.integer({ min: 1, max: 16 }),
    symmetric: fc.boolean(),
  })
  .chain((c) =>
    fc
      .array(fc.oneof(fc.constant(0), fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }), fc.float({ min: Math.fround(-1e-3), max: Math.fround(1e-3), noNaN: true })), {
        minLength: c.rows * c.cols,
        maxLength: c.rows * c.cols,
      })
      .map((values) => ({ ...c, w: Float32Array.from(values) })),
  );

function specOf(c: { bits: 4 | 8; groupSize: number; symmetric: boolean }): QuantSpec {
  return { bits: c.bits, groupSize: c.groupSize, symmetric: c.symmetric };
}

describe('quantizeMatrix', () => {
  it('matches a naive reference for sym/asym, int8/int4 (including a shorter last group)', () => {
    for (const spec of SPECS) {
      for (const [rows, cols] of [
        [3, 8],
        [4, 11],
        [1, 1],
      ] as const) {
        const w = randomMatrix(rows, cols, rows * 100 + cols + spec.bits, 0.2);
        const q = quantizeMatrix(w, rows, cols, spec);
        const ref = reference(w, rows, cols, spec);
        expect(Array.from(q.codes), JSON.stringify(spec)).toEqual(ref.codes);
        expect(Array.from(q.scales)).toEqual(ref.scales);
        if (spec.symmetric) expect(q.zeros).toBeUndefined();
        else expect(Array.from(q.zeros!)).toEqual(ref.zeros);
        expect(Array.from(dequantizeMatrix(q))).toEqual(ref.deq);
        expect(q.codes).toBeInstanceOf(spec.symmetric ? Int8Array : Uint8Array);
        expect(q.scales.length).toBe(rows * groupsPerRow(cols, spec.groupSize));
      }
    }
  });

  it('known values: symmetric int8 and asymmetric int4', () => {
    const sym = quantizeMatrix(Float32Array.from([1.27, -0.635, 0, 0.01]), 1, 4, { bits: 8, groupSize: 4, symmetric: true });
    expect(sym.scales[0]).toBe(Math.fround(1.27 / 127));
    expect(Array.from(sym.codes)).toEqual([127, -64, 0, 1]); // -63.5 rounds half to even
    const asym = quantizeMatrix(Float32Array.from([-1, 0, 2]), 1, 3, { bits: 4, groupSize: 3, symmetric: false });
    expect(asym.scales[0]).toBe(Math.fround(3 / 15));
    expect(Array.from(asym.zeros!)).toEqual([5]);
    expect(Array.from(asym.codes)).toEqual([0, 5, 15]);
    expect(dequantizeMatrix(asym)[1]).toBe(0);
  });

  it('all-zero groups get scale 0 and no NaN; positive-only groups still represent 0 exactly', () => {
    for (const spec of SPECS) {
      const w = new Float32Array(2 * 8);
      w.fill(0.5, 8); // row 1: all positive, min > 0 -> range forced to include 0
      const q = quantizeMatrix(w, 2, 8, spec);
      const d = dequantizeMatrix(q);
      expect(d.every((v) => Number.isFinite(v))).toBe(true);
      expect(Array.from(d.slice(0, 8))).toEqual(new Array(8).fill(0));
      expect(q.scales[0]).toBe(0);
      for (const v of d.slice(8)) expect(Math.abs(v - 0.5)).toBeLessThanOrEqual(q.scales[groupsPerRow(8, spec.groupSize)]! / 2 + 1e-7);
      expect(quantizationError(w, q).maxAbsError).toBeLessThan(0.05);
    }
    const zero = quantizeMatrix(new Float32Array(6), 2, 3, { bits: 4, groupSize: 2, symmetric: false });
    expect(quantizationError(new Float32Array(6), zero)).toEqual({ relativeError: 0, maxAbsError: 0 });
  });

  it('rejects bad specs, sizes and non-finite weights with NlsErrors', () => {
    const w = new Float32Array(4);
    expect(() => quantizeMatrix(w, 2, 2, { bits: 3 as 4, groupSize: 2, symmetric: true })).toThrow(NlsError);
    expect(() => quantizeMatrix(w, 2, 2, { bits: 4, groupSize: 0, symmetric: true })).toThrow(/groupSize/);
    expect(() => quantizeMatrix(w, 2, 2, { bits: 4, groupSize: 1.5, symmetric: true })).toThrow(NlsError);
    expect(() => quantizeMatrix(w, 3, 2, { bits: 4, groupSize: 2, symmetric: true })).toThrow(/values/);
    expect(() => quantizeMatrix(Float32Array.from([1, NaN, 0, 0]), 2, 2, { bits: 8, groupSize: 2, symmetric: true })).toThrow(/finite/);
    expect(() => quantizeMatrix(Float32Array.from([1, Infinity, 0, 0]), 2, 2, { bits: 8, groupSize: 2, symmetric: false })).toThrow(/finite/);
  });

  it('roundHalfEven matches banker rounding', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -3.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -4]);
  });
});

describe('quantization properties', () => {
  it('error <= scale/2 per element, codes in range, zeros stay exactly zero', () => {
    fc.assert(
      fc.property(matrixCase, (c) => {
        const spec = specOf(c);
        const q = quantizeMatrix(c.w, c.rows, c.cols, spec);
        const d = dequantizeMatrix(q);
        const { lo, hi } = codeRange(spec);
        const gpr = groupsPerRow(c.cols, c.groupSize);
        for (let i = 0; i < c.w.length; i++) {
          const code = q.codes[i]!;
          if (code < lo || code > hi) return false;
          const s = q.scales[Math.floor(i / c.cols) * gpr + Math.floor((i % c.cols) / c.groupSize)]!;
          // Every value lies inside its group's range by construction; allow float32 rounding.
          if (Math.abs(c.w[i]! - d[i]!) > s / 2 + s * 1e-5 + 1e-30) return false;
          if (c.w[i] === 0 && !Object.is(d[i], 0)) return false;
          if (!Number.isFinite(d[i]!)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('quantizeWithParams(dequantize(q), q) gives identical codes (idempotence)', () => {
    fc.assert(
      fc.property(matrixCase, (c) => {
        const q = quantizeMatrix(c.w, c.rows, c.cols, specOf(c));
        const again = quantizeWithParams(dequantizeMatrix(q), q);
        expect(Array.from(again.codes)).toEqual(Array.from(q.codes));
        expect(again.scales).toEqual(q.scales);
        expect(quantizeWithParams(c.w, q).codes).toEqual(q.codes);
      }),
      { numRuns: 200 },
    );
  });

  it('quantizeWithParams clamps values outside the grid and keeps scales and zero points', () => {
    const q = quantizeMatrix(Float32Array.from([-1, 1, 0.5, 0.25]), 1, 4, { bits: 4, groupSize: 4, symmetric: true });
    const moved = quantizeWithParams(Float32Array.from([-5, 5, 0, 0.25]), q);
    expect(Array.from(moved.codes)).toEqual([-7, 7, 0, 2]);
    expect(moved.scales).toEqual(q.scales);
    expect(moved.scales).not.toBe(q.scales);
  });

  it('int4 pack/unpack round trip, low nibble first', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 9 }),
        fc.boolean(),
        fc.infiniteStream(fc.integer({ min: 0, max: 15 })),
        (rows, cols, signed, stream) => {
          const it = stream[Symbol.iterator]();
          const values = Array.from({ length: rows * cols }, () => it.next().value as number);
          const codes = signed ? Int8Array.from(values, (v) => v - 8) : Uint8Array.from(values);
          const packed = packInt4(codes, rows, cols);
          expect(packed.length).toBe(rows * Math.ceil(cols / 2));
          expect(Array.from(unpackInt4(packed, rows, cols, signed))).toEqual(Array.from(codes));
        },
      ),
    );
    expect(Array.from(packInt4(Int8Array.from([1, -1, 7]), 1, 3))).toEqual([0xf1, 0x07]);
    expect(Array.from(packInt4(Uint8Array.from([3, 12, 5, 0]), 2, 2))).toEqual([0xc3, 0x05]);
  });
});

describe('fakeQuantizeT', () => {
  function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
    return t;
  }

  it('forward equals dequantize(quantizeWithParams(w, like)) bit for bit, in [in, out] layout', async () => {
    const cases = await fc.sample(matrixCase, { numRuns: 40, seed: 7 });
    for (const c of cases) {
      const like = quantizeMatrix(c.w, c.rows, c.cols, specOf(c));
      // New values: perturbed, some pushed outside the grid (clamped).
      const w2 = c.w.map((v, i) => (i % 3 === 0 ? v * 1.7 : v + (i % 2 === 0 ? 0.01 : -0.02)));
      const expected = transpose(dequantizeMatrix(quantizeWithParams(w2, like)), c.rows, c.cols);
      const before = tf.memory().numTensors;
      const wT = tf.tensor2d(transpose(w2, c.rows, c.cols), [c.cols, c.rows]);
      const out = fakeQuantizeT(wT, like);
      expect(out.shape).toEqual([c.cols, c.rows]);
      const got = (await out.data()) as Float32Array;
      for (let i = 0; i < got.length; i++) expect(Object.is(got[i], expected[i]), `${i}: ${got[i]} vs ${expected[i]}`).toBe(true);
      tf.dispose([wT, out]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('gradient is the identity inside the range and 0 where clamped (tf.grad), without leaks', async () => {
    const rows = 3;
    const cols = 5;
    const w = Float32Array.from([0.5, -1, 0.25, 0, 1, -0.5, 2, 0.1, 0, -2, 0.3, 0.3, -0.3, 0.6, 0.9]);
    for (const spec of SPECS) {
      const like = quantizeMatrix(w, rows, cols, { ...spec, groupSize: 5 });
      // Push two values outside their group's range: they clamp and get no gradient.
      const w2 = w.slice();
      w2[1] = -10;
      w2[6] = 10;
      const fq = new FakeQuantizerT(like);
      const before = tf.memory().numTensors;
      const wT = tf.tensor2d(transpose(w2, rows, cols), [cols, rows]);
      const dy = tf.tensor2d(Array.from({ length: rows * cols }, (_, i) => i + 1), [cols, rows]);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(fq.apply(x as tf.Tensor2D), dy)))(wT);
      const grad = (await g.data()) as Float32Array;
      const dyData = (await dy.data()) as Float32Array;
      const clampedT = new Set([1 * rows + 0, 1 * rows + 1]); // HF [0, 1] and [1, 1] in [in, out]
      for (let i = 0; i < grad.length; i++) expect(grad[i], `${JSON.stringify(spec)} ${i}`).toBe(clampedT.has(i) ? 0 : dyData[i]);
      tf.dispose([wT, dy, g]);
      expect(tf.memory().numTensors).toBe(before);
      fq.dispose();
    }
  });

  it('rejects a weight of the wrong shape', () => {
    const like: QuantizedMatrix = quantizeMatrix(new Float32Array(6).fill(1), 2, 3, SPECS[0]!);
    const wrong = tf.zeros([2, 3]) as tf.Tensor2D; // HF layout instead of [in, out]
    expect(() => fakeQuantizeT(wrong, like)).toThrow(/\[in, out\]/);
    wrong.dispose();
  });
});
