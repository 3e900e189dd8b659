/**
 * Exact expected hypervolume improvement (EHVI) in two objectives, both minimised.
 *
 * ## Decomposition
 *
 * Sort the Pareto front by the first objective: `a_1 < ... < a_k` with second objectives
 * `b_1 > ... > b_k`, all strictly inside the reference box (`a_i < r1`, `b_i < r2`). Put `a_0 = -inf`,
 * `a_(k+1) = r1`, `b_0 = r2`. The region that no front point dominates is the union of the vertical
 * strips `[a_i, a_(i+1)) x (-inf, b_i)`, `i = 0..k`. A new point `y` adds, in strip `i`, the
 * rectangle between `y` and the strip's upper-right corner:
 *
 *     I(y) = sum_i (a_(i+1) - max(y1, a_i))^+ * (b_i - y2)^+.
 *
 * With `Y1`, `Y2` independent, every term factorises, and each factor is a one-dimensional
 * expected improvement. With `psi_j(c) = E[(c - Y_j)^+] = s_j h((c - mu_j)/s_j)`
 * (`h(z) = phi(z) + z Phi(z)`, see `normal.ts`):
 *
 *     EHVI = sum_i [psi_1(a_(i+1)) - psi_1(a_i)] * psi_2(b_i),   psi_1(-inf) = 0,
 *
 * because `E[(u - max(Y, l))^+] = psi(u) - psi(l)` for `l < u`. This is the strip decomposition of
 * Emmerich, Deutz & Klinkenberg ("Hypervolume-based expected improvement", CEC 2011) reduced to
 * closed form; it costs O(k log k) for the sort and O(k) normal-function evaluations.
 *
 * A standard deviation of 0 turns `psi` into `(c - mu)^+`: a known objective (a parameter count)
 * needs no special case. The differences `psi_1(a_(i+1)) - psi_1(a_i)` are taken with
 * `hDifference`, which avoids the cancellation of close strip edges; {@link logEhvi2d} uses the log
 * forms and a log-sum-exp, so it stays finite for candidates hundreds of standard deviations behind
 * the front, where EHVI itself underflows.
 */
import { NlsError } from '../../errors.js';
import { h, hDifference, log1mexp, logH, logHDifference } from './normal.js';

/** Front points strictly inside the reference box, non-dominated, sorted by the first objective. */
interface Strips {
  /** First objectives, strictly increasing. */
  readonly a: Float64Array;
  /** Second objectives, strictly decreasing. */
  readonly b: Float64Array;
}

function checkPair(v: readonly number[], field: string, nonNegative = false): void {
  if (v.length !== 2 || !v.every((x) => Number.isFinite(x) && (!nonNegative || x >= 0))) {
    const what = nonNegative ? 'two finite numbers >= 0' : 'two finite numbers';
    throw new NlsError(`${field} must be ${what}, got [${v.join(', ')}]`, { field });
  }
}

function strips(front: readonly (readonly number[])[], ref: readonly number[]): Strips {
  checkPair(ref, 'ref');
  const r1 = ref[0]!;
  const r2 = ref[1]!;
  const inside: (readonly number[])[] = [];
  front.forEach((p, i) => {
    checkPair(p, `front[${i}]`);
    if (p[0]! < r1 && p[1]! < r2) inside.push(p);
  });
  inside.sort((p, q) => p[0]! - q[0]! || p[1]! - q[1]!);
  const a: number[] = [];
  const b: number[] = [];
  let best = r2;
  for (const p of inside) {
    // A point is kept when it beats every earlier (no larger first objective) point in the second.
    if (p[1]! < best) {
      a.push(p[0]!);
      b.push(p[1]!);
      best = p[1]!;
    }
  }
  return { a: Float64Array.from(a), b: Float64Array.from(b) };
}

/**
 * Hypervolume (area) of the region dominated by `front` and dominating `ref`, both objectives
 * minimised. Points outside the reference box and dominated points add nothing.
 *
 * @throws NlsError when a point or `ref` is not two finite numbers
 */
export function hypervolume2d(front: readonly (readonly number[])[], ref: readonly number[]): number {
  const { a, b } = strips(front, ref);
  const r1 = ref[0]!;
  let area = 0;
  let top = ref[1]!;
  for (let i = 0; i < a.length; i++) {
    area += (r1 - a[i]!) * (top - b[i]!);
    top = b[i]!;
  }
  return area;
}

/**
 * The hypervolume `front` gains when `point` joins it: the area inside the box up to `ref` that
 * `point` dominates and `front` does not (0 when `point` is dominated or outside the box).
 *
 * @throws NlsError when a point or `ref` is not two finite numbers
 */
export function hypervolumeImprovement2d(front: readonly (readonly number[])[], point: readonly number[], ref: readonly number[]): number {
  checkPair(point, 'point');
  const { a, b } = strips(front, ref);
  const k = a.length;
  const [y1, y2] = [point[0]!, point[1]!];
  let gain = 0;
  for (let i = 0; i <= k; i++) {
    const lo = i === 0 ? -Infinity : a[i - 1]!;
    const hi = i === k ? ref[0]! : a[i]!;
    const top = i === 0 ? ref[1]! : b[i - 1]!;
    gain += Math.max(hi - Math.max(y1, lo), 0) * Math.max(top - y2, 0);
  }
  return gain;
}

/** `psi(c) = E[(c - Y)^+]`, `Y ~ N(mu, sigma^2)`. */
function psi(c: number, mu: number, sigma: number): number {
  const z = (c - mu) / sigma;
  if (sigma === 0 || !Number.isFinite(z)) return Math.max(c - mu, 0);
  return sigma * h(z);
}

function logPsi(c: number, mu: number, sigma: number): number {
  const z = (c - mu) / sigma;
  if (sigma === 0 || !Number.isFinite(z)) return c > mu ? Math.log(c - mu) : -Infinity;
  return Math.log(sigma) + logH(z);
}

/** Below this ratio `h(lo) / h(hi)` a difference of `h` is a plain subtraction (as in `hDifference`). */
const SUBTRACT_BELOW = 0.9;

/**
 * The widths of the strips in the first objective: `psi(a_(i+1)) - psi(a_i)`, `i = 0..k`, for
 * strip edges `edges = [a_1, ..., a_k, r1]` (`a_0 = -inf`), or their logs. `h` is evaluated once
 * per edge and shared by the two strips the edge bounds; close edges go through `hDifference`.
 */
function stripWidths(edges: Float64Array, mu: number, sigma: number, log: boolean): Float64Array {
  const m = edges.length;
  const out = new Float64Array(m);
  const z = Float64Array.from(edges, (c) => (c - mu) / sigma);
  const deterministic = sigma === 0 || !z.every(Number.isFinite);
  if (deterministic) {
    for (let i = 0; i < m; i++) {
      const gain = edges[i]! - Math.max(i === 0 ? -Infinity : edges[i - 1]!, mu);
      out[i] = log ? (gain > 0 ? Math.log(gain) : -Infinity) : Math.max(gain, 0);
    }
    return out;
  }
  const logSigma = Math.log(sigma);
  const hz = z.map(log ? logH : h);
  for (let i = 0; i < m; i++) {
    const hi = hz[i]!;
    if (i === 0) {
      out[i] = log ? logSigma + hi : sigma * hi;
      continue;
    }
    const lo = hz[i - 1]!;
    const width = (edges[i]! - edges[i - 1]!) / sigma;
    if (log) {
      const d = lo - hi;
      out[i] = hi === -Infinity ? -Infinity : d < Math.log(SUBTRACT_BELOW) ? logSigma + hi + log1mexp(d) : logSigma + logHDifference(z[i - 1]!, z[i]!, width);
    } else {
      out[i] = sigma * (lo < SUBTRACT_BELOW * hi ? hi - lo : hDifference(z[i - 1]!, z[i]!, width));
    }
  }
  return out;
}

/** The strip edges in the first objective, `[a_1, ..., a_k, r1]`. */
function edgesOf(a: Float64Array, r1: number): Float64Array {
  const edges = new Float64Array(a.length + 1);
  edges.set(a);
  edges[a.length] = r1;
  return edges;
}

/**
 * Expected hypervolume improvement of a candidate whose two (minimised) objectives are independent
 * normals `N(mu[0], sigma[0]^2)` and `N(mu[1], sigma[1]^2)`, over the Pareto front `front`
 * (any order; dominated points and points outside the box are ignored; may be empty) with
 * reference point `ref`. Either standard deviation may be 0 (a known objective). Exact, O(k log k)
 * for a front of k points (see the module comment). 0 when no improvement is possible; it
 * underflows to 0 for candidates far behind the front: use {@link logEhvi2d} to rank those.
 *
 * @throws NlsError when an argument is not two finite numbers or a standard deviation is negative
 */
export function ehvi2d(front: readonly (readonly number[])[], mu: readonly number[], sigma: readonly number[], ref: readonly number[]): number {
  checkPair(mu, 'mu');
  checkPair(sigma, 'sigma', true);
  const { a, b } = strips(front, ref);
  const widths = stripWidths(edgesOf(a, ref[0]!), mu[0]!, sigma[0]!, false);
  let sum = 0;
  for (let i = 0; i < widths.length; i++) {
    if (widths[i] === 0) continue;
    sum += widths[i]! * psi(i === 0 ? ref[1]! : b[i - 1]!, mu[1]!, sigma[1]!);
  }
  return sum;
}

/**
 * `log` of {@link ehvi2d}, computed in log space throughout: finite (and still decreasing as the
 * candidate recedes) far beyond where EHVI underflows, so an acquisition optimiser keeps a gradient
 * to follow. `-Infinity` exactly when no improvement is possible: a standard deviation of 0 with a
 * mean that cannot get inside the reference box or is dominated.
 *
 * @throws NlsError when an argument is not two finite numbers or a standard deviation is negative
 */
export function logEhvi2d(front: readonly (readonly number[])[], mu: readonly number[], sigma: readonly number[], ref: readonly number[]): number {
  checkPair(mu, 'mu');
  checkPair(sigma, 'sigma', true);
  const { a, b } = strips(front, ref);
  const terms = stripWidths(edgesOf(a, ref[0]!), mu[0]!, sigma[0]!, true);
  let max = -Infinity;
  for (let i = 0; i < terms.length; i++) {
    if (terms[i] === -Infinity) continue;
    terms[i] = terms[i]! + logPsi(i === 0 ? ref[1]! : b[i - 1]!, mu[1]!, sigma[1]!);
    if (terms[i]! > max) max = terms[i]!;
  }
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < terms.length; i++) sum += Math.exp(terms[i]! - max);
  return max + Math.log(sum);
}

/** {@link ehvi2d} and {@link logEhvi2d} of many candidates against one front and reference point. */
export interface PreparedEhvi2d {
  ehvi(mu: readonly number[], sigma: readonly number[]): number;
  /** The log, from the plain value where that is well inside double range, else in log space throughout. */
  logEhvi(mu: readonly number[], sigma: readonly number[]): number;
}

/**
 * Cut the front into strips once, for scoring many candidates (an acquisition optimiser scores
 * thousands against one front): the same values as {@link ehvi2d} and {@link logEhvi2d}.
 */
export function prepareEhvi2d(front: readonly (readonly number[])[], ref: readonly number[]): PreparedEhvi2d {
  const { a, b } = strips(front, ref);
  const edges = edgesOf(a, ref[0]!);
  const top = (i: number) => (i === 0 ? ref[1]! : b[i - 1]!);
  const ehvi = (mu: readonly number[], sigma: readonly number[]): number => {
    const widths = stripWidths(edges, mu[0]!, sigma[0]!, false);
    let sum = 0;
    for (let i = 0; i < widths.length; i++) if (widths[i] !== 0) sum += widths[i]! * psi(top(i), mu[1]!, sigma[1]!);
    return sum;
  };
  return {
    ehvi,
    logEhvi(mu, sigma) {
      // Plain arithmetic is exact to rounding while the value is far from underflow.
      const plain = ehvi(mu, sigma);
      if (plain > 1e-250) return Math.log(plain);
      const terms = stripWidths(edges, mu[0]!, sigma[0]!, true);
      let max = -Infinity;
      for (let i = 0; i < terms.length; i++) {
        if (terms[i] === -Infinity) continue;
        terms[i] = terms[i]! + logPsi(top(i), mu[1]!, sigma[1]!);
        if (terms[i]! > max) max = terms[i]!;
      }
      if (max === -Infinity) return -Infinity;
      let sum = 0;
      for (let i = 0; i < terms.length; i++) sum += Math.exp(terms[i]! - max);
      return max + Math.log(sum);
    },
  };
}
