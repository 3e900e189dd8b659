/** Elastic MLP widths (LoNAS mode B) in the tfjs model and its adapters. */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import type { ElasticLoraSpec } from '../../src/adapters/elastic-lora.js';
import { INFERENCE, LINEAR_MODULES } from '../../src/model/linear.js';
import { type HfTensor, LlamaModel } from '../../src/model/llama.js';
import { tokenCrossEntropy } from '../../src/model/loss.js';
import { configWithWidths, sliceMlpHfTensors } from '../../src/model/widths.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { type NaiveLora, naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const cfg = tinyConfig({ numHiddenLayers: 2, intermediateSize: 24 });
const keys = [0, 1].flatMap((l) => LINEAR_MODULES.map((m) => `layers.${l}.${m}`));
const plan: ElasticLoraSpec[] = keys.map((key) => ({ key, rMax: 4, alpha: 8, scaling: 'alpha/r_max', dropout: 0 }));

function randomizeB(set: AdapterSet, seed: number): void {
  const rng = createRng(seed);
  for (const a of set.adapters.values()) a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.3), a.bT.shape));
}

/**
 * The adapters in PEFT layout cut to their active rank and to the widths: gate/up keep B's first
 * w rows (outputs), down keeps A's first w columns (inputs). Written with plain loops.
 */
async function slicedLoras(set: AdapterSet, widths: ReadonlyMap<number, number>): Promise<Map<string, NaiveLora>> {
  const out = new Map<string, NaiveLora>();
  for (const [key, a] of set.adapters) {
    const [, l, m] = key.split('.');
    const w = widths.get(Number(l));
    const r = a.activeRank;
    const [inFull, rMax] = a.aT.shape;
    const outFull = a.bT.shape[1];
    const inDim = m === 'down_proj' && w !== undefined ? w : inFull;
    const outDim = (m === 'gate_proj' || m === 'up_proj') && w !== undefined ? w : outFull;
    const aT = (await a.aT.data()) as Float32Array;
    const bT = (await a.bT.data()) as Float32Array;
    const A = new Float32Array(r * inDim);
    for (let k = 0; k < r; k++) for (let i = 0; i < inDim; i++) A[k * inDim + i] = aT[i * rMax + k]!;
    const B = new Float32Array(outDim * r);
    for (let o = 0; o < outDim; o++) for (let k = 0; k < r; k++) B[o * r + k] = bT[k * outFull + o]!;
    out.set(key, { a: A, b: B, r, scale: a.scale });
  }
  return out;
}

/** HF tensors of the smaller model written with plain loops (independent of sliceMlpHfTensors). */
function naiveSlice(w: ReadonlyMap<string, HfTensor>, widths: ReadonlyMap<number, number>): Map<string, HfTensor> {
  const out = new Map(w);
  for (const [l, width] of widths) {
    for (const m of ['gate_proj', 'up_proj']) {
      const t = w.get(`model.layers.${l}.mlp.${m}.weight`)!;
      const cols = t.shape[1]!;
      const data = new Float32Array(width * cols);
      for (let r = 0; r < width; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = t.data[r * cols + c]!;
      out.set(`model.layers.${l}.mlp.${m}.weight`, { shape: [width, cols], data });
    }
    const t = w.get(`model.layers.${l}.mlp.down_proj.weight`)!;
    const [rows, cols] = t.shape as [number, number];
    const data = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) data[r * width + c] = t.data[r * cols + c]!;
    out.set(`model.layers.${l}.mlp.down_proj.weight`, { shape: [rows, width], data });
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe('elastic MLP widths', () => {
  it('a narrowed model equals a naive reference model with the smaller intermediate sizes built from sliced weights (property)', async () => {
    const w = tinyWeights(cfg, 21);
    const model = LlamaModel.fromHf(cfg, w);
    const set = AdapterSet.attach(model, plan, 3);
    randomizeB(set, 4);
    const ids = [3, 14, 15, 9, 2, 6];
    const input = tf.tensor2d([ids], undefined, 'int32');
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 })),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: keys.length, maxLength: keys.length }),
        async ([w0, w1], ranks) => {
          const widths = new Map([
            [0, w0],
            [1, w1],
          ]);
          model.setMlpWidths(widths);
          set.setActiveRanks(new Map(keys.map((k, i) => [k, ranks[i]!])));
          const out = model.forward(input);
          const ours = (await out.data()) as Float32Array;
          out.dispose();
          const ref = naiveLogits({ ...cfg, intermediateSizes: [w0, w1] }, naiveSlice(w, widths), ids, await slicedLoras(set, widths));
          expect(maxDiff(ours, ref.flat())).toBeLessThan(1e-4);
        },
      ),
      { numRuns: 12, seed: 7 },
    );
    input.dispose();
    set.dispose();
    model.dispose();
  });

  it('equals a tfjs model loaded with the per-layer sizes (configWithWidths + sliceMlpHfTensors) within 1e-5', async () => {
    const w = tinyWeights(cfg, 22);
    const model = LlamaModel.fromHf(cfg, w);
    const widths = new Map([
      [0, 10],
      [1, 17],
    ]);
    const small = LlamaModel.fromHf(configWithWidths(cfg, widths), sliceMlpHfTensors(cfg, w, widths));
    expect(small.config.intermediateSizes).toEqual([10, 17]);
    expect(small.config.intermediateSize).toBe(17);
    expect(configWithWidths(cfg, new Map([[0, 9], [1, 9]]))).toMatchObject({ intermediateSize: 9 });
    expect(configWithWidths(cfg, new Map([[0, 9], [1, 9]])).intermediateSizes).toBeUndefined();
    model.setMlpWidths(widths);
    expect([...model.mlpWidths()]).toEqual([...widths]);
    const ids = tf.tensor2d([[1, 5, 9, 2], [7, 7, 3, 0]], undefined, 'int32');
    const [a, b] = tf.tidy(() => [model.forward(ids), small.forward(ids)]);
    expect(maxDiff((await a!.data()) as Float32Array, (await b!.data()) as Float32Array)).toBeLessThan(1e-5);
    // Back to full width: the original model again, bit for bit.
    model.resetMlpWidths();
    const full = LlamaModel.fromHf(cfg, w);
    const [c, d] = tf.tidy(() => [model.forward(ids), full.forward(ids)]);
    expect(maxDiff((await c!.data()) as Float32Array, (await d!.data()) as Float32Array)).toBe(0);
    tf.dispose([a!, b!, c!, d!, ids]);
    for (const m of [model, small, full]) m.dispose();
  });

  it('trains only the active width block of the adapters (zero gradient outside it); the base stays frozen', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 23));
    const set = AdapterSet.attach(model, plan, 5);
    randomizeB(set, 6);
    model.setMlpWidths(new Map([[0, 9], [1, 24]]));
    const ids = tf.tensor2d([[1, 2, 3, 4, 5]], undefined, 'int32');
    const targets = tf.tensor2d([[2, 3, 4, 5, 6]], undefined, 'int32');
    const weights = tf.ones([1, 5]) as tf.Tensor2D;
    const gate = set.adapters.get('layers.0.gate_proj')!;
    const down = set.adapters.get('layers.0.down_proj')!;
    const { grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids, INFERENCE), targets, weights) as tf.Scalar, [gate.bT, down.aT]);
    expect(model.layers[0]!.linears.gate_proj.weightT.trainable).toBe(false);
    const gB = grads[gate.bT.name]!.arraySync() as number[][];
    const gA = grads[down.aT.name]!.arraySync() as number[][];
    // gate B^T [r, out]: columns >= 9 are outside the width; down A^T [in, r]: rows >= 9.
    expect(gB.every((row) => row.slice(9).every((v) => v === 0))).toBe(true);
    expect(gB.some((row) => row.slice(0, 9).some((v) => v !== 0))).toBe(true);
    expect(gA.slice(9).every((row) => row.every((v) => v === 0))).toBe(true);
    expect(gA.slice(0, 9).some((row) => row.some((v) => v !== 0))).toBe(true);
    tf.dispose([ids, targets, weights, ...Object.values(grads)]);
    set.dispose();
    model.dispose();
  });

  it('switches widths without leaking tensors (slices are cached per shape) and re-slices after a merge assigns the weight', async () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 24));
    const set = AdapterSet.attach(model, plan, 7);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const run = (w0: number) => {
      model.setMlpWidths(new Map([[0, w0], [1, 24 - w0]]));
      model.forward(ids).dispose();
    };
    for (const w0 of [5, 12, 20]) run(w0); // fills the cache
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) for (const w0 of [5, 12, 20]) run(w0);
    expect(tf.memory().numTensors).toBe(before);
    // A new base weight (as a merge assigns it) is sliced again, not served stale from the cache.
    const slot = model.layers[0]!.linears.gate_proj;
    model.setMlpWidths(new Map([[0, 5]]));
    const old = (await slot.activeWeightT().data()) as Float32Array;
    slot.weightT.assign(tf.mul(slot.weightT, 2) as tf.Tensor2D);
    const fresh = (await slot.activeWeightT().data()) as Float32Array;
    expect(fresh[0]).toBeCloseTo(2 * old[0]!, 6);
    ids.dispose();
    set.dispose();
    model.dispose();
  });

  it('refuses widths outside 1..intermediate size and sparsity-aware adapters on a narrowed slot', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 25));
    expect(() => model.setMlpWidths(new Map([[0, 25]]))).toThrow(/layers\.0|widths\.0: MLP width must be an integer in \[1, 24\]/);
    expect(() => model.setMlpWidths(new Map([[2, 5]]))).toThrow(/no layer 2/);
    expect(() => model.setMlpWidths(new Map([[0, 0]]))).toThrow(/got 0/);
    const set = AdapterSet.attach(model, plan, 8);
    set.constrainToBase({ sparse: true });
    model.setMlpWidths(new Map([[0, 12]]));
    const ids = tf.tensor2d([[1, 2]], undefined, 'int32');
    expect(() => model.forward(ids)).toThrow(/sparsity- and quantization-aware adapters do not support elastic MLP widths/);
    model.resetMlpWidths();
    expect(() => model.forward(ids).dispose()).not.toThrow();
    ids.dispose();
    set.dispose();
    model.dispose();
  });

  it('counts active adapter parameters at the active widths', () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 26));
    const set = AdapterSet.attach(model, plan, 9);
    const full = set.activeParameterCount();
    model.setMlpWidths(new Map([[0, 10]]));
    // gate, up: r (h + w) instead of r (h + 24); down: r (w + h).
    expect(full - set.activeParameterCount()).toBe(3 * 4 * (24 - 10));
    set.dispose();
    model.dispose();
  });
});
