/**
 * Quality of a predictor on held-out samples: error metrics (MAPE, RMSE, share within ±5% and
 * ±10%) and rank agreement (Kendall tau-b), which is what a search ranking candidates by the
 * prediction actually needs. Also the deterministic train/validation split used to measure it.
 */
import { NlsError } from '../errors.js';
import { createRng, shuffleInPlace } from '../util/rng.js';
import type { Predictor, PredictorSample } from './predictor.js';

/** Quality of predictions against measured values. Relative errors are fractions (0.05 = 5%). */
export interface PredictorQuality {
  /** Number of samples compared. */
  readonly n: number;
  /** Mean absolute percentage error as a fraction: mean of |predicted - actual| / |actual|. */
  readonly mape: number;
  /** Root mean squared error, in the units of the value. */
  readonly rmse: number;
  /** Share of samples (0..1) whose relative error is at most 5%. */
  readonly within5: number;
  /** Share of samples (0..1) whose relative error is at most 10%. */
  readonly within10: number;
  /** Kendall tau-b between actual and predicted values, in [-1, 1]; NaN when undefined (see {@link kendallTau}). */
  readonly kendallTau: number;
}

/** Allowance for rounding when comparing a relative error with a tolerance such as 0.05. */
const WITHIN_SLACK = 1e-12;

function checkPair(actual: readonly number[], predicted: readonly number[]): void {
  if (actual.length !== predicted.length) {
    throw new NlsError(`actual has ${actual.length} values but predicted has ${predicted.length}; fix: pass one prediction per measured value`, { field: 'predicted' });
  }
  for (const [name, arr] of [
    ['actual', actual],
    ['predicted', predicted],
  ] as const) {
    arr.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new NlsError(`${name}[${i}] is ${String(v)}, not a finite number; fix: drop failed measurements, or fix the predictor`, { field: `${name}[${i}]` });
    });
  }
}

/**
 * Relative error of each prediction, |predicted - actual| / |actual|. When the actual value is
 * 0 the relative error is 0 for an exact prediction and Infinity otherwise.
 */
export function relativeErrors(actual: readonly number[], predicted: readonly number[]): number[] {
  checkPair(actual, predicted);
  return actual.map((a, i) => {
    const e = Math.abs((predicted[i] ?? 0) - a);
    return e === 0 ? 0 : e / Math.abs(a);
  });
}

/** Mean absolute percentage error, as a fraction; NaN for no samples. */
export function mape(actual: readonly number[], predicted: readonly number[]): number {
  const rel = relativeErrors(actual, predicted);
  return rel.length === 0 ? Number.NaN : rel.reduce((s, e) => s + e, 0) / rel.length;
}

/** Root mean squared error; NaN for no samples. */
export function rmse(actual: readonly number[], predicted: readonly number[]): number {
  checkPair(actual, predicted);
  if (actual.length === 0) return Number.NaN;
  let s = 0;
  actual.forEach((a, i) => (s += ((predicted[i] ?? 0) - a) ** 2));
  return Math.sqrt(s / actual.length);
}

/** Share (0..1) of predictions whose relative error is at most `tolerance` (e.g. 0.05); NaN for no samples. */
export function withinShare(actual: readonly number[], predicted: readonly number[], tolerance: number): number {
  const rel = relativeErrors(actual, predicted);
  if (rel.length === 0) return Number.NaN;
  return rel.filter((e) => e <= tolerance + WITHIN_SLACK).length / rel.length;
}

/**
 * Kendall's tau-b rank correlation of `x` and `y`:
 * `(concordant - discordant) / sqrt((n0 - tiesX) (n0 - tiesY))`, `n0 = n (n - 1) / 2`, where a
 * pair tied in x counts in tiesX, tied in y in tiesY (tied in both: in both) and is neither
 * concordant nor discordant. In [-1, 1]; 1 for identical rankings. NaN when it is undefined:
 * fewer than two values, or all values of x or of y equal. O(n²) time, fine up to ~10⁴ values.
 */
export function kendallTau(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new NlsError(`x has ${x.length} values but y has ${y.length}; fix: pass paired values`, { field: 'y' });
  const n = x.length;
  const xs = Float64Array.from(x);
  const ys = Float64Array.from(y);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(xs[i]) || Number.isNaN(ys[i])) throw new NlsError(`value ${i} is NaN; fix: drop it before ranking`, { field: Number.isNaN(xs[i]) ? `x[${i}]` : `y[${i}]` });
  }
  let s = 0;
  let tiesX = 0;
  let tiesY = 0;
  for (let i = 0; i < n; i++) {
    const xi = xs[i] as number;
    const yi = ys[i] as number;
    for (let j = i + 1; j < n; j++) {
      // Comparisons rather than differences, so that equal infinities count as ties.
      const xj = xs[j] as number;
      const yj = ys[j] as number;
      const tx = xi === xj;
      const ty = yi === yj;
      if (tx || ty) {
        if (tx) tiesX++;
        if (ty) tiesY++;
      } else if (xi < xj === yi < yj) s++;
      else s--;
    }
  }
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - tiesX) * (n0 - tiesY));
  if (!(denom > 0)) return Number.NaN;
  return Math.max(-1, Math.min(1, s / denom));
}

/** Every metric of {@link PredictorQuality} for `predicted` against `actual`. */
export function predictorQuality(actual: readonly number[], predicted: readonly number[]): PredictorQuality {
  const rel = relativeErrors(actual, predicted);
  const n = rel.length;
  const share = (tol: number): number => (n === 0 ? Number.NaN : rel.filter((e) => e <= tol + WITHIN_SLACK).length / n);
  return {
    n,
    mape: n === 0 ? Number.NaN : rel.reduce((s, e) => s + e, 0) / n,
    rmse: rmse(actual, predicted),
    within5: share(0.05),
    within10: share(0.1),
    kendallTau: kendallTau(actual, predicted),
  };
}

/** Quality of `predictor` on held-out `samples` (it predicts every sample's configuration). */
export function evaluatePredictor(predictor: Predictor, samples: readonly PredictorSample[]): PredictorQuality {
  const predicted = predictor.predictMany(samples.map((s) => s.config));
  return predictorQuality(
    samples.map((s) => s.value),
    predicted,
  );
}

/** Options of {@link splitSamples}. */
export interface SampleSplitOptions {
  /** Share of the samples held out for validation, in (0, 1). */
  readonly validationFraction: number;
  /** Seed of the shuffle that picks the held-out samples. */
  readonly seed: number | string;
}

/** A train/validation split; both parts keep the input order. */
export interface SampleSplit<T> {
  readonly train: T[];
  readonly validation: T[];
}

/**
 * Split `samples` into train and validation parts: a seeded shuffle of the indices
 * (Fisher-Yates, {@link shuffleInPlace}) picks `round(n · validationFraction)` held-out samples,
 * clamped so that both parts get at least one. Same seed and input, same split.
 *
 * @throws NlsError when there are fewer than 2 samples or the fraction is not in (0, 1).
 */
export function splitSamples<T>(samples: readonly T[], options: SampleSplitOptions): SampleSplit<T> {
  const { validationFraction: f, seed } = options;
  if (typeof f !== 'number' || !(f > 0 && f < 1)) {
    throw new NlsError(`validationFraction must be a number in (0, 1), got ${String(f)}; fix: use e.g. 0.2`, { field: 'validationFraction' });
  }
  const n = samples.length;
  if (n < 2) throw new NlsError(`need at least 2 samples to split into train and validation, got ${n}; fix: measure more configurations`, { field: 'samples' });
  const nVal = Math.min(n - 1, Math.max(1, Math.round(n * f)));
  const order = shuffleInPlace(
    Array.from({ length: n }, (_, i) => i),
    createRng(seed),
  );
  const held = new Uint8Array(n);
  for (let k = 0; k < nVal; k++) held[order[k] as number] = 1;
  const train: T[] = [];
  const validation: T[] = [];
  samples.forEach((s, i) => (held[i] ? validation : train).push(s));
  return { train, validation };
}
