import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { LlamaModel } from '../../src/model/llama.js';
import { resolveSearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';
import { configsForStep, SAMPLING_RULES } from '../../src/supernet/sampling.js';
import { adapterVariables, configStatistics, trainSupernet } from '../../src/supernet/trainer.js';
import { AdamW, clipByGlobalNorm } from '../../src/train/adamw.js';
import type { BatchSource, TokenBatch } from '../../src/train/batch.js';
import type { MachineSignature } from '../../src/run/machine.js';
import { TrainingDivergedError } from '../../src/train/loop.js';
import { Progress } from '../../src/util/progress.js';
import { cosineWithWarmup } from '../../src/train/schedule.js';
import { createRng } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-train-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('AdamW', () => {
  it('matches a naive float64 AdamW over several steps, skipping variables without gradient', () => {
    const init = [0.5, -1.25, 2];
    const p = tf.variable(tf.tensor1d(init));
    const q = tf.variable(tf.tensor1d([1, 1]));
    const opt = new AdamW([p, q], { weightDecay: 0.1 });
    const gradsSeq = [
      [0.1, -0.2, 0.3],
      [-0.5, 0.05, 0.0],
      [0.2, 0.2, -0.1],
    ];
    const naive = init.slice();
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    gradsSeq.forEach((g, k) => {
      const lr = 0.01 * (k + 1);
      opt.apply({ [p.name]: tf.tensor1d(g) }, lr);
      const t = k + 1;
      for (let i = 0; i < 3; i++) {
        naive[i]! *= 1 - lr * 0.1;
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        const mh = m[i]! / (1 - 0.9 ** t);
        const vh = v[i]! / (1 - 0.999 ** t);
        naive[i]! -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
      }
    });
    const got = p.dataSync();
    naive.forEach((x, i) => expect(Math.abs(got[i]! - x)).toBeLessThan(1e-6));
    expect(Array.from(q.dataSync())).toEqual([1, 1]);
    opt.dispose();
    tf.dispose([p, q]);
  });

  it('clipByGlobalNorm scales to the bound and reports the norm before clipping', async () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const norm = await clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(5, 5);
    const after = Math.hypot(...grads.a.dataSync(), ...grads.b.dataSync());
    expect(after).toBeCloseTo(1, 4);
    tf.dispose(Object.values(grads));
  });
});

describe('cosine schedule with warmup', () => {
  it('warms up linearly, peaks, decays monotonically to the floor', () => {
    const o = { lr: 1e-3, steps: 100, warmupSteps: 10, minLrRatio: 0.1 };
    expect(cosineWithWarmup(o, 0)).toBeCloseTo(1e-4);
    expect(cosineWithWarmup(o, 9)).toBeCloseTo(1e-3);
    for (let s = 10; s < 99; s++) expect(cosineWithWarmup(o, s + 1)).toBeLessThanOrEqual(cosineWithWarmup(o, s));
    expect(cosineWithWarmup(o, 100)).toBeCloseTo(1e-4);
  });
});

const spaceSpec: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'tiny',
  alpha: 8,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 3, 2] },
    { name: 'up', modules: ['up_proj'], ranks: [4, 2] },
  ],
} as SearchSpaceSpec;

describe('sampling rules', () => {
  const space = resolveSearchSpace(spaceSpec, { numLayers: 3 });
  it('every rule yields configurations inside the space, deterministically per seed (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SAMPLING_RULES), fc.nat(), (rule, seed) => {
        const a = configsForStep(rule, space, createRng(seed));
        const b = configsForStep(rule, space, createRng(seed));
        expect(a).toEqual(b);
        for (const c of a) expect(space.contains(c)).toBe(true);
        if (rule === 'sandwich') {
          expect(a[0]).toEqual(space.maxConfig());
          expect(a[1]).toEqual(space.minConfig());
        }
      }),
    );
  });
  it('shared-layer draws one choice per layer, shared by its groups', () => {
    const rng = createRng(3);
    for (let i = 0; i < 30; i++) {
      const [c] = configsForStep('shared-layer', space, rng);
      for (let l = 0; l < 3; l++) {
        const [qkv, up] = [c![2 * l]!, c![2 * l + 1]!];
        expect(up).toBe(Math.min(qkv, 1));
      }
    }
  });
});

/** A deterministic synthetic task: random inputs, every target the same token (quickly learnable by adapters). */
function copyTask(vocab: number, batchSize = 2, seqLen = 6): BatchSource {
  return {
    batch: (step, micro): TokenBatch => {
      const rng = createRng(`${step}:${micro}`);
      const ids = new Int32Array(batchSize * seqLen).map(() => rng.int(vocab));
      const targets = new Int32Array(ids.length);
      const weights = new Float32Array(ids.length);
      for (let b = 0; b < batchSize; b++) {
        for (let t = 0; t < seqLen; t++) {
          targets[b * seqLen + t] = 5;
          weights[b * seqLen + t] = 1;
        }
      }
      return { batchSize, seqLen, inputIds: ids, targets, weights };
    },
  };
}

async function setup(seed = 1) {
  const cfg = tinyConfig({ numHiddenLayers: 3 });
  const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 5, 0.2));
  const space = resolveSearchSpace({ ...spaceSpec, dropout: 0.1 } as SearchSpaceSpec, { numLayers: 3 });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), seed);
  return { cfg, model, space, adapters, dispose: () => (adapters.dispose(), model.dispose()) };
}

async function weightsOf(adapters: AdapterSet): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of adapterVariables(adapters)) out.set(name, (await v.data()) as Float32Array);
  return out;
}

describe('supernet training', () => {
  it('lowers the loss and records every pass', async () => {
    const s = await setup();
    const r = await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 40, lr: 1e-2, warmupSteps: 4, seed: 1, rule: 'sandwich' });
    expect(r.records).toHaveLength(120);
    const first = r.records.slice(0, 15).reduce((a, x) => a + x.loss, 0) / 15;
    const last = r.records.slice(-15).reduce((a, x) => a + x.loss, 0) / 15;
    expect(last).toBeLessThan(first * 0.9);
    const stats = configStatistics(r.records);
    expect(stats.find((x) => x.key === s.space.key(s.space.maxConfig()))!.activations).toBe(40);
    expect(stats.reduce((a, x) => a + x.activations, 0)).toBe(120);
    s.dispose();
  });

  for (const rule of ['uniform', 'sandwich', 'shared-layer'] as const) {
    it(`--resume ends with exactly the weights of an uninterrupted run (${rule}, with dropout and accumulation)`, async () => {
      const opts = { steps: 8, lr: 5e-3, warmupSteps: 2, seed: 7, rule, gradAccum: 2, checkpointEvery: 2 };
      const a = await setup();
      const dirA = await tempDir();
      const full = await trainSupernet(a.model, a.adapters, a.space, copyTask(37), { ...opts, checkpointDir: dirA });
      const wa = await weightsOf(a.adapters);
      a.dispose();

      const b = await setup();
      const dirB = await tempDir();
      await trainSupernet(b.model, b.adapters, b.space, copyTask(37), { ...opts, checkpointDir: dirB, stopAfter: 5 });
      b.dispose();
      // A fresh process would start from scratch: new model, new adapters (other init seed on purpose).
      const c = await setup(99);
      const resumed = await trainSupernet(c.model, c.adapters, c.space, copyTask(37), { ...opts, checkpointDir: dirB, resume: true });
      const wc = await weightsOf(c.adapters);
      c.dispose();
      expect(resumed.records).toEqual(full.records);
      for (const [name, w] of wa) expect(Buffer.from(wc.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    });
  }

  it('refuses to resume with different settings, and to overwrite a run without --resume', async () => {
    const s = await setup();
    const dir = await tempDir();
    await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 2, lr: 1e-3, warmupSteps: 0, seed: 1, checkpointDir: dir });
    await expect(
      trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 4, lr: 1e-3, warmupSteps: 0, seed: 1, checkpointDir: dir }),
    ).rejects.toThrow(/already exists.*--resume/);
    await expect(
      trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 4, lr: 1e-3, warmupSteps: 0, seed: 1, checkpointDir: dir, resume: true, rule: 'sandwich' }),
    ).rejects.toThrow(/other settings/);
    s.dispose();
  });

  it('records the machines a run ran on, and a resume on another CPU type says the bits may differ', async () => {
    const s = await setup();
    const dir = await tempDir();
    const opts = { steps: 4, lr: 1e-3, warmupSteps: 0, seed: 1, rule: 'uniform' as const, checkpointEvery: 2 };
    const avx512: MachineSignature = { arch: 'x64', cpu: 'AMD EPYC', features: ['avx2', 'avx512f', 'fma'] };
    const avx2: MachineSignature = { arch: 'x64', cpu: 'AMD EPYC', features: ['avx2', 'fma'] };
    const first = await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { ...opts, checkpointDir: dir, stopAfter: 2, machine: avx512 });
    expect(first.machines).toEqual([avx512]);
    const lines: string[] = [];
    const progress = new Progress({ stream: { write: (t: string) => (lines.push(t), true) } as unknown as NodeJS.WritableStream, intervalMs: 0 });
    const resumed = await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { ...opts, checkpointDir: dir, resume: true, machine: avx2, progress });
    expect(resumed.machines).toEqual([avx512, avx2]);
    expect(lines.join('')).toMatch(/note: the checkpoint was written on another machine \(without avx512f\).*last bits/);
    const state = JSON.parse(await fsp.readFile(path.join(dir, 'step-000004', 'state.json'), 'utf8')) as { machines: MachineSignature[] };
    expect(state.machines).toEqual([avx512, avx2]);
    s.dispose();
  });

  it('a NaN loss stops training with a clear message and keeps the last good checkpoint', async () => {
    const s = await setup();
    const dir = await tempDir();
    const good = copyTask(37);
    const poisoned: BatchSource = {
      batch: (step, micro) => {
        const b = good.batch(step, micro);
        return step === 3 ? { ...b, weights: b.weights.map(() => Number.NaN) } : b;
      },
    };
    const err = await trainSupernet(s.model, s.adapters, s.space, poisoned, {
      steps: 6,
      lr: 1e-3,
      warmupSteps: 0,
      seed: 1,
      checkpointDir: dir,
      checkpointEvery: 2,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as Error).message).toMatch(/loss became NaN at step 3 .*last good checkpoint is step 2/);
    const latest = JSON.parse(await fsp.readFile(path.join(dir, 'latest.json'), 'utf8')) as { step: number };
    expect(latest.step).toBe(2);
    s.dispose();
  });

  it('does not leak tensors over training', async () => {
    const s = await setup();
    // Warm the model's caches (rotary tables, masks) first.
    await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 2, lr: 1e-3, warmupSteps: 0, seed: 1 });
    const before = tf.memory().numTensors;
    await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { steps: 5, lr: 1e-3, warmupSteps: 0, seed: 1, rule: 'sandwich' });
    expect(tf.memory().numTensors).toBe(before);
    s.dispose();
  });
});
