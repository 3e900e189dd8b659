/** Means with Student-t intervals and paired tests, against tabulated t quantiles and a naive simulation. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { meanInterval, pairedTest, studentTCdf, studentTQuantile } from '../../src/evaluate/statistics.js';
import { createRng } from '../../src/util/rng.js';

describe('statistics over seeds', () => {
  it('t quantiles match the printed tables (97.5%: df 1, 4, 9, 29; 95%: df 4)', () => {
    const table: [number, number, number][] = [
      [0.975, 1, 12.706],
      [0.975, 4, 2.776],
      [0.975, 9, 2.262],
      [0.975, 29, 2.045],
      [0.95, 4, 2.132],
    ];
    for (const [p, df, t] of table) expect(studentTQuantile(p, df)).toBeCloseTo(t, 3);
  });

  it('the t CDF is symmetric and increasing (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -20, max: 20, noNaN: true }), fc.integer({ min: 1, max: 50 }), (t, df) => {
        expect(studentTCdf(t, df) + studentTCdf(-t, df)).toBeCloseTo(1, 9);
        expect(studentTCdf(t + 0.1, df)).toBeGreaterThanOrEqual(studentTCdf(t, df));
      }),
    );
  });

  it('a 95% interval covers the true mean about 95% of the time (simulation)', () => {
    const rng = createRng(4);
    let covered = 0;
    const trials = 4000;
    for (let k = 0; k < trials; k++) {
      const xs = Array.from({ length: 5 }, () => {
        // Box-Muller, mean 3, sd 2.
        const u = 1 - rng.next();
        return 3 + 2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
      });
      const ci = meanInterval(xs);
      if (ci.low <= 3 && 3 <= ci.high) covered++;
    }
    expect(Math.abs(covered / trials - 0.95)).toBeLessThan(0.015);
  });

  it('a paired test: mean difference, its interval, and a p-value that is small only for a real shift', () => {
    const a = [0.70, 0.72, 0.68, 0.71, 0.69];
    const shifted = a.map((x, i) => x + 0.05 + (i % 2 === 0 ? 0.004 : -0.004));
    const r = pairedTest(a, shifted);
    expect(r.difference.mean).toBeCloseTo(0.05 + 0.0008, 6);
    expect(r.p).toBeLessThan(0.001);
    const same = pairedTest(a, a.map((x, i) => x + (i % 2 === 0 ? 0.01 : -0.01)));
    expect(same.p).toBeGreaterThan(0.3);
    expect(() => pairedTest([1], [1, 2])).toThrow(/length/);
  });
});
