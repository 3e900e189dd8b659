import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import type { PromptExample } from '../../src/data/templates.js';
import { evaluateChoices, evaluateChoicesMany, prepareChoices, sliceChoices, type ChoiceMetrics } from '../../src/evaluate/choice.js';
import { LINEAR_MODULES } from '../../src/model/linear.js';
import { LlamaModel } from '../../src/model/llama.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const cfg = tinyConfig({ vocabSize: 260 });
const tok = new ByteTokenizer(260);
const allKeys = [0, 1].flatMap((l) => LINEAR_MODULES.map((m) => `layers.${l}.${m}`));

const examples: PromptExample[] = [
  { prompt: 'sky is', answer: ' blue', candidates: [' blue', ' green', ' red'], correct: 0 },
  { prompt: 'grass', answer: ' green', candidates: [' blue', ' green', ' red'], correct: 1 },
  { prompt: 'x', answer: ' no', candidates: [' yes', ' no'], correct: 1 },
  { prompt: 'is it spam?', answer: ' spam', candidates: [' good', ' spam'], correct: 1 },
  { prompt: 'one two', answer: ' three', candidates: [' three', ' four', ' five', ' six'], correct: 0 },
];

function setup(seed: number) {
  const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, seed));
  const adapters = AdapterSet.attach(
    model,
    allKeys.map((key) => ({ key, rMax: 4, alpha: 8, scaling: 'alpha/r' as const, dropout: 0 })),
    seed,
  );
  const rng = createRng(seed + 1);
  for (const a of adapters.adapters.values()) a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.5), a.bT.shape));
  return { model, adapters };
}

const rankSets = [
  new Map(allKeys.map((k) => [k, 4])),
  new Map(allKeys.map((k) => [k, 0])),
  new Map(allKeys.map((k, i) => [k, i % 5])),
  new Map(allKeys.map((k, i) => [k, (3 * i + 1) % 5])),
];

/** Metrics agree: discrete fields exactly, log-likelihood sums within float32 rounding (see the adapter tests). */
function expectSameMetrics(got: ChoiceMetrics, want: ChoiceMetrics): void {
  expect(got.examples).toBe(want.examples);
  expect(got.predictions).toEqual(want.predictions);
  expect(got.accuracy).toBe(want.accuracy);
  expect(got.accuracyNorm).toBe(want.accuracyNorm);
  expect(Math.abs(got.meanCorrectLogLikelihood - want.meanCorrectLogLikelihood)).toBeLessThan(1e-5);
  expect(Math.abs(got.answerLoss - want.answerLoss)).toBeLessThan(1e-5);
  expect(got.perExample.correct).toEqual(want.perExample.correct);
  expect(got.perExample.correctTokens).toEqual(want.perExample.correctTokens);
  got.perExample.correctLogLikelihood.forEach((v, i) => expect(Math.abs(v - want.perExample.correctLogLikelihood[i]!)).toBeLessThan(1e-5));
}

describe('evaluateChoicesMany and sliceChoices', () => {
  it('each candidate metrics equal evaluateChoices with its ranks active, for several batch sizes', async () => {
    const { model, adapters } = setup(41);
    const prepared = prepareChoices(examples, tok, { maxLength: 32 });
    const one: ChoiceMetrics[] = [];
    for (const ranks of rankSets) {
      adapters.setActiveRanks(ranks);
      one.push(await evaluateChoices(model, prepared));
    }
    // Distinct candidates do give distinct scores (the comparison is not vacuous).
    expect(one[0]!.meanCorrectLogLikelihood).not.toBeCloseTo(one[1]!.meanCorrectLogLikelihood, 3);
    adapters.setActiveRanks(rankSets[2]!);
    for (const bs of [1, 3, 16]) {
      const many = await evaluateChoicesMany(model, adapters, prepared, rankSets, bs);
      expect(many).toHaveLength(rankSets.length);
      many.forEach((m, c) => expectSameMetrics(m, one[c]!));
    }
    expect(adapters.candidateCount).toBeUndefined();
    expect(adapters.activeRanks()).toEqual(rankSets[2]);
    adapters.dispose();
    model.dispose();
  });

  it('per-example arrays add up to the summary metrics', async () => {
    const { model, adapters } = setup(42);
    const prepared = prepareChoices(examples, tok, { maxLength: 32 });
    const m = await evaluateChoices(model, prepared);
    const { correct, correctLogLikelihood, correctTokens } = m.perExample;
    expect(correct).toHaveLength(examples.length);
    expect([...correct]).toEqual(m.predictions.map((p, i) => (p === examples[i]!.correct ? 1 : 0)));
    expect(correct.reduce((a, b) => a + b, 0) / examples.length).toBe(m.accuracy);
    const ll = correctLogLikelihood.reduce((a, b) => a + b, 0);
    expect(ll / examples.length).toBeCloseTo(m.meanCorrectLogLikelihood, 10);
    expect(-ll / correctTokens.reduce((a, b) => a + b, 0)).toBeCloseTo(m.answerLoss, 10);
    expect([...correctTokens]).toEqual(examples.map((e) => Buffer.byteLength(e.candidates![e.correct!]!)));
    adapters.dispose();
    model.dispose();
  });

  it('sliceChoices(prepared, a, b) evaluates to the per-example entries a..b of the full evaluation', async () => {
    const { model, adapters } = setup(43);
    adapters.setActiveRanks(rankSets[3]!);
    const prepared = prepareChoices(examples, tok, { maxLength: 32 });
    const full = await evaluateChoices(model, prepared);
    for (const [a, b] of [
      [0, 5],
      [0, 1],
      [1, 3],
      [2, 5],
      [4, 5],
    ] as const) {
      const part = sliceChoices(prepared, a, b);
      expect(part.spans[0]!.start).toBe(0);
      expect(part.rows.batchSize).toBe(part.spans.reduce((s, x) => s + x.count, 0));
      const m = await evaluateChoices(model, part);
      expect(m.examples).toBe(b - a);
      expect(m.predictions).toEqual(full.predictions.slice(a, b));
      expect([...m.perExample.correct]).toEqual([...full.perExample.correct.slice(a, b)]);
      expect([...m.perExample.correctTokens]).toEqual([...full.perExample.correctTokens.slice(a, b)]);
      // Same rows at the same sequence length, and a row never depends on its batch neighbours:
      // these match to float32 rounding of differently-sized batches.
      m.perExample.correctLogLikelihood.forEach((v, i) => expect(Math.abs(v - full.perExample.correctLogLikelihood[a + i]!)).toBeLessThan(1e-5));
      // The slice is the same data as prepareChoices of those examples alone, up to padding length.
      const alone = prepareChoices(examples.slice(a, b), tok, { maxLength: 32 });
      expect(part.spans).toEqual(alone.spans);
      expect(part.candidateBytes).toEqual(alone.candidateBytes);
      expect(part.candidateTokens).toEqual(alone.candidateTokens);
    }
    expect(() => sliceChoices(prepared, 3, 3)).toThrow(/start < end/);
    expect(() => sliceChoices(prepared, -1, 2)).toThrow(/start < end/);
    expect(() => sliceChoices(prepared, 0, 6)).toThrow(/<= 5/);
    adapters.dispose();
    model.dispose();
  });

  it('leaks no tensors across repeated multi-candidate evaluations', async () => {
    const { model, adapters } = setup(44);
    const prepared = prepareChoices(examples, tok, { maxLength: 32 });
    await evaluateChoicesMany(model, adapters, prepared, rankSets, 4);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await evaluateChoicesMany(model, adapters, prepared, rankSets.slice(i), 4);
    expect(tf.memory().numTensors).toBe(before);
    adapters.dispose();
    model.dispose();
  });
});
