/**
 * Multi-objective comparison: Pareto dominance, constrained domination, fast non-dominated
 * sorting and crowding distance (Deb et al., "A fast and elitist multiobjective genetic
 * algorithm: NSGA-II", IEEE TEC 2002). Pure functions on plain number arrays, shared by the
 * study (Pareto fronts of results) and by strategies such as NSGA-II.
 *
 * ## API at a glance
 *
 * ```ts
 * totalViolation(constraints?)                         // sum of positive constraint values; 0 = feasible
 * dominates(a, b, directions)                          // Pareto dominance of two objective vectors
 * constrainedDominates(a, b, directions, va?, vb?)     // Deb's constrained domination
 * nonDominatedSort(points, directions, violations?)    // fronts of indices, best first: number[][]
 * crowdingDistance(points, front, directions)          // one distance per member of `front`
 * paretoFrontIndices(points, directions, violations?)  // the first front only
 * ```
 *
 * - `points[i]` is the objective vector of point `i`, one value per objective, in the study's
 *   objective order. Values must be finite (the study records non-finite values as failed trials).
 * - `directions[m]` says whether objective `m` is minimized or maximized; an {@link ObjectiveSpec}
 *   list is accepted too. Every function handles maximization by itself: never negate values.
 * - `violations[i]` is the total constraint violation of point `i` ({@link totalViolation} of
 *   its constraint values); omit it for unconstrained problems.
 *
 * ## Constrained domination
 *
 * As in Deb 2002 (section VI), pymoo and Optuna: a feasible point (violation 0) beats an infeasible
 * one; of two infeasible points the one with the smaller total violation wins (equal violations:
 * neither wins); two feasible points compare by Pareto dominance. Failed or filtered trials have no
 * values; callers give them violation `Infinity` or leave them out.
 */
import type { Direction, ObjectiveSpec } from './contract.js';

/** Objective directions, given either as directions or as the study's objective specs. */
export type DirectionsLike = readonly (Direction | ObjectiveSpec)[];

/**
 * Total constraint violation: the sum of the positive constraint values (a constraint is
 * satisfied when its value is `<= 0`). `0` means feasible; `undefined` or `[]` is feasible. A NaN
 * or `+Infinity` value counts as an infinite violation, so a broken measurement never passes for
 * feasible.
 */
export function totalViolation(constraints?: readonly number[]): number {
  if (!constraints) return 0;
  let total = 0;
  for (const c of constraints) {
    if (Number.isNaN(c) || c === Infinity) return Infinity;
    if (c > 0) total += c;
  }
  return total;
}

/** `true` when a point with these constraint values is feasible (every value `<= 0`). */
export function isFeasible(constraints?: readonly number[]): boolean {
  return totalViolation(constraints) <= 0;
}

/** Signs that turn every objective into one to minimize: `+1` minimize, `-1` maximize. */
export function directionSigns(directions: DirectionsLike): number[] {
  return directions.map((d) => ((typeof d === 'string' ? d : d.direction) === 'maximize' ? -1 : 1));
}

/** Dominance on sign-adjusted values (every objective minimized). */
function dominatesSigned(a: readonly number[], b: readonly number[], signs: readonly number[]): boolean {
  let strictly = false;
  for (let m = 0; m < signs.length; m++) {
    const s = signs[m] ?? 1;
    const x = s * (a[m] ?? 0);
    const y = s * (b[m] ?? 0);
    if (x > y) return false;
    if (x < y) strictly = true;
  }
  return strictly;
}

/**
 * `a` Pareto-dominates `b`: `a` is no worse than `b` in every objective and strictly better in at
 * least one. Equal vectors do not dominate each other.
 */
export function dominates(a: readonly number[], b: readonly number[], directions: DirectionsLike): boolean {
  return dominatesSigned(a, b, directionSigns(directions));
}

function constrainedSigned(a: readonly number[], b: readonly number[], signs: readonly number[], va: number, vb: number): boolean {
  const fa = va <= 0;
  const fb = vb <= 0;
  if (fa !== fb) return fa;
  if (!fa) return va < vb;
  return dominatesSigned(a, b, signs);
}

/**
 * Constrained domination (see the module comment): feasible beats infeasible, smaller total
 * violation beats larger, and two feasible points compare by {@link dominates}.
 *
 * @param violationA total violation of `a` ({@link totalViolation}); default 0 (feasible)
 * @param violationB total violation of `b`; default 0
 */
export function constrainedDominates(a: readonly number[], b: readonly number[], directions: DirectionsLike, violationA = 0, violationB = 0): boolean {
  return constrainedSigned(a, b, directionSigns(directions), violationA, violationB);
}

/**
 * Fast non-dominated sort (Deb et al. 2002): partitions the points into fronts. Front 0 holds the
 * points no other point dominates, front 1 those dominated only by front 0, and so on. Returns
 * the fronts as lists of indices into `points`, best front first, each front in ascending index
 * order; every index appears exactly once. With `violations`, constrained domination is used, so
 * feasible points fill the first fronts and infeasible ones follow in order of violation.
 *
 * O(M N^2) for N points and M objectives.
 */
export function nonDominatedSort(points: readonly (readonly number[])[], directions: DirectionsLike, violations?: readonly number[]): number[][] {
  const n = points.length;
  const signs = directionSigns(directions);
  const dominated: number[][] = Array.from({ length: n }, () => []);
  const count = new Array<number>(n).fill(0);
  const dom = violations
    ? (i: number, j: number) => constrainedSigned(points[i] ?? [], points[j] ?? [], signs, violations[i] ?? 0, violations[j] ?? 0)
    : (i: number, j: number) => dominatesSigned(points[i] ?? [], points[j] ?? [], signs);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dom(i, j)) {
        dominated[i]?.push(j);
        count[j] = (count[j] ?? 0) + 1;
      } else if (dom(j, i)) {
        dominated[j]?.push(i);
        count[i] = (count[i] ?? 0) + 1;
      }
    }
  }
  const fronts: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i < n; i++) if (count[i] === 0) current.push(i);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominated[i] ?? []) {
        count[j] = (count[j] ?? 0) - 1;
        if (count[j] === 0) next.push(j);
      }
    }
    current = next.sort((x, y) => x - y);
  }
  return fronts;
}

/**
 * Indices of the non-dominated points (the first front of {@link nonDominatedSort}), ascending.
 * With `violations`, under constrained domination: when any point is feasible, only feasible
 * points can be in it.
 */
export function paretoFrontIndices(points: readonly (readonly number[])[], directions: DirectionsLike, violations?: readonly number[]): number[] {
  const n = points.length;
  const signs = directionSigns(directions);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let dominatedByAny = false;
    for (let j = 0; j < n && !dominatedByAny; j++) {
      if (j === i) continue;
      dominatedByAny = violations
        ? constrainedSigned(points[j] ?? [], points[i] ?? [], signs, violations[j] ?? 0, violations[i] ?? 0)
        : dominatesSigned(points[j] ?? [], points[i] ?? [], signs);
    }
    if (!dominatedByAny) out.push(i);
  }
  return out;
}

/**
 * Crowding distance of every member of `front` (result in `front`'s order), as in NSGA-II: for
 * each objective the members are sorted by value, the two boundary members get `Infinity`, and each
 * other member adds the gap between its two neighbours divided by the objective's range on the
 * front. An objective whose values are all equal on the front adds nothing (but its boundary
 * members are still `Infinity`). Fronts of one or two members are all `Infinity`. Ties are broken
 * by position in `front`, so the result does not depend on the sort implementation.
 *
 * Crowding is symmetric in the direction of each objective; `directions` gives the number of
 * objectives and keeps the signature uniform with the other functions.
 */
export function crowdingDistance(points: readonly (readonly number[])[], front: readonly number[], directions: DirectionsLike): number[] {
  const size = front.length;
  const distance = new Array<number>(size).fill(0);
  if (size <= 2) return distance.fill(Infinity);
  for (let m = 0; m < directions.length; m++) {
    const value = (k: number): number => points[front[k] ?? 0]?.[m] ?? 0;
    const order = Array.from({ length: size }, (_, k) => k).sort((x, y) => value(x) - value(y) || x - y);
    const first = order[0] ?? 0;
    const last = order[size - 1] ?? 0;
    const lo = value(first);
    const hi = value(last);
    distance[first] = Infinity;
    distance[last] = Infinity;
    if (!(hi > lo)) continue;
    for (let k = 1; k < size - 1; k++) {
      const pos = order[k] ?? 0;
      distance[pos] = (distance[pos] ?? 0) + (value(order[k + 1] ?? 0) - value(order[k - 1] ?? 0)) / (hi - lo);
    }
  }
  return distance;
}
