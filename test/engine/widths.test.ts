/** Elastic MLP widths on the evaluation engines: tfjs, onnx unmerged (widths fed, MLP cut in the graph) and merged (the smaller model). */
import { beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../../src/engine/onnx/engine.js';
import { exportLlamaOnnx } from '../../src/engine/onnx/llama.js';
import { createOrtSession } from '../../src/engine/onnx/session.js';
import { llamaWeightsOf, mergedWeightsOf, sliceLlamaWeights } from '../../src/engine/onnx/weights.js';
import { createTfjsEngine } from '../../src/engine/tfjs.js';
import { LlamaModel } from '../../src/model/llama.js';
import { configWithWidths, sliceMlpHfTensors } from '../../src/model/widths.js';
import { createRng } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { maxAbsDiff, randomIds, tinySupernet } from './helpers.js';

beforeAll(useTestBackend);

const batch = 2;
const seq = 7;

/** Random ranks (0..4) per adapter and widths (1..24) per layer, from `seed`. */
function randomConfig(keys: readonly string[], layers: number, seed: number): { ranks: Map<string, number>; widths: Map<number, number> } {
  const rng = createRng(seed);
  return { ranks: new Map(keys.map((k) => [k, rng.int(5)])), widths: new Map(Array.from({ length: layers }, (_, l) => [l, 1 + rng.int(24)])) };
}

describe('engines with elastic MLP widths', () => {
  it('onnx unmerged (merge and low-rank paths, padded and sliced feeds) and merged agree with tfjs within 1e-4 at any widths and ranks', async () => {
    const net = tinySupernet({ config: { numHiddenLayers: 2, intermediateSize: 24 } });
    const tfjs = createTfjsEngine(net.model, net.adapters);
    const engines = [
      await createOnnxEngine(net.model, net.adapters, { elasticWidths: true, threads: 1 }),
      await createOnnxEngine(net.model, net.adapters, { elasticWidths: true, adapterPath: 'low-rank', feed: 'sliced', threads: 1 }),
      await createOnnxEngine(net.model, net.adapters, { form: 'merged', mergedCache: 2, threads: 1 }),
    ];
    const ids = randomIds(batch, seq, 37, 5);
    for (let trial = 0; trial < 5; trial++) {
      const { ranks, widths } = randomConfig(net.keys, 2, 10 + trial);
      if (trial === 0) for (const l of [0, 1]) widths.set(l, 24);
      await tfjs.setRanks(ranks);
      await tfjs.setWidths(widths);
      const reference = await tfjs.logits(ids, batch, seq);
      for (const e of engines) {
        await e.setRanks(ranks);
        await e.setWidths(widths);
        expect(maxAbsDiff(await e.logits(ids, batch, seq), reference), `${e.info.form} trial ${trial}`).toBeLessThan(1e-4);
      }
    }
    // The tfjs engine restores the model's own widths and the adapters' ranks after each call.
    expect([...net.model.mlpWidths().values()]).toEqual([24, 24]);
    for (const e of engines) await e.dispose();
    net.dispose();
  });

  it('the smaller model a width configuration exports (merged, sliced weights, per-layer sizes) runs on onnx and equals the sliced supernet on tfjs within 1e-4', async () => {
    const net = tinySupernet({ config: { numHiddenLayers: 2, intermediateSize: 24, tieWordEmbeddings: true }, seed: 4 });
    const { ranks, widths } = randomConfig(net.keys, 2, 3);
    widths.set(0, 9);
    widths.set(1, 20);
    net.adapters.setActiveRanks(ranks);
    const merged = sliceLlamaWeights(await mergedWeightsOf(net.model, net.adapters), widths);
    expect(merged.config.intermediateSizes).toEqual([9, 20]);
    const session = await createOrtSession(exportLlamaOnnx(merged, { output: 'logits' }), { threads: 1 });
    const ids = randomIds(batch, seq, 37, 6);
    const ort = await import('onnxruntime-node');
    const out = await session.run({ input_ids: new ort.Tensor('int32', ids, [batch, seq]) });
    net.model.setMlpWidths(widths);
    const tfjs = createTfjsEngine(net.model, net.adapters);
    const reference = await tfjs.logits(ids, batch, seq);
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference)).toBeLessThan(1e-4);
    // sliceLlamaWeights of the base equals the weights of a model loaded from sliceMlpHfTensors.
    const base = await llamaWeightsOf(net.model);
    const small = LlamaModel.fromHf(configWithWidths(net.model.config, widths), sliceMlpHfTensors(net.model.config, await net.model.toHf(), widths));
    const smallWeights = await llamaWeightsOf(small);
    const sliced = sliceLlamaWeights(base, widths);
    for (let l = 0; l < 2; l++) for (const m of ['gate_proj', 'up_proj', 'down_proj'] as const) expect(maxAbsDiff(sliced.layers[l]!.linears[m], smallWeights.layers[l]!.linears[m])).toBe(0);
    small.dispose();
    await session.release();
    net.dispose();
  });

  it('an unmerged engine without elasticWidths refuses narrower widths; bad widths are refused by every engine', async () => {
    const net = tinySupernet({ config: { numHiddenLayers: 2, intermediateSize: 24 }, seed: 6 });
    const fixed = await createOnnxEngine(net.model, net.adapters, { threads: 1 });
    await expect(fixed.setWidths(new Map([[0, 12]]))).rejects.toThrow(/was created without elasticWidths/);
    await expect(fixed.setWidths(new Map([[0, 24]]))).resolves.toBeUndefined();
    const tfjs = createTfjsEngine(net.model, net.adapters);
    for (const e of [fixed, tfjs]) {
      await expect(e.setWidths(new Map([[0, 25]]))).rejects.toThrow(/MLP width must be an integer in \[1, 24\], got 25/);
      await expect(e.setWidths(new Map([[3, 5]]))).rejects.toThrow(/no layer 3/);
    }
    await fixed.dispose();
    net.dispose();
  });

  it('scores rows identically (within float rounding) on tfjs and the elastic unmerged onnx engine', async () => {
    const net = tinySupernet({ config: { numHiddenLayers: 2, intermediateSize: 24 }, seed: 8 });
    const { ranks, widths } = randomConfig(net.keys, 2, 9);
    const tfjs = createTfjsEngine(net.model, net.adapters);
    const onnx = await createOnnxEngine(net.model, net.adapters, { elasticWidths: true, threads: 1 });
    const rows = { batchSize: batch, seqLen: seq, inputIds: randomIds(batch, seq, 37, 1), targets: randomIds(batch, seq, 37, 2), weights: new Float32Array(batch * seq).fill(1) };
    for (const e of [tfjs, onnx]) {
      await e.setRanks(ranks);
      await e.setWidths(widths);
    }
    const [a, b] = [await tfjs.scoreRows(rows), await onnx.scoreRows(rows)];
    for (let i = 0; i < batch; i++) expect(Math.abs(a.logLikelihood[i]! - b.logLikelihood[i]!)).toBeLessThan(1e-3);
    await onnx.dispose();
    net.dispose();
  });
});
