import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { kendallTau, mape, predictorQuality, relativeErrors, rmse, splitSamples, withinShare } from '../../src/predict/quality.js';

/**
 * Naive reference of Kendall tau-b, written from the sign-product definition:
 * Σ sgn(Δx) sgn(Δy) / sqrt(Σ sgn(Δx)² · Σ sgn(Δy)²) over all pairs i < j.
 */
function naiveTauB(x: readonly number[], y: readonly number[]): number {
  let num = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const a = Math.sign(x[i]! - x[j]!);
      const b = Math.sign(y[i]! - y[j]!);
      num += a * b;
      sx += a * a;
      sy += b * b;
    }
  }
  return sx === 0 || sy === 0 ? Number.NaN : num / Math.sqrt(sx * sy);
}

/** Paired integer vectors with plenty of ties (small value range). */
const pairsArb = fc.integer({ min: 0, max: 40 }).chain((n) =>
  fc.tuple(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: n, maxLength: n }), fc.array(fc.integer({ min: -5, max: 5 }), { minLength: n, maxLength: n })),
);
/** Vectors with at least two distinct values, so tau is defined. */
const variedArb = fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 2, maxLength: 60 }).filter((v) => new Set(v).size > 1);

describe('kendallTau', () => {
  it('matches the scipy documentation example (with ties): -0.47140452079103173', () => {
    expect(kendallTau([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])).toBeCloseTo(-0.47140452079103173, 14);
  });

  it('hand-computed: one swap in five gives (9 - 1) / 10', () => {
    expect(kendallTau([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])).toBeCloseTo(0.8, 14);
  });

  it('agrees with a naive O(n²) reference (property, with ties)', () => {
    fc.assert(
      fc.property(pairsArb, ([x, y]) => {
        const ours = kendallTau(x, y);
        const ref = naiveTauB(x, y);
        if (Number.isNaN(ref)) expect(ours).toBeNaN();
        else expect(Math.abs(ours - ref)).toBeLessThan(1e-12);
      }),
      { numRuns: 300 },
    );
  });

  it('is in [-1, 1] whenever defined (property)', () => {
    fc.assert(
      fc.property(pairsArb, ([x, y]) => {
        const t = kendallTau(x, y);
        if (!Number.isNaN(t)) {
          expect(t).toBeGreaterThanOrEqual(-1);
          expect(t).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('tau(x, x) = 1 and tau(x, -x) = -1, with ties (property)', () => {
    fc.assert(
      fc.property(variedArb, (x) => {
        expect(kendallTau(x, x)).toBe(1);
        expect(kendallTau(x, x.map((v) => -v))).toBe(-1);
      }),
    );
  });

  it('tau(x, reversed ranking) = -1 for distinct values (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 2, maxLength: 60 }), (x) => {
        const sorted = [...x].sort((a, b) => a - b);
        const reversed = [...sorted].reverse();
        expect(kendallTau(sorted, reversed)).toBe(-1);
      }),
    );
  });

  it('is invariant under strictly increasing transforms of either side (property)', () => {
    const f = (v: number): number => v ** 3 + 2 * v; // exact in float64 for |v| <= 1000
    const g = (v: number): number => Math.exp(v / 100);
    fc.assert(
      fc.property(pairsArb, ([x, y]) => {
        const t = kendallTau(x, y);
        const u = kendallTau(x.map(f), y.map(g));
        if (Number.isNaN(t)) expect(u).toBeNaN();
        else expect(u).toBe(t);
      }),
      { numRuns: 300 },
    );
  });

  it('is NaN when undefined: fewer than 2 values or a constant side', () => {
    expect(kendallTau([], [])).toBeNaN();
    expect(kendallTau([1], [2])).toBeNaN();
    expect(kendallTau([3, 3, 3], [1, 2, 3])).toBeNaN();
  });

  it('treats equal infinities as ties', () => {
    expect(kendallTau([Infinity, Infinity, 1], [2, 2, 1])).toBe(1);
  });

  it('rejects length mismatches and NaN', () => {
    expect(() => kendallTau([1, 2], [1])).toThrow(NlsError);
    expect(() => kendallTau([1, Number.NaN], [1, 2])).toThrow(/x\[1\]/);
  });

  it('handles n = 5000 quickly', () => {
    const x = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5003);
    const t0 = performance.now();
    expect(kendallTau(x, x)).toBe(1);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe('error metrics', () => {
  const actual = [100, 200, 50, 10];
  const predicted = [105, 180, 50, 12];
  // Relative errors: 0.05, 0.1, 0, 0.2 — squared errors: 25, 400, 0, 4.

  it('MAPE against hand-computed values', () => {
    expect(relativeErrors(actual, predicted).map((e) => +e.toFixed(12))).toEqual([0.05, 0.1, 0, 0.2]);
    expect(mape(actual, predicted)).toBeCloseTo((0.05 + 0.1 + 0 + 0.2) / 4, 14);
  });

  it('RMSE against hand-computed values', () => {
    expect(rmse(actual, predicted)).toBeCloseTo(Math.sqrt((25 + 400 + 0 + 4) / 4), 12);
    expect(rmse([1, 2, 3], [1, 2, 3])).toBe(0);
  });

  it('shares within ±5% and ±10% count the boundary as inside', () => {
    expect(withinShare(actual, predicted, 0.05)).toBe(0.5);
    expect(withinShare(actual, predicted, 0.1)).toBe(0.75);
    // Underprediction is symmetric.
    expect(withinShare([100], [95], 0.05)).toBe(1);
    expect(withinShare([100], [94.9], 0.05)).toBe(0);
  });

  it('predictorQuality bundles every metric', () => {
    const q = predictorQuality(actual, predicted);
    expect(q.n).toBe(4);
    expect(q.mape).toBeCloseTo(0.0875, 14);
    expect(q.rmse).toBeCloseTo(Math.sqrt(429 / 4), 12);
    expect(q.within5).toBe(0.5);
    expect(q.within10).toBe(0.75);
    // Rankings: actual 100,200,50,10 vs predicted 105,180,50,12 — identical order.
    expect(q.kendallTau).toBe(1);
  });

  it('relative error at actual 0: 0 when exact, Infinity otherwise', () => {
    expect(relativeErrors([0, 0], [0, 1])).toEqual([0, Infinity]);
    expect(mape([0, 1], [1, 1])).toBe(Infinity);
  });

  it('MAPE is the mean of |p - a| / |a| (property against a naive reference)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0.1, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 50 }),
        (pairs) => {
          const a = pairs.map((p) => p[0]);
          const p = pairs.map((q) => q[1]);
          let ref = 0;
          for (let i = 0; i < a.length; i++) ref += Math.abs(p[i]! - a[i]!) / a[i]!;
          expect(mape(a, p)).toBeCloseTo(ref / a.length, 6);
          let sq = 0;
          for (let i = 0; i < a.length; i++) sq += (p[i]! - a[i]!) ** 2;
          expect(rmse(a, p)).toBeCloseTo(Math.sqrt(sq / a.length), 3);
        },
      ),
    );
  });

  it('rejects mismatched lengths and non-finite values with the field', () => {
    expect(() => mape([1, 2], [1])).toThrow(NlsError);
    expect(() => rmse([1, 2], [1, Number.NaN])).toThrow(/predicted\[1\]/);
    expect(() => predictorQuality([Infinity], [1])).toThrow(/actual\[0\]/);
  });

  it('empty inputs give NaN metrics', () => {
    const q = predictorQuality([], []);
    expect(q.n).toBe(0);
    expect(q.mape).toBeNaN();
    expect(q.rmse).toBeNaN();
    expect(q.kendallTau).toBeNaN();
  });
});

describe('splitSamples', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ id: i }));

  it('is deterministic for a seed and partitions the input, keeping order', () => {
    const a = splitSamples(items, { validationFraction: 0.2, seed: 7 });
    const b = splitSamples(items, { validationFraction: 0.2, seed: 7 });
    expect(a).toEqual(b);
    expect(a.validation).toHaveLength(10);
    expect(a.train).toHaveLength(40);
    const ids = [...a.train, ...a.validation].map((s) => s.id).sort((x, y) => x - y);
    expect(ids).toEqual(items.map((s) => s.id));
    for (const part of [a.train, a.validation]) expect(part.map((s) => s.id)).toEqual([...part.map((s) => s.id)].sort((x, y) => x - y));
  });

  it('different seeds give different splits', () => {
    const a = splitSamples(items, { validationFraction: 0.2, seed: 1 });
    const b = splitSamples(items, { validationFraction: 0.2, seed: 2 });
    expect(a.validation).not.toEqual(b.validation);
  });

  it('sizes are round(n f), clamped so that both parts are non-empty (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.double({ min: 0.001, max: 0.999, noNaN: true }), fc.integer(), (n, f, seed) => {
        const s = splitSamples(
          Array.from({ length: n }, (_, i) => i),
          { validationFraction: f, seed },
        );
        expect(s.validation.length).toBe(Math.min(n - 1, Math.max(1, Math.round(n * f))));
        expect(s.train.length + s.validation.length).toBe(n);
      }),
    );
  });

  it('rejects bad fractions and too few samples', () => {
    expect(() => splitSamples(items, { validationFraction: 0, seed: 1 })).toThrow(/validationFraction/);
    expect(() => splitSamples(items, { validationFraction: 1, seed: 1 })).toThrow(/validationFraction/);
    expect(() => splitSamples([1], { validationFraction: 0.5, seed: 1 })).toThrow(/at least 2/);
  });
});
