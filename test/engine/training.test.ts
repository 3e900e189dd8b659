/**
 * The onnx training engine against the tfjs one (an independent implementation: tfjs autograd
 * over the model's own ops): whole-model gradients for the max, median and min subnets of each
 * adapter mode, with and without elastic widths, and of full-parameter training; 20 steps of
 * training on each engine from one seed; resuming on the onnx engine to the same bytes; and the
 * pieces: the host AdamW rounds as the tfjs one, dropout masks, the worker-thread session host.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { fillDropoutMask } from '../../src/engine/onnx/dropout.js';
import { OrtSessionHost } from '../../src/engine/onnx/session-host.js';
import { GraphBuilder } from '../../src/engine/onnx/graph.js';
import { OnnxDataType } from '../../src/engine/onnx/proto.js';
import { LlamaModel } from '../../src/model/llama.js';
import { resolveSearchSpace, type SearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';
import { adapterVariables, trainSupernet } from '../../src/supernet/trainer.js';
import { AdamW, HostAdamW } from '../../src/train/adamw.js';
import type { BatchSource, TokenBatch } from '../../src/train/batch.js';
import { createTrainingEngine } from '../../src/train/engines.js';
import type { TrainingEngine } from '../../src/train/engine.js';
import { pretrain } from '../../src/train/pretrain.js';
import { Progress } from '../../src/util/progress.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';
import { randomIds, tinySupernet } from './helpers.js';

beforeAll(useTestBackend);

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-onnx-train-'));
  dirs.push(d);
  return d;
}

/** max |a - b| / max |a| over every parameter both have; also checks they name the same parameters. */
function relativeDifference(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>): number {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  let scale = 0;
  let diff = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) {
      scale = Math.max(scale, Math.abs(x[i]!));
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    }
  }
  return diff / scale;
}

function randomBatch(batch: number, seq: number, vocab: number, seed: number): TokenBatch {
  const rng = createRng(seed);
  return {
    batchSize: batch,
    seqLen: seq,
    inputIds: randomIds(batch, seq, vocab, seed),
    targets: randomIds(batch, seq, vocab, seed + 1),
    // Some positions out of the loss, as prompts and padding are.
    weights: Float32Array.from({ length: batch * seq }, () => (rng.next() < 0.3 ? 0 : 1)),
  };
}

/** One micro-batch's gradient on an engine. */
async function gradientOf(engine: TrainingEngine, pass: Parameters<TrainingEngine['accumulate']>[0], batch: TokenBatch): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  engine.beginStep();
  const loss = await engine.accumulate(pass, batch, 1, { training: true, nextSeed: () => 0 });
  const grads = await engine.accumulatedGradients();
  engine.discardStep();
  return { loss, grads };
}

describe('onnx training engine: whole-model gradients against tfjs autograd', () => {
  const widthSpace = (modules: readonly string[]): SearchSpaceSpec =>
    ({
      format: 'nls-search-space/1',
      name: 'tiny-widths',
      alpha: 8,
      groups: [
        { name: 'attn', modules: modules.filter((m) => !['gate_proj', 'up_proj', 'down_proj'].includes(m)), ranks: [4, 2, 1] },
        { name: 'mlp', modules: modules.filter((m) => ['gate_proj', 'up_proj', 'down_proj'].includes(m)), ranks: [4, 3, 1] },
        { kind: 'width', name: 'w', widths: [24, 17, 9] },
      ],
    }) as SearchSpaceSpec;

  for (const mode of ['plain', 'sparse', 'quant'] as const) {
    for (const widths of mode === 'plain' ? [false, true] : [false]) {
      it(`${mode} adapters${widths ? ' with elastic widths' : ''}: max, median and min subnets within 1e-4`, async () => {
        const sn = tinySupernet({ sparse: mode !== 'plain', quant: mode === 'quant', config: { intermediateSize: 24 } });
        const space: SearchSpace = resolveSearchSpace(widthSpace(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']), {
          numLayers: sn.model.config.numHiddenLayers,
          intermediateSizes: [24, 24],
        });
        const spec = { model: sn.model, adapters: sn.adapters, variables: adapterVariables(sn.adapters), elasticWidths: widths };
        const tfjs = await createTrainingEngine('tfjs', spec);
        const onnx = await createTrainingEngine('onnx', spec);
        try {
          const batch = randomBatch(3, 7, sn.model.config.vocabSize, 11);
          for (const config of [space.maxConfig(), space.medianConfig(), space.minConfig()]) {
            const pass = { label: space.key(config), ranks: space.activeRanks(config), ...(widths ? { widths: space.activeWidths(config) } : {}) };
            const a = await gradientOf(tfjs, pass, batch);
            const b = await gradientOf(onnx, pass, batch);
            sn.model.resetMlpWidths();
            expect(Math.abs(a.loss - b.loss) / Math.abs(a.loss)).toBeLessThan(1e-5);
            expect(a.grads.size).toBe(sn.keys.length * 2);
            expect(relativeDifference(a.grads, b.grads)).toBeLessThan(1e-4);
          }
          // Switched-off adapters (rank 0) get no gradient on either engine.
          const off = { label: 'off', ranks: new Map(sn.keys.map((k, i) => [k, i % 2 === 0 ? 0 : 4])) };
          const a = await gradientOf(tfjs, off, randomBatch(2, 5, sn.model.config.vocabSize, 3));
          const b = await gradientOf(onnx, off, randomBatch(2, 5, sn.model.config.vocabSize, 3));
          expect(a.grads.size).toBe(sn.keys.length);
          expect(relativeDifference(a.grads, b.grads)).toBeLessThan(1e-4);
        } finally {
          await tfjs.dispose();
          await onnx.dispose();
          sn.dispose();
        }
      });
    }
  }

  for (const tied of [true, false]) {
    it(`full-parameter training (${tied ? 'tied' : 'untied'} embeddings): every base weight's gradient within 1e-4`, async () => {
      const cfg = tinyConfig({ tieWordEmbeddings: tied });
      const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 4));
      model.setBaseTrainable(true);
      const spec = { model, variables: model.namedBaseVariables(), trainBase: true };
      const tfjs = await createTrainingEngine('tfjs', spec);
      const onnx = await createTrainingEngine('onnx', spec);
      try {
        const batch = randomBatch(2, 9, cfg.vocabSize, 5);
        const a = await gradientOf(tfjs, { label: 'base' }, batch);
        const b = await gradientOf(onnx, { label: 'base' }, batch);
        expect(a.grads.size).toBe(model.namedBaseVariables().size);
        expect(relativeDifference(a.grads, b.grads)).toBeLessThan(1e-4);
      } finally {
        await tfjs.dispose();
        await onnx.dispose();
        model.dispose();
      }
    });
  }
});

const loopSpace: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'tiny',
  alpha: 8,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 3, 2] },
    { name: 'mlp', modules: ['up_proj', 'down_proj'], ranks: [4, 2, 0] },
  ],
} as SearchSpaceSpec;

/** Random inputs, every target the same token: quickly learnable by adapters. */
function copyTask(vocab: number, batchSize = 3, seqLen = 8): BatchSource {
  return {
    batch: (step, micro): TokenBatch => {
      const rng = createRng(`${step}:${micro}`);
      const ids = new Int32Array(batchSize * seqLen).map(() => rng.int(vocab));
      return { batchSize, seqLen, inputIds: ids, targets: new Int32Array(ids.length).fill(5), weights: new Float32Array(ids.length).fill(1) };
    },
  };
}

function loopSetup(dropout: number, initSeed = 1) {
  const cfg = tinyConfig({ numHiddenLayers: 3 });
  const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 5, 0.2));
  const space = resolveSearchSpace({ ...loopSpace, dropout } as SearchSpaceSpec, { numLayers: 3 });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), initSeed);
  return { cfg, model, space, adapters, dispose: () => (adapters.dispose(), model.dispose()) };
}

async function adapterWeights(adapters: AdapterSet): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of adapterVariables(adapters)) out.set(name, Float32Array.from((await v.data()) as Float32Array));
  return out;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('onnx training engine: the training loop', () => {
  it('20 steps from one seed: both engines learn and end with adapters within 1e-3 (uniform rule, accumulation, clipping)', async () => {
    const results: { weights: Map<string, Float32Array>; losses: number[]; labels: string[] }[] = [];
    for (const engine of ['tfjs', 'onnx'] as const) {
      const s = loopSetup(0);
      const r = await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { engine, steps: 20, lr: 3e-2, warmupSteps: 2, seed: 3, gradAccum: 2, clipNorm: 0.5 });
      expect(r.engine).toBe(engine);
      results.push({ weights: await adapterWeights(s.adapters), losses: r.records.map((x) => x.loss), labels: r.records.map((x) => x.label) });
      s.dispose();
    }
    const [tfjsRun, onnxRun] = results as [(typeof results)[0], (typeof results)[0]];
    expect(onnxRun.labels).toEqual(tfjsRun.labels);
    for (const run of results) expect(mean(run.losses.slice(-5)), run.losses.join(' ')).toBeLessThan(mean(run.losses.slice(0, 5)) * 0.8);
    expect(relativeDifference(tfjsRun.weights, onnxRun.weights)).toBeLessThan(1e-3);
  });

  it('with dropout both engines draw the same configurations from a seed (dropout seeds in the tfjs order) and the onnx run is repeatable to the bit', async () => {
    const runs: { labels: string[]; weights: Map<string, Float32Array> }[] = [];
    for (const engine of ['tfjs', 'onnx', 'onnx'] as const) {
      const s = loopSetup(0.2);
      const r = await trainSupernet(s.model, s.adapters, s.space, copyTask(37), { engine, steps: 6, lr: 5e-3, warmupSteps: 1, seed: 9, rule: 'sandwich' });
      runs.push({ labels: r.records.map((x) => x.label), weights: await adapterWeights(s.adapters) });
      s.dispose();
    }
    expect(runs[1]!.labels).toEqual(runs[0]!.labels);
    for (const [name, w] of runs[1]!.weights) expect(Buffer.from(runs[2]!.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
  });

  for (const rule of ['uniform', 'shared-layer'] as const) {
    it(`--resume on the onnx engine ends with exactly the bytes of an uninterrupted run (${rule}, dropout, accumulation)`, async () => {
      const opts = { engine: 'onnx' as const, steps: 8, lr: 5e-3, warmupSteps: 2, seed: 7, rule, gradAccum: 2, checkpointEvery: 2 };
      const a = loopSetup(0.1);
      const full = await trainSupernet(a.model, a.adapters, a.space, copyTask(37), { ...opts, checkpointDir: await tempDir() });
      const wa = await adapterWeights(a.adapters);
      a.dispose();
      const b = loopSetup(0.1);
      const dir = await tempDir();
      await trainSupernet(b.model, b.adapters, b.space, copyTask(37), { ...opts, checkpointDir: dir, stopAfter: 5 });
      b.dispose();
      // As a fresh process would: new model and adapters (another init seed on purpose).
      const c = loopSetup(0.1, 99);
      const resumed = await trainSupernet(c.model, c.adapters, c.space, copyTask(37), { ...opts, checkpointDir: dir, resume: true });
      const wc = await adapterWeights(c.adapters);
      c.dispose();
      expect(resumed.records).toEqual(full.records);
      for (const [name, w] of wa) expect(Buffer.from(wc.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    });
  }

  it('a checkpoint of one engine resumes on the other (same layout), with a note', async () => {
    const dir = await tempDir();
    const a = loopSetup(0);
    await trainSupernet(a.model, a.adapters, a.space, copyTask(37), { engine: 'tfjs', steps: 6, lr: 5e-3, warmupSteps: 1, seed: 2, checkpointDir: dir, stopAfter: 3 });
    a.dispose();
    const lines: string[] = [];
    const stream = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
    const b = loopSetup(0);
    const r = await trainSupernet(b.model, b.adapters, b.space, copyTask(37), { engine: 'onnx', steps: 6, lr: 5e-3, warmupSteps: 1, seed: 2, checkpointDir: dir, resume: true, progress: new Progress({ stream }) });
    b.dispose();
    expect(r.records).toHaveLength(6);
    expect(lines.join('')).toMatch(/written by the tfjs engine and training continues on onnx/);
  });

  it('pre-training on the onnx engine lowers the loss and leaves the model frozen with its trained weights', async () => {
    const cfg = tinyConfig();
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 6, 0.2));
    const before = Float32Array.from(model.namedBaseVariables().get('model.norm.weight')!.dataSync());
    const r = await pretrain(model, copyTask(cfg.vocabSize), { engine: 'onnx', steps: 15, lr: 1e-2, warmupSteps: 1, seed: 1 });
    expect(r.engine).toBe('onnx');
    expect(mean(r.records.slice(-3).map((x) => x.loss))).toBeLessThan(mean(r.records.slice(0, 3).map((x) => x.loss)) * 0.7);
    expect(Array.from(model.namedBaseVariables().get('model.norm.weight')!.dataSync())).not.toEqual(Array.from(before));
    expect([...model.namedBaseVariables().values()].every((v) => !v.trainable)).toBe(true);
    model.dispose();
  });
});

describe('onnx training engine: its parts', () => {
  it('the host AdamW gives the bits of the tfjs AdamW (moments, decay, bias correction, skipped parameters)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(0, 0.01, 0.1), (seed, weightDecay) => {
        const rng = createRng(seed);
        const sizes = [7, 3];
        const init = sizes.map((n) => normalArray(rng, n, 1));
        const vars = init.map((v) => tf.variable(tf.tensor1d(v)));
        const host = init.map((v) => Float32Array.from(v));
        const a = new AdamW(vars, { weightDecay });
        const b = new HostAdamW(host, { weightDecay });
        for (let step = 0; step < 5; step++) {
          const lr = 1e-3 * (1 + rng.next());
          const grads = sizes.map((n, i) => (step === 2 && i === 1 ? undefined : normalArray(rng, n, 0.5)));
          tf.tidy(() => {
            const byName: Record<string, tf.Tensor> = {};
            grads.forEach((g, i) => {
              if (g) byName[vars[i]!.name] = tf.tensor1d(g);
            });
            a.apply(byName, lr);
          });
          b.apply(
            grads.map((g) => (g ? Float32Array.from(g) : undefined)),
            lr,
          );
        }
        vars.forEach((v, i) => expect(Buffer.from(v.dataSync().buffer).equals(Buffer.from(host[i]!.buffer))).toBe(true));
        a.dispose();
        tf.dispose(vars);
      }),
      { numRuns: 25 },
    );
  });

  it('dropout masks: 0 or 1/(1-p), about a fraction p of zeros, a pure function of the seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(0, 0.05, 0.1, 0.5), (seed, p) => {
        const n = 20_000;
        const a = new Float32Array(n);
        const b = new Float32Array(n);
        fillDropoutMask(a, p, seed);
        fillDropoutMask(b, p, seed);
        expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
        const keep = Math.fround(1 / (1 - p));
        let zeros = 0;
        for (const v of a) {
          if (v === 0) zeros++;
          else expect(v).toBe(keep);
        }
        // Binomial: within 5 standard deviations.
        expect(Math.abs(zeros / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n) + 1e-9);
        const c = new Float32Array(n);
        fillDropoutMask(c, p, (seed + 1) % 2 ** 31);
        if (p > 0) expect(Buffer.from(c.buffer).equals(Buffer.from(a.buffer))).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('the session host runs sessions on a worker thread, hands the feed buffers back, and reports errors', async () => {
    const g = new GraphBuilder('host-test');
    const x = g.input('x', OnnxDataType.FLOAT, [3]);
    g.output(g.mul(x, g.scalar(2)), 'y', OnnxDataType.FLOAT, [3]);
    const host = OrtSessionHost.start();
    try {
      const session = await host.create(g.build({ producerVersion: 'test' }), { threads: 1 });
      const data = Float32Array.of(1, 2, 3);
      const { outputs, feeds } = await host.run(session, { x: { type: 'float32', dims: [3], data } });
      expect(Array.from(outputs['y']!.data as Float32Array)).toEqual([2, 4, 6]);
      expect(data.length).toBe(0); // transferred
      expect(Array.from(feeds['x']!.data as Float32Array)).toEqual([1, 2, 3]);
      await expect(host.run(session, { x: { type: 'float32', dims: [4], data: new Float32Array(4) } })).rejects.toThrow(/dimension|shape|Got/i);
      await host.release(session);
    } finally {
      await host.close();
    }
  });

  it('progress keeps printing while a step runs elsewhere (heartbeat), and stops when the task is done', async () => {
    const lines: string[] = [];
    let now = 0;
    const stream = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
    const p = new Progress({ stream, now: () => now, heartbeatMs: 1000 });
    p.start('train', 3);
    now = 1200;
    p.step(1, { loss: 1 });
    now = 1700;
    p.beat(1000);
    expect(lines).toHaveLength(1);
    now = 3800;
    p.beat(1000);
    expect(lines[1]).toMatch(/train 1\/3 {2}step 2 running for 2\.6s/);
    p.step(3, { loss: 0.5 });
    p.done();
    expect(lines).toHaveLength(3);
  });
});
