/**
 * Statistics for results over seeds: means with Student-t confidence intervals, paired tests of
 * two conditions measured on the same seeds, and the binomial standard error of an accuracy.
 * The t distribution is computed here (regularized incomplete beta by its continued fraction,
 * Numerical Recipes' `betacf` scheme), checked in tests against tabulated critical values.
 */

/** Natural log of the gamma function (Lanczos approximation, g = 7, n = 9). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-14) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The t value with P(T <= t) = p (bisection on the CDF). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  let lo = -1e3;
  let hi = 1e3;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A mean with its confidence interval. */
export interface MeanInterval {
  readonly mean: number;
  /** Sample standard deviation (n - 1). */
  readonly sd: number;
  readonly n: number;
  /** Half-width of the interval (NaN with fewer than two values). */
  readonly halfWidth: number;
  readonly low: number;
  readonly high: number;
  readonly level: number;
}

/** Mean and Student-t confidence interval of `xs` (default 95%). */
export function meanInterval(xs: readonly number[], level = 0.95): MeanInterval {
  const n = xs.length;
  const mean = n === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / n;
  const sd = n < 2 ? NaN : Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const halfWidth = n < 2 ? NaN : studentTQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { mean, sd, n, halfWidth, low: mean - halfWidth, high: mean + halfWidth, level };
}

/** A paired comparison of two conditions over the same seeds (b - a). */
export interface PairedTest {
  /** Mean of b - a, with its confidence interval. */
  readonly difference: MeanInterval;
  readonly t: number;
  /** Two-sided p-value of "the mean difference is 0" (NaN with fewer than two pairs). */
  readonly p: number;
}

/** Paired t-test of `b` against `a` (same length, same seeds in the same order). */
export function pairedTest(a: readonly number[], b: readonly number[], level = 0.95): PairedTest {
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length: ${a.length} vs ${b.length}`);
  const d = b.map((x, i) => x - a[i]!);
  const difference = meanInterval(d, level);
  const se = difference.sd / Math.sqrt(d.length);
  const t = se > 0 ? difference.mean / se : difference.mean === 0 ? 0 : Math.sign(difference.mean) * Infinity;
  const p = d.length < 2 ? NaN : se > 0 ? 2 * (1 - studentTCdf(Math.abs(t), d.length - 1)) : difference.mean === 0 ? 1 : 0;
  return { difference, t, p };
}

/** Binomial standard error of an accuracy `p` measured on `n` examples. */
export function accuracyStandardError(p: number, n: number): number {
  return n > 0 ? Math.sqrt((p * (1 - p)) / n) : NaN;
}
