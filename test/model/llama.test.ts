import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../src/model/llama.js';
import { tokenCrossEntropy } from '../../src/model/loss.js';
import { useTestBackend } from '../helpers/backend.js';
import { naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

function logitsOf(model: LlamaModel, batch: number[][]): number[][][] {
  return tf.tidy(() => model.forward(tf.tensor2d(batch, undefined, 'int32')).arraySync());
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

describe('LlamaModel', () => {
  for (const [label, overrides] of [
    ['grouped kv heads (4 q / 2 kv), untied head', { numKeyValueHeads: 2 }],
    ['multi-query (4 q / 1 kv), tied head', { numKeyValueHeads: 1, tieWordEmbeddings: true }],
    ['multi-head (4 q / 4 kv)', { numKeyValueHeads: 4 }],
    ['head_dim != hidden/heads', { headDim: 6 }],
  ] as const) {
    it(`logits equal a naive reference within 1e-4: ${label}`, () => {
      const cfg = tinyConfig(overrides);
      const w = tinyWeights(cfg, 42);
      const model = LlamaModel.fromHf(cfg, w);
      const batch = [
        [1, 5, 9, 2, 36, 0, 7],
        [3, 3, 3, 10, 11, 12, 13],
      ];
      const ours = logitsOf(model, batch);
      for (let b = 0; b < batch.length; b++) expect(maxDiff(ours[b]!, naiveLogits(cfg, w, batch[b]!))).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it('is causal: changing a later token never changes earlier logits (property)', () => {
    const cfg = tinyConfig();
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 7));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: cfg.vocabSize - 1 }), { minLength: 2, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 0, max: cfg.vocabSize - 1 }),
        (ids, posSeed, token) => {
          const pos = 1 + (posSeed % (ids.length - 1));
          const changed = ids.slice();
          changed[pos] = token;
          const [a, b] = logitsOf(model, [ids, changed]);
          expect(maxDiff(a!.slice(0, pos), b!.slice(0, pos))).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
    model.dispose();
  });

  it('round-trips its weights through HF layout exactly', async () => {
    const cfg = tinyConfig();
    const w = tinyWeights(cfg, 3);
    const model = LlamaModel.fromHf(cfg, w);
    const back = await model.toHf();
    expect([...back.keys()].sort()).toEqual([...w.keys()].sort());
    for (const [name, t] of w) {
      expect(back.get(name)!.shape).toEqual(t.shape);
      expect(Buffer.from(back.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
    model.dispose();
  });

  it('refuses a checkpoint with a missing or mis-shaped tensor, naming it', () => {
    const cfg = tinyConfig();
    const w = tinyWeights(cfg, 3);
    w.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => LlamaModel.fromHf(cfg, w, 'x.safetensors')).toThrow(/x\.safetensors: model\.layers\.1\.mlp\.up_proj\.weight: tensor is missing/);
    const w2 = tinyWeights(cfg, 3);
    w2.set('model.norm.weight', { shape: [3], data: new Float32Array(3) });
    expect(() => LlamaModel.fromHf(cfg, w2, 'x.safetensors')).toThrow(/model\.norm\.weight: has shape \[3\]/);
  });

  it('random init is deterministic from the seed', async () => {
    const cfg = tinyConfig();
    const a = LlamaModel.random(cfg, 5);
    const b = LlamaModel.random(cfg, 5);
    const c = LlamaModel.random(cfg, 6);
    const [wa, wb, wc] = await Promise.all([a.toHf(), b.toHf(), c.toHf()]);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(wa.get(q)!.data).toEqual(wb.get(q)!.data);
    expect(wa.get(q)!.data).not.toEqual(wc.get(q)!.data);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('trains: the full base model gets finite gradients for every weight, and no tensors leak', () => {
    const cfg = tinyConfig({ tieWordEmbeddings: true });
    const model = LlamaModel.random(cfg, 1);
    model.setBaseTrainable(true);
    const vars = model.baseVariables();
    const ids = tf.tensor2d([[1, 2, 3, 4, 5]], undefined, 'int32');
    const targets = tf.tensor2d([[2, 3, 4, 5, 6]], undefined, 'int32');
    const weights = tf.tensor2d([[0, 1, 1, 1, 1]]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids), targets, weights), vars);
      const finite = Object.values(grads).every((g) => tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0] === 1));
      const count = Object.keys(grads).length;
      value.dispose();
      tf.dispose(grads);
      return { finite, count };
    };
    const first = step();
    expect(first.finite).toBe(true);
    expect(first.count).toBe(vars.length);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, targets, weights]);
    model.dispose();
  });

  it('cross-entropy equals a naive computation and ignores zero-weight tokens', () => {
    tf.tidy(() => {
      const logits = tf.tensor3d([[[1, 2, 0.5], [0, 0, 3], [2, -1, 1]]]);
      const targets = tf.tensor2d([[1, 2, 0]], undefined, 'int32');
      const weights = tf.tensor2d([[1, 1, 0]]);
      const nll = (row: number[], t: number) => -(row[t]! - Math.log(row.reduce((s, v) => s + Math.exp(v), 0)));
      const expected = (nll([1, 2, 0.5], 1) + nll([0, 0, 3], 2)) / 2;
      expect(tokenCrossEntropy(logits, targets, weights).dataSync()[0]).toBeCloseTo(expected, 5);
    });
  });
});
