/**
 * The GPU code path, tested without a GPU: nls's model forward pass, a supernet training step and an
 * evaluation run on the `webgpu` backend (tfjs-backend-webgpu on Dawn) and are compared with `wasm`.
 *
 * CI has no GPU, so the adapter is Mesa's software rasteriser (llvmpipe) through Dawn's OpenGL ES
 * backend (needs the Debian packages libegl-mesa0 and libgl1-mesa-dri). That exercises everything
 * between nls and the GPU driver: backend selection, navigator.gpu, tfjs's WGSL kernels for every op the
 * model, the adapters, AdamW and the evaluators use, and reading results back; it says nothing about
 * speed on a real GPU (llvmpipe runs at a few GFLOP/s), which is why the shapes here are small.
 *
 * Which adapter: env NLS_WEBGPU_ADAPTER (default `software` here, so that CI tests what it claims to
 * test; `hardware` or `any` on a GPU machine). If it cannot be had the suite is skipped with the reason,
 * unless NLS_REQUIRE_WEBGPU=1 (set by .ci/run), which turns the skip into a failure.
 *
 * Tolerances: the GPU sums in a different order than XNNPACK and uses its own exp/log, so float32
 * results differ in the last bits; every comparison below states its bound, relative to the size of
 * the values compared.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AdapterSet } from '../../src/adapters/adapter-set.js';
import {
  DAWN_PACKAGE,
  WEBGPU_ADAPTER_REQUESTS,
  WEBGPU_PACKAGE,
  defaultProbe,
  initBackend,
  type BackendInfo,
  type WebGpuAdapterRequest,
} from '../../src/backend/index.js';
import type { PromptExample } from '../../src/data/templates.js';
import { evaluateChoices, prepareChoices } from '../../src/evaluate/choice.js';
import { tokenCrossEntropy } from '../../src/model/loss.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder } from '../../src/model/model-folder.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { resolveSearchSpace, type SearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';
import { adapterVariables, trainSupernet } from '../../src/supernet/trainer.js';
import type { BatchSource, TokenBatch } from '../../src/train/batch.js';
import { batchTensors } from '../../src/train/loop.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { ROOT } from '../helpers/cli.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

const REQUIRE = process.env['NLS_REQUIRE_WEBGPU'] === '1';
const WANT = (process.env['NLS_WEBGPU_ADAPTER'] ?? 'software') as WebGpuAdapterRequest;

/** Can the wanted adapter be had here? The reason is the skip message. */
async function availability(): Promise<{ ok: true } | { ok: false; why: string }> {
  if (!WEBGPU_ADAPTER_REQUESTS.includes(WANT)) return { ok: false, why: `NLS_WEBGPU_ADAPTER=${WANT} is not one of ${WEBGPU_ADAPTER_REQUESTS.join(', ')}` };
  const missing = [WEBGPU_PACKAGE, DAWN_PACKAGE].filter((p) => !defaultProbe.isInstalled(p));
  if (missing.length > 0) return { ok: false, why: `${missing.join(' and ')} not installed (optional dependencies: npm ci without --omit=optional)` };
  const found = await defaultProbe.detectWebGpu();
  const adapter = WANT === 'software' ? found.software : WANT === 'hardware' ? found.hardware : (found.hardware ?? found.software);
  if (adapter === undefined) {
    const fix = WANT === 'hardware' ? 'a GPU with its Vulkan driver' : 'apt-get install libegl-mesa0 libgl1-mesa-dri';
    return { ok: false, why: `no ${WANT === 'any' ? '' : `${WANT} `}WebGPU adapter: ${found.detail} (fix: ${fix}; see docs/gpu.md)` };
  }
  return { ok: true };
}

const avail = await availability();
const SKIP_NOTE = avail.ok ? '' : ` — SKIPPED: ${avail.why}`;
if (!avail.ok && !REQUIRE) {
  process.stderr.write(`\n[webgpu.test] skipping the webgpu suite: ${avail.why}. Set NLS_REQUIRE_WEBGPU=1 to make this a failure.\n`);
}

describe('webgpu availability', () => {
  it.runIf(REQUIRE)('NLS_REQUIRE_WEBGPU=1: the webgpu adapter must be available, not skipped', () => {
    if (!avail.ok) expect.fail(`NLS_REQUIRE_WEBGPU=1 but the ${WANT} WebGPU adapter cannot be had: ${avail.why}`);
  });
  // Registered only when the suite is skipped, so that a run where it ran shows no skipped test.
  if (!REQUIRE && !avail.ok) it.skip(`webgpu suite skipped${SKIP_NOTE}`, () => undefined);
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** max |a - b| / max(|b|, floor): differences relative to the magnitude of the reference. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = floor;
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? NaN;
    const y = b[i] ?? NaN;
    if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity;
    d = Math.max(d, Math.abs(x - y));
    m = Math.max(m, Math.abs(y));
  }
  return d / m;
}

const spaceSpec = {
  format: 'nls-search-space/1',
  name: 'gpu-test',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8, 4] },
    { name: 'o', modules: ['o_proj'], ranks: [8, 4] },
    { name: 'mlp', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [8, 4] },
  ],
} as SearchSpaceSpec;

/** A tiny LLaMA (GQA, untied head) with elastic LoRA on every linear, B non-zero so adapters matter. */
function tinySupernet(): { model: LlamaModel; adapters: AdapterSet; space: SearchSpace; dispose(): void } {
  const cfg = tinyConfig({ vocabSize: 260, hiddenSize: 32, headDim: 8, numAttentionHeads: 4, numKeyValueHeads: 2, intermediateSize: 48, numHiddenLayers: 2 });
  const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 7, 0.2));
  const space = resolveSearchSpace(spaceSpec, { numLayers: cfg.numHiddenLayers });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), 11);
  const rng = createRng(12);
  for (const a of adapters.adapters.values()) {
    const b = tf.tensor2d(normalArray(rng, a.bT.size, 0.05), a.bT.shape);
    a.bT.assign(b);
    b.dispose();
  }
  return { model, adapters, space, dispose: () => (adapters.dispose(), model.dispose()) };
}

/** Deterministic token batches (a pure function of step and micro-batch, as BatchSource requires). */
function batches(vocab: number, batchSize = 2, seqLen = 8): BatchSource {
  return {
    batch: (step, micro): TokenBatch => {
      const rng = createRng(`gpu:${step}:${micro}`);
      const ids = new Int32Array(batchSize * seqLen).map(() => rng.int(vocab));
      const targets = new Int32Array(ids.length).map((_, i) => ids[(i + 1) % ids.length]!);
      // The last position of each row is padding: exercises the loss weights.
      const weights = new Float32Array(ids.length).map((_, i) => ((i + 1) % seqLen === 0 ? 0 : 1));
      return { batchSize, seqLen, inputIds: ids, targets, weights };
    },
  };
}

/**
 * Run `fn` under wasm, then under webgpu, and return both results. Each run must dispose what it
 * creates: the number of live tensors is checked to be unchanged after each.
 */
async function onBoth<T>(fn: () => Promise<T>): Promise<{ wasm: T; webgpu: T }> {
  await initBackend('wasm', { quiet: true });
  let before = tf.memory().numTensors;
  const wasm = await fn();
  expect(tf.memory().numTensors, 'tensors leaked on wasm').toBe(before);
  await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
  before = tf.memory().numTensors;
  const webgpu = await fn();
  expect(tf.memory().numTensors, 'tensors leaked on webgpu').toBe(before);
  return { wasm, webgpu };
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!avail.ok)(`webgpu backend (${WANT} adapter) against wasm`, () => {
  let previous: string | null = null;
  let info: BackendInfo | undefined;

  beforeAll(async () => {
    previous = tf.getBackend() as string | null;
    info = await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
  });

  afterAll(async () => {
    // Leave the process as we found it: the previous backend, or wasm (nls's default).
    await initBackend(previous === 'cpu' ? 'cpu' : 'wasm', { quiet: true });
  });

  it('initialises webgpu on the wanted adapter and reports it', () => {
    expect(info?.name).toBe('webgpu');
    expect(info?.tfjsBackend).toBe('webgpu');
    if (WANT !== 'any') expect(info?.adapter?.kind).toBe(WANT);
    if (info?.adapter?.kind === 'software') expect(info.reason).toMatch(/software adapter .*for testing, slow/);
    expect(info?.device).toMatch(/adapter/);
    expect(info?.versions[WEBGPU_PACKAGE]).toBe(tf.version_core);
  });

  it('tiny LLaMA with elastic LoRA: logits at the max and min subnets match wasm within 1e-5 (relative)', async () => {
    const r = await onBoth(async () => {
      const s = tinySupernet();
      const ids = tf.tensor2d(Int32Array.from({ length: 2 * 12 }, (_, i) => (i * 37 + 5) % 260), [2, 12], 'int32');
      const out: Float32Array[] = [];
      for (const config of [s.space.maxConfig(), s.space.minConfig()]) {
        s.adapters.setActiveRanks(s.space.activeRanks(config));
        const logits = s.model.forward(ids);
        out.push((await logits.data()) as Float32Array);
        logits.dispose();
      }
      ids.dispose();
      s.dispose();
      return out;
    });
    for (let i = 0; i < r.wasm.length; i++) expect(relDiff(r.webgpu[i]!, r.wasm[i]!)).toBeLessThan(1e-5);
    // The adapters change the output, so the comparison above covers them.
    expect(relDiff(r.wasm[0]!, r.wasm[1]!)).toBeGreaterThan(1e-4);
  });

  it('the demo model (models/demo, 3M parameters): logits of a sentence match wasm within 1e-5 (relative)', async () => {
    const r = await onBoth(async () => {
      const { model, tokenizer } = await loadModelFolder(path.join(ROOT, 'models/demo'));
      const ids = [tokenizer.bosId ?? 257, ...tokenizer.encode('The jury said it did find that the')];
      const x = tf.tensor2d(Int32Array.from(ids), [1, ids.length], 'int32');
      const logits = model.forward(x);
      const data = (await logits.data()) as Float32Array;
      tf.dispose([x, logits]);
      model.dispose();
      return data;
    });
    expect(relDiff(r.webgpu, r.wasm)).toBeLessThan(1e-5);
  });

  it('supernet loss gradients with respect to every adapter variable match wasm within 1e-5 (relative)', async () => {
    const r = await onBoth(async () => {
      const s = tinySupernet();
      s.adapters.setActiveRanks(s.space.activeRanks(s.space.maxConfig()));
      const names = [...adapterVariables(s.adapters).keys()];
      const vars = [...adapterVariables(s.adapters).values()];
      const batch = batches(260).batch(0, 0);
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => {
          const t = batchTensors(batch);
          return tokenCrossEntropy(s.model.forward(t.ids), t.targets, t.weights);
        }),
      );
      const out = { loss: (await value.data())[0]!, grads: new Map<string, Float32Array>() };
      for (let i = 0; i < vars.length; i++) out.grads.set(names[i]!, (await grads[vars[i]!.name]!.data()) as Float32Array);
      tf.dispose([value, ...Object.values(grads)]);
      s.dispose();
      return out;
    });
    expect(Math.abs(r.webgpu.loss - r.wasm.loss) / Math.abs(r.wasm.loss)).toBeLessThan(1e-5);
    expect(r.webgpu.grads.size).toBe(r.wasm.grads.size);
    for (const [name, g] of r.wasm.grads) expect(relDiff(r.webgpu.grads.get(name)!, g, 1e-3), name).toBeLessThan(1e-5);
  });

  it('two supernet training steps (sandwich rule, AdamW): losses and adapter weights match wasm', async () => {
    const r = await onBoth(async () => {
      const s = tinySupernet();
      const result = await trainSupernet(s.model, s.adapters, s.space, batches(260), {
        steps: 2,
        lr: 1e-3,
        warmupSteps: 0,
        seed: 3,
        rule: 'sandwich',
      });
      const weights = new Map<string, Float32Array>();
      for (const [name, v] of adapterVariables(s.adapters)) weights.set(name, (await v.data()) as Float32Array);
      s.dispose();
      return { records: result.records, weights };
    });
    expect(r.webgpu.records.map((x) => x.label)).toEqual(r.wasm.records.map((x) => x.label));
    for (let i = 0; i < r.wasm.records.length; i++) {
      expect(Math.abs(r.webgpu.records[i]!.loss - r.wasm.records[i]!.loss) / r.wasm.records[i]!.loss).toBeLessThan(1e-5);
    }
    // AdamW's first steps move each weight by about lr * sign(gradient) = 1e-3; the two backends
    // must agree on every move to 1e-3 of that (measured: <= 5e-8). A looser bound would hide real
    // bugs: a wrong gradient norm (tfjs's webgpu AddN over > 7 tensors, see webgpu-guards.ts) changed
    // the clipping, and every weight, by only 2e-5.
    for (const [name, w] of r.wasm.weights) {
      const g = r.webgpu.weights.get(name)!;
      let d = 0;
      for (let i = 0; i < w.length; i++) d = Math.max(d, Math.abs(g[i]! - w[i]!));
      expect(d, name).toBeLessThan(1e-6);
    }
  });

  it('choice evaluation (acc, acc_norm, log-likelihoods) matches wasm', async () => {
    const examples: PromptExample[] = [
      { prompt: 'sky is', answer: ' blue', candidates: [' blue', ' green', ' red'], correct: 0 },
      { prompt: 'grass is', answer: ' green', candidates: [' blue', ' green', ' red'], correct: 1 },
      { prompt: 'is it spam?', answer: ' no', candidates: [' yes', ' no'], correct: 1 },
      { prompt: 'win money now!!', answer: ' yes', candidates: [' yes', ' no'], correct: 0 },
    ];
    const tok = new ByteTokenizer(260);
    const r = await onBoth(async () => {
      const s = tinySupernet();
      s.adapters.setActiveRanks(s.space.activeRanks(s.space.medianConfig()));
      const m = await evaluateChoices(s.model, prepareChoices(examples, tok, { maxLength: 32 }), 4);
      s.dispose();
      return m;
    });
    expect(r.webgpu.predictions).toEqual(r.wasm.predictions);
    expect(r.webgpu.accuracy).toBe(r.wasm.accuracy);
    expect(r.webgpu.accuracyNorm).toBe(r.wasm.accuracyNorm);
    expect(Math.abs(r.webgpu.meanCorrectLogLikelihood - r.wasm.meanCorrectLogLikelihood) / Math.abs(r.wasm.meanCorrectLogLikelihood)).toBeLessThan(1e-5);
    expect(relDiff(r.webgpu.perExample.correctLogLikelihood, r.wasm.perExample.correctLogLikelihood)).toBeLessThan(1e-5);
  });

  it('tf.addN over more tensors than one shader can bind sums them all (tfjs AddN worked around)', async () => {
    await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
    const xs = Array.from({ length: 30 }, (_, i) => tf.tensor1d([i, -2 * i, 0.5]));
    const sum = tf.addN(xs);
    expect(Array.from(await sum.data())).toEqual([435, -870, 15]);
    tf.dispose([sum, ...xs]);
  });

  it('a WebGPU error makes the next read throw instead of returning wrong values; later reads work', async () => {
    await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
    const device = (tf.backend() as unknown as { device: { createBuffer(d: { size: number; usage: number }): unknown } }).device;
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.mul(x, 2);
    device.createBuffer({ size: 4, usage: 0 }); // invalid: a validation error, reported asynchronously
    await expect(y.data()).rejects.toThrow(/WebGPU reported 1 error\(s\) while computing.*usage/i);
    expect(Array.from(await y.data())).toEqual([2, 4, 6]);
    tf.dispose([x, y]);
  });

  it('dataSync on webgpu explains that Node.js needs await data()', async () => {
    await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
    // A matMul runs on the GPU (tiny elementwise ops may be forwarded to the CPU and read fine).
    const a = tf.ones([8, 8]);
    const y = tf.matMul(a, a);
    expect(() => y.dataSync()).toThrow(/synchronous read .*await tensor\.data\(\)/);
    expect((await y.data())[0]).toBe(8);
    tf.dispose([a, y]);
  });

  it('a webgpu tensor used after switching to wasm must have been read first (tfjs moves it synchronously)', async () => {
    await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
    const a = tf.ones([8, 8]);
    const unread = tf.matMul(a, a);
    const read = tf.matMul(a, a);
    await read.data();
    await initBackend('wasm', { quiet: true });
    expect(() => tf.add(unread, 1)).toThrow(/after switching to another backend.*'await data\(\)' the webgpu tensors/);
    const y = tf.add(read, 1);
    expect((await y.data())[0]).toBe(9);
    tf.dispose([a, unread, read, y]);
  });

  it('repeated forward passes on webgpu do not leak tensors', async () => {
    await initBackend('webgpu', { quiet: true, webgpuAdapter: WANT });
    const s = tinySupernet();
    const ids = tf.tensor2d(Int32Array.from({ length: 8 }, (_, i) => i + 3), [1, 8], 'int32');
    const warm = s.model.forward(ids);
    warm.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      s.adapters.setActiveRanks(s.space.activeRanks(i % 2 === 0 ? s.space.maxConfig() : s.space.minConfig()));
      const y = s.model.forward(ids);
      await y.data();
      y.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    s.dispose();
  });
});
