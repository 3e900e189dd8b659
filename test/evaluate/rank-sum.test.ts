/** The Mann-Whitney U test, against an enumeration of every split of the pooled values. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mannWhitneyU, standardNormalCdf } from '../../src/evaluate/statistics.js';

/** U of a over b by counting pairs (the definition, no ranks). */
function countU(a: readonly number[], b: readonly number[]): number {
  let u = 0;
  for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
  return u;
}

/** Two-sided exact p by enumerating every way to split the pooled values into groups of |a| and |b|. */
function enumeratedP(a: readonly number[], b: readonly number[]): number {
  const pooled = [...a, ...b];
  const observed = countU(a, b);
  const us: number[] = [];
  const pick = (start: number, chosen: number[]) => {
    if (chosen.length === a.length) {
      const inA = new Set(chosen);
      us.push(countU(chosen.map((i) => pooled[i]!), pooled.filter((_, i) => !inA.has(i))));
      return;
    }
    for (let i = start; i < pooled.length; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  const below = us.filter((u) => u <= observed).length / us.length;
  const above = us.filter((u) => u >= observed).length / us.length;
  return Math.min(1, 2 * Math.min(below, above));
}

const distinctSamples = (maxSize: number) =>
  fc
    .uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 2, maxLength: 2 * maxSize })
    .chain((xs) => fc.integer({ min: 1, max: xs.length - 1 }).map((k) => [xs.slice(0, k), xs.slice(k)] as const));

describe('Mann-Whitney U', () => {
  it('complete separation of 5 and 5 gives the tabulated exact p = 2/252', () => {
    const r = mannWhitneyU([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]);
    expect(r.method).toBe('exact');
    expect(r.u).toBe(25);
    expect(r.p).toBeCloseTo(2 / 252, 12);
    // 10 against 10, fully separated: 2 / C(20, 10).
    const ten = Array.from({ length: 10 }, (_, i) => i);
    expect(mannWhitneyU(ten.map((x) => x + 10), ten).p).toBeCloseTo(2 / 184756, 15);
  });

  it('without ties, U and the exact p match counting pairs and enumerating every split (property)', () => {
    fc.assert(
      fc.property(distinctSamples(6), ([a, b]) => {
        const r = mannWhitneyU(a, b);
        expect(r.method).toBe('exact');
        expect(r.u).toBe(countU(a, b));
        expect(r.p).toBeCloseTo(enumeratedP(a, b), 10);
      }),
      { numRuns: 60 },
    );
  });

  it('is symmetric in its samples and invariant under increasing transforms (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 12 }),
        (a, b) => {
          const r = mannWhitneyU(a, b);
          const swapped = mannWhitneyU(b, a);
          expect(r.u + swapped.u).toBe(a.length * b.length);
          expect(swapped.p).toBeCloseTo(r.p, 12);
          const warped = mannWhitneyU(a.map((x) => Math.exp(x / 3)), b.map((x) => Math.exp(x / 3)));
          expect(warped.p).toBeCloseTo(r.p, 12);
          expect(r.p).toBeGreaterThan(0);
          expect(r.p).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('with ties uses the normal approximation, which is close to the enumerated p at 8 against 8', () => {
    const a = [1, 2, 2, 3, 5, 5, 6, 8];
    const b = [0, 1, 1, 2, 3, 3, 4, 4];
    const r = mannWhitneyU(a, b);
    expect(r.method).toBe('normal');
    expect(r.u).toBe(countU(a, b));
    expect(Math.abs(r.p - enumeratedP(a, b))).toBeLessThan(0.02);
    // Identical samples: no evidence either way.
    expect(mannWhitneyU([1, 1, 1], [1, 1, 1]).p).toBe(1);
  });

  it('matches values computed with scipy 1.17.1 (stats.mannwhitneyu, two-sided)', () => {
    // method='exact' there; no ties.
    expect(mannWhitneyU([0.3, 0.1, 0.7, 0.9, 0.2, 0.55], [0.4, 0.35, 0.8, 0.05, 0.01, 0.02, 0.03]).p).toBeCloseTo(0.18065268065268064, 12);
    // Ties: scipy's asymptotic method with continuity correction.
    expect(mannWhitneyU([1, 2, 2, 3, 5, 5, 6, 8], [0, 1, 1, 2, 3, 3, 4, 4]).p).toBeCloseTo(0.15196997574426413, 6);
  });

  it('the normal CDF matches tabulated values', () => {
    expect(standardNormalCdf(0)).toBeCloseTo(0.5, 7);
    expect(standardNormalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(standardNormalCdf(-1)).toBeCloseTo(0.158655, 6);
  });
});
