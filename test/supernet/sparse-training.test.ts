/**
 * Sparsity- and quantization-aware supernet training (SQFT): nls train --sparse-adapter on a
 * pruned base keeps every merged subnet exactly as sparse as the base; --quant-aware on a
 * quantized base trains through the fake quantizer; both modes are recorded in supernet.json and
 * applied again when the supernet is loaded; --quant-aware on a float base is refused.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeModel } from '../../src/compress/quantize.js';
import { saveQuantizedModelFolder } from '../../src/compress/quantize-folder.js';
import { sparsifyModel } from '../../src/compress/sparsity.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { runSupernetTraining, type SupernetRunOptions } from '../../src/pipeline/train-supernet.js';
import { runSearch } from '../../src/pipeline/search.js';
import { loadSupernet, loadSupernetSpace } from '../../src/supernet/artifact.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

let root = '';
beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-sqft-'));
  const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 });
  // A 50% magnitude-pruned base, saved as is and quantized (int8, zeros stay zeros).
  const model = LlamaModel.random(cfg, 3);
  await sparsifyModel(model, { method: 'magnitude', sparsity: 0.5 });
  await saveModelFolder(path.join(root, 'sparse'), model, { byteTokenizer: true });
  const { matrices } = await quantizeModel(model, { bits: 8, groupSize: 16, symmetric: true });
  await saveQuantizedModelFolder(path.join(root, 'quantized'), model, matrices, { byteTokenizer: true });
  model.dispose();
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `${i % 2 === 0 ? 'sunny' : 'rainy'} day ${i}`, label: i % 2 === 0 ? 'yes' : 'no' }));
  await fsp.writeFile(path.join(root, 'data.jsonl'), rows.join('\n'));
  await fsp.writeFile(
    path.join(root, 'space.json'),
    JSON.stringify({ format: 'nls-search-space/1', name: 'toy', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] }, { name: 'mlp', modules: ['up_proj', 'down_proj'], ranks: [4, 2] }] }),
  );
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function options(model: string, out: string, adapterMode: SupernetRunOptions['adapterMode']): SupernetRunOptions {
  return {
    model: path.join(root, model),
    data: path.join(root, 'data.jsonl'),
    space: path.join(root, 'space.json'),
    out: path.join(root, out),
    rule: 'sandwich',
    steps: 6,
    lr: 0.01,
    warmupSteps: 1,
    batchSize: 4,
    gradAccum: 1,
    maxLength: 32,
    weightDecay: 0,
    seed: 1,
    ...(adapterMode ? { adapterMode } : {}),
    progress: new Progress({ quiet: true }),
  };
}

/** Non-zero count of every adapted module's merged weight at the given configuration, and of its base. */
async function mergedNonZeros(dir: string, pick: 'max' | 'min'): Promise<{ merged: number; base: number; constrained: boolean }> {
  const s = await loadSupernet(dir);
  s.adapters.setActiveRanks(s.space.activeRanks(pick === 'max' ? s.space.maxConfig() : s.space.minConfig()));
  const slots = s.model.linearSlots();
  let merged = 0;
  let base = 0;
  for (const [key, a] of s.adapters.adapters) {
    const w = slots.get(key)!.weightT;
    const [m, b] = tf.tidy(() => [tf.sum(tf.notEqual(tf.add(w, a.deltaWeightT()), 0)), tf.sum(tf.notEqual(w, 0))]);
    merged += (await m!.data())[0]!;
    base += (await b!.data())[0]!;
    tf.dispose([m!, b!]);
  }
  const constrained = [...s.adapters.adapters.values()].every((a) => a.baseConstraint !== undefined);
  s.adapters.dispose();
  s.model.dispose();
  return { merged, base, constrained };
}

describe('sparsity- and quantization-aware supernet training', () => {
  it('--sparse-adapter: every merged subnet keeps the base exactly as sparse; plain LoRA fills it in', async () => {
    const sparse = await runSupernetTraining(options('sparse', 'sparse-net', { sparse: true, quantAware: false }));
    expect(sparse.manifest.training['adapterMode']).toEqual({ sparse: true, quantAware: false });
    expect(sparse.validation.every((m) => Number.isFinite(m.loss))).toBe(true);
    for (const pick of ['max', 'min'] as const) {
      const r = await mergedNonZeros(path.join(root, 'sparse-net'), pick);
      expect(r.constrained).toBe(true);
      expect(r.merged).toBe(r.base);
    }
    await runSupernetTraining(options('sparse', 'plain-net', undefined));
    const plain = await mergedNonZeros(path.join(root, 'plain-net'), 'max');
    expect(plain.constrained).toBe(false);
    expect(plain.merged).toBeGreaterThan(plain.base);
  });

  it('--quant-aware trains through the base\'s fake quantizer and is applied again on load; a float base is refused', async () => {
    const qa = await runSupernetTraining(options('quantized', 'qa-net', { sparse: true, quantAware: true }));
    expect(qa.manifest.training['adapterMode']).toEqual({ sparse: true, quantAware: true });
    expect(qa.validation.every((m) => Number.isFinite(m.loss))).toBe(true);
    const s = await loadSupernet(path.join(root, 'qa-net'));
    expect([...s.adapters.adapters.values()].every((a) => a.baseConstraint?.fakeQuantize !== undefined)).toBe(true);
    const before = tf.memory().numTensors;
    s.adapters.dispose();
    s.model.dispose();
    // The fake quantizers' grid tensors are freed with the adapters.
    expect(tf.memory().numTensors).toBeLessThan(before);
    await expect(runSupernetTraining(options('sparse', 'qa-float', { sparse: true, quantAware: true }))).rejects.toThrow(/nls quantize/);
    // A supernet on a quantized base is searched like any other, also by a worker pool, which
    // reads only the space (the base's config.json carries nls's quantization_config).
    expect((await loadSupernetSpace(path.join(root, 'qa-net'))).size).toBe(4);
    const search = await runSearch({
      supernet: path.join(root, 'qa-net'),
      strategy: 'random',
      budget: 2,
      batchSize: 2,
      workers: 2,
      objectives: ['accuracy', 'params'],
      constraints: [],
      seed: 0,
      out: path.join(root, 'qa-search'),
      progress: new Progress({ quiet: true }),
    });
    expect(search.study.evaluations).toBe(2);
  });
});
