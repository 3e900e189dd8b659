import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { LookupTablePredictor } from '../../src/predict/lookup-table.js';
import { choleskyFactor, choleskySolve, configFeatures, featureCount, featureNames, RidgePredictor } from '../../src/predict/ridge.js';
import { resolveSearchSpace, type Config, type SearchSpace } from '../../src/space/index.js';
import { createRng, shuffleInPlace } from '../../src/util/rng.js';
import { specArb } from '../space/arbitraries.js';
import { maxRelDiff, randomConfigs, samplesOf, smallSpace } from './helpers.js';

const spaceArb = specArb({ maxLayers: 3, maxGroups: 3, maxChoices: 4 }).map(({ spec, numLayers }) => resolveSearchSpace(spec, { numLayers }));

/** Random additive table for `space`: base in [1, 1000], terms in [0, 100]. */
const tableArb = spaceArb.chain((space) =>
  fc.tuple(
    fc.constant(space),
    fc.double({ min: 1, max: 1000, noNaN: true }),
    fc.tuple(...space.choiceCounts.map((n) => fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: n, maxLength: n }))),
    fc.integer(),
  ),
);

/** Naive additive model: base + Σ terms[g][c]. */
function additive(base: number, terms: readonly (readonly number[])[], config: Config): number {
  return config.reduce((s, c, g) => s + terms[g]![c]!, base);
}

/**
 * Configurations that identify every (gene, choice) effect: the supernet, each single-gene
 * change of it, and some random ones.
 */
function identifyingConfigs(space: SearchSpace, extra: number, seed: number): Config[] {
  const out: Config[] = [space.maxConfig()];
  for (let g = 0; g < space.size; g++) {
    for (let c = 1; c < space.choiceCounts[g]!; c++) {
      const cfg = [...space.maxConfig()];
      cfg[g] = c;
      out.push(cfg);
    }
  }
  return [...out, ...randomConfigs(space, extra, seed)];
}

/** Solve A x = b by Gaussian elimination with partial pivoting (naive reference). */
function gaussSolve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let k = 0; k < n; k++) {
    let piv = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i]![k]!) > Math.abs(m[piv]![k]!)) piv = i;
    [m[k], m[piv]] = [m[piv]!, m[k]!];
    for (let i = k + 1; i < n; i++) {
      const f = m[i]![k]! / m[k]![k]!;
      for (let j = k; j <= n; j++) m[i]![j]! -= f * m[k]![j]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = m[i]![n]!;
    for (let j = i + 1; j < n; j++) s -= m[i]![j]! * x[j]!;
    x[i] = s / m[i]![i]!;
  }
  return x;
}

describe('Cholesky solver', () => {
  it('solves random SPD systems like Gaussian elimination (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer(), (p, seed) => {
        const rng = createRng(seed);
        // A = M Mᵀ + p I is symmetric positive definite.
        const mm = Array.from({ length: p }, () => Array.from({ length: p }, () => rng.next() * 2 - 1));
        const a = mm.map((ri, i) => mm.map((rj, j) => ri.reduce((s, v, k) => s + v * rj[k]!, 0) + (i === j ? p : 0)));
        const b = Array.from({ length: p }, () => rng.next() * 10 - 5);
        const ours = choleskySolve(choleskyFactor(Float64Array.from(a.flat()), p), b);
        const ref = gaussSolve(a, b);
        ref.forEach((v, i) => expect(Math.abs(ours[i]! - v)).toBeLessThan(1e-9 * (1 + Math.abs(v))));
      }),
    );
  });

  it('drops dependent variables and still solves consistent singular systems', () => {
    // Columns: x, y, x + y (dependent). A = XᵀX for X rows below; b = Xᵀ t for a consistent t.
    const rows = [
      [1, 0, 1],
      [0, 1, 1],
      [1, 1, 2],
      [2, 1, 3],
    ];
    const t = rows.map((r) => 3 * r[0]! - 2 * r[1]!);
    const a = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
    const b = [0, 1, 2].map((i) => rows.reduce((s, r, k) => s + r[i]! * t[k]!, 0));
    const f = choleskyFactor(Float64Array.from(a.flat()), 3);
    expect(Array.from(f.dropped)).toEqual([0, 0, 1]);
    const x = choleskySolve(f, b);
    expect(x[0]).toBeCloseTo(3, 12);
    expect(x[1]).toBeCloseTo(-2, 12);
    expect(x[2]).toBe(0);
  });

  it('rejects wrongly sized inputs', () => {
    expect(() => choleskyFactor(new Float64Array(3), 2)).toThrow(NlsError);
    expect(() => choleskySolve(choleskyFactor(new Float64Array([1]), 1), [1, 2])).toThrow(NlsError);
  });
});

describe('configuration features', () => {
  it('are one-hot blocks then ranks, with matching names', () => {
    const space = smallSpace();
    expect(featureCount(space)).toBe(2 * (4 + 3) + 4);
    const names = featureNames(space);
    expect(names).toHaveLength(featureCount(space));
    expect(names[0]).toBe('layers.0/qkv=32');
    expect(names.at(-1)).toBe('layers.1/mlp.rank');
    const x = Array.from(configFeatures(space, [1, 2, 0, 1]));
    expect(x).toEqual([0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 24, 0, 32, 8]);
  });

  it('reject configurations outside the space', () => {
    expect(() => configFeatures(smallSpace(), [0, 0, 0])).toThrow(NlsError);
  });
});

describe('LookupTablePredictor', () => {
  it('recovers exactly additive data to 1e-9 relative, on unseen configurations too (property over spaces and tables)', () => {
    fc.assert(
      fc.property(tableArb, ([space, base, terms, seed]) => {
        const truth = (c: Config): number => additive(base, terms, c);
        const configs = identifyingConfigs(space, 2 * space.size, seed);
        const p = new LookupTablePredictor();
        p.fit(
          space,
          configs.map((config) => ({ config, value: truth(config) })),
        );
        const test = randomConfigs(space, 30, seed + 1);
        expect(maxRelDiff(p.predictMany(test), test.map(truth), 1e-300)).toBeLessThan(1e-9);
        expect(maxRelDiff(p.predictMany(configs), configs.map(truth), 1e-300)).toBeLessThan(1e-9);
      }),
      { numRuns: 100 },
    );
  });

  it('recovers the table up to the reference choice (terms[g][0] = 0)', () => {
    const space = smallSpace();
    const terms = [
      [5, 4, 3, 2],
      [7, 1, 0.5],
      [6, 5, 4, 1],
      [9, 2, 0],
    ];
    const p = new LookupTablePredictor();
    p.fit(space, samplesOf(space, 200, 3, (c) => additive(100, terms, c)));
    const shift = terms.reduce((s, row) => s + row[0]!, 0);
    expect(p.base).toBeCloseTo(100 + shift, 9);
    p.terms.forEach((row, g) => row.forEach((v, c) => expect(v).toBeCloseTo(terms[g]![c]! - terms[g]![0]!, 9)));
  });

  it('with a large common offset stays exact', () => {
    const space = smallSpace();
    const f = (c: Config): number => 1e9 + c.reduce((s, v, g) => s + (g + 1) * v * 1e-3, 0);
    const p = new LookupTablePredictor();
    p.fit(space, samplesOf(space, 100, 9, f));
    const test = randomConfigs(space, 50, 10);
    expect(maxRelDiff(p.predictMany(test), test.map(f))).toBeLessThan(1e-12);
  });

  it('fits rank-deficient designs (unseen choices, confounded genes) without failing', () => {
    const space = smallSpace();
    // Genes 0 and 2 always move together; gene 1 never leaves choice 0; gene 3 never uses choice 2.
    const configs: Config[] = [];
    for (let a = 0; a < 4; a++) for (let d = 0; d < 2; d++) configs.push([a, 0, a, d]);
    const f = (c: Config): number => 10 + 3 * c[0]! + c[2]! * c[2]! + 5 * c[3]!;
    const p = new LookupTablePredictor();
    p.fit(
      space,
      configs.map((config) => ({ config, value: f(config) })),
    );
    expect(maxRelDiff(p.predictMany(configs), configs.map(f))).toBeLessThan(1e-9);
    expect(p.terms[1]).toEqual([0, 0, 0]);
    expect(p.terms[3]![2]).toBe(0);
  });

  it('least squares on noisy data: residuals are orthogonal to every one-hot column', () => {
    const space = smallSpace();
    const rng = createRng(5);
    const samples = samplesOf(space, 300, 4, (c) => 50 + c[0]! * 2 - c[3]! + rng.next() * 3);
    const p = new LookupTablePredictor();
    p.fit(space, samples);
    const resid = samples.map((s) => s.value - p.predict(s.config));
    expect(Math.abs(resid.reduce((a, b) => a + b, 0))).toBeLessThan(1e-8);
    for (let g = 0; g < space.size; g++) {
      for (let c = 0; c < space.choiceCounts[g]!; c++) {
        const dot = samples.reduce((s, smp, i) => s + (smp.config[g] === c ? resid[i]! : 0), 0);
        expect(Math.abs(dot)).toBeLessThan(1e-8);
      }
    }
  });

  it('fromTable predicts base + Σ terms and validates the shape', () => {
    const space = smallSpace();
    const terms = [
      [4, 3, 2, 1],
      [2, 1, 0],
      [4, 3, 2, 1],
      [2, 1, 0],
    ];
    const p = LookupTablePredictor.fromTable(space, 10, terms);
    expect(p.predict([0, 0, 0, 0])).toBe(22);
    expect(p.predict([3, 2, 3, 2])).toBe(12);
    expect(p.toJSON().fitted).toEqual({ samples: 0, seconds: 0 });
    expect(() => LookupTablePredictor.fromTable(space, 10, terms.slice(1))).toThrow(/terms/);
    expect(() => LookupTablePredictor.fromTable(space, 10, [[1, 2], ...terms.slice(1)])).toThrow(/terms\[0\].*4 choices/);
    expect(() => LookupTablePredictor.fromTable(space, 10, [[1, 2, Number.NaN, 4], ...terms.slice(1)])).toThrow(/terms\[0\]\[2\]/);
    expect(() => LookupTablePredictor.fromTable(space, Number.NaN, terms)).toThrow(/base/);
  });

  it('refuses to predict before fitting, and configurations of another shape', () => {
    const p = new LookupTablePredictor();
    expect(() => p.predict([0, 0, 0, 0])).toThrow(/not been fitted/);
    expect(() => p.toJSON()).toThrow(/not been fitted/);
    p.fit(smallSpace(), samplesOf(smallSpace(), 20, 1, () => 1));
    expect(() => p.predict([0, 0, 0])).toThrow(NlsError);
    expect(() => p.predict([0, 0, 0, 9])).toThrow(/gene 3/);
  });

  it('rejects bad samples naming the sample', () => {
    const space = smallSpace();
    const p = new LookupTablePredictor();
    expect(() => p.fit(space, [])).toThrow(/at least one sample/);
    expect(() => p.fit(space, [{ config: [0, 0, 0, 0], value: Number.NaN }])).toThrow(/samples\[0\]\.value/);
    expect(() => p.fit(space, [{ config: [0, 0, 0, 0], value: 1 }, { config: [0, 0, 5, 0], value: 1 }])).toThrow(/samples\[1\]\.config\[2\]/);
  });
});

describe('RidgePredictor', () => {
  /** A linear function of the features: per-gene rank slopes plus one-hot effects. */
  function linearTruth(space: SearchSpace, seed: number): (c: Config) => number {
    const rng = createRng(seed);
    const slopes = space.instances.map(() => rng.next() * 4 - 1);
    const effects = space.choiceCounts.map((n) => Array.from({ length: n }, () => rng.next() * 10));
    return (c) => 500 + c.reduce((s, ci, g) => s + slopes[g]! * space.instances[g]!.ranks[ci]! + effects[g]![ci]!, 0);
  }

  it('recovers a linear function of the features with a small lambda (property over spaces)', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (space, seed) => {
        const f = linearTruth(space, seed);
        const configs = identifyingConfigs(space, 3 * space.size, seed);
        const p = new RidgePredictor({ lambda: 1e-10 });
        p.fit(
          space,
          configs.map((config) => ({ config, value: f(config) })),
        );
        const test = randomConfigs(space, 30, seed + 1);
        expect(maxRelDiff(p.predictMany(test), test.map(f))).toBeLessThan(1e-6);
      }),
      { numRuns: 60 },
    );
  });

  it('is invariant to the order of the samples (bit-for-bit) and deterministic', () => {
    const space = smallSpace();
    const rng = createRng(11);
    const samples = samplesOf(space, 150, 12, (c) => 20 + Math.sqrt(space.decode(c).reduce((a, b) => a + b, 0)) + rng.next());
    const a = new RidgePredictor();
    a.fit(space, samples);
    const b = new RidgePredictor();
    b.fit(space, shuffleInPlace([...samples], createRng(13)));
    const c = new RidgePredictor();
    c.fit(space, samples);
    const test = randomConfigs(space, 40, 14);
    expect(b.predictMany(test)).toEqual(a.predictMany(test));
    expect(c.predictMany(test)).toEqual(a.predictMany(test));
    expect(b.weights()).toEqual(a.weights());
  });

  it('a large lambda shrinks every prediction towards the mean', () => {
    const space = smallSpace();
    const samples = samplesOf(space, 100, 2, (c) => 10 * c[0]! + 3 * c[1]!);
    const mean = samples.reduce((s, x) => s + x.value, 0) / samples.length;
    const p = new RidgePredictor({ lambda: 1e9 });
    p.fit(space, samples);
    for (const v of p.predictMany(randomConfigs(space, 20, 3))) expect(Math.abs(v - mean)).toBeLessThan(1e-6);
  });

  it('lambda = 0 still fits (dependent features are dropped)', () => {
    const space = smallSpace();
    const f = linearTruth(space, 4);
    const p = new RidgePredictor({ lambda: 0 });
    p.fit(space, samplesOf(space, 200, 5, f));
    const test = randomConfigs(space, 30, 6);
    expect(maxRelDiff(p.predictMany(test), test.map(f))).toBeLessThan(1e-9);
  });

  it('a single sample, or all-equal values, predicts that value', () => {
    const space = smallSpace();
    const one = new RidgePredictor();
    one.fit(space, [{ config: [1, 1, 1, 1], value: 42 }]);
    expect(one.predict([0, 0, 0, 0])).toBe(42);
    const flat = new RidgePredictor();
    flat.fit(space, samplesOf(space, 30, 1, () => 7));
    expect(flat.predict([2, 1, 0, 1])).toBeCloseTo(7, 12);
  });

  it('rejects a bad lambda', () => {
    expect(() => new RidgePredictor({ lambda: -1 })).toThrow(/lambda/);
    expect(() => new RidgePredictor({ lambda: Number.NaN })).toThrow(NlsError);
  });
});
