import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import type { Direction } from '../../src/search/contract.js';
import { hypervolume } from '../../src/search/hypervolume.js';
import { createRng } from '../../src/util/rng.js';

/** Exact reference by inclusion–exclusion over all subsets (minimization): small sets only. */
function inclusionExclusion(points: number[][], ref: number[]): number {
  const pts = points.filter((p) => p.every((v, m) => v < ref[m]!));
  let total = 0;
  for (let mask = 1; mask < 1 << pts.length; mask++) {
    const sub = pts.filter((_, i) => mask & (1 << i));
    let vol = 1;
    for (let m = 0; m < ref.length; m++) vol *= ref[m]! - Math.max(...sub.map((p) => p[m]!));
    total += (sub.length % 2 === 1 ? 1 : -1) * vol;
  }
  return total;
}

/** Exact reference for integer points: count the unit cells of [0, R)^d that some point dominates. */
function gridCount(points: number[][], R: number, d: number): number {
  let count = 0;
  const cell = new Array<number>(d).fill(0);
  for (let idx = 0; idx < R ** d; idx++) {
    let x = idx;
    for (let m = 0; m < d; m++) {
      cell[m] = x % R;
      x = Math.floor(x / R);
    }
    // Cell [c, c+1) is inside box [p, R) when p <= c in every dimension.
    if (points.some((p) => p.every((v, m) => v <= cell[m]!))) count++;
  }
  return count;
}

describe('hypervolume', () => {
  it('computes simple cases exactly', () => {
    expect(hypervolume([[1, 1]], [2, 2], ['minimize', 'minimize'])).toBe(1);
    expect(hypervolume([[1, 2], [2, 1]], [3, 3], ['minimize', 'minimize'])).toBe(3);
    expect(hypervolume([], [3, 3], ['minimize', 'minimize'])).toBe(0);
    expect(hypervolume([[1]], [4], ['minimize'])).toBe(3);
    expect(hypervolume([[5]], [4], ['maximize'])).toBe(1);
    // maximize accuracy, minimize size: reference (0 accuracy, 10 size)
    expect(hypervolume([[0.8, 4], [0.6, 2]], [0, 10], ['maximize', 'minimize'])).toBeCloseTo(0.8 * 6 + 0.6 * 2, 12);
    expect(hypervolume([[1, 1, 1]], [2, 3, 4], ['minimize', 'minimize', 'minimize'])).toBe(6);
  });

  it('ignores points that do not strictly beat the reference, and duplicates', () => {
    expect(hypervolume([[1, 1], [3, 0], [1, 1]], [2, 2], ['minimize', 'minimize'])).toBe(1);
    expect(hypervolume([[2, 0]], [2, 2], ['minimize', 'minimize'])).toBe(0);
  });

  it('equals inclusion-exclusion for 1 to 5 objectives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((d) =>
          fc.tuple(
            fc.array(fc.constantFrom<Direction>('minimize', 'maximize'), { minLength: d, maxLength: d }),
            fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: d, maxLength: d }), { minLength: 0, maxLength: 8 }),
          ),
        ),
        ([dirs, pts]) => {
          // Reference 1.1 in minimized space; maximized objectives are mirrored in the input.
          const ref = dirs.map((dir) => (dir === 'maximize' ? -1.1 : 1.1));
          const input = pts.map((p) => p.map((v, m) => (dirs[m] === 'maximize' ? -v : v)));
          const expected = inclusionExclusion(pts, dirs.map(() => 1.1));
          expect(hypervolume(input, ref, dirs)).toBeCloseTo(expected, 9);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('equals the exact unit-cell count for integer points (3 and 4 objectives)', () => {
    for (const d of [2, 3, 4]) {
      const R = d === 4 ? 6 : 8;
      fc.assert(
        fc.property(fc.array(fc.array(fc.integer({ min: 0, max: R - 1 }), { minLength: d, maxLength: d }), { minLength: 1, maxLength: 30 }), (pts) => {
          expect(hypervolume(pts, new Array(d).fill(R), new Array(d).fill('minimize'))).toBeCloseTo(gridCount(pts, R, d), 9);
        }),
        { numRuns: 40 },
      );
    }
  });

  it('agrees with Monte Carlo for a random 3-objective front', () => {
    const rng = createRng(3);
    const pts = Array.from({ length: 40 }, () => {
      // points near the sphere x^2 + y^2 + z^2 = 1 make a realistic front
      const v = [rng.next(), rng.next(), rng.next()];
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
    const exact = hypervolume(pts, [1.2, 1.2, 1.2], ['minimize', 'minimize', 'minimize']);
    let inside = 0;
    const samples = 200_000;
    for (let s = 0; s < samples; s++) {
      const x = [rng.next() * 1.2, rng.next() * 1.2, rng.next() * 1.2];
      if (pts.some((p) => p.every((v, m) => v <= x[m]!))) inside++;
    }
    const mc = (inside / samples) * 1.2 ** 3;
    expect(Math.abs(exact - mc)).toBeLessThan(0.01);
  });

  it('refuses mismatched lengths and non-finite values', () => {
    expect(() => hypervolume([[1, 2]], [3], ['minimize'])).toThrow(NlsError);
    expect(() => hypervolume([[1]], [3, 3], ['minimize', 'minimize'])).toThrow(/point 0/);
    expect(() => hypervolume([[NaN, 1]], [3, 3], ['minimize', 'minimize'])).toThrow(NlsError);
    expect(() => hypervolume([[1, 1]], [Infinity, 3], ['minimize', 'minimize'])).toThrow(/reference/);
  });
});
