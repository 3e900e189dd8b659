/**
 * The onnx engine's key/value cache (`startDecoding`: the `prefill` and `decode` graphs) against
 * the independent reference of re-running the tfjs model on the grown rows: every step's logits
 * within 1e-4, for ragged right-padded rows, grouped and plain multi-head attention, tied and
 * untied heads, both ONNX forms and adapter paths, elastic widths, SparsePEFT adapters; greedy
 * generation through the cache gives the tokens re-running gives.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine, type OnnxEngineOptions } from '../../src/engine/onnx/engine.js';
import { createTfjsEngine } from '../../src/engine/tfjs.js';
import { greedyGenerate } from '../../src/evaluate/generate.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { createRng } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { maxAbsDiff, supernetPool, type TinySupernet } from './helpers.js';

beforeAll(useTestBackend);

const mixed = (net: TinySupernet) => new Map(net.keys.map((k, i) => [k, [0, 1, 2, 3, 4][i % 5]!]));

/** Random rows of the given lengths (ids in [1, vocab)). */
function rowsOf(lengths: readonly number[], vocab: number, seed: number): number[][] {
  const rng = createRng(seed);
  return lengths.map((n) => Array.from({ length: n }, () => 1 + Math.floor(rng.next() * (vocab - 1))));
}

/**
 * Decode `steps` random tokens per row through the onnx engine's cache and check every step's
 * logits against the tfjs model re-run on the grown rows. Returns the largest difference.
 */
async function checkAgainstRerun(net: TinySupernet, options: OnnxEngineOptions, lengths: readonly number[], steps: number, seed: number, widths?: Map<number, number>): Promise<number> {
  const vocab = net.model.config.vocabSize;
  const tfjs = createTfjsEngine(net.model, net.adapters);
  const onnx = await createOnnxEngine(net.model, net.adapters, { threads: 1, ...options });
  let worst = 0;
  try {
    for (const e of [tfjs, onnx]) {
      await e.setRanks(mixed(net));
      if (widths) await e.setWidths(widths);
    }
    const rows = rowsOf(lengths, vocab, seed);
    const padId = 0;
    const decoding = await onnx.startDecoding!(rows, padId);
    worst = maxAbsDiff(decoding.logits, await tfjs.nextTokenLogits(rows, padId));
    const rng = createRng(seed + 1);
    for (let s = 0; s < steps; s++) {
      const tokens = rows.map(() => Math.floor(rng.next() * vocab));
      rows.forEach((r, i) => r.push(tokens[i]!));
      worst = Math.max(worst, maxAbsDiff(await decoding.step(tokens), await tfjs.nextTokenLogits(rows, padId)));
    }
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
  return worst;
}

describe('the onnx engine\'s key/value cache', () => {
  const pool = supernetPool();
  afterAll(pool.dispose);
  const net = pool.net;

  for (const [label, config] of [
    ['untied lm_head, GQA', {}],
    ['tied lm_head, multi-head attention', { tieWordEmbeddings: true, numKeyValueHeads: 4 }],
    ['one kv head, 3 layers', { numKeyValueHeads: 1, numHiddenLayers: 3 }],
  ] as const) {
    it(`${label}: every step of ragged rows equals re-running tfjs within 1e-4, in both forms and adapter paths`, async () => {
      const n = net({ config });
      for (const options of [{}, { adapterPath: 'low-rank', feed: 'sliced' }, { form: 'merged' }, { attention: 'fused' }] as OnnxEngineOptions[]) {
        expect(await checkAgainstRerun(n, options, [5, 1, 9, 3], 6, 3), JSON.stringify(options)).toBeLessThan(1e-4);
      }
    });
  }

  it('with elastic MLP widths below the full width (unmerged elastic graph and the merged, cut model)', async () => {
    const n = net({ seed: 4 });
    const widths = new Map([[0, 10], [1, 17]]);
    expect(await checkAgainstRerun(n, { elasticWidths: true }, [4, 7], 4, 5, widths)).toBeLessThan(1e-4);
    expect(await checkAgainstRerun(n, { form: 'merged' }, [4, 7], 4, 5, widths)).toBeLessThan(1e-4);
  });

  it('with SparsePEFT adapters (the delta masked and merged in the graph)', async () => {
    const n = net({ sparse: true, seed: 6 });
    expect(await checkAgainstRerun(n, {}, [6, 2, 3], 5, 7)).toBeLessThan(1e-4);
  });

  it('property: any row lengths and step count agree with re-running', async () => {
    const n = net({ seed: 8 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 5 }), fc.nat(1000), async (lengths, steps, seed) => {
        expect(await checkAgainstRerun(n, {}, lengths, steps, seed)).toBeLessThan(1e-4);
      }),
      { numRuns: 12, seed: 19 },
    );
  });

  it('refuses a step with the wrong number of tokens or past max_position_embeddings', async () => {
    const n = net({ seed: 9 });
    const onnx = await createOnnxEngine(n.model, n.adapters, { threads: 1 });
    try {
      const decoding = await onnx.startDecoding!([[1, 2], [3]], 0);
      await expect(decoding.step([1])).rejects.toThrow(/gives 1 tokens for 2 rows/);
      const full = await onnx.startDecoding!([Array.from({ length: 64 }, () => 1)], 0);
      await expect(full.step([1])).rejects.toThrow(/position 64, past max_position_embeddings \(64\)/);
    } finally {
      await onnx.dispose();
    }
  });

  it('greedy generation through the cache gives the tokens of re-running (onnx and tfjs) and of each prompt alone', async () => {
    const n = net({ config: { vocabSize: 260 }, seed: 10 });
    const tok = new ByteTokenizer(260);
    const prompts = ['Q: 3 + 4\nA:', 'a', 'the cat sat on', 'xyz xyz xyz xyz', 'Q: 12 apples', '7'];
    const onnx = await createOnnxEngine(n.model, n.adapters, { threads: 1 });
    const tfjs = createTfjsEngine(n.model, n.adapters);
    try {
      for (const e of [onnx, tfjs]) await e.setRanks(mixed(n));
      const options = { maxNewTokens: 7, batchSize: 4, addBos: false };
      const cached = await greedyGenerate(onnx, tok, prompts, options);
      expect(cached.map((g) => g.tokens)).toEqual((await greedyGenerate(onnx, tok, prompts, { ...options, cache: false })).map((g) => g.tokens));
      expect(cached.map((g) => g.tokens)).toEqual((await greedyGenerate(tfjs, tok, prompts, options)).map((g) => g.tokens));
      const alone = await Promise.all(prompts.map(async (p) => (await greedyGenerate(onnx, tok, [p], options))[0]!.tokens));
      expect(cached.map((g) => g.tokens)).toEqual(alone);
      expect(cached.filter((g) => g.tokens.length >= 3).length, 'most prompts generate several tokens').toBeGreaterThanOrEqual(4);
    } finally {
      await onnx.dispose();
      await tfjs.dispose();
    }
  });
});
