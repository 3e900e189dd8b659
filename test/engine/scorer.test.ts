/**
 * The search scorer on the onnx engine: the same metrics as tfjs (accuracy equal, losses within
 * float32 rounding, exact match equal), bit-identical from run to run, the engine recorded in
 * every trial, and this thread's event loop free while sessions run (they run in worker threads).
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveEngine } from '../../src/engine/select.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { createSupernetScorer, openSupernetScorer, type ScorerSpec } from '../../src/pipeline/scorer.js';
import { runSearch } from '../../src/pipeline/search.js';
import { runSupernetTraining } from '../../src/pipeline/train-supernet.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

let root = '';
let supernet = '';
beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-engine-scorer-'));
  const model = LlamaModel.random(tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 }), 3);
  await saveModelFolder(path.join(root, 'model'), model, { byteTokenizer: true });
  model.dispose();
  const rows = Array.from({ length: 120 }, (_, i) => JSON.stringify({ text: `${i % 2 === 0 ? 'sunny' : 'rainy'} day number ${i}`, label: i % 2 === 0 ? 'yes' : 'no' }));
  await fsp.writeFile(path.join(root, 'data.jsonl'), rows.join('\n'));
  await fsp.writeFile(
    path.join(root, 'space.json'),
    JSON.stringify({ format: 'nls-search-space/1', name: 'toy', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] }, { name: 'up', modules: ['up_proj'], ranks: [4, 2, 0] }] }),
  );
  supernet = path.join(root, 'supernet');
  await runSupernetTraining({
    model: path.join(root, 'model'),
    data: path.join(root, 'data.jsonl'),
    space: path.join(root, 'space.json'),
    out: supernet,
    rule: 'sandwich',
    steps: 6,
    lr: 2e-2,
    warmupSteps: 1,
    batchSize: 4,
    gradAccum: 1,
    maxLength: 48,
    weightDecay: 0,
    seed: 0,
    progress: new Progress({ quiet: true }),
  });
}, 300_000);
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('the scorer on the onnx engine', () => {
  it('auto resolves to onnx here; an unknown engine is refused naming --engine', async () => {
    expect(await resolveEngine('auto')).toBe('onnx');
    expect(await resolveEngine('tfjs')).toBe('tfjs');
    await expect(resolveEngine('gpu' as never)).rejects.toThrow(/--engine/);
  });

  it('measures what tfjs measures (accuracy, exact match equal; losses within 1e-4), bit-identically twice, in a worker thread', async () => {
    const spec: ScorerSpec = { supernet, backend: 'wasm', needs: ['accuracy', 'loss', 'exact', 'params'] };
    const tfjs = await createSupernetScorer(spec);
    const onnx = await openSupernetScorer({ ...spec, engine: 'onnx' });
    expect(onnx.engine).toMatchObject({ name: 'onnx', form: 'unmerged' });
    expect(tfjs.engine.name).toBe('tfjs');
    try {
      for (const config of [tfjs.space.maxConfig(), tfjs.space.minConfig(), tfjs.space.medianConfig()]) {
        const a = await tfjs.measure(config);
        const b = await onnx.measure(config);
        expect(b.accuracy).toBe(a.accuracy);
        expect(b.exact).toBe(a.exact);
        expect(b.params).toBe(a.params);
        expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-4);
        expect(await onnx.measure(config)).toEqual(b);
        const slice = await onnx.measureSlice(config, 2, 7);
        expect(slice.correct).toHaveLength(5);
      }
    } finally {
      await tfjs.dispose();
      await onnx.close();
    }
  }, 120_000);

  it('keeps this thread\'s event loop free while it scores (timers keep firing)', async () => {
    const onnx = await openSupernetScorer({ supernet, backend: 'wasm', needs: ['accuracy', 'params'], engine: 'onnx' });
    try {
      let last = performance.now();
      let worst = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      }, 5);
      const started = performance.now();
      for (let i = 0; i < 6; i++) await onnx.measure(onnx.space.maxConfig());
      const took = performance.now() - started;
      clearInterval(timer);
      // The scoring ran in a worker: the gaps between ticks stay far below the time spent scoring.
      expect(worst).toBeLessThan(Math.max(250, took / 3));
    } finally {
      await onnx.close();
    }
  }, 120_000);

  it('nls search records the engine in every trial; --engine tfjs and onnx find the same accuracies', async () => {
    const run = (engine: 'onnx' | 'tfjs') =>
      runSearch({ supernet, strategy: 'exhaustive', budget: 6, objectives: ['accuracy', 'loss'], constraints: [], seed: 0, out: path.join(root, `search-${engine}`), engine, progress: new Progress({ quiet: true }) });
    const [onnx, tfjs] = [await run('onnx'), await run('tfjs')];
    expect(onnx.engine.name).toBe('onnx');
    const trials = (engine: string) =>
      readFileSync(path.join(root, `search-${engine}`, 'trials.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string; key: string; values: number[]; attrs: { engine: string } })
        .filter((r) => r.type === 'trial');
    const a = trials('onnx');
    const b = trials('tfjs');
    expect(a.map((t) => t.attrs.engine)).toEqual(a.map(() => 'onnx'));
    expect(b.map((t) => t.attrs.engine)).toEqual(b.map(() => 'tfjs'));
    expect(a.map((t) => [t.key, t.values[0]])).toEqual(b.map((t) => [t.key, t.values[0]]));
    a.forEach((t, i) => expect(Math.abs(t.values[1]! - b[i]!.values[1]!)).toBeLessThan(1e-4));
    expect(tfjs.study.evaluations).toBe(onnx.study.evaluations);
  }, 120_000);
});
