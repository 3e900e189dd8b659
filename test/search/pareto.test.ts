import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Direction } from '../../src/search/contract.js';
import {
  constrainedDominates,
  crowdingDistance,
  dominates,
  isFeasible,
  nonDominatedSort,
  paretoFrontIndices,
  totalViolation,
} from '../../src/search/pareto.js';

/** Naive dominance, written independently: flip maximized objectives, compare componentwise. */
function naiveDominates(a: readonly number[], b: readonly number[], dirs: readonly Direction[]): boolean {
  const fa = a.map((v, m) => (dirs[m] === 'maximize' ? -v : v));
  const fb = b.map((v, m) => (dirs[m] === 'maximize' ? -v : v));
  return fa.every((v, m) => v <= (fb[m] ?? 0)) && fa.some((v, m) => v < (fb[m] ?? 0));
}

function naiveConstrained(a: readonly number[], b: readonly number[], dirs: readonly Direction[], va: number, vb: number): boolean {
  if (va === 0 && vb > 0) return true;
  if (va > 0 && vb === 0) return false;
  if (va > 0 && vb > 0) return va < vb;
  return naiveDominates(a, b, dirs);
}

/** Naive sort: repeatedly peel off the points no remaining point dominates. O(n^3). */
function naiveFronts(points: number[][], dirs: Direction[], viol?: number[]): number[][] {
  const remaining = new Set(points.map((_, i) => i));
  const fronts: number[][] = [];
  while (remaining.size > 0) {
    const front = [...remaining].filter((i) => ![...remaining].some((j) => j !== i && (viol ? naiveConstrained(points[j]!, points[i]!, dirs, viol[j]!, viol[i]!) : naiveDominates(points[j]!, points[i]!, dirs))));
    front.sort((x, y) => x - y);
    fronts.push(front);
    for (const i of front) remaining.delete(i);
  }
  return fronts;
}

const dirsArb = fc.array(fc.constantFrom<Direction>('minimize', 'maximize'), { minLength: 1, maxLength: 4 });
const problemArb = dirsArb.chain((dirs) =>
  fc.tuple(
    fc.constant(dirs),
    // Small integer grids make ties and duplicates common.
    fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: dirs.length, maxLength: dirs.length }), { minLength: 0, maxLength: 25 }),
  ),
);

describe('totalViolation', () => {
  it('sums positive constraint values; NaN and +Infinity are infinite', () => {
    expect(totalViolation()).toBe(0);
    expect(totalViolation([])).toBe(0);
    expect(totalViolation([-1, 0, -3])).toBe(0);
    expect(totalViolation([2, -1, 0.5])).toBe(2.5);
    expect(totalViolation([NaN])).toBe(Infinity);
    expect(totalViolation([Infinity, -1])).toBe(Infinity);
    expect(totalViolation([-Infinity])).toBe(0);
    expect(isFeasible([0, -2])).toBe(true);
    expect(isFeasible([1e-9])).toBe(false);
  });
});

describe('dominates', () => {
  it('handles directions and equal vectors', () => {
    expect(dominates([1, 2], [2, 2], ['minimize', 'minimize'])).toBe(true);
    expect(dominates([2, 2], [1, 2], ['minimize', 'minimize'])).toBe(false);
    expect(dominates([1, 2], [1, 2], ['minimize', 'minimize'])).toBe(false);
    expect(dominates([2, 3], [1, 3], ['maximize', 'minimize'])).toBe(true);
    expect(dominates([1, 3], [2, 1], [{ name: 'a', direction: 'minimize' }, { name: 'b', direction: 'maximize' }])).toBe(true);
  });

  it('agrees with the naive definition and is a strict partial order', () => {
    fc.assert(
      fc.property(problemArb, ([dirs, pts]) => {
        for (const a of pts) {
          expect(dominates(a, a, dirs)).toBe(false);
          for (const b of pts) {
            expect(dominates(a, b, dirs)).toBe(naiveDominates(a, b, dirs));
            if (dominates(a, b, dirs)) expect(dominates(b, a, dirs)).toBe(false);
          }
        }
      }),
    );
  });
});

describe('constrainedDominates', () => {
  it('feasible beats infeasible, smaller violation beats larger, feasible pairs by Pareto', () => {
    const d: Direction[] = ['minimize'];
    expect(constrainedDominates([100], [0], d, 0, 1)).toBe(true);
    expect(constrainedDominates([0], [100], d, 1, 0)).toBe(false);
    expect(constrainedDominates([100], [0], d, 1, 2)).toBe(true);
    expect(constrainedDominates([0], [100], d, 2, 2)).toBe(false);
    expect(constrainedDominates([100], [0], d, 2, 2)).toBe(false);
    expect(constrainedDominates([0], [1], d, 0, 0)).toBe(true);
    expect(constrainedDominates([0], [1], d)).toBe(true);
  });
});

describe('nonDominatedSort', () => {
  it('matches the naive peeling sort', () => {
    fc.assert(
      fc.property(problemArb, ([dirs, pts]) => {
        expect(nonDominatedSort(pts, dirs)).toEqual(naiveFronts(pts, dirs));
      }),
    );
  });

  it('matches the naive sort under constrained domination', () => {
    fc.assert(
      fc.property(problemArb.chain(([dirs, pts]) => fc.tuple(fc.constant(dirs), fc.constant(pts), fc.array(fc.constantFrom(0, 0, 0.5, 1, 3), { minLength: pts.length, maxLength: pts.length }))), ([dirs, pts, viol]) => {
        const fronts = nonDominatedSort(pts, dirs, viol);
        expect(fronts).toEqual(naiveFronts(pts, dirs, viol));
        // Every feasible point comes before every infeasible one.
        const rank = new Map<number, number>();
        fronts.forEach((f, r) => f.forEach((i) => rank.set(i, r)));
        for (let i = 0; i < pts.length; i++) for (let j = 0; j < pts.length; j++) if (viol[i] === 0 && viol[j]! > 0) expect(rank.get(i)!).toBeLessThan(rank.get(j)!);
      }),
    );
  });

  it('partitions the indices and the first front equals paretoFrontIndices', () => {
    fc.assert(
      fc.property(problemArb, ([dirs, pts]) => {
        const fronts = nonDominatedSort(pts, dirs);
        expect(fronts.flat().sort((a, b) => a - b)).toEqual(pts.map((_, i) => i));
        expect(paretoFrontIndices(pts, dirs)).toEqual(fronts[0] ?? []);
      }),
    );
  });

  it('handles the empty set', () => {
    expect(nonDominatedSort([], ['minimize'])).toEqual([]);
  });
});

describe('crowdingDistance', () => {
  it('is Infinity at the boundaries and the normalised neighbour gap inside', () => {
    const pts = [
      [0, 10],
      [1, 8],
      [3, 3],
      [10, 0],
    ];
    const d = crowdingDistance(pts, [0, 1, 2, 3], ['minimize', 'minimize']);
    expect(d[0]).toBe(Infinity);
    expect(d[3]).toBe(Infinity);
    expect(d[1]).toBeCloseTo((3 - 0) / 10 + (10 - 3) / 10, 12);
    expect(d[2]).toBeCloseTo((10 - 1) / 10 + (8 - 0) / 10, 12);
    expect(crowdingDistance(pts, [1, 2], ['minimize', 'minimize'])).toEqual([Infinity, Infinity]);
  });

  it('matches a naive implementation on random fronts (distinct values)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }).chain((m) => fc.uniqueArray(fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: m, maxLength: m }), { minLength: 3, maxLength: 12, selector: (p) => p.join(',') })),
        (pts) => {
          const m = pts[0]!.length;
          const dirs = Array.from({ length: m }, () => 'minimize' as Direction);
          const front = pts.map((_, i) => i);
          const got = crowdingDistance(pts, front, dirs);
          const naive = pts.map(() => 0);
          for (let k = 0; k < m; k++) {
            const vals = pts.map((p) => p[k]!);
            const lo = Math.min(...vals);
            const hi = Math.max(...vals);
            for (let i = 0; i < pts.length; i++) {
              const v = vals[i]!;
              const lower = vals.filter((x, j) => j !== i && (x < v || (x === v && j < i)));
              const upper = vals.filter((x, j) => j !== i && (x > v || (x === v && j > i)));
              if (lower.length === 0 || upper.length === 0) naive[i] = Infinity;
              else if (hi > lo) naive[i]! += (Math.min(...upper) - Math.max(...lower)) / (hi - lo);
            }
          }
          got.forEach((g, i) => (naive[i] === Infinity ? expect(g).toBe(Infinity) : expect(g).toBeCloseTo(naive[i]!, 9)));
        },
      ),
    );
  });
});
