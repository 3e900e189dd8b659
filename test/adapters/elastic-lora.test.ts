import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import type { ElasticLoraSpec } from '../../src/adapters/elastic-lora.js';
import { loraScale } from '../../src/space/index.js';
import { LINEAR_MODULES, LinearSlot, type ForwardContext } from '../../src/model/linear.js';
import { LlamaModel } from '../../src/model/llama.js';
import { tokenCrossEntropy } from '../../src/model/loss.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { type NaiveLora, naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const cfg = tinyConfig();

function planFor(keys: string[], rMax: number, scaling: ElasticLoraSpec['scaling'] = 'alpha/r_max'): ElasticLoraSpec[] {
  return keys.map((key) => ({ key, rMax, alpha: 8, scaling, dropout: 0 }));
}

/** Give every B a random value (B starts at zero, which would hide bugs). */
function randomizeB(set: AdapterSet, seed: number): void {
  const rng = createRng(seed);
  for (const a of set.adapters.values()) a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.3), a.bT.shape));
}

/** The adapters' A and B in PEFT layout, sliced to the active rank: a plain LoRA. */
async function slicedLoras(set: AdapterSet): Promise<Map<string, NaiveLora>> {
  const out = new Map<string, NaiveLora>();
  for (const [key, a] of set.adapters) {
    const r = a.activeRank;
    const A = tf.tidy(() => tf.transpose(tf.slice(a.aT, [0, 0], [a.aT.shape[0], r])));
    const B = tf.tidy(() => tf.transpose(tf.slice(a.bT, [0, 0], [r, a.bT.shape[1]])));
    out.set(key, { a: (await A.data()) as Float32Array, b: (await B.data()) as Float32Array, r, scale: a.scale });
    tf.dispose([A, B]);
  }
  return out;
}

const allKeys = [0, 1].flatMap((l) => LINEAR_MODULES.map((m) => `layers.${l}.${m}`));

describe('elastic LoRA', () => {
  it('the model at any rank configuration equals a plain LoRA built from the sliced matrices', async () => {
    const w = tinyWeights(cfg, 11);
    const model = LlamaModel.fromHf(cfg, w);
    const set = AdapterSet.attach(model, planFor(allKeys, 6), 1);
    randomizeB(set, 2);
    const ids = [4, 8, 15, 16, 23, 1];
    const rng = createRng(3);
    for (let trial = 0; trial < 4; trial++) {
      const ranks = new Map(allKeys.map((k) => [k, rng.int(7)]));
      if (trial === 0) for (const k of allKeys) ranks.set(k, 6);
      set.setActiveRanks(ranks);
      const ours = tf.tidy(() => model.forward(tf.tensor2d([ids], undefined, 'int32')).arraySync()[0]!);
      const ref = naiveLogits(cfg, w, ids, await slicedLoras(set));
      let diff = 0;
      ours.forEach((row, i) => row.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - ref[i]![j]!)))));
      expect(diff).toBeLessThan(1e-4);
    }
    set.dispose();
    model.dispose();
  });

  it('rank 0 switches the adapter off, and a fresh adapter (B = 0) leaves the model unchanged', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 12));
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const base = model.forward(ids);
    const set = AdapterSet.attach(model, planFor(allKeys, 4), 1);
    const fresh = model.forward(ids);
    randomizeB(set, 5);
    set.setActiveRanks(new Map(allKeys.map((k) => [k, 0])));
    const off = model.forward(ids);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(base, fresh))).dataSync()[0])).toBe(0);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(base, off))).dataSync()[0])).toBe(0);
    tf.dispose([ids, base, fresh, off]);
    set.dispose();
    model.dispose();
  });

  it('gradients of the inactive slices are exactly zero (property over ranks)', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 13));
    const keys = ['layers.0.q_proj', 'layers.0.down_proj', 'layers.1.up_proj', 'layers.1.o_proj'];
    const set = AdapterSet.attach(model, planFor(keys, 5), 2);
    randomizeB(set, 6);
    const ids = tf.tensor2d([[3, 1, 4, 1, 5]], undefined, 'int32');
    const targets = tf.tensor2d([[1, 4, 1, 5, 9]], undefined, 'int32');
    const weights = tf.ones([1, 5]) as tf.Tensor2D;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 4, maxLength: 4 }), (ranks) => {
        // With every adapter off nothing depends on the variables (tfjs refuses to differentiate).
        fc.pre(ranks.some((r) => r > 0));
        set.setActiveRanks(new Map(keys.map((k, i) => [k, ranks[i]!])));
        const vars = set.variables();
        const { value, grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids), targets, weights), vars);
        keys.forEach((key, i) => {
          const a = set.adapters.get(key)!;
          const r = ranks[i]!;
          // tfjs omits the gradient of a variable the loss does not reach: only an adapter that is off.
          if (grads[a.aT.name] === undefined || grads[a.bT.name] === undefined) {
            expect(r).toBe(0);
            return;
          }
          const gA = grads[a.aT.name]!.arraySync() as number[][]; // [in, rMax]
          const gB = grads[a.bT.name]!.arraySync() as number[][]; // [rMax, out]
          for (const row of gA) for (let k = r; k < 5; k++) expect(row[k]).toBe(0);
          for (let k = r; k < 5; k++) for (const v of gB[k]!) expect(v).toBe(0);
          if (r > 0) expect(gB.slice(0, r).flat().some((v) => v !== 0)).toBe(true);
        });
        value.dispose();
        tf.dispose(grads);
      }),
      { numRuns: 12 },
    );
    tf.dispose([ids, targets, weights]);
    set.dispose();
    model.dispose();
  });

  it('delta equals scale * B_r A_r x on random shapes and ranks (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 6 }),
        fc.nat(6),
        fc.constantFrom<'alpha/r_max' | 'alpha/r'>('alpha/r_max', 'alpha/r'),
        fc.nat(1000),
        (inDim, outDim, rMaxSeed, rSeed, scaling, seed) => {
          // r_max is at most min(in, out): AdapterSet.attach refuses larger ranks (test/adapters/rank-limit.test.ts).
          const rMax = Math.min(rMaxSeed, inDim, outDim);
          const r = rSeed % (rMax + 1);
          const rng = createRng(seed);
          const slot = { key: 'layers.0.q_proj' };
          const weight = tf.variable(tf.tensor2d(normalArray(rng, inDim * outDim, 1), [inDim, outDim]), false);
          const s = new LinearSlot(slot.key, 'w', weight);
          const set = AdapterSet.attach({ linearSlots: () => new Map([[slot.key, s]]) }, [{ key: slot.key, rMax, alpha: 3, scaling, dropout: 0 }], seed);
          const ad = set.adapters.get(slot.key)!;
          ad.bT.assign(tf.tensor2d(normalArray(rng, rMax * outDim, 1), [rMax, outDim]));
          ad.setActiveRank(r);
          const x = normalArray(rng, 2 * inDim, 1);
          const y = tf.tidy(() => s.forward(tf.tensor2d(x, [2, inDim]), { training: false, nextSeed: () => 0 }).arraySync()) as number[][];
          const W = weight.arraySync();
          const AT = ad.aT.arraySync();
          const BT = ad.bT.arraySync();
          const scale = loraScale({ alpha: 3, rMax, scaling }, r);
          for (let n = 0; n < 2; n++) {
            for (let o = 0; o < outDim; o++) {
              let expected = 0;
              for (let i = 0; i < inDim; i++) expected += x[n * inDim + i]! * W[i]![o]!;
              for (let k = 0; k < r; k++) {
                let ax = 0;
                for (let i = 0; i < inDim; i++) ax += x[n * inDim + i]! * AT[i]![k]!;
                expected += scale * ax * BT[k]![o]!;
              }
              expect(Math.abs(y[n]![o]! - expected)).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected)));
            }
          }
          set.dispose();
          weight.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('changing the active configuration copies no weights', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 14));
    const set = AdapterSet.attach(model, planFor(allKeys, 4), 1);
    const vars = set.variables();
    const before = tf.memory();
    set.setActiveRanks(new Map(allKeys.map((k) => [k, 2])));
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(set.variables()).toEqual(vars);
    set.dispose();
    model.dispose();
  });

  it('does not leak tensors across repeated training steps with dropout', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 15));
    const set = AdapterSet.attach(model, allKeys.map((key) => ({ key, rMax: 4, alpha: 8, scaling: 'alpha/r_max' as const, dropout: 0.1 })), 1);
    const ids = tf.tensor2d([[3, 1, 4, 1]], undefined, 'int32');
    const weights = tf.ones([1, 4]) as tf.Tensor2D;
    const rng = createRng(1);
    const ctx: ForwardContext = { training: true, nextSeed: () => rng.int(2 ** 31) };
    const step = () => {
      set.setActiveRanks(new Map(allKeys.map((k) => [k, 1 + rng.int(4)])));
      const { value, grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids, ctx), ids, weights), set.variables());
      value.dispose();
      tf.dispose(grads);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, weights]);
    set.dispose();
    model.dispose();
    expect(model.linearSlots().get('layers.0.q_proj')!.hook).toBeUndefined();
  });

  it('refuses unknown modules and double attachment with the module named', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 16));
    expect(() => AdapterSet.attach(model, planFor(['layers.9.q_proj'], 4), 1)).toThrow(/layers\.9\.q_proj: no such linear module/);
    const set = AdapterSet.attach(model, planFor(['layers.0.q_proj'], 4), 1);
    expect(() => AdapterSet.attach(model, planFor(['layers.0.q_proj'], 4), 1)).toThrow(/already has an adapter/);
    set.dispose();
    model.dispose();
  });
});

