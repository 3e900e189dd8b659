/**
 * Confidence bounds for metrics measured on part of an evaluation split, as multi-fidelity racing
 * needs them (`src/search/racing.ts`): from the first n of N validation examples, how good can the
 * metric on all N still plausibly be?
 *
 * The split is a finite population and its first n examples are a simple random sample of it
 * without replacement (validation splits are seeded shuffles, docs/data.md). By the central limit
 * theorem for such samples, the mean of the remaining items is approximately normal, with the
 * finite-population correction (N - n) / (N - 1): the bound tightens to the observed value as n
 * reaches N. `confidence` is one-sided: 0.95 means the full-split value beats the bound in about
 * 5% of cases. Pure arithmetic, no tensors.
 */
import { probit } from 'simple-statistics';
import { NlsError } from '../errors.js';

/** Which way a bound looks: `upper` for metrics to maximize, `lower` for metrics to minimize. */
export type BoundSide = 'upper' | 'lower';

function checkSizes(n: number, populationSize: number, confidence: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new NlsError(`sample size must be a positive integer, got ${n}`, { field: 'n' });
  if (!Number.isSafeInteger(populationSize) || populationSize < n) {
    throw new NlsError(`population size must be an integer >= the sample size ${n}, got ${populationSize}`, { field: 'populationSize' });
  }
  if (!(confidence > 0.5 && confidence < 1)) throw new NlsError(`confidence must be in (0.5, 1), got ${confidence}`, { field: 'confidence' });
}

/** z * sqrt(variance / n * finite-population correction). */
function halfWidth(variance: number, n: number, populationSize: number, confidence: number): number {
  if (n >= populationSize) return 0;
  const fpc = (populationSize - n) / (populationSize - 1);
  return probit(confidence) * Math.sqrt((Math.max(0, variance) / n) * fpc);
}

/**
 * Bound of the share of successes among all `populationSize` items, given `successes` among the
 * first `n`. The variance uses the smoothed share (k + 1) / (n + 2), so that a sample of all
 * successes or all failures still gets a bound of non-zero width. Clamped to [0, 1].
 */
export function proportionBound(successes: number, n: number, populationSize: number, confidence: number, side: BoundSide): number {
  checkSizes(n, populationSize, confidence);
  if (!(successes >= 0 && successes <= n)) throw new NlsError(`successes must be in [0, ${n}], got ${successes}`, { field: 'successes' });
  const p = successes / n;
  const smoothed = (successes + 1) / (n + 2);
  const w = halfWidth(smoothed * (1 - smoothed), n, populationSize, confidence);
  return Math.min(1, Math.max(0, side === 'upper' ? p + w : p - w));
}

/**
 * Bound of a ratio sum(numerators) / sum(denominators) over the whole population (e.g. a
 * token-weighted mean loss: numerators are per-example losses in nats, denominators their token
 * counts), from the first `numerators.length` items, by the delta method on the residuals
 * `numerator_i - ratio * denominator_i`.
 */
export function ratioBound(numerators: ArrayLike<number>, denominators: ArrayLike<number>, populationSize: number, confidence: number, side: BoundSide): number {
  const n = numerators.length;
  checkSizes(n, populationSize, confidence);
  if (denominators.length !== n) throw new NlsError(`got ${n} numerators but ${denominators.length} denominators`, { field: 'denominators' });
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += numerators[i]!;
    den += denominators[i]!;
  }
  if (!(den > 0)) throw new NlsError('the denominators sum to zero; a ratio needs a positive total', { field: 'denominators' });
  const ratio = num / den;
  if (n >= populationSize) return ratio;
  // One item says nothing about the spread: no bound yet.
  if (n < 2) return side === 'upper' ? Infinity : -Infinity;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const e = numerators[i]! - ratio * denominators[i]!;
    ss += e * e;
  }
  const meanDen = den / n;
  const w = halfWidth(ss / (n - 1) / (meanDen * meanDen), n, populationSize, confidence);
  return side === 'upper' ? ratio + w : ratio - w;
}
