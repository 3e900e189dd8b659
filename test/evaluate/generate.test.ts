import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PromptExample } from '../../src/data/templates.js';
import { NlsError } from '../../src/errors.js';
import { evaluateExactMatch, extractAnswer, normalizeAnswer } from '../../src/evaluate/exact-match.js';
import { greedyGenerate, type NextTokenModel } from '../../src/evaluate/generate.js';
import { createOnnxEngine } from '../../src/engine/onnx/engine.js';
import { LlamaModel, randomHfTensors } from '../../src/model/llama.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { useTestBackend } from '../helpers/backend.js';
import { naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const tok = new ByteTokenizer(260);
const cfg = tinyConfig({ vocabSize: 260 });
const weights = tinyWeights(cfg, 41);
let random: LlamaModel;
let bigram: LlamaModel;

/** Independent greedy loop over the naive reference: argmax with ties to the lowest id. */
function naiveGreedy(ids: readonly number[], maxNewTokens: number, eosId?: number): number[] {
  const seq = [...ids];
  const out: number[] = [];
  while (out.length < maxNewTokens) {
    const row = naiveLogits(cfg, weights, seq).at(-1)!;
    let best = 0;
    for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
    if (best === eosId) break;
    out.push(best);
    seq.push(best);
  }
  return out;
}

/**
 * A model whose greedy output is known: attention and MLP are zero, so the logits depend only on
 * the current token, and embeddings are one-hot over the tokens of `NEXT`, with lm_head mapping
 * each to its successor. A token outside `NEXT` (or without successor) has all-zero logits, so
 * the lowest id (0) wins the tie.
 */
const NEXT = new Map<number, number>();
function chain(text: string, end?: number): void {
  const ids = tok.encode(text);
  for (let i = 0; i + 1 < ids.length; i++) NEXT.set(ids[i]!, ids[i + 1]!);
  if (end !== undefined) NEXT.set(ids.at(-1)!, end);
}
chain('1Answer: cat\n', tok.eosId);
chain('2NOPE\n', tok.eosId);
chain('4xyx');

function bigramModel(): LlamaModel {
  const c = tinyConfig({ vocabSize: 260, hiddenSize: 64 });
  const w = randomHfTensors(c, (n) => new Float32Array(n));
  const embed = w.get('model.embed_tokens.weight')!.data;
  const head = w.get('lm_head.weight')!.data;
  [...NEXT.keys()].forEach((token, k) => {
    embed[token * c.hiddenSize + k] = 1;
    head[NEXT.get(token)! * c.hiddenSize + k] = 1;
  });
  return LlamaModel.fromHf(c, w);
}

beforeAll(() => {
  random = LlamaModel.fromHf(cfg, weights);
  bigram = bigramModel();
});

afterAll(() => {
  random.dispose();
  bigram.dispose();
});

const PROMPTS = ['hello', 'a', 'The quick brown fox', 'xy', '', 'zz top!'];

describe('greedyGenerate', () => {
  it('equals an independent greedy loop over the naive reference model', async () => {
    const got = await greedyGenerate(random, tok, PROMPTS, { maxNewTokens: 6, batchSize: 4 });
    PROMPTS.forEach((p, i) => {
      const promptIds = [tok.bosId, ...tok.encode(p)];
      expect(got[i]!.promptIds).toEqual(promptIds);
      expect(got[i]!.tokens).toEqual(naiveGreedy(promptIds, 6, tok.eosId));
      expect(got[i]!.text).toBe(tok.decode(got[i]!.tokens));
      expect(got[i]!.truncated).toBe(false);
    });
  });

  it('gives every prompt in a mixed-length batch exactly the tokens it gets alone', async () => {
    const alone = await Promise.all(PROMPTS.map(async (p) => (await greedyGenerate(random, tok, [p], { maxNewTokens: 8 }))[0]!.tokens));
    for (const batchSize of [1, 2, 3, 6, 16]) {
      const batched = await greedyGenerate(random, tok, PROMPTS, { maxNewTokens: 8, batchSize });
      expect(batched.map((g) => g.tokens)).toEqual(alone);
    }
  });

  it('property: batch composition and order never change a prompt\'s tokens', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 14 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        async (prompts, batchSize) => {
          const batched = await greedyGenerate(random, tok, prompts, { maxNewTokens: 4, batchSize });
          for (let i = 0; i < prompts.length; i++) {
            const alone = await greedyGenerate(random, tok, [prompts[i]!], { maxNewTokens: 4 });
            expect(batched[i]!.tokens).toEqual(alone[0]!.tokens);
          }
        },
      ),
      { numRuns: 8, seed: 7 },
    );
  });

  it('stops a row at EOS (default) and at maxNewTokens; ties go to the lowest id', async () => {
    const got = await greedyGenerate(bigram, tok, ['Q1', 'Q2', 'Q4', 'Q9'], { maxNewTokens: 16, batchSize: 4 });
    expect(got.map((g) => g.text)).toEqual(['Answer: cat\n', 'NOPE\n', 'xyxyxyxyxyxyxyxy', '\0'.repeat(16)]);
    expect(got.map((g) => g.finishReason)).toEqual(['eos', 'eos', 'length', 'length']);
    expect(got[0]!.tokens).not.toContain(tok.eosId);
    // Without EOS stopping, the EOS is kept and generation runs to maxNewTokens.
    const [noStop] = await greedyGenerate(bigram, tok, ['Q1'], { maxNewTokens: 16, stopAtEos: false });
    expect(noStop!.tokens).toHaveLength(16);
    expect(noStop!.tokens[12]).toBe(tok.eosId);
    expect(noStop!.finishReason).toBe('length');
    // A short budget stops before EOS.
    const [short] = await greedyGenerate(bigram, tok, ['Q1'], { maxNewTokens: 3 });
    expect(short!.text).toBe('Ans');
    expect(short!.finishReason).toBe('length');
  });

  it('through a key/value cache (the onnx engine): the same stops per row; finished rows feed padding until the batch is done', async () => {
    const engine = await createOnnxEngine(bigram, undefined, { threads: 1 });
    const fed: number[][] = [];
    // The engine, with the tokens each decode step receives recorded.
    const spy: NextTokenModel = {
      config: engine.config,
      nextTokenLogits: (rows, padId) => engine.nextTokenLogits(rows, padId),
      startDecoding: async (rows, padId) => {
        const d = await engine.startDecoding!(rows, padId);
        return { logits: d.logits, step: (tokens) => (fed.push([...tokens]), d.step(tokens)) };
      },
    };
    try {
      const got = await greedyGenerate(spy, tok, ['Q1', 'Q2', 'Q4', 'Q9'], { maxNewTokens: 16 });
      expect(got.map((g) => g.text)).toEqual(['Answer: cat\n', 'NOPE\n', 'xyxyxyxyxyxyxyxy', '\0'.repeat(16)]);
      expect(got.map((g) => g.finishReason)).toEqual(['eos', 'eos', 'length', 'length']);
      // One prompt pass, then 15 steps (the 16th token needs no further pass); 'Q2' (5 tokens, then
      // EOS) feeds padding from its 6th step on.
      expect(fed).toHaveLength(15);
      expect(fed.slice(5).every((tokens) => tokens[1] === tok.padId)).toBe(true);
      expect(fed[4]![1]).not.toBe(tok.padId);
      expect(await greedyGenerate(spy, tok, ['Q1', 'Q2', 'Q4', 'Q9'], { maxNewTokens: 16, cache: false })).toEqual(got);
    } finally {
      await engine.dispose();
    }
  });

  it('cuts long prompts from the left to maxLength - maxNewTokens tokens, BOS first', async () => {
    const long = 'abcdefghij'.repeat(3);
    const [cut] = await greedyGenerate(random, tok, [long], { maxNewTokens: 4, maxLength: 12 });
    const kept = tok.encode(long.slice(-7));
    expect(cut!.promptIds).toEqual([tok.bosId, ...kept]);
    expect(cut!.truncated).toBe(true);
    expect(cut!.tokens).toEqual(naiveGreedy([tok.bosId, ...kept], 4, tok.eosId));
    const [same] = await greedyGenerate(random, tok, [long.slice(-7)], { maxNewTokens: 4 });
    expect(same!.tokens).toEqual(cut!.tokens);
    // The default maxLength is max_position_embeddings (64): prompt + generation always fit.
    const [fits] = await greedyGenerate(random, tok, ['x'.repeat(100)], { maxNewTokens: 4 });
    expect(fits!.promptIds).toHaveLength(60);
    expect(fits!.tokens).toHaveLength(4);
  });

  it('rejects bad options with the field and a fix', async () => {
    const bad = async (options: Parameters<typeof greedyGenerate>[3], field: string) => {
      const err = await greedyGenerate(random, tok, ['a'], options).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NlsError);
      expect((err as NlsError).field).toBe(field);
      expect((err as NlsError).message).toMatch(/Fix:/);
    };
    await bad({ maxNewTokens: 0 }, 'maxNewTokens');
    await bad({ maxNewTokens: 2.5 }, 'maxNewTokens');
    await bad({ maxNewTokens: 4, maxLength: 65 }, 'maxLength');
    await bad({ maxNewTokens: 4, maxLength: 4 }, 'maxLength');
    await bad({ maxNewTokens: 4, batchSize: 0 }, 'batchSize');
  });

  it('returns no results for no prompts', async () => {
    expect(await greedyGenerate(random, tok, [], { maxNewTokens: 3 })).toEqual([]);
  });
});

describe('evaluateExactMatch', () => {
  const examples: PromptExample[] = [
    { prompt: 'Q1', answer: 'cat' },
    { prompt: 'Q1', answer: ' cat' },
    { prompt: 'Q1', answer: ' CAT ' },
    { prompt: 'Q2', answer: 'NOPE' },
    { prompt: 'Q1', answer: 'dog' },
  ];

  it('extracts the first capture group of the pattern and compares under each normalisation', async () => {
    const run = (normalize?: 'none' | 'trim' | 'lower-trim', pattern: string | RegExp = /Answer: (\w+)/) =>
      evaluateExactMatch(bigram, tok, examples, { maxNewTokens: 16, pattern, ...(normalize ? { normalize } : {}) });
    const none = await run('none');
    expect(none.predictions).toEqual(['cat', 'cat', 'cat', '', 'cat']);
    expect(none.generations).toEqual(['Answer: cat\n', 'Answer: cat\n', 'Answer: cat\n', 'NOPE\n', 'Answer: cat\n']);
    expect(none.correct).toEqual([true, false, false, false, false]);
    expect(none.accuracy).toBeCloseTo(1 / 5, 12);
    expect(none.examples).toBe(5);
    const trim = await run();
    expect(trim.correct).toEqual([true, true, false, false, false]);
    expect(trim).toEqual(await run('trim'));
    const lower = await run('lower-trim');
    expect(lower.correct).toEqual([true, true, true, false, false]);
    expect(lower.accuracy).toBeCloseTo(3 / 5, 12);
    // A string pattern, and a global regex (whose lastIndex must not leak between examples).
    expect(await run('lower-trim', 'Answer: (\\w+)')).toEqual(lower);
    expect(await run('lower-trim', /Answer: (\w+)/g)).toEqual(lower);
    // No group: the whole match is the answer.
    expect((await run('trim', /c\w+|NOPE/)).correct).toEqual([true, true, false, true, false]);
  });

  it('defaults to the generated text up to the first newline', async () => {
    const got = await evaluateExactMatch(bigram, tok, [...examples, { prompt: 'Q1', answer: 'Answer: cat' }], { maxNewTokens: 16 });
    expect(got.predictions).toEqual(['Answer: cat', 'Answer: cat', 'Answer: cat', 'NOPE', 'Answer: cat', 'Answer: cat']);
    expect(got.correct).toEqual([false, false, false, true, false, true]);
  });

  it('scores a random model against its own generations with the known accuracy', async () => {
    const gens = await greedyGenerate(random, tok, PROMPTS, { maxNewTokens: 5 });
    // Every other example's answer is the model's own first line; the rest are longer than 5
    // characters, which 5 generated bytes can never decode to.
    const ex = PROMPTS.map((prompt, i) => ({ prompt, answer: i % 2 === 0 ? extractAnswer(gens[i]!.text, undefined)! : 'longer than five' }));
    const got = await evaluateExactMatch(random, tok, ex, { maxNewTokens: 5, normalize: 'none', batchSize: 4 });
    expect(got.generations).toEqual(gens.map((g) => g.text));
    expect(got.correct).toEqual(PROMPTS.map((_, i) => i % 2 === 0));
    expect(got.accuracy).toBeCloseTo(3 / 6, 12);
  });

  it('rejects an invalid pattern or normalisation, naming the field and the fix', async () => {
    const err = await evaluateExactMatch(bigram, tok, examples, { maxNewTokens: 4, pattern: 'Answer: (\\w+' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as NlsError).field).toBe('pattern');
    expect((err as NlsError).message).toMatch(/pattern: .*not a valid regular expression.*Fix:/);
    const err2 = await evaluateExactMatch(bigram, tok, examples, {
      maxNewTokens: 4,
      normalize: 'upper' as unknown as 'trim',
    }).catch((e: unknown) => e);
    expect((err2 as NlsError).field).toBe('normalize');
  });

  it('normalizeAnswer and extractAnswer', async () => {
    expect(normalizeAnswer('  Cat \n', 'none')).toBe('  Cat \n');
    expect(normalizeAnswer('  Cat \n', 'trim')).toBe('Cat');
    expect(normalizeAnswer('  Cat \n', 'lower-trim')).toBe('cat');
    expect(extractAnswer('a\nb', undefined)).toBe('a');
    expect(extractAnswer('xyz', /(q)?z/)).toBe('');
    expect(extractAnswer('xyz', /w/)).toBeUndefined();
    await expect(evaluateExactMatch(bigram, tok, [], { maxNewTokens: 2 })).resolves.toMatchObject({ examples: 0, accuracy: Number.NaN });
  });
});

describe('tensor hygiene', () => {
  it('frees every tensor: the count is the same after each of 3 repeated evaluations', async () => {
    const gen = () => greedyGenerate(random, tok, PROMPTS, { maxNewTokens: 5, batchSize: 4 });
    const em = () => evaluateExactMatch(bigram, tok, [{ prompt: 'Q1', answer: 'cat' }, { prompt: 'Q22', answer: 'x' }], { maxNewTokens: 16, pattern: /Answer: (\w+)/ });
    // Warm-up: the model caches rope tables and causal masks per sequence length on first use.
    await gen();
    await em();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await gen();
      expect(tf.memory().numTensors).toBe(before);
      await em();
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});
