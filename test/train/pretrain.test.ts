import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeTextStream, packTextStream } from '../../src/data/encode.js';
import { rowBatchSource } from '../../src/data/source.js';
import { evaluateLoss } from '../../src/evaluate/loss.js';
import { LlamaModel } from '../../src/model/llama.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { pretrain } from '../../src/train/pretrain.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

describe('pre-training', () => {
  it('trains every base weight, lowers held-out loss on repetitive text, and leaves the base frozen afterwards', async () => {
    const cfg = tinyConfig({ vocabSize: 260, hiddenSize: 32, headDim: 8, intermediateSize: 64 });
    const tok = new ByteTokenizer(260);
    const text = Array.from({ length: 40 }, (_, i) => `the cat sat on the mat number ${i % 7}.`);
    const rows = packTextStream(encodeTextStream(text, tok), 32);
    const model = LlamaModel.random(cfg, 0);
    const before = (await evaluateLoss(model, rows)).loss;
    const snapshot = await model.toHf();
    await pretrain(model, rowBatchSource(rows, { batchSize: 8, seed: 0 }), { steps: 40, lr: 1e-2, warmupSteps: 4, seed: 0 });
    const after = (await evaluateLoss(model, rows)).loss;
    expect(after).toBeLessThan(before * 0.6);
    const trained = await model.toHf();
    for (const [name, t] of snapshot) {
      const changed = t.data.some((v, i) => v !== trained.get(name)!.data[i]);
      expect(changed, name).toBe(true);
    }
    expect(model.baseVariables().every((v) => !v.trainable)).toBe(true);
    model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(20);
  });
});
