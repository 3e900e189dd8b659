/**
 * Ridge regression on configuration features, and the pieces the other predictors share with
 * it: the feature encoding of a configuration, feature standardization and a Cholesky solver for
 * symmetric positive (semi-)definite systems.
 *
 * Features of a configuration: a one-hot block per gene (one column per rank choice), then the
 * numeric rank of every gene. The rank columns are linear in the one-hots, so they add no
 * expressive power to a linear model; they let the penalty prefer fits that are smooth in the
 * rank, and they give the MLP an ordered input.
 */
import { NlsError } from '../errors.js';
import type { Config, SearchSpace } from '../space/index.js';
import { canonicalSamples, requireFitted, type ParamReader, type Predictor, type PredictorFile, type PredictorSample, predictorDocument } from './predictor.js';

// ---------------------------------------------------------------------------------------------
// Features

/** Number of features of a configuration of `space`: every gene's choice count, plus one rank per gene. */
export function featureCount(space: SearchSpace): number {
  let n = space.size;
  for (const c of space.choiceCounts) n += c;
  return n;
}

/**
 * Names of the features in {@link configFeatures} order: `layers.0/qkv=32` for the one-hot of
 * choice rank 32, then `layers.0/qkv.rank` for the numeric ranks (`layers.0/mlp.width` for the
 * numeric width of a width gene).
 */
export function featureNames(space: SearchSpace): string[] {
  const names: string[] = [];
  for (const g of space.instances) for (const r of g.choices) names.push(`${space.label(g.index)}=${r}`);
  for (const g of space.instances) names.push(`${space.label(g.index)}.${g.kind === 'width' ? 'width' : 'rank'}`);
  return names;
}

/**
 * Feature vector of `config` (see the module comment), written to `out` at `offset` when given.
 *
 * @throws NlsError when `config` is not a configuration of `space`.
 */
export function configFeatures(space: SearchSpace, config: Config, out?: Float64Array, offset = 0): Float64Array {
  space.assertContains(config);
  const d = featureCount(space);
  const x = out ?? new Float64Array(d);
  x.fill(0, offset, offset + d);
  let col = offset;
  for (let g = 0; g < space.size; g++) {
    x[col + (config[g] ?? 0)] = 1;
    col += space.choiceCounts[g] ?? 0;
  }
  for (let g = 0; g < space.size; g++) x[col + g] = space.instances[g]?.choices[config[g] ?? 0] ?? 0;
  return x;
}

/** Row-major feature matrix of `configs` ([configs.length, featureCount(space)]). */
export function featureMatrix(space: SearchSpace, configs: readonly Config[]): Float64Array {
  const d = featureCount(space);
  const x = new Float64Array(configs.length * d);
  configs.forEach((c, i) => configFeatures(space, c, x, i * d));
  return x;
}

/** Per-feature mean and scale; a standardized feature is `(x - mean) / scale`. */
export interface FeatureStandardization {
  /** Mean of each feature over the training samples. */
  readonly means: readonly number[];
  /** Population standard deviation of each feature; 1 for features constant in the training samples. */
  readonly scales: readonly number[];
}

/**
 * Means and population standard deviations of the `d` columns of row-major `x`. A column that is
 * constant (relative spread below 1e-12) gets scale 1, so it standardizes to exactly 0 and
 * carries no weight.
 */
export function fitStandardization(x: Float64Array, n: number, d: number): FeatureStandardization {
  const means = new Array<number>(d).fill(0);
  const scales = new Array<number>(d).fill(1);
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * d + j] ?? 0;
    const m = s / n;
    let v = 0;
    let maxAbs = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i * d + j] ?? 0;
      v += (xi - m) * (xi - m);
      maxAbs = Math.max(maxAbs, Math.abs(xi));
    }
    const sd = Math.sqrt(v / n);
    means[j] = m;
    scales[j] = sd > 1e-12 * Math.max(1, maxAbs) ? sd : 1;
  }
  return { means, scales };
}

/** Standardize row-major `x` ([n, d]) in place with `st`; returns `x`. */
export function standardizeInPlace(x: Float64Array, d: number, st: FeatureStandardization): Float64Array {
  for (let k = 0; k < x.length; k++) {
    const j = k % d;
    x[k] = ((x[k] ?? 0) - (st.means[j] ?? 0)) / (st.scales[j] ?? 1);
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// Cholesky

/** A Cholesky factor `A = L L^T` of a symmetric positive semi-definite matrix, from {@link choleskyFactor}. */
export interface CholeskyFactor {
  /** Order of the matrix. */
  readonly p: number;
  /** Row-major lower-triangular factor ([p, p]); columns of dropped variables are zero. */
  readonly l: Float64Array;
  /** 1 for variables dropped as linearly dependent on earlier ones (their solution is 0). */
  readonly dropped: Uint8Array;
}

/**
 * Cholesky factor of the symmetric `p`×`p` row-major matrix `a` (only its lower triangle is
 * read). A variable whose remaining pivot is at most `tolerance` times its diagonal entry (or
 * not positive) is linearly dependent on the variables before it: it is dropped (its column of
 * L is zero and {@link choleskySolve} gives it 0), which makes the solver return a basic
 * least-squares solution of rank-deficient normal equations instead of failing.
 */
export function choleskyFactor(a: Float64Array, p: number, tolerance = 1e-10): CholeskyFactor {
  if (a.length !== p * p) throw new NlsError(`choleskyFactor: expected ${p * p} matrix entries, got ${a.length}`, { field: 'a' });
  const l = new Float64Array(p * p);
  const dropped = new Uint8Array(p);
  for (let j = 0; j < p; j++) {
    const rowJ = j * p;
    let d = a[rowJ + j] ?? 0;
    for (let k = 0; k < j; k++) d -= (l[rowJ + k] ?? 0) ** 2;
    const diag = a[rowJ + j] ?? 0;
    if (!(d > tolerance * Math.abs(diag)) || !(diag > 0)) {
      dropped[j] = 1;
      for (let k = 0; k < j; k++) l[rowJ + k] = 0;
      continue;
    }
    const ljj = Math.sqrt(d);
    l[rowJ + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      const rowI = i * p;
      let s = a[rowI + j] ?? 0;
      for (let k = 0; k < j; k++) s -= (l[rowI + k] ?? 0) * (l[rowJ + k] ?? 0);
      l[rowI + j] = s / ljj;
    }
  }
  return { p, l, dropped };
}

/** Solve `A x = b` with the factor of `A` from {@link choleskyFactor}; dropped variables are 0. */
export function choleskySolve(factor: CholeskyFactor, b: ArrayLike<number>): Float64Array {
  const { p, l, dropped } = factor;
  if (b.length !== p) throw new NlsError(`choleskySolve: expected a right-hand side of ${p} entries, got ${b.length}`, { field: 'b' });
  const z = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    if (dropped[j]) continue;
    let s = b[j] ?? 0;
    for (let k = 0; k < j; k++) s -= (l[j * p + k] ?? 0) * (z[k] ?? 0);
    z[j] = s / (l[j * p + j] ?? 1);
  }
  const x = new Float64Array(p);
  for (let j = p - 1; j >= 0; j--) {
    if (dropped[j]) continue;
    let s = z[j] ?? 0;
    for (let i = j + 1; i < p; i++) s -= (l[i * p + j] ?? 0) * (x[i] ?? 0);
    x[j] = s / (l[j * p + j] ?? 1);
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// Ridge predictor

/** Options of {@link RidgePredictor}. */
export interface RidgeOptions {
  /**
   * Penalty λ ≥ 0 on the squared weights of the standardized features, relative to the mean
   * squared error: the fit minimises `mean((y - ŷ)²) + λ ‖w‖²`, so λ does not depend on the
   * number of samples or the units of the features. The intercept is not penalized. Default 1e-3.
   */
  readonly lambda?: number;
}

/** Default of {@link RidgeOptions.lambda}. */
export const DEFAULT_RIDGE_LAMBDA = 1e-3;

interface RidgeState {
  readonly space: SearchSpace;
  readonly standardization: FeatureStandardization;
  readonly weights: readonly number[];
  readonly intercept: number;
  readonly fitted: { readonly samples: number; readonly seconds: number };
}

/**
 * The samples in canonical order and their standardized feature matrix (row-major n x d), as
 * every feature-based predictor fits on them.
 */
export function standardizedDesign(
  space: SearchSpace,
  samples: readonly PredictorSample[],
): { sorted: PredictorSample[]; n: number; d: number; x: Float64Array; standardization: FeatureStandardization } {
  const sorted = canonicalSamples(space, samples);
  const n = sorted.length;
  const d = featureCount(space);
  const x = featureMatrix(
    space,
    sorted.map((s) => s.config),
  );
  const standardization = fitStandardization(x, n, d);
  standardizeInPlace(x, d, standardization);
  return { sorted, n, d, x, standardization };
}

/**
 * Ridge regression on {@link configFeatures}, standardized, solved in closed form from the
 * normal equations `(XᵀX/n + λI) w = Xᵀ(y - ȳ)/n`. Deterministic, and independent of the
 * order of the samples (they are sorted before fitting). A good default when a few hundred
 * samples are available and the value is roughly additive in the genes with some smooth
 * dependence on rank.
 */
export class RidgePredictor implements Predictor {
  /** Kind name in predictor files. */
  static readonly KIND = 'ridge';
  readonly kind = RidgePredictor.KIND;
  /** The penalty λ (see {@link RidgeOptions.lambda}). */
  readonly lambda: number;
  private state: RidgeState | undefined;

  constructor(options: RidgeOptions = {}) {
    const lambda = options.lambda ?? DEFAULT_RIDGE_LAMBDA;
    if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0) {
      throw new NlsError(`ridge lambda must be a finite number >= 0, got ${String(lambda)}; fix: use e.g. 1e-3 (larger values smooth more)`, { field: 'lambda' });
    }
    this.lambda = lambda;
  }

  /** Fit the weights on `samples` of `space`. */
  fit(space: SearchSpace, samples: readonly PredictorSample[]): void {
    const start = performance.now();
    const { sorted, n, d, x, standardization } = standardizedDesign(space, samples);
    let ySum = 0;
    for (const s of sorted) ySum += s.value;
    const yMean = ySum / n;

    const a = new Float64Array(d * d);
    const b = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const row = i * d;
      const yc = (sorted[i]?.value ?? 0) - yMean;
      for (let j = 0; j < d; j++) {
        const xj = x[row + j] ?? 0;
        if (xj === 0) continue;
        b[j] = (b[j] ?? 0) + xj * yc;
        const aRow = j * d;
        for (let k = 0; k <= j; k++) a[aRow + k] = (a[aRow + k] ?? 0) + xj * (x[row + k] ?? 0);
      }
    }
    for (let j = 0; j < d; j++) {
      b[j] = (b[j] ?? 0) / n;
      for (let k = 0; k <= j; k++) a[j * d + k] = (a[j * d + k] ?? 0) / n;
      a[j * d + j] = (a[j * d + j] ?? 0) + this.lambda;
    }
    const w = choleskySolve(choleskyFactor(a, d), b);
    this.state = {
      space,
      standardization,
      weights: Array.from(w),
      intercept: yMean,
      fitted: { samples: n, seconds: (performance.now() - start) / 1000 },
    };
  }

  /** Predicted value of `config`. */
  predict(config: Config): number {
    const st = requireFitted(this.state, this.kind);
    const x = configFeatures(st.space, config);
    const { means, scales } = st.standardization;
    let y = st.intercept;
    for (let j = 0; j < x.length; j++) y += (st.weights[j] ?? 0) * (((x[j] ?? 0) - (means[j] ?? 0)) / (scales[j] ?? 1));
    return y;
  }

  /** Predicted values of `configs`. */
  predictMany(configs: readonly Config[]): number[] {
    return configs.map((c) => this.predict(c));
  }

  /** Weights of the standardized features in {@link featureNames} order (a copy). */
  weights(): number[] {
    return [...requireFitted(this.state, this.kind).weights];
  }

  /** The `nls-predictor/1` document: λ, the standardization, the weights and the intercept. */
  toJSON(): PredictorFile {
    const st = requireFitted(this.state, this.kind);
    return predictorDocument(this.kind, st.space, st.fitted, {
        lambda: this.lambda,
        featureMeans: [...st.standardization.means],
        featureScales: [...st.standardization.scales],
        weights: [...st.weights],
        intercept: st.intercept,
    });
  }

  /** Loader of the `ridge` kind (see {@link PredictorLoader}). */
  static fromJSON(this: void, file: PredictorFile, space: SearchSpace, params: ParamReader): RidgePredictor {
    const d = featureCount(space);
    const lambda = params.field('lambda').number(0);
    const means = params.field('featureMeans').numbers(d);
    const scalesReader = params.field('featureScales');
    const scales = scalesReader.array(d).map((r) => {
      const v = r.number();
      if (!(v > 0)) r.fail(`expected a positive scale, got ${v}`);
      return v;
    });
    const weights = params.field('weights').numbers(d);
    const intercept = params.field('intercept').number();
    const p = new RidgePredictor({ lambda });
    p.state = { space, standardization: { means, scales }, weights, intercept, fitted: { ...file.fitted } };
    return p;
  }
}
