import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Direction } from '../../../src/search/contract.js';
import { constrainedDominates, crowdingDistance, dominates, nonDominatedSort, totalViolation } from '../../../src/search/pareto.js';

/** Naive reference: peel off the non-dominated set repeatedly (O(n^3)). */
function naiveFronts(points: number[][], dirs: Direction[], viol?: number[]): number[][] {
  const better = (a: number, b: number): boolean => {
    if (viol) {
      const va = viol[a]!;
      const vb = viol[b]!;
      if (va === 0 && vb > 0) return true;
      if (va > 0 && vb === 0) return false;
      if (va > 0 && vb > 0) return va < vb;
    }
    let strict = false;
    for (let m = 0; m < dirs.length; m++) {
      const s = dirs[m] === 'maximize' ? -1 : 1;
      if (s * points[a]![m]! > s * points[b]![m]!) return false;
      if (s * points[a]![m]! < s * points[b]![m]!) strict = true;
    }
    return strict;
  };
  let left = points.map((_, i) => i);
  const fronts: number[][] = [];
  while (left.length) {
    const front = left.filter((i) => !left.some((j) => j !== i && better(j, i)));
    fronts.push(front);
    left = left.filter((i) => !front.includes(i));
  }
  return fronts;
}

const dirsArb = fc.array(fc.constantFrom<Direction>('minimize', 'maximize'), { minLength: 1, maxLength: 3 });

describe('pareto.ts against naive references (NSGA-II relies on it)', () => {
  it('nonDominatedSort matches the naive peeling, with and without violations', () => {
    fc.assert(
      fc.property(
        dirsArb.chain((dirs) =>
          fc.tuple(
            fc.constant(dirs),
            fc.array(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: dirs.length, maxLength: dirs.length }), { maxLength: 25 }),
          ),
        ),
        fc.boolean(),
        ([dirs, points], withViolations) => {
          const viol = withViolations ? points.map((p) => ((p[0]! * 7) % 4 === 0 ? 0 : (p[0]! % 3) * 0.5)) : undefined;
          expect(nonDominatedSort(points, dirs, viol)).toEqual(naiveFronts(points, dirs, viol));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('crowdingDistance follows Deb et al. 2002', () => {
    const points = [
      [0, 10],
      [1, 7],
      [3, 4],
      [6, 1],
      [10, 0],
    ];
    const d = crowdingDistance(points, [0, 1, 2, 3, 4], ['minimize', 'minimize']);
    expect(d[0]).toBe(Infinity);
    expect(d[4]).toBe(Infinity);
    expect(d[1]).toBeCloseTo((3 - 0) / 10 + (10 - 4) / 10);
    expect(d[2]).toBeCloseTo((6 - 1) / 10 + (7 - 1) / 10);
    expect(d[3]).toBeCloseTo((10 - 3) / 10 + (4 - 0) / 10);
    expect(crowdingDistance(points, [1, 2], ['minimize', 'minimize'])).toEqual([Infinity, Infinity]);
  });

  it('constrained domination and total violation', () => {
    expect(totalViolation(undefined)).toBe(0);
    expect(totalViolation([-1, 0, 2, 0.5])).toBe(2.5);
    expect(totalViolation([Number.NaN])).toBe(Infinity);
    const dirs: Direction[] = ['maximize', 'minimize'];
    expect(dominates([2, 1], [1, 1], dirs)).toBe(true);
    expect(dominates([1, 1], [1, 1], dirs)).toBe(false);
    // Feasible beats infeasible even when worse in every objective.
    expect(constrainedDominates([0, 9], [9, 0], dirs, 0, 0.1)).toBe(true);
    expect(constrainedDominates([9, 0], [0, 9], dirs, 0.2, 0.1)).toBe(false);
    expect(constrainedDominates([0, 9], [9, 0], dirs, 0.1, 0.2)).toBe(true);
  });
});
