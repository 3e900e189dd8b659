/**
 * The demo's promise, checked end to end on the shipped model: the adapters learn the spam task
 * (accuracy well above the 50 % majority class), and the reason they can, the base model's
 * attention reaching far back, holds. Slow (~2-3 minutes, both cores), so it runs once.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/model/demo-model.js';
import { loadModelFolder } from '../../src/model/model-folder.js';
import { runDemo } from '../../src/pipeline/demo.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';

describe('the demo on the shipped model', () => {
  it('keeps attention that reaches 16-64 bytes back (a collapsed model changes logits by ~1e-6)', async () => {
    await useTestBackend();
    const { model } = await loadModelFolder(DEMO_MODEL_DIR);
    const ids = [...Buffer.from('The jury further said in term-end presentments that the City Executive Committee, which had over-all charge', 'utf8')].slice(0, 96);
    const last = (x: number[]) => tf.tidy(() => model.forward(tf.tensor2d([x], [1, x.length], 'int32')).slice([0, x.length - 1, 0], [1, 1, -1]).dataSync() as Float32Array);
    const base = last(ids);
    for (const d of [16, 32, 64]) {
      const alt = [...ids];
      alt[ids.length - 1 - d] = alt[ids.length - 1 - d] === 0x78 ? 0x71 : 0x78;
      const out = last(alt);
      const change = Math.max(...out.map((v, i) => Math.abs(v - base[i]!)));
      expect(change, `distance ${d}`).toBeGreaterThan(1e-3);
    }
    model.dispose();
  });

  it('trains adapters that clearly beat the majority class, on every reported subnet (dense base)', async () => {
    const result = await runDemo({ sparsity: 0, searchBudget: 0, progress: new Progress({ quiet: true }) });
    const accuracy = Object.fromEntries(result.rows.map((r) => [r.name, r.accuracy ?? 0]));
    expect(result.task.majorityAccuracy).toBe(0.5);
    expect(accuracy['base']).toBeCloseTo(0.5, 5);
    // Measured on wasm: LoRA 74 %, supernet max 71 %, median 69 %, min 64 %.
    for (const name of ['lora', 'max', 'median', 'min']) expect(accuracy[name], name).toBeGreaterThanOrEqual(0.6);
  }, 600_000);

  it('on the 50%-sparse base (the default): LoRA and the SparsePEFT supernet\'s max and median subnets learn', async () => {
    // No search: the merge and its invariants are checked by the short CLI demo (test/cli).
    const result = await runDemo({ searchBudget: 0, progress: new Progress({ quiet: true }) });
    const accuracy = Object.fromEntries(result.rows.map((r) => [r.name, r.accuracy ?? 0]));
    expect(result.sparsify?.overall.sparsity).toBe(0.5);
    expect(accuracy['base']).toBeCloseTo(0.5, 5);
    // Measured on wasm (seed 0): LoRA 74 %, max 71 %, median 68 %; the rank-4 min subnet stays at
    // chance in 150 steps on the sparse base (docs/benchmarks.md), so it is not asserted here.
    for (const name of ['lora', 'max', 'median']) expect(accuracy[name], name).toBeGreaterThanOrEqual(0.6);
  }, 900_000);
});
