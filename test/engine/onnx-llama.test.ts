/**
 * The ONNX export against the tfjs model it came from: logits of tiny random models (tied and
 * untied lm_head, grouped and plain multi-head attention, both scalings; attention as
 * onnxruntime's fused GroupQueryAttention and in plain ONNX operators) in the merged and the
 * unmerged form (both adapter paths, padded and sliced feeds), SparsePEFT and QA-SparsePEFT
 * adapters, per-row scores and next-token logits; one session reused across configurations gives
 * the bits a fresh one gives; runs are bit-identical.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine, type OnnxEngineOptions } from '../../src/engine/onnx/engine.js';
import { createTfjsEngine } from '../../src/engine/tfjs.js';
import type { EvaluationEngine } from '../../src/engine/types.js';
import { useTestBackend } from '../helpers/backend.js';
import { maxAbsDiff, randomIds, supernetPool, tinySupernet, type TinySupernet } from './helpers.js';

beforeAll(useTestBackend);

const B = 3;
const S = 11;

/** Ranks for every adapter of `net`: a fixed rank or one per position. */
function ranksOf(net: TinySupernet, rank: number | ((i: number) => number)): Map<string, number> {
  return new Map(net.keys.map((k, i) => [k, typeof rank === 'number' ? rank : rank(i)]));
}

const CONFIGS: Record<string, (i: number) => number> = { max: () => 4, min: () => 1, mixed: (i) => [0, 1, 2, 3, 4][i % 5]!, off: () => 0 };

async function compareLogits(net: TinySupernet, options: OnnxEngineOptions, tolerance = 1e-4): Promise<number> {
  const ids = randomIds(B, S, net.model.config.vocabSize, 7);
  const tfjs = createTfjsEngine(net.model, net.adapters);
  const onnx = await createOnnxEngine(net.model, net.adapters, options);
  let worst = 0;
  try {
    for (const [name, rank] of Object.entries(CONFIGS)) {
      const ranks = ranksOf(net, rank);
      await tfjs.setRanks(ranks);
      await onnx.setRanks(ranks);
      const diff = maxAbsDiff(await tfjs.logits(ids, B, S), await onnx.logits(ids, B, S));
      expect(diff, `${name} ${JSON.stringify(options)}`).toBeLessThan(tolerance);
      worst = Math.max(worst, diff);
    }
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
  return worst;
}

describe('ONNX export vs the tfjs model (tiny random models, random non-zero adapters)', () => {
  const pool = supernetPool();
  afterAll(pool.dispose);
  const net = pool.net;

  it('the configurations really differ (adapters change the logits)', async () => {
    const n = net({});
    const e = createTfjsEngine(n.model, n.adapters);
    const ids = randomIds(B, S, n.model.config.vocabSize, 7);
    await e.setRanks(ranksOf(n, 4));
    const a = await e.logits(ids, B, S);
    await e.setRanks(ranksOf(n, 1));
    expect(maxAbsDiff(a, await e.logits(ids, B, S))).toBeGreaterThan(1e-2);
  });

  for (const [label, config] of [
    ['untied lm_head, GQA', {}],
    ['tied lm_head, GQA', { tieWordEmbeddings: true }],
    ['multi-head attention (kv heads = heads)', { numKeyValueHeads: 4 }],
    ['one kv head, 3 layers', { numKeyValueHeads: 1, numHiddenLayers: 3 }],
    // head_dim 16: a size onnxruntime's fused GroupQueryAttention kernel takes (auto = fused).
    ['head_dim 16, GQA', { hiddenSize: 64, headDim: 16, numAttentionHeads: 4, numKeyValueHeads: 2 }],
    ['head_dim 16, MHA, tied', { hiddenSize: 32, headDim: 16, numAttentionHeads: 2, numKeyValueHeads: 2, tieWordEmbeddings: true }],
  ] as const) {
    it(`${label}: unmerged (merge and low-rank paths, padded and sliced feeds) and merged forms, fused and standard attention, within 1e-4`, async () => {
      const n = net({ config });
      await compareLogits(n, { form: 'unmerged', threads: 1 });
      await compareLogits(n, { form: 'unmerged', attention: 'auto', threads: 1 });
      await compareLogits(n, { form: 'merged', attention: 'standard', threads: 2 });
      if (n.model.config.headDim % 16 === 0) await compareLogits(n, { form: 'merged', attention: 'fused', threads: 2 });
      else await expect(compareLogits(n, { form: 'merged', attention: 'fused', threads: 1 })).rejects.toThrow(/multiple of 16/);
      await compareLogits(n, { form: 'unmerged', adapterPath: 'low-rank', threads: 1 });
      await compareLogits(n, { form: 'unmerged', feed: 'sliced', threads: 2 });
      await compareLogits(n, { form: 'unmerged', fuseProjections: true, threads: 2 });
      await compareLogits(n, { form: 'merged', threads: 1 });
    });
  }

  it('alpha/r scaling (the scale follows the active rank)', async () => {
    await compareLogits(net({ scaling: 'alpha/r', seed: 4 }), { threads: 1 });
  });

  it('adapters on some modules only', async () => {
    await compareLogits(net({ modules: ['q_proj', 'v_proj', 'down_proj'], seed: 5 }), { threads: 1 });
  });

  it('SparsePEFT adapters: the masked delta merged in the graph, unmerged and merged forms', async () => {
    const n = net({ sparse: true, seed: 6 });
    await compareLogits(n, { form: 'unmerged', threads: 1 });
    await compareLogits(n, { form: 'merged', threads: 1 });
  });

  it('QA-SparsePEFT adapters: the merged weight fake-quantized on the base grid, unmerged and merged forms', async () => {
    const n = net({ sparse: true, quant: true, seed: 8 });
    await compareLogits(n, { form: 'unmerged', threads: 1 });
    await compareLogits(n, { form: 'merged', threads: 1 });
  });
});

describe('one session, many configurations', () => {
  let n: TinySupernet;
  let onnx: EvaluationEngine;
  beforeAll(async () => {
    n = tinySupernet({ seed: 11 });
    onnx = await createOnnxEngine(n.model, n.adapters, { threads: 2 });
  });
  afterAll(async () => {
    await onnx.dispose();
    n.dispose();
  });

  it('runs are bit-identical, and switching A -> B -> A gives A\'s bits again (the session is reused, not rebuilt)', async () => {
    const ids = randomIds(B, S, n.model.config.vocabSize, 3);
    const a = ranksOf(n, CONFIGS['mixed']!);
    const b = ranksOf(n, 2);
    await onnx.setRanks(a);
    const first = await onnx.logits(ids, B, S);
    expect(Buffer.from((await onnx.logits(ids, B, S)).buffer).equals(Buffer.from(first.buffer))).toBe(true);
    await onnx.setRanks(b);
    const other = await onnx.logits(ids, B, S);
    expect(maxAbsDiff(first, other)).toBeGreaterThan(1e-3);
    await onnx.setRanks(a);
    expect(Buffer.from((await onnx.logits(ids, B, S)).buffer).equals(Buffer.from(first.buffer))).toBe(true);
    // A fresh engine at A computes the same bits.
    const fresh = await createOnnxEngine(n.model, n.adapters, { threads: 2 });
    await fresh.setRanks(a);
    expect(Buffer.from((await fresh.logits(ids, B, S)).buffer).equals(Buffer.from(first.buffer))).toBe(true);
    await fresh.dispose();
  });

  it('per-row scores and next-token logits agree with tfjs; a row\'s score does not depend on the rows batched with it', async () => {
    const tfjs = createTfjsEngine(n.model, n.adapters);
    const ranks = ranksOf(n, CONFIGS['mixed']!);
    await tfjs.setRanks(ranks);
    await onnx.setRanks(ranks);
    const rows = 5;
    const inputIds = randomIds(rows, S, n.model.config.vocabSize, 9);
    const targets = randomIds(rows, S, n.model.config.vocabSize, 10);
    const weights = Float32Array.from({ length: rows * S }, (_, i) => (i % S < 4 ? 0 : 1));
    const batch = { batchSize: rows, seqLen: S, inputIds, targets, weights };
    const ref = await tfjs.scoreRows(batch);
    const got = await onnx.scoreRows(batch);
    expect(maxAbsDiff(ref.logLikelihood, got.logLikelihood)).toBeLessThan(1e-3);
    expect(Array.from(got.tokens)).toEqual(Array.from(ref.tokens));
    const small = await createOnnxEngine(n.model, n.adapters, { threads: 2, rowsPerRun: 2 });
    await small.setRanks(ranks);
    expect(maxAbsDiff((await small.scoreRows(batch)).logLikelihood, got.logLikelihood)).toBeLessThan(1e-5);
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]];
    expect(maxAbsDiff(await tfjs.nextTokenLogits(prompts, 0), await small.nextTokenLogits(prompts, 0))).toBeLessThan(1e-4);
    await small.dispose();
    await tfjs.dispose();
  });

  it('refuses unknown modules and ranks out of range, naming the module, and changes nothing', async () => {
    const before = await onnx.logits(randomIds(1, 4, 37, 1), 1, 4);
    await expect(onnx.setRanks(new Map([['layers.9.q_proj', 1]]))).rejects.toThrow(/layers\.9\.q_proj/);
    await expect(onnx.setRanks(new Map([[n.keys[0]!, 1], [n.keys[1]!, 5]]))).rejects.toThrow(/\[0, 4\], got 5/);
    expect(Array.from(await onnx.logits(randomIds(1, 4, 37, 1), 1, 4))).toEqual(Array.from(before));
  });
});

describe('the tfjs engine', () => {
  it('frees every tensor it creates, and leaves the adapters\' own ranks as they were', async () => {
    const n = tinySupernet({ seed: 12 });
    const e = createTfjsEngine(n.model, n.adapters);
    const ranks = n.adapters.activeRanks();
    const ids = randomIds(2, 5, 37, 2);
    const batch = { batchSize: 2, seqLen: 5, inputIds: ids, targets: ids, weights: new Float32Array(10).fill(1) };
    // One warm-up pass: the model's rope and mask caches are created once per sequence length.
    await e.logits(ids, 2, 5);
    await e.nextTokenLogits([[1, 2], [3]], 0);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await e.setRanks(ranksOf(n, i));
      await e.logits(ids, 2, 5);
      await e.scoreRows(batch);
      await e.nextTokenLogits([[1, 2], [3]], 0);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(n.adapters.activeRanks()).toEqual(ranks);
    await e.dispose();
    n.dispose();
  });
});
