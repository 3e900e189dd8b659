/** Training a width + rank supernet (LoNAS mode B): widths sampled with ranks, base frozen, reordered base recorded. */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { readReordering } from '../../src/compress/reorder-run.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { runSupernetTraining, type SupernetRunOptions } from '../../src/pipeline/train-supernet.js';
import { resolveSearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';
import { loadSupernet, type SupernetManifest } from '../../src/supernet/artifact.js';
import { trainSupernet } from '../../src/supernet/trainer.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 });
const SPACE: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'toy-widths',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] },
    { name: 'up', modules: ['up_proj', 'down_proj'], ranks: [4, 2] },
    { name: 'mlp', kind: 'width', widths: [48, 32, 16] },
  ],
};
let root = '';

beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-widths-train-'));
  const model = LlamaModel.random(cfg, 3);
  await saveModelFolder(path.join(root, 'model'), model, { byteTokenizer: true });
  model.dispose();
  const rows = Array.from({ length: 48 }, (_, i) => {
    const label = i % 2 === 0 ? 'yes' : 'no';
    return JSON.stringify({ text: `${label === 'yes' ? 'sunny' : 'rainy'} day number ${i}`, label });
  });
  await fsp.writeFile(path.join(root, 'data.jsonl'), rows.join('\n'));
  await fsp.writeFile(path.join(root, 'space.json'), JSON.stringify(SPACE));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const common = (out: string): SupernetRunOptions => ({
  model: path.join(root, 'model'),
  data: path.join(root, 'data.jsonl'),
  space: path.join(root, 'space.json'),
  out,
  rule: 'uniform',
  steps: 10,
  lr: 5e-3,
  warmupSteps: 2,
  batchSize: 4,
  gradAccum: 1,
  maxLength: 40,
  weightDecay: 0,
  seed: 0,
  progress: new Progress({ quiet: true }),
});

describe('width + rank supernet training', () => {
  it('--reorder-widths reorders the base into OUT/base, trains on it with widths sampled with ranks, and records where the base lives', async () => {
    const out = path.join(root, 'supernet');
    const result = await runSupernetTraining({ ...common(out), reorderWidths: true });
    const base = path.join(out, 'base');
    expect(existsSync(path.join(base, 'reorder-report.json'))).toBe(true);
    expect(await readReordering(base)).toMatchObject({ method: 'wanda-down' });
    const manifest = JSON.parse(await fsp.readFile(path.join(out, 'supernet.json'), 'utf8')) as SupernetManifest;
    expect(manifest.baseModel).toBe(path.resolve(base));
    expect(manifest.baseReordering).toEqual({ method: 'wanda-down', report: path.resolve(base, 'reorder-report.json'), from: path.resolve(root, 'model') });
    // Keys carry the width gene (third digit of each layer); uniform sampling reaches several widths.
    const space = resolveSearchSpace(SPACE, { numLayers: 2 });
    const widthsSeen = new Set(result.training.records.flatMap((r) => [...space.activeWidths(space.parseKey(r.label)).values()]));
    expect(widthsSeen.size).toBeGreaterThan(1);
    const [max, median, min] = result.validation;
    expect([max!.key, median!.key, min!.key]).toEqual(['000.000', '001.001', '112.112']);
    // The adapter parameters reported follow the widths: down/up at width 16 hold fewer rows.
    expect(min!.adapterParameters).toBeLessThan(max!.adapterParameters);
    const loaded = await loadSupernet(out);
    expect(loaded.space.hasWidths).toBe(true);
    expect([...loaded.model.mlpWidths().values()]).toEqual([48, 48]);
    loaded.adapters.dispose();
    loaded.model.dispose();
  });

  it('keeps the base frozen: only adapter weights change, and the model ends at full width', async () => {
    const model = LlamaModel.random(cfg, 4);
    const space = resolveSearchSpace(SPACE, { numLayers: 2, intermediateSizes: [48, 48] });
    const adapters = AdapterSet.attach(model, space.adapterPlan(), 1);
    const before = await Promise.all(model.baseVariables().map(async (v) => Float32Array.from((await v.data()) as Float32Array)));
    const rng = (i: number) => Int32Array.from({ length: 4 * 12 }, (_, k) => (i * 31 + k * 7) % 300);
    const batch = (i: number) => ({ batchSize: 4, seqLen: 12, inputIds: rng(i), targets: rng(i + 1), weights: new Float32Array(48).fill(1) });
    const result = await trainSupernet(model, adapters, space, { batch: (step: number) => batch(step) }, { steps: 4, lr: 1e-2, warmupSteps: 1, seed: 0 });
    expect(result.records).toHaveLength(4);
    const after = await Promise.all(model.baseVariables().map(async (v) => (await v.data()) as Float32Array));
    after.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(before[i]!)));
    expect([...model.mlpWidths().values()]).toEqual([48, 48]);
    adapters.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(60);
  });

  it('refuses sparsity-aware adapters with a width space, and warns (not refuses) on a base that was not reordered', async () => {
    await expect(runSupernetTraining({ ...common(path.join(root, 'sparse')), adapterMode: { sparse: true, quantAware: false } })).rejects.toThrow(
      /has elastic MLP widths, which sparsity- and quantization-aware adapters .* do not support/,
    );
    const lines: string[] = [];
    const progress = new Progress({ quiet: false, json: false, stream: { write: (s: string) => (lines.push(s), true) } as never });
    await runSupernetTraining({ ...common(path.join(root, 'plain')), steps: 2, progress });
    expect(lines.join('')).toMatch(/warning: the search space has elastic MLP widths but .* was not reordered by importance/);
  });
});
