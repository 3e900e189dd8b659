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

/** A Mann-Whitney U test of two independent samples (e.g. one strategy's runs against another's). */
export interface RankSumTest {
  /** U of the first sample: the number of pairs (x from a, y from b) with x > y, ties counting 1/2. */
  readonly u: number;
  /** Two-sided p-value of "neither sample tends to be larger". */
  readonly p: number;
  /** How p was computed: the exact null distribution of U, or the normal approximation. */
  readonly method: 'exact' | 'normal';
}

/**
 * Two-sided Mann-Whitney U (Wilcoxon rank-sum) test. Without ties and with at most 60 values in
 * all, p comes from the exact null distribution of U (the recurrence of Mann and Whitney 1947, in
 * probabilities so that it stays finite); otherwise from the normal approximation with the tie
 * correction of the variance and a continuity correction. Exact where it can be matters at the
 * sample sizes of seed studies: with 5 against 5 the normal approximation's p is off by up to a
 * factor of two near 0.05.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): RankSumTest {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: NaN, p: NaN, method: 'normal' };
  const all = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  let rankSum = 0;
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k]!.first) rankSum += rank;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  if (tieTerm === 0 && n <= 60) {
    const dist = exactUDistribution(n1, n2);
    const k = Math.round(u);
    let below = 0;
    for (let v = 0; v <= k; v++) below += dist[v]!;
    let above = 0;
    for (let v = k; v < dist.length; v++) above += dist[v]!;
    return { u, p: Math.min(1, 2 * Math.min(below, above)), method: 'exact' };
  }
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (sigma === 0) return { u, p: 1, method: 'normal' };
  const z = Math.max(0, Math.abs(u - (n1 * n2) / 2) - 0.5) / sigma;
  return { u, p: Math.min(1, 2 * (1 - standardNormalCdf(z))), method: 'normal' };
}

/**
 * P(U = u) for u = 0..m*n under the null hypothesis: p(u; m, n) = m/(m+n) p(u-n; m-1, n) +
 * n/(m+n) p(u; m, n-1) (the largest value comes from the first sample, adding n to U, or from the
 * second).
 */
function exactUDistribution(m: number, n: number): number[] {
  // table[i][j] is the distribution for sizes (i, j); built row by row.
  let previousRow: number[][] = []; // sizes (i - 1, 0..n)
  for (let i = 0; i <= m; i++) {
    const row: number[][] = [];
    for (let j = 0; j <= n; j++) {
      if (i === 0 || j === 0) {
        row.push([1]);
        continue;
      }
      const dist = new Array<number>(i * j + 1).fill(0);
      const fromFirst = previousRow[j]!;
      const fromSecond = row[j - 1]!;
      const wFirst = i / (i + j);
      const wSecond = j / (i + j);
      for (let v = 0; v < fromFirst.length; v++) dist[v + j]! += wFirst * fromFirst[v]!;
      for (let v = 0; v < fromSecond.length; v++) dist[v]! += wSecond * fromSecond[v]!;
      row.push(dist);
    }
    previousRow = row;
  }
  return previousRow[n]!;
}

/** Standard normal CDF through erfc (Numerical Recipes' erfcc, fractional error < 1.2e-7). */
export function standardNormalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const tail = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - tail / 2 : tail / 2;
}
