/**
 * The synthetic problems of the strategy benchmark (src/search/synthetic-problems.ts): the
 * dynamic-programming front equals the front of every configuration enumerated, and the noise is
 * a fixed function of its inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { paretoFrontIndices } from '../../src/search/pareto.js';
import { exactFront, noiseOf, syntheticProblem, syntheticSuite, trueValues } from '../../src/search/synthetic-problems.js';

function* configs(genes: number, choices: number): Generator<number[]> {
  const x = new Array<number>(genes).fill(0);
  for (;;) {
    yield [...x];
    let i = genes - 1;
    while (i >= 0 && x[i] === choices - 1) x[i--] = 0;
    if (i < 0) return;
    x[i]!++;
  }
}

describe('synthetic problems', () => {
  it('property: the dynamic-programming front is the front of all configurations (with and without a bound)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 4 }), fc.boolean(), fc.nat(1000), (genes, choices, bounded, seed) => {
        const p = syntheticProblem('t', genes, choices, bounded, seed);
        const all = [...configs(genes, choices)].map((x) => trueValues(p, x)).filter((v) => p.bound === null || v[1] <= p.bound);
        const brute = paretoFrontIndices(all, ['maximize', 'minimize'])
          .map((i) => all[i]!)
          .sort((a, b) => a[1] - b[1]);
        const dedup = brute.filter((v, i) => i === 0 || v[1] !== brute[i - 1]![1]);
        const { front, worstAccuracy } = exactFront(p);
        expect(front.length).toBe(dedup.length);
        front.forEach((v, i) => {
          expect(v[1]).toBe(dedup[i]![1]);
          expect(v[0]).toBeCloseTo(dedup[i]![0], 12);
        });
        expect(worstAccuracy).toBeCloseTo(Math.min(...all.map((v) => v[0])), 12);
      }),
      { numRuns: 40 },
    );
  });

  it('noise is a fixed function of (problem, seed, key) with the stated spread; the suite spans 4^6 to 3^24', () => {
    const p = syntheticProblem('n', 6, 4, false, 1);
    expect(noiseOf(p, 3, '0.1.2')).toBe(noiseOf(p, 3, '0.1.2'));
    expect(noiseOf(p, 3, '0.1.2')).not.toBe(noiseOf(p, 4, '0.1.2'));
    const xs = Array.from({ length: 4000 }, (_, i) => noiseOf(p, 0, String(i)));
    const sd = Math.sqrt(xs.reduce((a, b) => a + b * b, 0) / xs.length);
    expect(sd).toBeGreaterThan(0.8 * p.noise);
    expect(sd).toBeLessThan(1.2 * p.noise);
    expect(syntheticSuite().map((q) => `${q.choices}^${q.genes}${q.bound !== null ? ' bounded' : ''}`)).toEqual(['4^6', '4^6 bounded', '4^12', '4^12 bounded', '3^24', '3^24 bounded']);
  });
});
