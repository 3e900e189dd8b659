/**
 * Exact hypervolume of a set of objective vectors with respect to a reference point.
 *
 * The hypervolume (S-metric) of a point set P with reference point r is the Lebesgue measure of
 * the region that some point of P dominates and that itself dominates r:
 * `HV(P, r) = volume( union over p in P of the box [p, r] )` (for minimization; maximized
 * objectives are mirrored). Larger is better. Points that do not strictly beat `r` in every
 * objective contribute nothing.
 *
 * Algorithms (all exact):
 * - 1 objective: the distance from the best value to the reference;
 * - 2 objectives: a sweep over the points sorted by the first objective, O(N log N);
 * - 3 objectives: slices along the third objective, each a 2-objective sweep (HSO), O(N^2 log N);
 * - 4 or more: WFG (While, Bradstreet & Barone 2012): the sum of exclusive contributions, each
 *   computed recursively on the "limit set" of the later points, bottoming out in the 3-objective
 *   case. Exponential in the worst case, fast for the fronts a search produces (tens to hundreds).
 */
import { NlsError } from '../errors.js';
import { directionSigns, type DirectionsLike } from './pareto.js';

/**
 * Hypervolume of `points` with respect to `reference` (see the module comment).
 *
 * @param points objective vectors, one value per objective (finite numbers)
 * @param reference the reference point, one value per objective; normally a point worse than
 *   every point of interest (e.g. the worst acceptable accuracy and the largest parameter count)
 * @param directions direction of every objective
 * @throws NlsError when the lengths disagree or a value is not finite
 */
export function hypervolume(points: readonly (readonly number[])[], reference: readonly number[], directions: DirectionsLike): number {
  const d = directions.length;
  if (d === 0) throw new NlsError('hypervolume needs at least one objective', { field: 'directions' });
  if (reference.length !== d) {
    throw new NlsError(`reference point has ${reference.length} values for ${d} objectives; fix: give one reference value per objective`, { field: 'referencePoint' });
  }
  if (!reference.every(Number.isFinite)) throw new NlsError(`reference point must be finite numbers, got [${reference.join(', ')}]`, { field: 'referencePoint' });
  const signs = directionSigns(directions);
  const ref = reference.map((r, m) => (signs[m] ?? 1) * r);
  const pts: number[][] = [];
  points.forEach((p, i) => {
    if (p.length !== d || !p.every(Number.isFinite)) {
      throw new NlsError(`point ${i} must be ${d} finite numbers, got [${p.join(', ')}]`, { field: `points[${i}]` });
    }
    const q = p.map((v, m) => (signs[m] ?? 1) * v);
    if (q.every((v, m) => v < (ref[m] ?? 0))) pts.push(q);
  });
  return hv(nondominated(pts), ref);
}

/** Hypervolume of minimization points that all strictly beat `ref`. */
function hv(pts: number[][], ref: readonly number[]): number {
  if (pts.length === 0) return 0;
  const d = ref.length;
  if (d === 1) return (ref[0] ?? 0) - Math.min(...pts.map((p) => p[0] ?? 0));
  if (d === 2) return hv2(pts, ref);
  if (d === 3) return hv3(pts, ref);
  return wfg(pts, ref);
}

/** 2-D sweep: sort by x ascending; each point adds the strip between its y and the best y so far. */
function hv2(pts: readonly (readonly number[])[], ref: readonly number[]): number {
  const sorted = [...pts].sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0));
  const rx = ref[0] ?? 0;
  let bestY = ref[1] ?? 0;
  let area = 0;
  for (const p of sorted) {
    const y = p[1] ?? 0;
    if (y < bestY) {
      area += (rx - (p[0] ?? 0)) * (bestY - y);
      bestY = y;
    }
  }
  return area;
}

/** 3-D by slicing along z: between consecutive z levels the cross-section is a 2-D hypervolume. */
function hv3(pts: readonly (readonly number[])[], ref: readonly number[]): number {
  const sorted = [...pts].sort((a, b) => (a[2] ?? 0) - (b[2] ?? 0));
  const ref2 = [ref[0] ?? 0, ref[1] ?? 0];
  let volume = 0;
  const active: number[][] = [];
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[i] ?? [];
    active.push([p[0] ?? 0, p[1] ?? 0]);
    const zNext = i + 1 < sorted.length ? (sorted[i + 1]?.[2] ?? 0) : (ref[2] ?? 0);
    const dz = zNext - (p[2] ?? 0);
    if (dz > 0) volume += dz * hv2(active, ref2);
  }
  return volume;
}

/** WFG: sum over k of the exclusive hypervolume of point k with respect to the points after it. */
function wfg(pts: number[][], ref: readonly number[]): number {
  // Sorting by the last objective (worst first) keeps limit sets small (WFG paper, section 4).
  const d = ref.length;
  const sorted = [...pts].sort((a, b) => (b[d - 1] ?? 0) - (a[d - 1] ?? 0));
  let total = 0;
  for (let k = 0; k < sorted.length; k++) {
    const p = sorted[k] ?? [];
    let box = 1;
    for (let m = 0; m < d; m++) box *= (ref[m] ?? 0) - (p[m] ?? 0);
    const limit: number[][] = [];
    for (let j = k + 1; j < sorted.length; j++) {
      const q = sorted[j] ?? [];
      limit.push(q.map((v, m) => Math.max(v, p[m] ?? 0)));
    }
    total += box - hv(nondominated(limit), ref);
  }
  return total;
}

/** The points no other point weakly dominates (duplicates kept once), minimization. */
function nondominated(pts: readonly number[][]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i] ?? [];
    let drop = false;
    for (let j = 0; j < pts.length && !drop; j++) {
      if (i === j) continue;
      const q = pts[j] ?? [];
      let le = true;
      let lt = false;
      for (let m = 0; m < p.length; m++) {
        const a = q[m] ?? 0;
        const b = p[m] ?? 0;
        if (a > b) {
          le = false;
          break;
        }
        if (a < b) lt = true;
      }
      // q dominates p, or q equals p and comes first.
      drop = le && (lt || j < i);
    }
    if (!drop) out.push(p);
  }
  return out;
}
