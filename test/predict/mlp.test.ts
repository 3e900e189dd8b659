import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { MlpPredictor } from '../../src/predict/mlp.js';
import { evaluatePredictor, splitSamples } from '../../src/predict/quality.js';
import type { Config } from '../../src/space/index.js';
import { createRng, shuffleInPlace } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { randomConfigs, samplesOf, smallSpace } from './helpers.js';

beforeAll(useTestBackend);

const space = smallSpace();
/** Smooth, non-additive target: saturating in the ranks, with a cross-layer interaction. */
const smooth = (c: Config): number => {
  const r = space.decode(c);
  return 10 + r.reduce((s, v) => s + Math.sqrt(v), 0) + (r[0]! * r[2]!) / 128;
};
const samples = samplesOf(space, 400, 21, smooth);

describe('MlpPredictor', () => {
  it('fits a smooth function: held-out MAPE < 3%, Kendall tau > 0.9', async () => {
    const { train, validation } = splitSamples(samples, { validationFraction: 0.25, seed: 1 });
    const p = new MlpPredictor({ epochs: 150, seed: 3 });
    await p.fit(space, train);
    const q = evaluatePredictor(p, validation);
    expect(q.mape).toBeLessThan(0.03);
    expect(q.kendallTau).toBeGreaterThan(0.9);
    expect(p.finalLoss).toBeLessThan(0.05);
  });

  it('is deterministic for a seed, independent of sample order, and seed-dependent', async () => {
    const opts = { epochs: 20, hidden: [16], seed: 5 };
    const a = new MlpPredictor(opts);
    await a.fit(space, samples.slice(0, 120));
    const b = new MlpPredictor(opts);
    await b.fit(space, shuffleInPlace(samples.slice(0, 120), createRng(2)));
    const c = new MlpPredictor({ ...opts, seed: 6 });
    await c.fit(space, samples.slice(0, 120));
    const test = randomConfigs(space, 30, 8);
    expect(b.predictMany(test)).toEqual(a.predictMany(test));
    expect(b.toJSON().params).toEqual(a.toJSON().params);
    expect(c.predictMany(test)).not.toEqual(a.predictMany(test));
  });

  it('full-batch training works too', async () => {
    const p = new MlpPredictor({ epochs: 300, batchSize: 10_000, seed: 1 });
    await p.fit(space, samples.slice(0, 200));
    const q = evaluatePredictor(p, samples.slice(200));
    expect(q.mape).toBeLessThan(0.05);
  });

  it('leaks no tensors in fit or predict, over repeated calls', async () => {
    const p = new MlpPredictor({ epochs: 3, hidden: [8, 8], batchSize: 16 });
    await p.fit(space, samples.slice(0, 50)); // warm-up: backend-level allocations, kernels
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await p.fit(space, samples.slice(0, 50));
      p.predictMany(randomConfigs(space, 20, i));
      p.predict([0, 0, 0, 0]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('disposes everything when training diverges, and says how to fix it', async () => {
    const before = tf.memory().numTensors;
    const p = new MlpPredictor({ epochs: 50, learningRate: 1e30, batchSize: 8 });
    const wild = samplesOf(space, 64, 4, (c) => 1e30 * (c[0]! - 1.5) * (c[1]! + 1));
    await expect(p.fit(space, wild)).rejects.toThrow(/diverged.*learningRate/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a constant target is predicted exactly', async () => {
    const p = new MlpPredictor({ epochs: 5 });
    await p.fit(space, samplesOf(space, 30, 1, () => 3.5));
    for (const v of p.predictMany(randomConfigs(space, 10, 2))) expect(v).toBe(3.5);
  });

  it('validates options with the option name', () => {
    expect(() => new MlpPredictor({ hidden: [0] })).toThrow(/hidden/);
    expect(() => new MlpPredictor({ epochs: 1.5 })).toThrow(/epochs/);
    expect(() => new MlpPredictor({ learningRate: -1 })).toThrow(/learningRate/);
    expect(() => new MlpPredictor({ batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new MlpPredictor({ seed: Number.NaN })).toThrow(NlsError);
    expect(new MlpPredictor().options).toEqual({ hidden: [32, 32], epochs: 300, learningRate: 0.01, batchSize: 64, seed: 0 });
  });

  it('refuses to predict before fitting', () => {
    expect(() => new MlpPredictor().predict([0, 0, 0, 0])).toThrow(/not been fitted/);
  });
});
