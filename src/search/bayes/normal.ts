/**
 * The standard normal distribution, computed to near machine precision far into its tails, and the
 * expected-improvement functions built on it (the numerical core of Bayesian optimisation).
 *
 * ## API at a glance
 *
 * ```ts
 * normalPdf(z), normalLogPdf(z)        // phi(z) and log phi(z)
 * normalCdf(z), normalLogCdf(z)        // Phi(z) and log Phi(z) (finite down to z = -1e150)
 * h(z), logH(z)                        // h(z) = phi(z) + z Phi(z) = E[(Z + z)^+], Z ~ N(0, 1)
 * hDifference(lo, hi), logHDifference  // h(hi) - h(lo) = integral of Phi over [lo, hi]
 * expectedImprovement(mu, sigma, best) // E[(best - Y)^+], Y ~ N(mu, sigma^2): minimisation
 * logExpectedImprovement(mu, sigma, best)
 * ```
 *
 * ## Method
 *
 * - `phi(z) = exp(-z^2/2) / sqrt(2 pi)`. `z^2` is split as `hi^2 + (z - hi)(z + hi)` with `hi` the
 *   value of `|z|` rounded to 16 fractional bits, so `hi^2` is exact and the exponential keeps its
 *   full relative precision even where `z^2/2` is in the hundreds.
 * - `Phi(z)` for `|z| <= 1.5`: `1/2 + phi(z) * sum_n z^(2n+1) / (2n+1)!!` (every term has the sign of
 *   `z`, so the sum itself has no cancellation; the final `1/2 +` loses at most a factor 7).
 * - `Phi(-t)` for `t > 1.5`: `phi(t) R(t)` with the Mills ratio `R(t) = Phi(-t) / phi(t)` from
 *   Laplace's continued fraction `R(t) = 1/(t + 1/(t + 2/(t + 3/(t + ...))))`, evaluated backwards
 *   from a depth chosen for double precision (`(25/t)^2 + 8` levels; measured against 60-digit
 *   values, the relative error is below 1e-15). `Phi(t) = 1 - Phi(-t)`.
 * - `h(z)` for `z < -1.5`, `t = -z`: `h = phi(t) (1 - t R(t))` cancels catastrophically, so write
 *   `R = 1/(t + c)` with `c = 1/(t + 2/(t + 3/(t + ...)))` (the tail of the same fraction). Then
 *   `1 - t R = c / (t + c) = c R` exactly, and `h(-t) = phi(t) c R`: a product of positive factors,
 *   with `log h = -t^2/2 - log sqrt(2 pi) + log c + log R` (the idea of LogEI, Ament et al. 2023,
 *   "Unexpected improvements to expected improvement for Bayesian optimization", reached through the
 *   continued fraction instead of `erfcx`). As `t` grows, `c ~ 1/t` and `R ~ 1/t`, so
 *   `log h(-t) ~ -t^2/2 - 2 log t`: finite until `t^2` overflows (|z| ~ 1e154).
 * - `h(hi) - h(lo)`: the subtraction when `h(lo) < 0.9 h(hi)` (at most one decimal lost), otherwise
 *   8-point Gauss–Legendre quadrature of `Phi` over `[lo, hi]`, in log space for the log version;
 *   there `Phi` varies by less than a few tens of percent, so the rule is exact to rounding.
 */
import { NlsError } from '../../errors.js';

const INV_SQRT_2PI = 0.3989422804014327; // 1 / sqrt(2 pi)
const LOG_SQRT_2PI = 0.9189385332046728; // log(sqrt(2 pi))
/** Below this `|z|`, `Phi` comes from its power series; above, from the continued fraction. */
const SERIES_LIMIT = 1.5;
/** `phi(z) = 0` in double precision beyond this `|z|` (`exp(-800)` underflows). */
const PDF_ZERO = 40;

/** `exp(-a^2/2)` for `a >= 0`, with `a^2` split so the exponent is exact (see the module comment). */
function expHalfSquare(a: number): number {
  if (a > PDF_ZERO) return 0;
  const hi = Math.round(a * 65536) / 65536;
  const lo = a - hi;
  return Math.exp(-0.5 * hi * hi) * Math.exp(-0.5 * lo * (a + hi));
}

/** Standard normal density `phi(z)`. */
export function normalPdf(z: number): number {
  return INV_SQRT_2PI * expHalfSquare(Math.abs(z));
}

/** `log phi(z)`, finite for every finite `z` with `z^2` representable. */
export function normalLogPdf(z: number): number {
  return -0.5 * z * z - LOG_SQRT_2PI;
}

/** `sum_n z^(2n+1) / (2n+1)!!`, so that `Phi(z) = 1/2 + phi(z) * series(z)`. */
function cdfSeries(z: number): number {
  const z2 = z * z;
  let term = z;
  let sum = z;
  for (let n = 0; n < 100; n++) {
    term *= z2 / (2 * n + 3);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return sum;
}

/**
 * The tail `c = 1/(t + 2/(t + 3/(t + ...)))` of Laplace's continued fraction for the Mills ratio
 * (so `R(t) = 1/(t + c)`), evaluated backwards; accurate to rounding for `t > 1.5`.
 */
function millsTail(t: number): number {
  const depth = Math.ceil(625 / (t * t)) + 8;
  let g = 0;
  for (let k = depth; k >= 2; k--) g = k / (t + g);
  return 1 / (t + g);
}

/** Standard normal distribution function `Phi(z) = P(Z <= z)`, accurate to ~1e-15 relative. */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (Math.abs(z) <= SERIES_LIMIT) return 0.5 + normalPdf(z) * cdfSeries(z);
  const t = Math.abs(z);
  const lower = t > PDF_ZERO ? 0 : (INV_SQRT_2PI * expHalfSquare(t)) / (t + millsTail(t));
  return z < 0 ? lower : 1 - lower;
}

/** `log Phi(z)`: finite for `z` down to about `-1e154` (where `z^2` overflows). */
export function normalLogCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < -SERIES_LIMIT) {
    const t = -z;
    return -0.5 * t * t - LOG_SQRT_2PI - Math.log(t + millsTail(t));
  }
  if (z <= 0) return Math.log(normalCdf(z));
  return Math.log1p(-normalCdf(-z));
}

/**
 * `h(z) = phi(z) + z Phi(z)`: the expected improvement of a standard normal over `-z`
 * (`E[(Z + z)^+]`, `Z ~ N(0, 1)`). Positive, increasing, `h(z) ~ z` for large `z`; underflows to 0
 * below `z ~ -38`: use {@link logH} there.
 */
export function h(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z >= -SERIES_LIMIT) return normalPdf(z) + z * normalCdf(z);
  const t = -z;
  if (t > PDF_ZERO) return 0;
  const c = millsTail(t);
  return (INV_SQRT_2PI * expHalfSquare(t) * c) / (t + c);
}

/**
 * `log h(z) = log(phi(z) + z Phi(z))`, stable for very negative `z` (see the module comment):
 * finite down to `z ~ -1e154`, where `-z^2/2` overflows and the answer is `-Infinity`.
 */
export function logH(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z >= -SERIES_LIMIT) return Math.log(normalPdf(z) + z * normalCdf(z));
  const t = -z;
  const c = millsTail(t);
  return -0.5 * t * t - LOG_SQRT_2PI + Math.log(c) - Math.log(t + c);
}

/** Nodes and weights of `n`-point Gauss–Legendre quadrature on [-1, 1] (Newton on P_n). */
function gaussLegendre(n: number): { nodes: Float64Array; weights: Float64Array } {
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 1;
    for (let iter = 0; iter < 100; iter++) {
      // P_n(x) and P_{n-1}(x) by the three-term recurrence.
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const step = p1 / dp;
      x -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    nodes[i] = x;
    weights[i] = 2 / ((1 - x * x) * dp * dp);
  }
  return { nodes, weights };
}

const GL = gaussLegendre(8);

/** `log(1 - exp(d))` for `d < 0`, accurate on both sides of `d = -log 2`. */
export function log1mexp(d: number): number {
  return d > -Math.LN2 ? Math.log(-Math.expm1(d)) : Math.log1p(-Math.exp(d));
}

/** `h(lo) >= CLOSE * h(hi)` switches the difference of `h` from subtraction to quadrature. */
const CLOSE = 0.9;

/**
 * `h(hi) - h(lo)`, i.e. the integral of `Phi` over `[lo, hi]`, without the cancellation of a plain
 * subtraction when `lo` and `hi` are close.
 *
 * @param lo lower end; may be `-Infinity` (then the result is `h(hi)`)
 * @param hi upper end, `>= lo`
 * @param width `hi - lo`, when the caller knows it more precisely than the difference of the
 *   rounded ends (e.g. `(u - l) / sigma` rather than `(u - mu) / sigma - (l - mu) / sigma`)
 */
export function hDifference(lo: number, hi: number, width: number = hi - lo): number {
  if (!(width > 0)) return 0;
  if (lo === -Infinity) return h(hi);
  const hHi = h(hi);
  const hLo = h(lo);
  if (hLo < CLOSE * hHi) return hHi - hLo;
  const half = 0.5 * width;
  const mid = lo + half;
  let sum = 0;
  for (let i = 0; i < GL.nodes.length; i++) sum += GL.weights[i]! * normalCdf(mid + half * GL.nodes[i]!);
  return half * sum;
}

/**
 * `log(h(hi) - h(lo))` (see {@link hDifference}); finite wherever {@link logH} is, `-Infinity`
 * when `width` is 0.
 */
export function logHDifference(lo: number, hi: number, width: number = hi - lo): number {
  if (!(width > 0)) return -Infinity;
  const lhHi = logH(hi);
  if (lo === -Infinity || lhHi === -Infinity) return lhHi;
  const d = logH(lo) - lhHi;
  if (d < Math.log(CLOSE)) return lhHi + log1mexp(d);
  const half = 0.5 * width;
  const mid = lo + half;
  const n = GL.nodes.length;
  const terms = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = Math.log(GL.weights[i]!) + normalLogCdf(mid + half * GL.nodes[i]!);
    terms[i] = v;
    if (v > max) max = v;
  }
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(terms[i]! - max);
  return Math.log(half) + max + Math.log(sum);
}

function checkSigma(sigma: number): void {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new NlsError(`standard deviation must be a finite number >= 0, got ${sigma}`, { field: 'sigma' });
  }
}

/**
 * Expected improvement for minimisation: `E[(best - Y)^+]` with `Y ~ N(mu, sigma^2)`, i.e.
 * `sigma h((best - mu) / sigma)`; `max(best - mu, 0)` when `sigma` is 0.
 *
 * @throws NlsError when `sigma` is negative or not finite
 */
export function expectedImprovement(mu: number, sigma: number, best: number): number {
  checkSigma(sigma);
  const z = (best - mu) / sigma;
  if (sigma === 0 || !Number.isFinite(z)) return Math.max(best - mu, 0);
  return sigma * h(z);
}

/**
 * `log` of {@link expectedImprovement}, finite while the improvement is merely tiny (the candidate
 * may sit hundreds of standard deviations behind `best`); `-Infinity` when no improvement is
 * possible (`sigma` 0 and `mu >= best`).
 *
 * @throws NlsError when `sigma` is negative or not finite
 */
export function logExpectedImprovement(mu: number, sigma: number, best: number): number {
  checkSigma(sigma);
  const z = (best - mu) / sigma;
  if (sigma === 0 || !Number.isFinite(z)) return best > mu ? Math.log(best - mu) : -Infinity;
  return Math.log(sigma) + logH(z);
}
