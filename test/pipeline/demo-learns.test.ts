/**
 * The demo's promise, checked end to end on the shipped model: the adapters learn the spam task
 * (test accuracy well above the 50 % majority class), and the reason they can, the base model's
 * attention reaching far back, holds. Slow (~8 minutes, both cores), so it runs once.
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

  /** Test-split accuracy of every row, and the checks both bases share. */
  const testAccuracy = (result: Awaited<ReturnType<typeof runDemo>>) => {
    expect(result.task.majorityAccuracy).toBe(0.5);
    expect(result.task.test).toBe(500);
    const accuracy = Object.fromEntries(result.rows.map((r) => [r.name, r.test ?? 0]));
    // The base model alone is at chance: what the adapters reach, they learned.
    expect(accuracy['base']).toBeGreaterThan(0.4);
    expect(accuracy['base']).toBeLessThan(0.6);
    return accuracy;
  };

  it('trains adapters that clearly beat the majority class on the test split, on every reported subnet (dense base)', async () => {
    // Half the demo's steps and a fifth of its validation split (the 50%-sparse run below is the
    // demo itself): the suite's slowest test, kept to about half of the demo's time.
    const accuracy = testAccuracy(await runDemo({ sparsity: 0, searchBudget: 0, steps: 200, validationSize: 100, progress: new Progress({ quiet: true }) }));
    // Measured on the onnx engine (seed 0, 200 steps; 500 test e-mails, standard error ~2 points):
    // LoRA 81.0 %, supernet max 81.8 %, median 81.6 %, min 76.4 %.
    for (const name of ['lora', 'max', 'median', 'min']) expect(accuracy[name], name).toBeGreaterThanOrEqual(0.72);
  }, 600_000);

  it('on the 50%-sparse base (the default): LoRA and every subnet of the SparsePEFT supernet learn', async () => {
    // No search: the merge and its invariants are checked by the short CLI demo (test/cli).
    const result = await runDemo({ searchBudget: 0, progress: new Progress({ quiet: true }) });
    expect(result.sparsify?.overall.sparsity).toBe(0.5);
    const accuracy = testAccuracy(result);
    // Measured (seed 0): LoRA 81 %, max 81 %, median 81 %, min 78 %.
    for (const name of ['lora', 'max', 'median', 'min']) expect(accuracy[name], name).toBeGreaterThanOrEqual(0.7);
  }, 900_000);
});
