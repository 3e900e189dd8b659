import { beforeAll, describe, expect, it } from 'vitest';
import { encodeExample } from '../../src/data/encode.js';
import type { PromptExample } from '../../src/data/templates.js';
import { evaluateChoices, prepareChoices } from '../../src/evaluate/choice.js';
import { evaluateLoss } from '../../src/evaluate/loss.js';
import { LlamaModel } from '../../src/model/llama.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { makeBatch } from '../../src/data/encode.js';
import { useTestBackend } from '../helpers/backend.js';
import { naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const cfg = tinyConfig({ vocabSize: 260 });
const tok = new ByteTokenizer(260);

/** Summed log-probability of `answer` after `prompt`, by the naive reference model. */
function naiveScore(w: ReturnType<typeof tinyWeights>, prompt: string, answer: string): { ll: number; tokens: number } {
  const p = [tok.bosId, ...tok.encode(prompt)];
  const a = tok.encode(answer);
  const ids = [...p, ...a];
  const logits = naiveLogits(cfg, w, ids.slice(0, -1));
  let ll = 0;
  for (let i = 0; i < a.length; i++) {
    const row = logits[p.length - 1 + i]!;
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    ll += row[a[i]!]! - lse;
  }
  return { ll, tokens: a.length };
}

describe('choice evaluation (lm-eval style)', () => {
  const examples: PromptExample[] = [
    { prompt: 'sky is', answer: ' blue', candidates: [' blue', ' green', ' red'], correct: 0 },
    { prompt: 'grass', answer: ' green', candidates: [' blue', ' green', ' red'], correct: 1 },
    { prompt: 'x', answer: ' no', candidates: [' yes', ' no'], correct: 1 },
  ];

  it('scores every candidate by summed log-likelihood, as a naive reference computes it', async () => {
    const w = tinyWeights(cfg, 31);
    const model = LlamaModel.fromHf(cfg, w);
    const prepared = prepareChoices(examples, tok, { maxLength: 32 });
    const got = await evaluateChoices(model, prepared);
    let correct = 0;
    let correctNorm = 0;
    let ll = 0;
    let tokens = 0;
    const predictions = examples.map((ex) => {
      const scores = ex.candidates!.map((c) => naiveScore(w, ex.prompt, c));
      const best = scores.reduce((b, s, i) => (s.ll > scores[b]!.ll ? i : b), 0);
      const norm = scores.map((s, i) => s.ll / Buffer.byteLength(ex.candidates![i]!));
      const bestNorm = norm.reduce((b, s, i) => (s > norm[b]! ? i : b), 0);
      if (best === ex.correct) correct++;
      if (bestNorm === ex.correct) correctNorm++;
      ll += scores[ex.correct!]!.ll;
      tokens += scores[ex.correct!]!.tokens;
      return best;
    });
    expect(got.predictions).toEqual(predictions);
    expect(got.accuracy).toBeCloseTo(correct / 3, 10);
    expect(got.accuracyNorm).toBeCloseTo(correctNorm / 3, 10);
    expect(got.meanCorrectLogLikelihood).toBeCloseTo(ll / 3, 3);
    expect(got.answerLoss).toBeCloseTo(-ll / tokens, 3);
    model.dispose();
  });

  it('evaluateLoss equals the naive mean loss over answer tokens, with batches of any size', async () => {
    const w = tinyWeights(cfg, 32);
    const model = LlamaModel.fromHf(cfg, w);
    const encoded = examples.map((e) => encodeExample({ prompt: e.prompt, answer: e.answer }, tok, { maxLength: 32, addEos: false }));
    const rows = makeBatch(encoded, { seqLen: Math.max(...encoded.map((e) => e.ids.length)) - 1, padId: tok.padId });
    const naive = examples.map((e) => naiveScore(w, e.prompt, e.answer));
    const expected = -naive.reduce((s, x) => s + x.ll, 0) / naive.reduce((s, x) => s + x.tokens, 0);
    for (const bs of [1, 2, 16]) expect((await evaluateLoss(model, rows, bs)).loss).toBeCloseTo(expected, 4);
    model.dispose();
  });
});
