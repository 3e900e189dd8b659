import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ehvi2d, hypervolume2d, hypervolumeImprovement2d, logEhvi2d, prepareEhvi2d } from '../../../src/search/bayes/ehvi.js';
import { expectedImprovement } from '../../../src/search/bayes/normal.js';
import { hypervolume } from '../../../src/search/hypervolume.js';
import { createRng } from '../../../src/util/rng.js';

const MIN2 = ['minimize', 'minimize'] as const;
const REF = [10, 10];

/** The independent reference: the study's general hypervolume, with and without the new point. */
function improvement(front: number[][], y: number[], ref: number[]): number {
  return hypervolume([...front, y], ref, [...MIN2]) - hypervolume(front, ref, [...MIN2]);
}

const point = fc.tuple(fc.double({ min: 0, max: 11, noNaN: true }), fc.double({ min: 0, max: 11, noNaN: true }));
const frontArb = fc.array(point, { maxLength: 6 }).map((ps) => ps.map(([a, b]) => [a, b]));
const sigmaArb = fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.double({ min: 0.2, max: 3, noNaN: true }), weight: 2 });

/** Mean improvement over `samples` independent draws of the candidate, and its standard error. */
function monteCarlo(front: number[][], mu: number[], sigma: number[], samples: number): { mean: number; se: number } {
  const rng = createRng(`${mu}/${sigma}`);
  const base = hypervolume(front, REF, [...MIN2]);
  let sum = 0;
  let sumSq = 0;
  for (let s = 0; s < samples; s++) {
    // Box–Muller: two independent standard normals from two uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const t = 2 * Math.PI * rng.next();
    const y = [mu[0]! + sigma[0]! * r * Math.cos(t), mu[1]! + sigma[1]! * r * Math.sin(t)];
    const gain = hypervolume([...front, y], REF, [...MIN2]) - base;
    sum += gain;
    sumSq += gain * gain;
  }
  const mean = sum / samples;
  return { mean, se: Math.sqrt(Math.max(sumSq / samples - mean * mean, 0) / samples) };
}

describe('hypervolume2d and hypervolumeImprovement2d', () => {
  it('agree with the general hypervolume', () => {
    fc.assert(
      fc.property(frontArb, point, (front, [y1, y2]) => {
        expect(hypervolume2d(front, REF)).toBeCloseTo(hypervolume(front, REF, [...MIN2]), 9);
        expect(hypervolumeImprovement2d(front, [y1, y2], REF)).toBeCloseTo(improvement(front, [y1, y2], REF), 9);
      }),
      { numRuns: 200, seed: 1 },
    );
    expect(hypervolume2d([], REF)).toBe(0);
    expect(hypervolume2d([[1, 2], [2, 1], [3, 3]], [4, 4])).toBe(8);
  });
});

describe('ehvi2d', () => {
  it('matches a Monte-Carlo estimate (200k samples, 3 standard errors), also with a known objective', () => {
    const check = (front: number[][], mu: number[], sigma: number[]): void => {
      const { mean, se } = monteCarlo(front, mu, sigma, 200_000);
      const exact = ehvi2d(front, mu, sigma, REF);
      expect(Math.abs(exact - mean), `front ${JSON.stringify(front)}, mu ${mu}, sigma ${sigma}`).toBeLessThanOrEqual(3 * se + 1e-9);
    };
    check([[1, 8], [3, 5], [6, 2], [8, 1]], [4, 4], [2, 1.5]);
    check([[1, 8], [3, 5], [6, 2], [8, 1]], [4, 4], [0, 1.5]);
    check([[2, 2]], [3, 3], [1, 0]);
    fc.assert(
      fc.property(
        frontArb,
        fc.tuple(fc.double({ min: 0, max: 12, noNaN: true }), fc.double({ min: 0, max: 12, noNaN: true })),
        sigmaArb,
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        fc.boolean(),
        (front, mu, sA, sB, swap) => check(front, mu, swap ? [sB, sA] : [sA, sB]),
      ),
      { numRuns: 6, seed: 7 },
    );
  });

  it('tends to the deterministic improvement as the standard deviations vanish', () => {
    const front = [[1, 8], [3, 5], [6, 2]];
    for (const y of [[2, 4], [0.5, 9], [7, 7], [5, 1], [11, 0]]) {
      const hvi = hypervolumeImprovement2d(front, y, REF);
      expect(ehvi2d(front, y, [0, 0], REF)).toBeCloseTo(hvi, 12);
      expect(ehvi2d(front, y, [1e-9, 1e-9], REF)).toBeCloseTo(hvi, 7);
      expect(ehvi2d(front, y, [1e-6, 0], REF)).toBeCloseTo(hvi, 5);
    }
  });

  it('with an empty front is the product of two expected improvements at the reference point', () => {
    const mu = [3, 12];
    const sigma = [1.5, 2];
    expect(ehvi2d([], mu, sigma, REF)).toBeCloseTo(expectedImprovement(mu[0]!, sigma[0]!, REF[0]!) * expectedImprovement(mu[1]!, sigma[1]!, REF[1]!), 12);
    // Front points outside the box change nothing.
    expect(ehvi2d([[11, 1], [1, 10]], mu, sigma, REF)).toBe(ehvi2d([], mu, sigma, REF));
  });

  it('is 0 (and its log -Infinity) when no improvement is possible', () => {
    const front = [[2, 2]];
    expect(ehvi2d(front, [3, 4], [0, 0], REF)).toBe(0);
    expect(logEhvi2d(front, [3, 4], [0, 0], REF)).toBe(-Infinity);
    // A known first objective outside the reference box.
    expect(ehvi2d(front, [10, 1], [0, 1], REF)).toBe(0);
    expect(logEhvi2d(front, [10.5, 1], [0, 1], REF)).toBe(-Infinity);
    // A known objective equal to a front point's, the other one worse: dominated.
    expect(logEhvi2d(front, [2, 3], [0, 1e-300], REF)).toBe(-Infinity);
    expect(() => ehvi2d(front, [1, 1], [-1, 1], REF)).toThrow(/sigma/);
  });
});

describe('logEhvi2d', () => {
  it('equals log(ehvi2d) wherever ehvi2d > 1e-300', () => {
    let checked = 0;
    fc.assert(
      fc.property(
        frontArb,
        fc.tuple(fc.double({ min: -5, max: 60, noNaN: true }), fc.double({ min: -5, max: 60, noNaN: true })),
        sigmaArb,
        fc.double({ min: 0.05, max: 3, noNaN: true }),
        (front, mu, s1, s2) => {
          const plain = ehvi2d(front, mu, [s1, s2], REF);
          const log = logEhvi2d(front, mu, [s1, s2], REF);
          if (plain > 1e-300) {
            checked++;
            expect(Math.abs(Math.exp(log) / plain - 1)).toBeLessThan(1e-9);
          } else if (plain === 0 && s1 === 0) {
            expect(log === -Infinity || log < Math.log(1e-300)).toBe(true);
          } else {
            expect(log).toBeLessThan(Math.log(1e-300) + 1e-9);
          }
        },
      ),
      { numRuns: 500, seed: 3 },
    );
    expect(checked).toBeGreaterThan(100);
  });

  it('is finite and decreasing as the candidate moves far into the dominated region', () => {
    const front = [[1, 8], [3, 5], [6, 2], [8, 1]];
    for (const sigma of [[1, 1], [0.3, 2], [0, 0.5]]) {
      let previous = Infinity;
      for (let t = 0; t <= 2000; t += 5) {
        const mu = [3 + t, 5 + t];
        const v = logEhvi2d(front, mu, sigma, REF);
        if (sigma[0] === 0 && mu[0]! >= REF[0]!) {
          expect(v).toBe(-Infinity);
          break;
        }
        expect(Number.isFinite(v), `t = ${t}`).toBe(true);
        expect(v, `t = ${t}`).toBeLessThan(previous);
        previous = v;
      }
    }
    // Far behind, EHVI itself underflows while its log stays meaningful.
    expect(ehvi2d(front, [203, 205], [1, 1], REF)).toBe(0);
    expect(logEhvi2d(front, [203, 205], [1, 1], REF)).toBeGreaterThan(-1e5);
  });

  it('is smooth across close strip edges (no cancellation)', () => {
    const front = [[2, 6], [2 + 1e-9, 5], [4, 3]];
    const a = logEhvi2d(front, [30, 30], [1, 1], REF);
    const b = logEhvi2d(front, [30 + 1e-6, 30], [1, 1], REF);
    expect(Number.isFinite(a)).toBe(true);
    expect(b).toBeLessThan(a);
    expect(a - b).toBeLessThan(1e-3);
  });
});

describe('prepareEhvi2d', () => {
  it('property: scores candidates exactly as ehvi2d and logEhvi2d do', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 12 }),
        fc.tuple(fc.double({ min: -1, max: 3, noNaN: true }), fc.double({ min: -1, max: 3, noNaN: true })),
        fc.tuple(fc.double({ min: 0, max: 0.5, noNaN: true }), fc.constantFrom(0, 0.01, 0.3)),
        (front, mu, sigma) => {
          const ref = [1.2, 1.2];
          const p = prepareEhvi2d(front, ref);
          expect(p.ehvi(mu, sigma)).toBeCloseTo(ehvi2d(front, mu, sigma, ref), 12);
          const a = p.logEhvi(mu, sigma);
          const b = logEhvi2d(front, mu, sigma, ref);
          if (b === -Infinity) expect(a).toBe(-Infinity);
          else expect(Math.abs(a - b)).toBeLessThan(1e-9 * Math.max(1, Math.abs(b)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
