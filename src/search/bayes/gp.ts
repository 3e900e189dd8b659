/**
 * Gaussian-process regression for a Bayesian search strategy: inputs in [0, 1]^d (the caller scales
 * ordinal gene indices), one real output. Pure TypeScript on `Float64Array`s, deterministic.
 *
 * ## Model
 *
 * `y_i = f(x_i) + e_i`, `f ~ GP(0, k)`, `e_i ~ N(0, noiseVariance)`, on outputs standardised inside
 * the model (`(y - mean) / std`, `std` floored at 1e-12 so constant data works; predictions come back
 * in the caller's units). The kernel is Matérn-5/2 with one lengthscale per input (ARD):
 *
 *     k(x, x') = signalVariance (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r),
 *     r^2 = sum_j (x_j - x'_j)^2 / lengthscale_j^2.
 *
 * Optionally (`additiveVariance`, fitted when {@link GpFitOptions.additive} is set) a first-order
 * additive term is added: `additiveVariance / d * sum_j m(sqrt(d) |x_j - x'_j| / lengthscale_j)`,
 * `m` the Matérn-5/2 correlation of one input (the additive kernels of Duvenaud, Nickisch &
 * Rasmussen 2011, order one). It models functions that are mostly a sum of per-input effects, as an
 * accuracy is over per-layer adapter ranks, from few observations: a full 12-input kernel needs
 * points near each other in all 12 inputs to learn anything, the additive term learns each input's
 * effect from every point. The full term keeps the interactions; marginal likelihood weighs the two.
 * The lengthscales are shared (an irrelevant input is irrelevant to both) and scaled by `sqrt(d)`
 * in the additive term, so that the prior median (`sqrt(d)`, below) means a lengthscale of 1 per
 * input there, as for a one-input Matérn.
 *
 * ## Fitting
 *
 * {@link fitGaussianProcess} maximises log marginal likelihood + log hyperprior over the logs of
 * the hyperparameters, with analytic gradients, by a projected L-BFGS (bounds below) from a few
 * starts: the caller's warm start (or the prior medians when there is none), then `restarts`
 * random starts drawn from the hyperprior (clamped to the bounds) with the caller's `rng`. The
 * best end point wins. A random start is abandoned early when, at twice its best pace over its
 * last three iterations, it could not reach the best value found so far within its remaining
 * iterations; so a restart costs little when the warm start is good and runs in full when not.
 *
 * Hyperprior: independent normals on the logs (log-normal hyperparameters), on the standardised
 * output scale, for `d` inputs:
 *
 * - lengthscale_j: median `sqrt(d)`, sd of the log `sqrt(3)` (a factor 32 either way at 2 sd).
 *   Distances in [0, 1]^d grow like `sqrt(d)`, so this keeps the correlation of typical pairs of
 *   points moderate whatever `d` is, leaning smooth as high dimensions need (the argument of
 *   Hvarfner, Hellsten & Nardi 2024, "Vanilla Bayesian optimization performs great in high
 *   dimensions", whose prior is similar but centred on a longer `e^sqrt2 sqrt(d)`); wide, so data
 *   decide as soon as there are some.
 * - signalVariance: median 1, sd of the log 1.5: outputs are standardised, so the latent signal
 *   is of order 1.
 * - noiseVariance: median 0.01, sd of the log 2: prefers nearly interpolating fits, yet 2 sd
 *   reaches 0.55 of the output variance, so a noisy objective (an accuracy measured on a small
 *   validation set) is modelled as noisy.
 * - additiveVariance: median 0.5, sd of the log 1.5.
 *
 * Bounds (the box the optimiser keeps to, in the same units): lengthscales in
 * [0.01, 100 sqrt(d)] (below 0.01 the model is white noise on any grid of genes; at the top an
 * input is irrelevant), signal variance in [0.01, 100], additive variance in [1e-4, 100] (low
 * enough to switch the term off), noise variance in [1e-6, 1] (the floor
 * keeps duplicate inputs and noiseless data well-conditioned: the condition number of the kernel
 * matrix stays below `n signalVariance / noiseVariance + 1`, at most 4e10 for n = 400).
 *
 * ## Linear algebra
 *
 * Cholesky factor `K = L L^T` with adaptive jitter (none, then 1e-10 x mean diagonal, growing x10
 * up to 1e-4). The gradient of the log marginal likelihood is `1/2 tr((a a^T - K^-1) dK)` with
 * `a = K^-1 y`; `K^-1` comes from `L^-1` (about n^3/2 multiply-adds per value and gradient,
 * factorisation included; loops are blocked two rows by two so each load serves two products).
 * Predictions cost O(n d) per point for the mean and O(n^2) for the variance (one forward solve);
 * when every input takes at most 16 distinct values (scaled genes), the kernel's per-input terms
 * are looked up from a table instead of computed (bitwise the same numbers, no exponentials).
 * {@link GaussianProcess.condition} extends the factor by the new rows (block Cholesky, O(n^2 p)
 * for p new points) instead of refactoring.
 */
import { NlsError } from '../../errors.js';

/**
 * Hyperparameters of a {@link GaussianProcess}, on the standardised output scale (the variances
 * are fractions of the output variance of the training data).
 */
export interface GpHyperparameters {
  /** One Matérn-5/2 lengthscale per input dimension (inputs in [0, 1]). */
  readonly lengthscales: readonly number[];
  /** Prior variance of the latent function. */
  readonly signalVariance: number;
  /** Variance of the Gaussian observation noise. */
  readonly noiseVariance: number;
  /**
   * Variance of the first-order additive component (see the module comment); absent for the
   * plain Matérn-5/2 kernel.
   */
  readonly additiveVariance?: number;
}

/** Derivatives of a log density with respect to the *logs* of the hyperparameters. */
export interface GpHyperparameterGradient {
  /** `d / d log lengthscale_j`, one per input dimension. */
  readonly lengthscales: Float64Array;
  /** `d / d log signalVariance`. */
  readonly signalVariance: number;
  /** `d / d log noiseVariance`. */
  readonly noiseVariance: number;
  /** `d / d log additiveVariance` (additive kernels only). */
  readonly additiveVariance?: number;
}

/** A log density and its gradient with respect to the log-hyperparameters. */
export interface GpLogDensity {
  /** The log density. */
  readonly value: number;
  /** Its gradient. */
  readonly gradient: GpHyperparameterGradient;
}

/** Posterior of the latent function at some points, in the caller's output units. */
export interface GpPrediction {
  /** Posterior means. */
  readonly mean: Float64Array;
  /** Posterior variances of the latent function (observation noise excluded), `>= 0`. */
  readonly variance: Float64Array;
}

/** How a model standardises outputs: `(y - mean) / std`. */
export interface GpStandardization {
  /** Subtracted from the outputs. */
  readonly mean: number;
  /** Positive: by default the standard deviation of the outputs (divisor n), floored at 1e-12. */
  readonly std: number;
}

/** A Gaussian process conditioned on data, with fixed hyperparameters. Immutable. */
export interface GaussianProcess {
  /** The hyperparameters (standardised output scale). */
  readonly hyperparameters: GpHyperparameters;
  /** Number of observations. */
  readonly n: number;
  /** Number of input dimensions. */
  readonly d: number;
  /** The output standardisation (kept by {@link GaussianProcess.condition}). */
  readonly standardization: GpStandardization;
  /**
   * Posterior mean and latent variance at each row of `X` (O(n d + n^2) per point).
   *
   * @throws NlsError when a row does not have `d` finite values
   */
  predict(X: readonly (readonly number[])[]): GpPrediction;
  /**
   * The same hyperparameters and output standardisation, with extra observations (e.g. fantasies
   * for batch proposals): equal to {@link gaussianProcessWith} on all the data with this model's
   * `standardization`, at O(n^2 p) instead of O((n + p)^3). Falls back to a full factorisation
   * (with fresh jitter) when the extended matrix needs more jitter than this model's.
   *
   * @throws NlsError when the rows or values are malformed
   */
  condition(X: readonly (readonly number[])[], y: readonly number[]): GaussianProcess;
  /** Log marginal likelihood of the standardised training outputs (no hyperprior). */
  logMarginalLikelihood(): number;
}

/** Options of {@link fitGaussianProcess}. */
export interface GpFitOptions {
  /** Source of the random starts: uniform in [0, 1). The fit is deterministic given it. */
  readonly rng: () => number;
  /**
   * Random starts besides the warm (or default) start (default 2); one that cannot catch up with
   * the best value found so far stops early (see the module comment).
   */
  readonly restarts?: number;
  /** L-BFGS iterations per start (default 50). */
  readonly maxIterations?: number;
  /** Hyperparameters of an earlier fit to start from (clamped to the bounds). */
  readonly warmStart?: GpHyperparameters;
  /**
   * Add the first-order additive component to the kernel (default false; see the module
   * comment). A `warmStart` without `additiveVariance` starts it at its prior median.
   */
  readonly additive?: boolean;
}

/** Box and prior of the log-hyperparameters for `d` inputs (see the module comment). */
export interface GpHyperpriorSpec {
  /** Lower bounds of `[log lengthscale_1..d, log signalVariance, log noiseVariance(, log additiveVariance)]`. */
  readonly lower: Float64Array;
  /** Upper bounds, same layout. */
  readonly upper: Float64Array;
  /** Prior means of the logs, same layout. */
  readonly mean: Float64Array;
  /** Prior standard deviations of the logs, same layout. */
  readonly sd: Float64Array;
}

const SQRT5 = Math.sqrt(5);
const LOG_2PI = Math.log(2 * Math.PI);
const STD_FLOOR = 1e-12;

/** The hyperprior and bounds used by {@link fitGaussianProcess} for `d` inputs (and the additive component). */
export function gpHyperprior(d: number, additive = false): GpHyperpriorSpec {
  const p = d + (additive ? 3 : 2);
  const lower = new Float64Array(p);
  const upper = new Float64Array(p);
  const mean = new Float64Array(p);
  const sd = new Float64Array(p);
  const logSqrtD = 0.5 * Math.log(Math.max(d, 1));
  for (let j = 0; j < d; j++) {
    lower[j] = Math.log(0.01);
    upper[j] = Math.log(100) + logSqrtD;
    mean[j] = logSqrtD;
    sd[j] = Math.sqrt(3);
  }
  lower[d] = Math.log(0.01);
  upper[d] = Math.log(100);
  mean[d] = 0;
  sd[d] = 1.5;
  lower[d + 1] = Math.log(1e-6);
  upper[d + 1] = 0;
  mean[d + 1] = Math.log(0.01);
  sd[d + 1] = 2;
  if (additive) {
    lower[d + 2] = Math.log(1e-4);
    upper[d + 2] = Math.log(100);
    mean[d + 2] = Math.log(0.5);
    sd[d + 2] = 1.5;
  }
  return { lower, upper, mean, sd };
}

/**
 * Log density of the hyperprior (normal densities of the log-hyperparameters, so the value is
 * the log density of the logs) and its gradient with respect to the logs.
 */
export function logHyperprior(hyperparameters: GpHyperparameters): GpLogDensity {
  const d = hyperparameters.lengthscales.length;
  const theta = toTheta(hyperparameters);
  const grad = new Float64Array(theta.length);
  const value = priorTerm(theta, gpHyperprior(d, theta.length > d + 2), grad);
  return { value, gradient: splitGradient(grad, d) };
}

/** Adds the prior's gradient to `grad` and returns its value. */
function priorTerm(theta: Float64Array, prior: GpHyperpriorSpec, grad: Float64Array): number {
  let value = 0;
  for (let j = 0; j < theta.length; j++) {
    const s = prior.sd[j]!;
    const u = (theta[j]! - prior.mean[j]!) / s;
    value += -0.5 * u * u - Math.log(s) - 0.5 * LOG_2PI;
    grad[j] = grad[j]! - u / s;
  }
  return value;
}

function toTheta(hp: GpHyperparameters): Float64Array {
  const d = hp.lengthscales.length;
  const theta = new Float64Array(d + (hp.additiveVariance === undefined ? 2 : 3));
  for (let j = 0; j < d; j++) theta[j] = Math.log(hp.lengthscales[j]!);
  theta[d] = Math.log(hp.signalVariance);
  theta[d + 1] = Math.log(hp.noiseVariance);
  if (hp.additiveVariance !== undefined) theta[d + 2] = Math.log(hp.additiveVariance);
  return theta;
}

function fromTheta(theta: Float64Array, d: number): GpHyperparameters {
  return {
    lengthscales: Array.from(theta.subarray(0, d), Math.exp),
    signalVariance: Math.exp(theta[d]!),
    noiseVariance: Math.exp(theta[d + 1]!),
    ...(theta.length > d + 2 ? { additiveVariance: Math.exp(theta[d + 2]!) } : {}),
  };
}

function splitGradient(grad: Float64Array, d: number): GpHyperparameterGradient {
  return {
    lengthscales: grad.slice(0, d),
    signalVariance: grad[d]!,
    noiseVariance: grad[d + 1]!,
    ...(grad.length > d + 2 ? { additiveVariance: grad[d + 2]! } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Input checking and standardisation

function flattenInputs(X: readonly (readonly number[])[], d: number | undefined, field: string): { flat: Float64Array; d: number } {
  const dim = d ?? X[0]?.length ?? 0;
  const flat = new Float64Array(X.length * dim);
  X.forEach((row, i) => {
    if (row.length !== dim) throw new NlsError(`row ${i} has ${row.length} values, expected ${dim}`, { field: `${field}[${i}]` });
    for (let j = 0; j < dim; j++) {
      const v = row[j]!;
      if (!Number.isFinite(v)) throw new NlsError(`row ${i} has a non-finite value ${v}`, { field: `${field}[${i}]` });
      flat[i * dim + j] = v;
    }
  });
  return { flat, d: dim };
}

function checkOutputs(y: readonly number[], n: number, field: string): void {
  if (y.length !== n) throw new NlsError(`${y.length} outputs for ${n} input rows; fix: give one output per row`, { field });
  y.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new NlsError(`output ${i} is not finite: ${v}`, { field: `${field}[${i}]` });
  });
}

function standardizationOf(y: readonly number[]): GpStandardization {
  let mean = 0;
  for (const v of y) mean += v;
  mean /= y.length;
  let ss = 0;
  for (const v of y) ss += (v - mean) * (v - mean);
  return { mean, std: Math.max(Math.sqrt(ss / y.length), STD_FLOOR) };
}

function checkHyperparameters(hp: GpHyperparameters, d: number): void {
  const ok = (v: number): boolean => Number.isFinite(v) && v > 0;
  const additiveOk = hp.additiveVariance === undefined || ok(hp.additiveVariance);
  if (hp.lengthscales.length !== d || !hp.lengthscales.every(ok) || !ok(hp.signalVariance) || !ok(hp.noiseVariance) || !additiveOk) {
    throw new NlsError(`hyperparameters must be ${d} positive lengthscales and positive variances`, { field: 'hyperparameters' });
  }
}

// ---------------------------------------------------------------------------------------------
// Dense kernels (row-major Float64Array, lower triangles)

/** Dot product of `a[ao .. ao+len)` and `b[bo .. bo+len)`, four accumulators. */
function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[ao + k]! * b[bo + k]!;
    s1 += a[ao + k + 1]! * b[bo + k + 1]!;
    s2 += a[ao + k + 2]! * b[bo + k + 2]!;
    s3 += a[ao + k + 3]! * b[bo + k + 3]!;
  }
  for (; k < len; k++) s0 += a[ao + k]! * b[bo + k]!;
  return s0 + s1 + s2 + s3;
}

/**
 * In-place Cholesky of the lower triangle of `L` (n x n, row-major) with `jitter` added to the
 * diagonal, whose original values are in `diag`. Returns false when not positive definite.
 * Row-oriented (every inner loop runs along contiguous rows), two rows by two columns at a time so
 * that each loaded value serves two multiply-adds.
 */
function choleskyInPlace(L: Float64Array, n: number, diag: Float64Array, jitter: number): boolean {
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n;
    const r1 = r0 + n;
    let j = 0;
    for (; j + 1 < i; j += 2) {
      const c0 = j * n;
      const c1 = c0 + n;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = 0; k < j; k++) {
        const a0 = L[r0 + k]!;
        const a1 = L[r1 + k]!;
        const b0 = L[c0 + k]!;
        const b1 = L[c1 + k]!;
        s00 += a0 * b0;
        s01 += a0 * b1;
        s10 += a1 * b0;
        s11 += a1 * b1;
      }
      const d0 = L[c0 + j]!;
      const x0 = (L[r0 + j]! - s00) / d0;
      const x1 = (L[r1 + j]! - s10) / d0;
      L[r0 + j] = x0;
      L[r1 + j] = x1;
      const l = L[c1 + j]!;
      const d1 = L[c1 + j + 1]!;
      L[r0 + j + 1] = (L[r0 + j + 1]! - s01 - x0 * l) / d1;
      L[r1 + j + 1] = (L[r1 + j + 1]! - s11 - x1 * l) / d1;
    }
    for (; j < i; j++) {
      const c0 = j * n;
      let s0 = 0;
      let s1 = 0;
      for (let k = 0; k < j; k++) {
        const b = L[c0 + k]!;
        s0 += L[r0 + k]! * b;
        s1 += L[r1 + k]! * b;
      }
      const d0 = L[c0 + j]!;
      L[r0 + j] = (L[r0 + j]! - s0) / d0;
      L[r1 + j] = (L[r1 + j]! - s1) / d0;
    }
    let s00 = 0;
    let s10 = 0;
    let s11 = 0;
    for (let k = 0; k < i; k++) {
      const a0 = L[r0 + k]!;
      const a1 = L[r1 + k]!;
      s00 += a0 * a0;
      s10 += a1 * a0;
      s11 += a1 * a1;
    }
    const p0 = diag[i]! + jitter - s00;
    if (!(p0 > 0)) return false;
    const d0 = Math.sqrt(p0);
    L[r0 + i] = d0;
    const x = (L[r1 + i]! - s10) / d0;
    L[r1 + i] = x;
    const p1 = diag[i + 1]! + jitter - s11 - x * x;
    if (!(p1 > 0)) return false;
    L[r1 + i + 1] = Math.sqrt(p1);
  }
  if (i < n) {
    // The last row when n is odd.
    const ri = i * n;
    for (let j = 0; j < i; j++) L[ri + j] = (L[ri + j]! - dot(L, ri, L, j * n, j)) / L[j * n + j]!;
    const s = diag[i]! + jitter - dot(L, ri, L, ri, i);
    if (!(s > 0)) return false;
    L[ri + i] = Math.sqrt(s);
  }
  return true;
}

/**
 * Rows of `U = L^-T` into `U` (n x n, must be zero on entry): row j is column j of `L^-1`, nonzero
 * from j on, by forward substitution. Two columns by two rows at a time, like the factorisation.
 */
function inverseTransposeFactor(L: Float64Array, n: number, U: Float64Array): void {
  let j0 = 0;
  for (; j0 + 1 < n; j0 += 2) {
    const j1 = j0 + 1;
    const u0 = j0 * n;
    const u1 = u0 + n;
    U[u0 + j0] = 1 / L[j0 * n + j0]!;
    U[u1 + j1] = 1 / L[j1 * n + j1]!;
    U[u0 + j1] = (-L[j1 * n + j0]! * U[u0 + j0]!) / L[j1 * n + j1]!;
    let i0 = j1 + 1;
    for (; i0 + 1 < n; i0 += 2) {
      const r0 = i0 * n;
      const r1 = r0 + n;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      // U[j1][j0] is zero, so both columns' sums may start at j0.
      for (let k = j0; k < i0; k++) {
        const a0 = L[r0 + k]!;
        const a1 = L[r1 + k]!;
        const b0 = U[u0 + k]!;
        const b1 = U[u1 + k]!;
        s00 += a0 * b0;
        s01 += a0 * b1;
        s10 += a1 * b0;
        s11 += a1 * b1;
      }
      const d0 = -1 / L[r0 + i0]!;
      const x0 = s00 * d0;
      const x1 = s01 * d0;
      U[u0 + i0] = x0;
      U[u1 + i0] = x1;
      const l = L[r1 + i0]!;
      const d1 = -1 / L[r1 + i0 + 1]!;
      U[u0 + i0 + 1] = (s10 + l * x0) * d1;
      U[u1 + i0 + 1] = (s11 + l * x1) * d1;
    }
    if (i0 < n) {
      const r0 = i0 * n;
      let s0 = 0;
      let s1 = 0;
      for (let k = j0; k < i0; k++) {
        const a = L[r0 + k]!;
        s0 += a * U[u0 + k]!;
        s1 += a * U[u1 + k]!;
      }
      const d0 = -1 / L[r0 + i0]!;
      U[u0 + i0] = s0 * d0;
      U[u1 + i0] = s1 * d0;
    }
  }
  if (j0 < n) U[j0 * n + j0] = 1 / L[j0 * n + j0]!;
}

/** Solves `L x = b` in place (forward substitution). */
function forwardSolve(L: Float64Array, n: number, x: Float64Array): void {
  for (let i = 0; i < n; i++) x[i] = (x[i]! - dot(L, i * n, x, 0, i)) / L[i * n + i]!;
}

/** Solves `L^T x = b` in place (back substitution). */
function backSolve(L: Float64Array, n: number, x: Float64Array): void {
  for (let i = n - 1; i >= 0; i--) {
    const xi = x[i]! / L[i * n + i]!;
    x[i] = xi;
    for (let k = 0; k < i; k++) x[k] = x[k]! - L[i * n + k]! * xi;
  }
}

/** Matérn-5/2 correlation for squared scaled distance `r2` (unit signal variance). */
function matern52(r2: number): number {
  const r = Math.sqrt(r2);
  return (1 + SQRT5 * r + (5 / 3) * r2) * Math.exp(-SQRT5 * r);
}

/**
 * The kernel between points `a` (at `ao`) and `b` (at `bo`) of `d` inputs, given the inverse
 * squared lengthscales `il2`: the ARD Matérn term plus, when `s2a > 0`, the additive one.
 */
function kernelAt(a: Float64Array, ao: number, b: Float64Array, bo: number, d: number, il2: Float64Array, s2: number, s2a: number): number {
  let r2 = 0;
  let add = 0;
  for (let j = 0; j < d; j++) {
    const diff = a[ao + j]! - b[bo + j]!;
    const q = diff * diff * il2[j]!;
    r2 += q;
    if (s2a > 0) add += matern52(d * q);
  }
  return s2 * matern52(r2) + (s2a > 0 ? (s2a / d) * add : 0);
}

/** Most distinct values per input for which {@link KernelTable} looks the kernel's terms up. */
const TABLE_LEVELS = 16;

/**
 * The kernel's per-input terms looked up instead of computed, for inputs that take a few distinct
 * values (genes on a grid: a 3-choice gene has 3). For input j and each pair of its values (u, v)
 * the table holds `q = (u - v)^2 / l_j^2` and the additive term's `m(d q)`: the very numbers
 * {@link kernelAt} computes, summed in the same order, so the kernel is bitwise the same, without
 * d + 1 exponentials per pair (most of a prediction's cost on 24 genes).
 */
class KernelTable {
  private constructor(
    private readonly d: number,
    /** Per input, its distinct values (index = level). */
    private readonly levels: readonly Map<number, number>[],
    /** Start of input j's block (`L_j x L_j`, row = level of the first point) in the tables. */
    private readonly offsets: Int32Array,
    private readonly q: Float64Array,
    private readonly add: Float64Array,
    private readonly s2: number,
    private readonly s2a: number,
  ) {}

  /** A table for points drawn from `sets` (each `d`-wide, row-major), or undefined when some input has too many distinct values. */
  static build(sets: readonly Float64Array[], d: number, il2: Float64Array, s2: number, s2a: number): KernelTable | undefined {
    const levels: Map<number, number>[] = [];
    for (let j = 0; j < d; j++) {
      const map = new Map<number, number>();
      for (const flat of sets) {
        for (let o = j; o < flat.length; o += d) {
          const v = flat[o]!;
          if (!map.has(v)) {
            if (map.size === TABLE_LEVELS) return undefined;
            map.set(v, map.size);
          }
        }
      }
      levels.push(map);
    }
    const offsets = new Int32Array(d);
    let size = 0;
    for (let j = 0; j < d; j++) {
      offsets[j] = size;
      size += levels[j]!.size ** 2;
    }
    const q = new Float64Array(size);
    const add = new Float64Array(s2a > 0 ? size : 0);
    for (let j = 0; j < d; j++) {
      const values = [...levels[j]!.keys()];
      const Lj = values.length;
      for (let a = 0; a < Lj; a++) {
        for (let b = 0; b < Lj; b++) {
          const diff = values[a]! - values[b]!;
          const t = offsets[j]! + a * Lj + b;
          q[t] = diff * diff * il2[j]!;
          if (s2a > 0) add[t] = matern52(d * q[t]!);
        }
      }
    }
    return new KernelTable(d, levels, offsets, q, add, s2, s2a);
  }

  /** Row codes of `count` points of `flat` (the first point of a pair): index of the row of its value per input. */
  rowCodes(flat: Float64Array, count: number): Int32Array {
    const { d, levels, offsets } = this;
    const out = new Int32Array(count * d);
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < d; j++) out[i * d + j] = offsets[j]! + levels[j]!.get(flat[i * d + j]!)! * levels[j]!.size;
    }
    return out;
  }

  /** Column codes of `count` points of `flat` (the second point of a pair): the level of its value per input. */
  columnCodes(flat: Float64Array, count: number): Int32Array {
    const { d, levels } = this;
    const out = new Int32Array(count * d);
    for (let i = 0; i < count; i++) for (let j = 0; j < d; j++) out[i * d + j] = levels[j]!.get(flat[i * d + j]!)!;
    return out;
  }

  /** `kernelAt` of the point with row codes at `ro` and the point with column codes at `co`. */
  kernel(rows: Int32Array, ro: number, columns: Int32Array, co: number): number {
    const { d, q, add, s2, s2a } = this;
    let r2 = 0;
    if (s2a > 0) {
      let sum = 0;
      for (let j = 0; j < d; j++) {
        const t = rows[ro + j]! + columns[co + j]!;
        r2 += q[t]!;
        sum += add[t]!;
      }
      return s2 * matern52(r2) + (s2a / d) * sum;
    }
    for (let j = 0; j < d; j++) r2 += q[rows[ro + j]! + columns[co + j]!]!;
    return s2 * matern52(r2);
  }
}

/** Prior variance of the latent function at any point: `k(x, x)`. */
function priorVariance(hp: GpHyperparameters): number {
  return hp.signalVariance + (hp.additiveVariance ?? 0);
}

/**
 * Factorises `K = kernel matrix of the lower-triangle pair values + diag` with adaptive jitter.
 * `L` holds the strict lower triangle of the kernel on entry (diagonal ignored). Returns the jitter
 * used, or -1 when even the largest jitter fails.
 */
function factorWithJitter(L: Float64Array, n: number, diag: Float64Array, save: Float64Array): number {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += diag[i]!;
  meanDiag /= Math.max(n, 1);
  if (choleskyInPlace(L, n, diag, 0)) return 0;
  for (let rel = 1e-10; rel <= 1.0000001e-4; rel *= 10) {
    L.set(save);
    if (choleskyInPlace(L, n, diag, rel * meanDiag)) return rel * meanDiag;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The model

class Model implements GaussianProcess {
  readonly n: number;

  constructor(
    readonly d: number,
    /** Inputs, n x d row-major. */
    private readonly x: Float64Array,
    /** Standardised outputs. */
    private readonly ys: Float64Array,
    readonly hyperparameters: GpHyperparameters,
    readonly standardization: GpStandardization,
    /** Cholesky factor of K (+ jitter), n x n row-major lower. */
    private readonly L: Float64Array,
    private readonly jitter: number,
    /** K^-1 ys. */
    private readonly alpha: Float64Array,
  ) {
    this.n = ys.length;
  }

  private invL2(): Float64Array {
    return Float64Array.from(this.hyperparameters.lengthscales, (l) => 1 / (l * l));
  }

  /** Kernel values between the stored inputs and `q` (one point at offset `qo`) into `out`. */
  private crossKernel(q: Float64Array, qo: number, il2: Float64Array, out: Float64Array): void {
    const { n, d, x } = this;
    const s2 = this.hyperparameters.signalVariance;
    const s2a = this.hyperparameters.additiveVariance ?? 0;
    for (let i = 0; i < n; i++) out[i] = kernelAt(x, i * d, q, qo, d, il2, s2, s2a);
  }

  /** Kernel values between the stored inputs and every point of `flat` (`m` points), one function per point into `out`. */
  private crossKernels(flat: Float64Array, m: number, il2: Float64Array): (p: number, out: Float64Array) => void {
    const { n, d, x } = this;
    const table = KernelTable.build([x, flat], d, il2, this.hyperparameters.signalVariance, this.hyperparameters.additiveVariance ?? 0);
    if (table === undefined) return (p, out) => this.crossKernel(flat, p * d, il2, out);
    const rows = table.rowCodes(x, n);
    const columns = table.columnCodes(flat, m);
    return (p, out) => {
      for (let i = 0; i < n; i++) out[i] = table.kernel(rows, i * d, columns, p * d);
    };
  }

  predict(X: readonly (readonly number[])[]): GpPrediction {
    const { flat } = flattenInputs(X, this.d, 'X');
    const m = X.length;
    const { n, d, L, alpha } = this;
    const il2 = this.invL2();
    const s2 = priorVariance(this.hyperparameters);
    const { mean: yMean, std: yStd } = this.standardization;
    const mean = new Float64Array(m);
    const variance = new Float64Array(m);
    // Four points at a time: their kernel vectors interleaved (v[4 i + b]) so that the forward
    // solve L v = k loads each entry of L once for four right-hand sides.
    const kernels = this.crossKernels(flat, m, il2);
    const k = new Float64Array(n);
    const v = new Float64Array(4 * n);
    for (let p0 = 0; p0 < m; p0 += 4) {
      const count = Math.min(4, m - p0);
      v.fill(0);
      for (let b = 0; b < count; b++) {
        kernels(p0 + b, k);
        mean[p0 + b] = yMean + yStd * dot(k, 0, alpha, 0, n);
        for (let i = 0; i < n; i++) v[4 * i + b] = k[i]!;
      }
      for (let i = 0; i < n; i++) {
        const ri = i * n;
        let t0 = 0;
        let t1 = 0;
        let t2 = 0;
        let t3 = 0;
        for (let c = 0; c < i; c++) {
          const l = L[ri + c]!;
          const o = 4 * c;
          t0 += l * v[o]!;
          t1 += l * v[o + 1]!;
          t2 += l * v[o + 2]!;
          t3 += l * v[o + 3]!;
        }
        const inv = 1 / L[ri + i]!;
        const o = 4 * i;
        v[o] = (v[o]! - t0) * inv;
        v[o + 1] = (v[o + 1]! - t1) * inv;
        v[o + 2] = (v[o + 2]! - t2) * inv;
        v[o + 3] = (v[o + 3]! - t3) * inv;
      }
      for (let b = 0; b < count; b++) {
        let quad = 0;
        for (let i = 0; i < n; i++) quad += v[4 * i + b]! * v[4 * i + b]!;
        variance[p0 + b] = yStd * yStd * Math.max(s2 - quad, 0);
      }
    }
    return { mean, variance };
  }

  condition(X: readonly (readonly number[])[], y: readonly number[]): GaussianProcess {
    const { flat: xNew } = flattenInputs(X, this.d, 'X');
    checkOutputs(y, X.length, 'y');
    const p = X.length;
    if (p === 0) return this;
    const { n, d, L, hyperparameters: hp, standardization: st } = this;
    const N = n + p;
    const xAll = new Float64Array(N * d);
    xAll.set(this.x);
    xAll.set(xNew, n * d);
    const ysAll = new Float64Array(N);
    ysAll.set(this.ys);
    for (let i = 0; i < p; i++) ysAll[n + i] = (y[i]! - st.mean) / st.std;

    // New factor [[L, 0], [S^T, L22]]: rows n.. hold S^T = (L^-1 B)^T and the factor of the Schur
    // complement C - S^T S, B = k(X, Xnew), C = k(Xnew, Xnew) + (noise + jitter) I.
    const big = new Float64Array(N * N);
    for (let i = 0; i < n; i++) big.set(L.subarray(i * n, i * n + n), i * N);
    const il2 = this.invL2();
    const row = new Float64Array(n);
    for (let a = 0; a < p; a++) {
      this.crossKernel(xNew, a * d, il2, row);
      forwardSolve(L, n, row);
      const ro = (n + a) * N;
      big.set(row, ro);
      for (let b = 0; b <= a; b++) big[ro + n + b] = kernelAt(xNew, a * d, xNew, b * d, d, il2, hp.signalVariance, hp.additiveVariance ?? 0);
    }
    // Row-oriented Cholesky of the new rows only (the dot products span the whole row, which
    // subtracts S^T S on the fly).
    let ok = true;
    for (let i = n; i < N && ok; i++) {
      const ri = i * N;
      for (let j = n; j < i; j++) big[ri + j] = (big[ri + j]! - dot(big, ri, big, j * N, j)) / big[j * N + j]!;
      const s = priorVariance(hp) + hp.noiseVariance + this.jitter - dot(big, ri, big, ri, i);
      if (!(s > 0)) ok = false;
      else big[ri + i] = Math.sqrt(s);
    }
    if (!ok) return buildModel(xAll, d, ysAll, hp, st);
    const alpha = Float64Array.from(ysAll);
    forwardSolve(big, N, alpha);
    backSolve(big, N, alpha);
    return new Model(d, xAll, ysAll, hp, st, big, this.jitter, alpha);
  }

  logMarginalLikelihood(): number {
    const { n, L } = this;
    let logDet = 0;
    for (let i = 0; i < n; i++) logDet += Math.log(L[i * n + i]!);
    return -0.5 * dot(this.ys, 0, this.alpha, 0, n) - logDet - 0.5 * n * LOG_2PI;
  }
}

/** Builds a model on standardised outputs `ys` (full factorisation with adaptive jitter). */
function buildModel(x: Float64Array, d: number, ys: Float64Array, hp: GpHyperparameters, st: GpStandardization): Model {
  const n = ys.length;
  const il2 = Float64Array.from(hp.lengthscales, (l) => 1 / (l * l));
  const L = new Float64Array(n * n);
  const diag = new Float64Array(n).fill(priorVariance(hp) + hp.noiseVariance);
  const s2a = hp.additiveVariance ?? 0;
  const table = KernelTable.build([x], d, il2, hp.signalVariance, s2a);
  const rows = table?.rowCodes(x, n);
  const columns = table?.columnCodes(x, n);
  const pair = table ? (i: number, k: number) => table.kernel(rows!, i * d, columns!, k * d) : (i: number, k: number) => kernelAt(x, i * d, x, k * d, d, il2, hp.signalVariance, s2a);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) L[i * n + k] = pair(i, k);
  }
  const save = L.slice();
  const jitter = factorWithJitter(L, n, diag, save);
  if (jitter < 0) {
    throw new NlsError('the kernel matrix is not positive definite even with jitter 1e-4; fix: raise noiseVariance', { field: 'hyperparameters' });
  }
  const alpha = Float64Array.from(ys);
  forwardSolve(L, n, alpha);
  backSolve(L, n, alpha);
  return new Model(d, x, ys, hp, st, L, jitter, alpha);
}

function prepare(X: readonly (readonly number[])[], y: readonly number[]): { x: Float64Array; d: number; n: number } {
  if (X.length === 0) throw new NlsError('a Gaussian process needs at least one observation', { field: 'X' });
  const { flat, d } = flattenInputs(X, undefined, 'X');
  if (d === 0) throw new NlsError('inputs need at least one dimension', { field: 'X' });
  checkOutputs(y, X.length, 'y');
  return { x: flat, d, n: X.length };
}

function standardize(y: readonly number[], st: GpStandardization): Float64Array {
  return Float64Array.from(y, (v) => (v - st.mean) / st.std);
}

/**
 * A Gaussian process on `(X, y)` with the given hyperparameters (no fitting).
 *
 * @param standardization how to standardise `y`; by default its own mean and standard deviation
 * @throws NlsError for malformed data or hyperparameters, or when the kernel matrix cannot be
 *   factorised even with the largest jitter
 */
export function gaussianProcessWith(
  X: readonly (readonly number[])[],
  y: readonly number[],
  hyperparameters: GpHyperparameters,
  standardization?: GpStandardization,
): GaussianProcess {
  const { x, d } = prepare(X, y);
  checkHyperparameters(hyperparameters, d);
  const st = standardization ?? standardizationOf(y);
  if (!(st.std > 0) || !Number.isFinite(st.mean) || !Number.isFinite(st.std)) {
    throw new NlsError(`standardization needs a finite mean and a positive std`, { field: 'standardization' });
  }
  const hp: GpHyperparameters = { ...hyperparameters, lengthscales: [...hyperparameters.lengthscales] };
  return buildModel(x, d, standardize(y, st), hp, st);
}

// ---------------------------------------------------------------------------------------------
// Log marginal likelihood and its gradient

/** Buffers reused across evaluations of the objective during one fit. */
class Workspace {
  readonly npairs: number;
  /** Inputs transposed (d x n), so that loops over observations run along contiguous memory. */
  readonly xT: Float64Array;
  /** Inputs divided by the current lengthscales, transposed (d x n). */
  readonly xsT: Float64Array;
  /** Kernel value per pair (i, k), i > k, numbered row by row: `p = i (i - 1) / 2 + k`. */
  readonly kPair: Float64Array;
  /** (5/3) s2 (1 + sqrt5 r) exp(-sqrt5 r) per pair: d k / d log lengthscale_j = this * diff_j^2 / l_j^2. */
  readonly gPair: Float64Array;
  /** Per pair: `W_ik gPair`, `W = a a^T - K^-1`. */
  readonly cPair: Float64Array;
  /** Additive kernels only: the additive term per pair, and `W_ik` per pair. */
  readonly kAddPair: Float64Array;
  readonly wPair: Float64Array;
  /**
   * Additive kernels only, input-major (`j * npairs + pair`): `rho^2 (1 + sqrt5 rho) exp(-sqrt5 rho)`
   * of input j's term, so that the gradient needs no exponential of its own.
   */
  readonly addGrad: Float64Array;
  /** Scratch rows: squared scaled distances from one point to the points before it, and the additive sums. */
  readonly row: Float64Array;
  readonly addRow: Float64Array;
  /** `sum over pairs of W_ik kAddPair`, accumulated by {@link Workspace.pair}. */
  private wAdd = 0;
  readonly L: Float64Array;
  readonly save: Float64Array;
  readonly diag: Float64Array;
  readonly alpha: Float64Array;
  readonly inv: Float64Array;
  /** Theta of the last successful factorisation. */
  factored: Float64Array | undefined;

  constructor(
    x: Float64Array,
    readonly n: number,
    readonly d: number,
    readonly ys: Float64Array,
    readonly additive: boolean,
  ) {
    const npairs = (n * (n - 1)) / 2;
    this.npairs = npairs;
    this.xT = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) this.xT[j * n + i] = x[i * d + j]!;
    this.xsT = new Float64Array(n * d);
    this.kPair = new Float64Array(npairs);
    this.gPair = new Float64Array(npairs);
    this.cPair = new Float64Array(npairs);
    this.kAddPair = new Float64Array(additive ? npairs : 0);
    this.wPair = new Float64Array(additive ? npairs : 0);
    this.addGrad = new Float64Array(additive ? npairs * d : 0);
    this.row = new Float64Array(n);
    this.addRow = new Float64Array(additive ? n : 0);
    this.L = new Float64Array(n * n);
    this.save = new Float64Array(n * n);
    this.diag = new Float64Array(n);
    this.alpha = new Float64Array(n);
    this.inv = new Float64Array(n * n);
  }

  /** Factorises K(theta); returns the log marginal likelihood, or NaN when K is not PD. */
  value(theta: Float64Array): number {
    const { n, d, npairs, xT, xsT, kPair, gPair, L, diag, row, addRow, kAddPair, addGrad, additive } = this;
    for (let j = 0; j < d; j++) {
      const scale = Math.exp(-theta[j]!);
      for (let i = 0; i < n; i++) xsT[j * n + i] = xT[j * n + i]! * scale;
    }
    const s2 = Math.exp(theta[d]!);
    const noise = Math.exp(theta[d + 1]!);
    const s2a = additive ? Math.exp(theta[d + 2]!) : 0;
    const MEMO = 8;
    const memoQ = new Float64Array(MEMO);
    const memoM = new Float64Array(MEMO);
    const memoG = new Float64Array(MEMO);
    for (let i = 0; i < n; i++) {
      // Squared scaled distances from point i to the points before it, dimension by dimension.
      row.fill(0, 0, i);
      if (additive) addRow.fill(0, 0, i);
      for (let j = 0; j < d; j++) {
        const o = j * n;
        const a = xsT[o + i]!;
        for (let k = 0; k < i; k++) {
          const diff = a - xsT[o + k]!;
          row[k] = row[k]! + diff * diff;
        }
        if (additive) {
          // Genes take a few grid values, so one input's distances repeat: the last few distinct
          // ones are remembered (exact float equality; a miss computes as usual).
          const go = j * npairs + (i * (i - 1)) / 2;
          let seen = 0;
          for (let k = 0; k < i; k++) {
            const q = d * (a - xsT[o + k]!) ** 2;
            let t = 0;
            while (t < seen && memoQ[t] !== q) t++;
            if (t === seen) {
              const rho = Math.sqrt(q);
              const e = Math.exp(-SQRT5 * rho);
              t = seen < MEMO ? seen++ : MEMO - 1;
              memoQ[t] = q;
              memoM[t] = (1 + SQRT5 * rho + (5 / 3) * q) * e;
              memoG[t] = q * (1 + SQRT5 * rho) * e;
            }
            addRow[k] = addRow[k]! + memoM[t]!;
            addGrad[go + k] = memoG[t]!;
          }
        }
      }
      const ri = i * n;
      const p0 = (i * (i - 1)) / 2;
      for (let k = 0; k < i; k++) {
        const q = row[k]!;
        const r = Math.sqrt(q);
        const e = s2 * Math.exp(-SQRT5 * r);
        const kv = (1 + SQRT5 * r + (5 / 3) * q) * e;
        kPair[p0 + k] = kv;
        gPair[p0 + k] = (5 / 3) * (1 + SQRT5 * r) * e;
        L[ri + k] = kv;
        if (additive) {
          const ka = (s2a / d) * addRow[k]!;
          kAddPair[p0 + k] = ka;
          L[ri + k] = kv + ka;
        }
      }
    }
    diag.fill(s2 + s2a + noise);
    this.save.set(L);
    this.factored = undefined;
    if (factorWithJitter(L, n, diag, this.save) < 0) return NaN;
    const alpha = this.alpha;
    alpha.set(this.ys);
    forwardSolve(L, n, alpha);
    let logDet = 0;
    for (let i = 0; i < n; i++) logDet += Math.log(L[i * n + i]!);
    const quad = dot(alpha, 0, alpha, 0, n);
    backSolve(L, n, alpha);
    this.factored = theta.slice();
    return -0.5 * quad - logDet - 0.5 * n * LOG_2PI;
  }

  /** Records pair (i, k), i > k, with `(K^-1)_ik = kinv`; returns `W_ik kPair` for the signal gradient. */
  private pair(i: number, k: number, kinv: number): number {
    const p = (i * (i - 1)) / 2 + k;
    const w = this.alpha[i]! * this.alpha[k]! - kinv;
    this.cPair[p] = w * this.gPair[p]!;
    if (this.additive) {
      this.wPair[p] = w;
      this.wAdd += w * this.kAddPair[p]!;
    }
    return w * this.kPair[p]!;
  }

  /**
   * Gradient of the log marginal likelihood with respect to theta at the last factorised point,
   * into `grad`: `1/2 tr(W dK)`, `W = a a^T - K^-1`.
   */
  gradient(grad: Float64Array): void {
    const { n, d, L, inv: U, alpha, xsT, cPair } = this;
    const theta = this.factored!;
    const noise = Math.exp(theta[d + 1]!);
    const s2 = Math.exp(theta[d]!);
    U.fill(0);
    inverseTransposeFactor(L, n, U);
    this.wAdd = 0;
    // (K^-1)_ik = sum_{m >= max(i, k)} U_im U_km, two rows by two rows at a time (U_im = 0 for
    // m < i, so the sums of a 2 x 2 block may all start at the first row of the upper pair).
    let gS = 0;
    let traceW = 0;
    for (let i0 = 0; i0 < n; i0 += 2) {
      const u0 = i0 * n;
      if (i0 + 1 === n) {
        const last = U[u0 + i0]!;
        for (let k = 0; k < i0; k++) gS += this.pair(i0, k, last * U[k * n + i0]!);
        traceW += alpha[i0]! * alpha[i0]! - last * last;
        break;
      }
      const i1 = i0 + 1;
      const u1 = u0 + n;
      for (let k0 = 0; k0 < i0; k0 += 2) {
        const v0 = k0 * n;
        const v1 = v0 + n;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        for (let m = i0; m < n; m++) {
          const a0 = U[u0 + m]!;
          const a1 = U[u1 + m]!;
          const b0 = U[v0 + m]!;
          const b1 = U[v1 + m]!;
          s00 += a0 * b0;
          s01 += a0 * b1;
          s10 += a1 * b0;
          s11 += a1 * b1;
        }
        gS += this.pair(i0, k0, s00) + this.pair(i0, k0 + 1, s01) + this.pair(i1, k0, s10) + this.pair(i1, k0 + 1, s11);
      }
      gS += this.pair(i1, i0, dot(U, u1 + i1, U, u0 + i1, n - i1));
      traceW += alpha[i0]! * alpha[i0]! - dot(U, u0 + i0, U, u0 + i0, n - i0);
      traceW += alpha[i1]! * alpha[i1]! - dot(U, u1 + i1, U, u1 + i1, n - i1);
    }
    // d k / d log l_j summed against W: sum over pairs of cPair * (scaled difference in j)^2.
    for (let j = 0; j < d; j++) grad[j] = 0;
    for (let i = 1; i < n; i++) {
      const p0 = (i * (i - 1)) / 2;
      for (let j = 0; j < d; j++) {
        const o = j * n;
        const a = xsT[o + i]!;
        let sum = 0;
        for (let k = 0; k < i; k++) {
          const diff = a - xsT[o + k]!;
          sum += cPair[p0 + k]! * diff * diff;
        }
        grad[j] = grad[j]! + sum;
      }
    }
    grad[d] = gS + 0.5 * s2 * traceW;
    grad[d + 1] = 0.5 * noise * traceW;
    if (this.additive) {
      // Additive term: d/d log l_j of (s2a/d) matern(rho_j), rho_j^2 = d (scaled difference)^2, is
      // (s2a/d) (5/3) rho_j^2 (1 + sqrt5 rho_j) exp(-sqrt5 rho_j).
      const s2a = Math.exp(theta[d + 2]!);
      const { wPair, addGrad, npairs } = this;
      for (let j = 0; j < d; j++) grad[j] = grad[j]! + ((s2a / d) * (5 / 3)) * dot(wPair, 0, addGrad, j * npairs, npairs);
      grad[d + 2] = this.wAdd + 0.5 * s2a * traceW;
    }
  }
}

/**
 * Log marginal likelihood of `y` (standardised by its own mean and standard deviation, as in
 * {@link gaussianProcessWith}) under the given hyperparameters, with its gradient with respect to
 * the logs of the hyperparameters. Jitter added for a stable factorisation is left out of the
 * gradient.
 *
 * @throws NlsError for malformed data, or when the kernel matrix cannot be factorised
 */
export function logMarginalLikelihoodWithGradient(X: readonly (readonly number[])[], y: readonly number[], hyperparameters: GpHyperparameters): GpLogDensity {
  const { x, d, n } = prepare(X, y);
  checkHyperparameters(hyperparameters, d);
  const theta = toTheta(hyperparameters);
  const ws = new Workspace(x, n, d, standardize(y, standardizationOf(y)), theta.length > d + 2);
  const value = ws.value(theta);
  if (Number.isNaN(value)) throw new NlsError('the kernel matrix is not positive definite even with jitter 1e-4', { field: 'hyperparameters' });
  const grad = new Float64Array(theta.length);
  ws.gradient(grad);
  return { value, gradient: splitGradient(grad, d) };
}

// ---------------------------------------------------------------------------------------------
// Optimisation: projected L-BFGS on the negative log posterior, in log space

interface Objective {
  /** Value at theta (NaN or Infinity when undefined); must be followed by `gradient` at the same point. */
  value(theta: Float64Array): number;
  gradient(theta: Float64Array, grad: Float64Array): void;
}

interface OptimumResult {
  readonly theta: Float64Array;
  readonly value: number;
}

const MEMORY = 8;
/** Largest change of any log-hyperparameter in one step. */
const MAX_STEP = 2;
/** Largest change of any log-hyperparameter in the first step, before curvature is known. */
const FIRST_STEP = 0.25;

/**
 * Minimises `f` within the box [lower, upper] from `start` by L-BFGS with projection: the search
 * direction is zeroed on variables held at a bound by the gradient, iterates are projected onto
 * the box, and steps are found by backtracking with quadratic interpolation (Armijo condition).
 * Falls back to the projected steepest descent when the quasi-Newton direction is not a descent
 * direction. Stops at `maxIterations`, when the projected gradient or the decrease of an iteration
 * is negligible, or, given the value `target` reached from an earlier start, when even twice its
 * best pace over the last three iterations would not bring this run to `target` in the iterations
 * left (a hopeless random start).
 */
function minimizeBoxed(
  f: Objective,
  start: Float64Array,
  lower: Float64Array,
  upper: Float64Array,
  maxIterations: number,
  target: number,
): OptimumResult {
  const dim = start.length;
  const project = (v: Float64Array): void => {
    for (let j = 0; j < dim; j++) v[j] = Math.min(Math.max(v[j]!, lower[j]!), upper[j]!);
  };
  let x = start.slice();
  project(x);
  let fx = f.value(x);
  if (!Number.isFinite(fx)) return { theta: x, value: Infinity };
  let g = new Float64Array(dim);
  f.gradient(x, g);
  const sMem: Float64Array[] = [];
  const yMem: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(dim);
  const xNew = new Float64Array(dim);
  const alphaTmp = new Float64Array(MEMORY);
  const recent: number[] = [];
  const free = (j: number, gj: number): boolean => !((x[j]! <= lower[j]! && gj > 0) || (x[j]! >= upper[j]! && gj < 0));

  for (let iter = 0; iter < maxIterations; iter++) {
    let pgNorm = 0;
    for (let j = 0; j < dim; j++) if (free(j, g[j]!)) pgNorm = Math.max(pgNorm, Math.abs(g[j]!));
    if (pgNorm < 1e-6) break;

    // Two-loop recursion on the free variables.
    for (let j = 0; j < dim; j++) dir[j] = free(j, g[j]!) ? -g[j]! : 0;
    const m = sMem.length;
    for (let t = m - 1; t >= 0; t--) {
      let a = 0;
      for (let j = 0; j < dim; j++) a += sMem[t]![j]! * dir[j]!;
      a *= rho[t]!;
      alphaTmp[t] = a;
      for (let j = 0; j < dim; j++) dir[j] = dir[j]! - a * yMem[t]![j]!;
    }
    if (m > 0) {
      let sy = 0;
      let yy = 0;
      for (let j = 0; j < dim; j++) {
        sy += sMem[m - 1]![j]! * yMem[m - 1]![j]!;
        yy += yMem[m - 1]![j]! * yMem[m - 1]![j]!;
      }
      const gamma = sy / yy;
      for (let j = 0; j < dim; j++) dir[j] = dir[j]! * gamma;
    }
    for (let t = 0; t < m; t++) {
      let b = 0;
      for (let j = 0; j < dim; j++) b += yMem[t]![j]! * dir[j]!;
      b *= rho[t]!;
      for (let j = 0; j < dim; j++) dir[j] = dir[j]! + (alphaTmp[t]! - b) * sMem[t]![j]!;
    }
    for (let j = 0; j < dim; j++) if (!free(j, g[j]!)) dir[j] = 0;
    let slope = 0;
    for (let j = 0; j < dim; j++) slope += g[j]! * dir[j]!;
    if (!(slope < 0)) {
      sMem.length = yMem.length = rho.length = 0;
      for (let j = 0; j < dim; j++) dir[j] = free(j, g[j]!) ? -g[j]! : 0;
    }
    let dirMax = 0;
    for (let j = 0; j < dim; j++) dirMax = Math.max(dirMax, Math.abs(dir[j]!));
    let step = sMem.length === 0 ? Math.min(1, FIRST_STEP / dirMax) : 1;
    if (step * dirMax > MAX_STEP) step = MAX_STEP / dirMax;

    // Backtracking line search on the projected path.
    let accepted = false;
    let fNew = Infinity;
    for (let tries = 0; tries < 20; tries++) {
      for (let j = 0; j < dim; j++) xNew[j] = x[j]! + step * dir[j]!;
      project(xNew);
      let decrease = 0;
      for (let j = 0; j < dim; j++) decrease += g[j]! * (xNew[j]! - x[j]!);
      if (!(decrease < 0)) break;
      fNew = f.value(xNew);
      if (Number.isFinite(fNew) && fNew <= fx + 1e-4 * decrease) {
        accepted = true;
        break;
      }
      // Minimiser of the quadratic through f(x), the slope and f(xNew), kept within [0.1, 0.5] step.
      const curvature = fNew - fx - decrease;
      const shrink = Number.isFinite(fNew) && curvature > 0 ? -decrease / (2 * curvature) : 0.1;
      step *= Math.min(Math.max(shrink, 0.1), 0.5);
    }
    if (!accepted) break;
    // Stopping tests need only values: decide before paying for the gradient at the new point.
    const change = fx - fNew;
    recent.push(change);
    if (recent.length > 3) recent.shift();
    if (change <= 1e-9 * Math.max(1, Math.abs(fNew)) || fNew - target > 2 * (maxIterations - iter - 1) * Math.max(...recent) || iter + 1 === maxIterations) {
      x = xNew.slice();
      fx = fNew;
      break;
    }
    const gNew = new Float64Array(dim);
    f.gradient(xNew, gNew);
    const s = new Float64Array(dim);
    const yv = new Float64Array(dim);
    let sy = 0;
    let ss = 0;
    let yy = 0;
    for (let j = 0; j < dim; j++) {
      s[j] = xNew[j]! - x[j]!;
      yv[j] = gNew[j]! - g[j]!;
      sy += s[j]! * yv[j]!;
      ss += s[j]! * s[j]!;
      yy += yv[j]! * yv[j]!;
    }
    if (sy > 1e-10 * Math.sqrt(ss * yy)) {
      if (sMem.length === MEMORY) {
        sMem.shift();
        yMem.shift();
        rho.shift();
      }
      sMem.push(s);
      yMem.push(yv);
      rho.push(1 / sy);
    }
    x = xNew.slice();
    g = gNew;
    fx = fNew;
  }
  return { theta: x, value: fx };
}

/** A standard normal draw from a uniform source (Box–Muller, one value per call). */
function gaussian(rng: () => number): number {
  const u = 1 - rng(); // (0, 1]
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Fits a Gaussian process to `(X, y)`: the hyperparameters maximise log marginal likelihood + log
 * hyperprior (see the module comment for the prior, the bounds and the optimiser). Starts: the
 * `warmStart` (clamped to the bounds) or, without one, the prior medians; then `restarts` random
 * starts drawn from the hyperprior with `rng` (all drawn before optimising, so the fit is a
 * deterministic function of the data, the options and the rng stream).
 *
 * @param X inputs, one row of `d` values in [0, 1] per observation (at least one row)
 * @param y one finite output per row, in the caller's units
 * @throws NlsError for malformed data or options, or when no start yields a factorisable kernel
 */
export function fitGaussianProcess(
  X: readonly (readonly number[])[],
  y: readonly number[],
  options: GpFitOptions,
): GaussianProcess {
  const { x, d, n } = prepare(X, y);
  const restarts = options.restarts ?? 2;
  const maxIterations = options.maxIterations ?? 50;
  if (!Number.isInteger(restarts) || restarts < 0) throw new NlsError(`restarts must be an integer >= 0, got ${restarts}`, { field: 'restarts' });
  if (!Number.isInteger(maxIterations) || maxIterations < 0) {
    throw new NlsError(`maxIterations must be an integer >= 0, got ${maxIterations}`, { field: 'maxIterations' });
  }
  const st = standardizationOf(y);
  const ys = standardize(y, st);
  const additive = options.additive ?? false;
  const prior = gpHyperprior(d, additive);
  const p = prior.mean.length;
  const clamp = (theta: Float64Array): Float64Array => theta.map((v, j) => Math.min(Math.max(v, prior.lower[j]!), prior.upper[j]!));

  const starts: Float64Array[] = [];
  if (options.warmStart) {
    checkHyperparameters(options.warmStart, d);
    const warm = toTheta(options.warmStart);
    const theta = prior.mean.slice();
    theta.set(warm.subarray(0, Math.min(p, warm.length)));
    starts.push(clamp(theta));
  } else {
    starts.push(prior.mean.slice());
  }
  for (let r = 0; r < restarts; r++) {
    const theta = new Float64Array(p);
    for (let j = 0; j < p; j++) theta[j] = prior.mean[j]! + prior.sd[j]! * gaussian(options.rng);
    starts.push(clamp(theta));
  }

  const ws = new Workspace(x, n, d, ys, additive);
  const objective: Objective = {
    value: (theta) => {
      const lml = ws.value(theta);
      if (Number.isNaN(lml)) return Infinity;
      const scratch = new Float64Array(p);
      return -(lml + priorTerm(theta, prior, scratch));
    },
    gradient: (theta, grad) => {
      ws.gradient(grad);
      priorTerm(theta, prior, grad);
      for (let j = 0; j < p; j++) grad[j] = -grad[j]!;
    },
  };
  let best: OptimumResult | undefined;
  for (const start of starts) {
    const result = minimizeBoxed(objective, start, prior.lower, prior.upper, maxIterations, best?.value ?? Infinity);
    if (Number.isFinite(result.value) && (best === undefined || result.value < best.value)) best = result;
  }
  if (!best) throw new NlsError('no start gave a positive definite kernel matrix', { field: 'X' });
  return buildModel(x, d, ys, fromTheta(best.theta, d), st);
}
