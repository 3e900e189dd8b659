import { describe, expect, it } from 'vitest';
import {
  fitGaussianProcess,
  gaussianProcessWith,
  gpHyperprior,
  logHyperprior,
  logMarginalLikelihoodWithGradient,
  type GpHyperparameters,
} from '../../../src/search/bayes/gp.js';
import { createRng } from '../../../src/util/rng.js';

/** Matérn-5/2 correlation at distance r. */
const matern = (r: number): number => (1 + Math.sqrt(5) * r + (5 * r * r) / 3) * Math.exp(-Math.sqrt(5) * r);

/**
 * Matérn-5/2 with ARD lengthscales, written out from the textbook formula, plus the first-order
 * additive term (one Matérn-5/2 per input at lengthscale l_j / sqrt(d), averaged) when present.
 */
function kernel(a: readonly number[], b: readonly number[], hp: GpHyperparameters): number {
  const d = a.length;
  const r = Math.sqrt(a.reduce((s, v, j) => s + ((v - b[j]!) / hp.lengthscales[j]!) ** 2, 0));
  let additive = 0;
  for (let j = 0; j < d; j++) additive += matern((Math.abs(a[j]! - b[j]!) * Math.sqrt(d)) / hp.lengthscales[j]!);
  return hp.signalVariance * matern(r) + ((hp.additiveVariance ?? 0) * additive) / d;
}

/** Inverse and log-determinant by Gauss–Jordan elimination with partial pivoting. */
function invert(A: number[][]): { inv: number[][]; logDet: number } {
  const n = A.length;
  const M = A.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const pivot = M[c]![c]!;
    logDet += Math.log(Math.abs(pivot));
    for (let j = 0; j < 2 * n; j++) M[c]![j]! /= pivot;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]!;
      for (let j = 0; j < 2 * n; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  return { inv: M.map((row) => row.slice(n)), logDet };
}

/** The textbook posterior and log marginal likelihood, with standardised outputs. */
function naivePosterior(X: number[][], y: number[], hp: GpHyperparameters, Q: number[][]) {
  const n = y.length;
  const mean = y.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
  const ys = y.map((v) => (v - mean) / std);
  const K = X.map((a, i) => X.map((b, j) => kernel(a, b, hp) + (i === j ? hp.noiseVariance : 0)));
  const { inv, logDet } = invert(K);
  const alpha = inv.map((row) => row.reduce((s, v, j) => s + v * ys[j]!, 0));
  const lml = -0.5 * ys.reduce((s, v, i) => s + v * alpha[i]!, 0) - 0.5 * logDet - 0.5 * n * Math.log(2 * Math.PI);
  const means = Q.map((q) => mean + std * X.reduce((s, x, i) => s + kernel(q, x, hp) * alpha[i]!, 0));
  const variances = Q.map((q) => {
    const k = X.map((x) => kernel(q, x, hp));
    const quad = k.reduce((s, ki, i) => s + ki * inv[i]!.reduce((t, v, j) => t + v * k[j]!, 0), 0);
    return std * std * (hp.signalVariance + (hp.additiveVariance ?? 0) - quad);
  });
  return { means, variances, lml };
}

function randomPoints(rng: { next(): number }, n: number, d: number): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => rng.next()));
}

const HP: GpHyperparameters = { lengthscales: [0.3, 0.7, 1.5], signalVariance: 1.3, noiseVariance: 0.02 };
const HP_ADDITIVE: GpHyperparameters = { ...HP, additiveVariance: 0.6 };

/** Central finite differences of the log marginal likelihood and the hyperprior against their analytic gradients. */
function checkGradients(n: number, hp: GpHyperparameters, grid = false): void {
  const rng = createRng(2);
  // On a grid (as scaled gene choices are) distances repeat, which the additive term memoises.
  const X = randomPoints(rng, n, 3).map((x) => (grid ? x.map((v) => Math.round(4 * v) / 4) : x));
  // A repeated input: the additive term's gradient must skip zero distances.
  X[1] = [X[0]![0]!, X[1]![1]!, X[1]![2]!];
  const y = X.map(([a, b]) => Math.cos(3 * a!) + b! + 0.05 * rng.next());
  const additive = hp.additiveVariance !== undefined;
  const logs = [...hp.lengthscales.map(Math.log), Math.log(hp.signalVariance), Math.log(hp.noiseVariance), ...(additive ? [Math.log(hp.additiveVariance!)] : [])];
  const at = (t: number[]): GpHyperparameters => ({
    lengthscales: t.slice(0, 3).map(Math.exp),
    signalVariance: Math.exp(t[3]!),
    noiseVariance: Math.exp(t[4]!),
    ...(additive ? { additiveVariance: Math.exp(t[5]!) } : {}),
  });
  const flat = (g: { lengthscales: Float64Array; signalVariance: number; noiseVariance: number; additiveVariance?: number }): number[] => [
    ...g.lengthscales,
    g.signalVariance,
    g.noiseVariance,
    ...(g.additiveVariance === undefined ? [] : [g.additiveVariance]),
  ];
  const lmlGrad = flat(logMarginalLikelihoodWithGradient(X, y, at(logs)).gradient);
  const priorGrad = flat(logHyperprior(at(logs)).gradient);
  const eps = 1e-5;
  for (let j = 0; j < logs.length; j++) {
    const plus = logs.map((v, k) => (k === j ? v + eps : v));
    const minus = logs.map((v, k) => (k === j ? v - eps : v));
    const fdLml = (logMarginalLikelihoodWithGradient(X, y, at(plus)).value - logMarginalLikelihoodWithGradient(X, y, at(minus)).value) / (2 * eps);
    const fdPrior = (logHyperprior(at(plus)).value - logHyperprior(at(minus)).value) / (2 * eps);
    expect(Math.abs(lmlGrad[j]! - fdLml), `lml, parameter ${j}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fdLml)));
    expect(Math.abs(priorGrad[j]! - fdPrior), `prior, parameter ${j}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fdPrior)));
  }
}

/** `gp`'s predictions at `Q` and its log marginal likelihood equal the textbook's to 1e-10; returns the textbook's. */
function expectTextbook(gp: ReturnType<typeof gaussianProcessWith>, X: number[][], y: number[], hp: GpHyperparameters, Q: number[][]): ReturnType<typeof naivePosterior> {
  const want = naivePosterior(X, y, hp, Q);
  const got = gp.predict(Q);
  for (let i = 0; i < Q.length; i++) {
    expect(got.mean[i]).toBeCloseTo(want.means[i]!, 10);
    expect(got.variance[i]).toBeCloseTo(want.variances[i]!, 10);
  }
  expect(gp.logMarginalLikelihood()).toBeCloseTo(want.lml, 10);
  return want;
}

describe('Gaussian process', () => {
  it.each([
    ['Matérn', HP],
    ['Matérn + additive', HP_ADDITIVE],
  ])('predicts the textbook posterior (explicit inverse) with given hyperparameters (%s)', (_, hp) => {
    const rng = createRng(1);
    const X = randomPoints(rng, 12, 3);
    const y = X.map(([a, b, c]) => 10 + 3 * Math.sin(4 * a!) + b! * c! + 0.1 * rng.next());
    const Q = [...randomPoints(rng, 6, 3), X[0]!];
    const gp = gaussianProcessWith(X, y, hp);
    const want = expectTextbook(gp, X, y, hp, Q);
    expect(logMarginalLikelihoodWithGradient(X, y, hp).value).toBeCloseTo(want.lml, 10);
    expect(gp.n).toBe(12);
    expect(gp.hyperparameters).toEqual(hp);
  });

  it('on a grid (scaled genes), looks the kernel terms up: the textbook posterior, bitwise what the direct computation gives', () => {
    const rng = createRng(5);
    const onGrid = (x: number[]) => x.map((v) => Math.round(3 * v) / 3);
    const X = randomPoints(rng, 30, 3).map(onGrid);
    const y = X.map(([a, b, c]) => 2 * Math.sin(3 * a!) + b! * c! + 0.1 * rng.next());
    const Q = randomPoints(rng, 9, 3).map(onGrid);
    for (const hp of [HP, HP_ADDITIVE]) {
      const gp = gaussianProcessWith(X, y, hp);
      expectTextbook(gp, X, y, hp, Q);
      const got = gp.predict(Q);
      // 17 more distinct values in the query make the table impossible: the direct path.
      const direct = gp.predict([...Q, ...randomPoints(rng, 17, 3)]);
      expect(Array.from(got.mean)).toEqual(Array.from(direct.mean.subarray(0, Q.length)));
      expect(Array.from(got.variance)).toEqual(Array.from(direct.variance.subarray(0, Q.length)));
    }
  });

  it('has analytic gradients equal to central finite differences (likelihood and hyperprior)', () => {
    for (const n of [15, 16]) checkGradients(n, HP);
  });

  it('has analytic gradients equal to central finite differences with the additive term', () => {
    for (const n of [15, 16]) checkGradients(n, HP_ADDITIVE);
    checkGradients(30, HP_ADDITIVE, true);
  });

  it('fits a smooth function (small held-out error), deterministically for a given rng', () => {
    const f = (x: number[]): number => Math.sin(5 * x[0]!) + 2 * (x[1]! - 0.5) ** 2 + 0.3 * x[0]! * x[1]!;
    const data = createRng(3);
    const X = randomPoints(data, 50, 2);
    const y = X.map((x) => 100 + 20 * f(x));
    const test = randomPoints(data, 200, 2);
    const truth = test.map((x) => 100 + 20 * f(x));
    const fit = (): ReturnType<typeof fitGaussianProcess> => {
      const rng = createRng(4);
      return fitGaussianProcess(X, y, { rng: () => rng.next(), restarts: 2, maxIterations: 60 });
    };
    const gp = fit();
    const { mean, variance } = gp.predict(test);
    const rmse = Math.sqrt(truth.reduce((s, t, i) => s + (t - mean[i]!) ** 2, 0) / truth.length);
    const spread = Math.sqrt(truth.reduce((s, t) => s + (t - 100) ** 2, 0) / truth.length);
    expect(rmse).toBeLessThan(0.02 * spread);
    expect(variance.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
    expect(fit().hyperparameters).toEqual(gp.hyperparameters);
    // Fitted hyperparameters lie inside the documented box.
    const { lower, upper } = gpHyperprior(2);
    const logs = [...gp.hyperparameters.lengthscales, gp.hyperparameters.signalVariance, gp.hyperparameters.noiseVariance].map(Math.log);
    logs.forEach((v, j) => expect(v).toBeGreaterThanOrEqual(lower[j]! - 1e-12));
    logs.forEach((v, j) => expect(v).toBeLessThanOrEqual(upper[j]! + 1e-12));
    // A warm start from the optimum stays as good.
    const rng = createRng(5);
    const warm = fitGaussianProcess(X, y, { rng: () => rng.next(), restarts: 0, maxIterations: 10, warmStart: gp.hyperparameters });
    const score = (g: typeof gp): number => g.logMarginalLikelihood() + logHyperprior(g.hyperparameters).value;
    expect(score(warm)).toBeGreaterThanOrEqual(score(gp) - 1e-6);
  });

  it.each([
    ['Matérn', HP],
    ['Matérn + additive', HP_ADDITIVE],
  ])('condition() equals a fresh model on all the data with the same hyperparameters (%s)', (_, hp) => {
    const rng = createRng(6);
    const X = randomPoints(rng, 15, 3);
    const y = X.map(([a, b, c]) => a! - b! * c! + 0.1 * rng.next());
    const extraX = randomPoints(rng, 5, 3);
    const extraY = extraX.map(([a]) => 2 * a!);
    const gp = gaussianProcessWith(X, y, hp);
    const conditioned = gp.condition(extraX, extraY);
    const fresh = gaussianProcessWith([...X, ...extraX], [...y, ...extraY], hp, gp.standardization);
    const Q = randomPoints(rng, 10, 3);
    const a = conditioned.predict(Q);
    const b = fresh.predict(Q);
    for (let i = 0; i < Q.length; i++) {
      expect(a.mean[i]).toBeCloseTo(b.mean[i]!, 10);
      expect(a.variance[i]).toBeCloseTo(b.variance[i]!, 10);
    }
    expect(conditioned.n).toBe(20);
    expect(conditioned.logMarginalLikelihood()).toBeCloseTo(fresh.logMarginalLikelihood(), 9);
    // Conditioning twice equals conditioning once on both batches; the original is unchanged.
    const twice = gp.condition(extraX.slice(0, 2), extraY.slice(0, 2)).condition(extraX.slice(2), extraY.slice(2));
    expect(twice.predict(Q).mean[3]).toBeCloseTo(a.mean[3]!, 10);
    expect(gp.n).toBe(15);
    // A fantasy at the posterior mean leaves the mean alone and shrinks the variance there.
    const at = [[0.5, 0.5, 0.5]];
    const before = gp.predict(at);
    const after = gp.condition(at, [before.mean[0]!]).predict(at);
    expect(after.mean[0]).toBeCloseTo(before.mean[0]!, 10);
    expect(after.variance[0]).toBeLessThan(before.variance[0]!);
  });

  it('with the additive term, learns an additive function of many inputs from few points better than Matérn alone', () => {
    const d = 12;
    const rng = createRng(8);
    const f = (x: readonly number[]): number => x.reduce((s, v, j) => s + (j % 3 === 0 ? Math.sqrt(v) : j % 3 === 1 ? -v * v : Math.sin(3 * v)), 0);
    const X = randomPoints(rng, 40, d);
    const y = X.map(f);
    const test = randomPoints(rng, 200, d);
    const truth = test.map(f);
    const rmse = (additive: boolean): { rmse: number; hp: GpHyperparameters } => {
      const r = createRng(9);
      const gp = fitGaussianProcess(X, y, { rng: () => r.next(), restarts: 1, additive });
      const { mean } = gp.predict(test);
      return { rmse: Math.sqrt(truth.reduce((s, t, i) => s + (t - mean[i]!) ** 2, 0) / truth.length), hp: gp.hyperparameters };
    };
    const plain = rmse(false);
    const additive = rmse(true);
    expect(plain.hp.additiveVariance).toBeUndefined();
    expect(additive.hp.additiveVariance).toBeGreaterThan(0);
    expect(additive.rmse).toBeLessThan(0.7 * plain.rmse);
    const { lower, upper } = gpHyperprior(d, true);
    const logs = [...additive.hp.lengthscales, additive.hp.signalVariance, additive.hp.noiseVariance, additive.hp.additiveVariance!].map(Math.log);
    expect(logs).toHaveLength(lower.length);
    logs.forEach((v, j) => expect(v).toBeGreaterThanOrEqual(lower[j]! - 1e-12));
    logs.forEach((v, j) => expect(v).toBeLessThanOrEqual(upper[j]! + 1e-12));
    // A plain warm start feeds an additive fit (the additive variance starts at its prior median).
    const r = createRng(10);
    const warm = fitGaussianProcess(X, y, { rng: () => r.next(), restarts: 0, additive: true, warmStart: plain.hp });
    expect(warm.hyperparameters.additiveVariance).toBeGreaterThan(0);
  });

  it('copes with constant outputs and duplicate inputs', () => {
    const rng = createRng(7);
    const X = randomPoints(rng, 10, 2);
    const constant = fitGaussianProcess(X, X.map(() => 4.2), { rng: () => rng.next(), restarts: 1, maxIterations: 20 });
    const p = constant.predict([[0.3, 0.3], [0.9, 0.1]]);
    expect(p.mean[0]).toBeCloseTo(4.2, 12);
    expect(p.mean[1]).toBeCloseTo(4.2, 12);
    expect(p.variance.every((v) => v >= 0 && v < 1e-12)).toBe(true);

    const dupX = [...X, ...X, X[0]!, X[0]!];
    const dupY = dupX.map(([a, b]) => a! + b! + 0.01 * rng.next());
    const gp = fitGaussianProcess(dupX, dupY, { rng: () => rng.next(), restarts: 1, maxIterations: 20 });
    const q = gp.predict(X);
    expect(q.mean.every(Number.isFinite)).toBe(true);
    expect(q.variance.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    // Noise at its floor with exact duplicates: the factorisation still works.
    const tiny = gaussianProcessWith(dupX, dupY, { lengthscales: [0.5, 0.5], signalVariance: 1, noiseVariance: 1e-12 });
    expect(tiny.predict([[0.2, 0.4]]).mean.every(Number.isFinite)).toBe(true);
    expect(gaussianProcessWith([[0.5]], [3], { lengthscales: [1], signalVariance: 1, noiseVariance: 0.1 }).predict([[0.5]]).mean[0]).toBe(3);
  });

  it('rejects malformed input', () => {
    expect(() => gaussianProcessWith([], [], HP)).toThrow(/at least one observation/);
    expect(() => gaussianProcessWith([[0, 1], [1]], [1, 2], { ...HP, lengthscales: [1, 1] })).toThrow(/row 1/);
    expect(() => gaussianProcessWith([[0, 1, 2]], [1, 2], HP)).toThrow(/one output per row/);
    expect(() => gaussianProcessWith([[0, 1]], [1], HP)).toThrow(/hyperparameters/);
    expect(() => fitGaussianProcess([[0]], [NaN], { rng: Math.random })).toThrow(/not finite/);
  });
});
