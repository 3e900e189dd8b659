import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { countNonZeros, mergeAdapters, mergedWeightT } from '../../src/compress/merge.js';
import { dequantizeMatrix, quantizeMatrix, quantizeWithParams } from '../../src/compress/quantize.js';
import { extractSubAdapter, type SubAdapterModule } from '../../src/export/subnet.js';
import { INFERENCE, LinearSlot } from '../../src/model/linear.js';
import { LlamaModel } from '../../src/model/llama.js';
import { type LoraScaling, resolveSearchSpace, type SearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { type NaiveLora, naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

/** Naive reference of one merged weight in HF layout [out, in]: W + s * ((B_r A_r) ⊙ M), M = (W != 0) when masked. */
function naiveMerge(w: Float32Array, m: SubAdapterModule, masked: boolean): Float64Array {
  const { inFeatures: n, outFeatures: o, rank: r } = m;
  const out = new Float64Array(o * n);
  for (let i = 0; i < o; i++) {
    for (let j = 0; j < n; j++) {
      let ba = 0;
      for (let k = 0; k < r; k++) ba += m.b[i * r + k]! * m.a[k * n + j]!;
      const wij = w[i * n + j]!;
      out[i * n + j] = wij + (masked && wij === 0 ? 0 : m.scale * ba);
    }
  }
  return out;
}

/** HF-layout [out, in] values of a slot's weight. */
async function hfWeight(slot: LinearSlot): Promise<Float32Array> {
  const t = tf.transpose(slot.weightT);
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

function moduleOf(rng: ReturnType<typeof createRng>, inF: number, outF: number, rank: number, scale: number): SubAdapterModule {
  return {
    key: 'layers.0.q_proj',
    layer: 0,
    module: 'q_proj',
    rank,
    rMax: rank,
    alpha: scale * rank,
    scaling: 'alpha/r',
    scale,
    dropout: 0,
    inFeatures: inF,
    outFeatures: outF,
    a: normalArray(rng, rank * inF, 1),
    b: normalArray(rng, outF * rank, 1),
  };
}

function space(scaling: LoraScaling): SearchSpace {
  const spec = validateSearchSpaceSpec({
    format: 'nls-search-space/1',
    name: 'merge-test',
    alpha: 12,
    scaling,
    groups: [
      { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2, 0] },
      { name: 'o', modules: ['o_proj'], ranks: [4, 3] },
      { name: 'mlp', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [6, 5, 2] },
    ],
  });
  return resolveSearchSpace(spec, { numLayers: 2 });
}

/** Give every adapter a random B (B starts at zero, which would make any merge trivially right). */
function randomizeB(adapters: AdapterSet, seed: number): void {
  const rng = createRng(seed);
  for (const a of adapters.adapters.values()) {
    tf.tidy(() => a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.5), a.bT.shape)));
  }
}

async function logitsOf(model: LlamaModel, ids: number[][]): Promise<Float32Array> {
  const input = tf.tensor2d(ids, [ids.length, ids[0]!.length], 'int32');
  const logits = model.forward(input, INFERENCE);
  const v = (await logits.data()) as Float32Array;
  tf.dispose([input, logits]);
  return v;
}

const IDS = [
  [1, 5, 9, 13, 2, 30, 7],
  [36, 0, 4, 4, 18, 22, 11],
];

describe('mergeAdapters', () => {
  it('sparsity-aware merge never creates a non-zero and equals W + s*(B_r A_r) ⊙ M (property over random masks and ranks)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0.05, max: 4, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1_000_000 }),
        async (inF, outF, rank, density, scale, sparse, seed) => {
          const rng = createRng(seed);
          // HF layout [out, in], then masked at random.
          const w = normalArray(rng, outF * inF, 1).map((v) => (rng.next() < density ? v : 0));
          const m = moduleOf(rng, inF, outF, rank, scale);
          const slot = new LinearSlot(m.key, 'model.layers.0.self_attn.q_proj.weight', tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(w, [outF, inF])) as tf.Tensor2D, false)));
          try {
            const result = await mergeAdapters({ linearSlots: () => new Map([[m.key, slot]]) }, [m], { sparsityAware: sparse });
            const after = await hfWeight(slot);
            const ref = naiveMerge(w, m, sparse);
            const zerosBefore = w.filter((v) => v === 0).length;
            const rec = result.modules[0]!;
            expect(rec.nonZerosBefore).toBe(w.length - zerosBefore);
            expect(rec.nonZerosAfter).toBe(after.filter((v) => v !== 0).length);
            // newNonZeros counts exactly the zeros the merge filled in (all of them get filled, unmasked).
            expect(rec.newNonZeros).toBe(w.filter((v, i) => v === 0 && after[i] !== 0).length);
            if (sparse) {
              expect(rec.newNonZeros).toBe(0);
              // Exactly zero wherever the base was zero: no new non-zeros.
              for (let i = 0; i < w.length; i++) if (w[i] === 0) expect(Object.is(after[i], 0) || after[i] === 0).toBe(true);
              expect(rec.nonZerosAfter).toBeLessThanOrEqual(rec.nonZerosBefore);
            }
            for (let i = 0; i < w.length; i++) expect(Math.abs(after[i]! - ref[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref[i]!)));
          } finally {
            slot.weightT.dispose();
          }
        },
      ),
      { numRuns: 60, seed: 4242 },
    );
  });

  for (const scaling of ['alpha/r_max', 'alpha/r'] as const) {
    it(`the merged model gives the adapter model's logits within 1e-4 (float32, ${scaling})`, async () => {
      const cfg = tinyConfig();
      const weights = tinyWeights(cfg, 11);
      const model = LlamaModel.fromHf(cfg, weights);
      const sp = space(scaling);
      const adapters = AdapterSet.attach(model, sp.adapterPlan(), 3);
      randomizeB(adapters, 5);
      // Layer 1's q/k/v off (rank 0), every other gene below r_max somewhere.
      const config = [1, 1, 1, 2, 0, 2];
      const ranks = sp.activeRanks(config);
      adapters.setActiveRanks(ranks);
      const withAdapters = await logitsOf(model, IDS);
      const sub = await extractSubAdapter(adapters, ranks);
      expect(sub.modules.map((m) => m.key)).not.toContain('layers.1.q_proj');
      expect(sub.modules).toHaveLength(14 - 3);

      // The extracted factors and scales reproduce the adapter model in the naive reference.
      const loras = new Map<string, NaiveLora>(sub.modules.map((m) => [m.key, { a: m.a, b: m.b, r: m.rank, scale: m.scale }]));
      const naive = IDS.map((row) => naiveLogits(cfg, weights, row, loras));
      let naiveDiff = 0;
      naive.forEach((rows, b) => rows.forEach((v, t) => v.forEach((x, k) => (naiveDiff = Math.max(naiveDiff, Math.abs(x - withAdapters[(b * IDS[0]!.length + t) * cfg.vocabSize + k]!))))));
      expect(naiveDiff).toBeLessThan(1e-4);

      adapters.dispose();
      const tensors = tf.memory().numTensors;
      const result = await mergeAdapters(model, sub);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(result.modules.map((m) => m.key)).toEqual(sub.modules.map((m) => m.key));
      const merged = await logitsOf(model, IDS);
      let diff = 0;
      for (let i = 0; i < merged.length; i++) diff = Math.max(diff, Math.abs(merged[i]! - withAdapters[i]!));
      expect(diff).toBeLessThan(1e-4);
      expect(diff).toBeGreaterThanOrEqual(0);
      model.dispose();
    });
  }

  it('masked merge of a sparse base equals the naive W + s*((B_r A_r) ⊙ M) and keeps every zero', async () => {
    const cfg = tinyConfig();
    const weights = tinyWeights(cfg, 12);
    // Prune half of every linear weight (deterministic pattern) to get a sparse base.
    const rng = createRng(99);
    for (const [name, t] of weights) {
      if (/_proj\.weight$/.test(name)) weights.set(name, { shape: t.shape, data: t.data.map((v) => (rng.next() < 0.5 ? 0 : v)) });
    }
    const model = LlamaModel.fromHf(cfg, weights);
    const sp = space('alpha/r_max');
    const adapters = AdapterSet.attach(model, sp.adapterPlan(), 4);
    randomizeB(adapters, 6);
    const ranks = sp.activeRanks([0, 1, 2, 1, 0, 1]);
    const sub = await extractSubAdapter(adapters, ranks);
    adapters.dispose();
    const slots = model.linearSlots();
    const result = await mergeAdapters(model, sub, { sparsityAware: true });
    for (const m of sub.modules) {
      const slot = slots.get(m.key)!;
      const base = weights.get(slot.hfName)!.data;
      const ref = naiveMerge(base, m, true);
      const after = await hfWeight(slot);
      for (let i = 0; i < after.length; i++) {
        if (base[i] === 0) expect(after[i]).toBe(0);
        expect(Math.abs(after[i]! - ref[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(ref[i]!)));
      }
      const rec = result.modules.find((r) => r.key === m.key)!;
      expect(rec.nonZerosAfter).toBeLessThanOrEqual(rec.nonZerosBefore);
      expect(rec.nonZerosBefore).toBe(base.filter((v) => v !== 0).length);
    }
    // And the masked merged model computes the naive model with the reference weights.
    const refWeights = new Map(weights);
    for (const m of sub.modules) {
      const name = slots.get(m.key)!.hfName;
      refWeights.set(name, { shape: weights.get(name)!.shape, data: Float32Array.from(naiveMerge(weights.get(name)!.data, m, true)) });
    }
    const merged = await logitsOf(model, IDS);
    let diff = 0;
    IDS.forEach((row, b) =>
      naiveLogits(cfg, refWeights, row).forEach((v, t) => v.forEach((x, k) => (diff = Math.max(diff, Math.abs(x - merged[(b * row.length + t) * cfg.vocabSize + k]!))))),
    );
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it('sparse merge of a sparse base gives the masked (SparsePEFT) adapter model\'s logits within 1e-4', async () => {
    const cfg = tinyConfig();
    const weights = tinyWeights(cfg, 14);
    const rng = createRng(98);
    for (const [name, t] of weights) {
      if (/_proj\.weight$/.test(name)) weights.set(name, { shape: t.shape, data: t.data.map((v) => (rng.next() < 0.5 ? 0 : v)) });
    }
    const model = LlamaModel.fromHf(cfg, weights);
    const sp = space('alpha/r_max');
    const adapters = AdapterSet.attach(model, sp.adapterPlan(), 4);
    randomizeB(adapters, 7);
    const ranks = sp.activeRanks([0, 1, 2, 1, 0, 1]);
    adapters.setActiveRanks(ranks);
    adapters.constrainToBase({ sparse: true });
    const masked = await logitsOf(model, IDS);
    const sub = await extractSubAdapter(adapters, ranks);
    adapters.dispose();
    await mergeAdapters(model, sub, { sparsityAware: true });
    const merged = await logitsOf(model, IDS);
    let diff = 0;
    for (let i = 0; i < merged.length; i++) diff = Math.max(diff, Math.abs(merged[i]! - masked[i]!));
    expect(diff).toBeLessThan(1e-4);
    model.dispose();
  });

  it('re-quantizes a quantized base on its own grid (scales and zero points kept; zeros stay zeros)', async () => {
    for (const symmetric of [false, true]) {
      const rng = createRng(symmetric ? 1 : 2);
      const [outF, inF] = [6, 10];
      const w = normalArray(rng, outF * inF, 1).map((v) => (rng.next() < 0.4 ? 0 : v));
      const like = quantizeMatrix(w, outF, inF, { bits: 4, groupSize: 4, symmetric });
      const deq = dequantizeMatrix(like);
      const m = moduleOf(rng, inF, outF, 3, 0.3);
      const slot = new LinearSlot(m.key, 'model.layers.0.self_attn.q_proj.weight', tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(deq, [outF, inF])) as tf.Tensor2D, false)));
      // The float merge the quantized path starts from.
      const floatT = mergedWeightT(slot.weightT, m, { sparsityAware: true });
      const floatHf = tf.transpose(floatT);
      const expected = quantizeWithParams((await floatHf.data()) as Float32Array, like);
      tf.dispose([floatT, floatHf]);
      const result = await mergeAdapters({ linearSlots: () => new Map([[m.key, slot]]) }, [m], { sparsityAware: true, quantization: new Map([[m.key, like]]) });
      const q = result.quantized!.get(m.key)!;
      expect(Array.from(q.codes)).toEqual(Array.from(expected.codes));
      expect(q.scales).toEqual(like.scales);
      expect(q.zeros).toEqual(like.zeros);
      expect(result.modules[0]!.requantized).toBe(true);
      const after = await hfWeight(slot);
      expect(Array.from(after)).toEqual(Array.from(dequantizeMatrix(q)));
      for (let i = 0; i < deq.length; i++) if (deq[i] === 0) expect(after[i]).toBe(0);
      expect(await countNonZeros(slot.weightT)).toBeLessThanOrEqual(deq.filter((v) => v !== 0).length);
      // Re-quantizing may round weights to zero, never a zero to a non-zero.
      expect(result.modules[0]!.newNonZeros).toBe(0);
      slot.weightT.dispose();
    }
  });

  it('refuses a module that still has its adapter attached, and a sub-adapter of another shape', async () => {
    const cfg = tinyConfig();
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 13));
    const sp = space('alpha/r_max');
    const adapters = AdapterSet.attach(model, sp.adapterPlan(), 4);
    const sub = await extractSubAdapter(adapters, sp.activeRanks(sp.maxConfig()));
    await expect(mergeAdapters(model, sub)).rejects.toThrow(/still attached.*twice/);
    adapters.dispose();
    const bad = { ...sub.modules[0]!, inFeatures: 3 };
    await expect(mergeAdapters(model, [bad])).rejects.toThrow(/layers\.0\.q_proj.*merge into the base model/);
    await expect(extractSubAdapter(adapters, new Map([['layers.9.q_proj', 1]]))).rejects.toThrow(/layers\.9\.q_proj/);
    model.dispose();
  });
});
