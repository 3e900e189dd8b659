import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import type { ElasticLoraSpec } from '../../src/adapters/elastic-lora.js';
import { makeBatch } from '../../src/data/encode.js';
import { scoreRows, scoreRowsMany } from '../../src/evaluate/scoring.js';
import { LINEAR_MODULES, type ForwardContext } from '../../src/model/linear.js';
import { LlamaModel } from '../../src/model/llama.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const cfg = tinyConfig();
const R_MAX = 6;
const allKeys = [0, 1].flatMap((l) => LINEAR_MODULES.map((m) => `layers.${l}.${m}`));

function planFor(keys: readonly string[], scaling: ElasticLoraSpec['scaling']): ElasticLoraSpec[] {
  return keys.map((key) => ({ key, rMax: R_MAX, alpha: 8, scaling, dropout: 0.1 }));
}

/** Give every B a random value (B starts at zero, which would hide bugs). */
function randomizeB(set: AdapterSet, seed: number): void {
  const rng = createRng(seed);
  for (const a of set.adapters.values()) a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.3), a.bT.shape));
}

/** Random right-padded token rows with loss weights on a random tail of each row. */
function randomRows(count: number, seed: number) {
  const rng = createRng(seed);
  const examples = Array.from({ length: count }, () => {
    const n = 3 + rng.int(6);
    const ids = Array.from({ length: n }, () => 1 + rng.int(cfg.vocabSize - 1));
    const promptLength = 1 + rng.int(n - 1);
    return { ids, lossMask: ids.map((_, i) => (i >= promptLength ? 1 : 0)) };
  });
  return makeBatch(examples, { seqLen: 8, padId: 0 });
}

/** A model with adapters (random B) on every linear module. */
function setup(seed: number, scaling: ElasticLoraSpec['scaling'] = 'alpha/r_max') {
  const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, seed));
  const adapters = AdapterSet.attach(model, planFor(allKeys, scaling), seed);
  randomizeB(adapters, seed + 1);
  return { model, adapters };
}

/**
 * Candidate rank sets: per module either one rank shared by every candidate (the plain path) or
 * a rank per candidate, biased towards the edge cases 0 and r_max; some modules left out of some
 * sets (they take the active rank).
 */
const rankSetsArb = fc.integer({ min: 1, max: 4 }).chain((k) =>
  fc
    .tuple(
      fc.array(
        fc.record({
          shared: fc.boolean(),
          ranks: fc.array(fc.oneof(fc.constant(0), fc.constant(R_MAX), fc.integer({ min: 0, max: R_MAX })), { minLength: k, maxLength: k }),
          omitted: fc.array(fc.boolean(), { minLength: k, maxLength: k }),
        }),
        { minLength: allKeys.length, maxLength: allKeys.length },
      ),
      fc.integer({ min: 0, max: R_MAX }),
    )
    .map(([perModule, activeRank]) => ({
      activeRank,
      rankSets: Array.from({ length: k }, (_, c) => {
        const m = new Map<string, number>();
        allKeys.forEach((key, i) => {
          const g = perModule[i]!;
          if (g.omitted[c] && !g.shared) return;
          m.set(key, g.shared ? g.ranks[0]! : g.ranks[c]!);
        });
        return m;
      }),
    })),
);

const TOLERANCE = 1e-5;

describe('several candidates in one forward pass', () => {
  // Not guaranteed bit-exact (though on wasm it came out identical in benchmarks/multi-candidate.ts):
  // the masked path multiplies by the scale before the B product (the plain path after it) and
  // sums over R >= r_k rank columns (zeros beyond r_k), and a kernel may block a larger batch
  // differently, so float32 rounding may differ in the last bits. 1e-5 absolute on the
  // per-row sums leaves orders of magnitude of margin over that and catches any real mix-up.
  for (const scaling of ['alpha/r_max', 'alpha/r'] as const) {
    it(`scores of each candidate equal one-by-one scores (property over rank sets, ${scaling})`, async () => {
      const { model, adapters } = setup(21, scaling);
      const rows = randomRows(7, 5);
      await fc.assert(
        fc.asyncProperty(rankSetsArb, fc.integer({ min: 1, max: 8 }), async ({ activeRank, rankSets }, batchSize) => {
          adapters.setActiveRanks(new Map(allKeys.map((k) => [k, activeRank])));
          const many = await scoreRowsMany(model, adapters, rows, rankSets, batchSize);
          expect(many).toHaveLength(rankSets.length);
          expect(adapters.candidateCount).toBeUndefined();
          for (let c = 0; c < rankSets.length; c++) {
            adapters.setActiveRanks(new Map(allKeys.map((k) => [k, activeRank])));
            adapters.setActiveRanks(rankSets[c]!);
            const one = await scoreRows(model, rows, 3);
            for (let r = 0; r < rows.batchSize; r++) {
              expect(Math.abs(many[c]!.logLikelihood[r]! - one.logLikelihood[r]!)).toBeLessThan(TOLERANCE);
              expect(many[c]!.tokens[r]).toBe(one.tokens[r]);
            }
          }
        }),
        { numRuns: 12 },
      );
      adapters.dispose();
      model.dispose();
    });
  }

  it('logits of each candidate in a tiled batch equal a single-candidate forward pass', () => {
    const { model, adapters } = setup(22, 'alpha/r');
    const ids = tf.tensor2d([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]], undefined, 'int32');
    const rankSets = [
      new Map(allKeys.map((k, i) => [k, i % (R_MAX + 1)])),
      new Map(allKeys.map((k) => [k, 0])),
      new Map(allKeys.map((k) => [k, R_MAX])),
    ];
    adapters.setCandidateRanks(rankSets);
    const tiled = tf.tidy(() => model.forward(tf.tile(ids, [3, 1]) as tf.Tensor2D).arraySync());
    adapters.clearCandidates();
    rankSets.forEach((ranks, c) => {
      adapters.setActiveRanks(ranks);
      const single = tf.tidy(() => model.forward(ids).arraySync());
      let diff = 0;
      single.forEach((row, b) => row.forEach((pos, t) => pos.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - tiled[c * 2 + b]![t]![j]!))))));
      expect(diff).toBeLessThan(TOLERANCE);
    });
    ids.dispose();
    adapters.dispose();
    model.dispose();
  });

  it('frees its masks: the tensor count is unchanged after repeated calls and after a throw inside withCandidates', async () => {
    const { model, adapters } = setup(23);
    const rows = randomRows(5, 6);
    const rankSets = [new Map([['layers.0.q_proj', 2]]), new Map([['layers.0.q_proj', 5]]), new Map(allKeys.map((k) => [k, 1]))];
    await scoreRowsMany(model, adapters, rows, rankSets, 2); // warm-up: model caches (rope, causal mask)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await scoreRowsMany(model, adapters, rows, rankSets, 2);
    expect(tf.memory().numTensors).toBe(before);
    await expect(
      adapters.withCandidates(rankSets, () => {
        expect(tf.memory().numTensors).toBeGreaterThan(before); // the masks exist while active
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(adapters.candidateCount).toBeUndefined();
    expect(tf.memory().numTensors).toBe(before);
    adapters.setCandidateRanks(rankSets);
    adapters.setCandidateRanks(rankSets); // replacing frees the previous masks
    adapters.clearCandidates();
    adapters.clearCandidates();
    expect(tf.memory().numTensors).toBe(before);
    adapters.dispose();
    model.dispose();
  });

  it('restores single-candidate mode: outputs afterwards equal those before, bit for bit', async () => {
    const { model, adapters } = setup(24);
    const ids = tf.tensor2d([[7, 3, 2, 9]], undefined, 'int32');
    adapters.setActiveRanks(new Map(allKeys.map((k, i) => [k, (i * 5) % (R_MAX + 1)])));
    const ranksBefore = adapters.activeRanks();
    const before = tf.tidy(() => model.forward(ids).arraySync());
    await adapters.withCandidates([new Map(allKeys.map((k) => [k, 0])), new Map(allKeys.map((k) => [k, R_MAX]))], () => {
      tf.tidy(() => model.forward(tf.tile(ids, [2, 1]) as tf.Tensor2D));
    });
    await expect(adapters.withCandidates([new Map(), new Map([['layers.1.up_proj', 1]])], () => Promise.reject(new Error('async boom')))).rejects.toThrow('async boom');
    expect(adapters.activeRanks()).toEqual(ranksBefore);
    expect(tf.tidy(() => model.forward(ids).arraySync())).toEqual(before);
    ids.dispose();
    adapters.dispose();
    model.dispose();
  });

  it('refuses training, batches that are not K copies, bad ranks (leaving no mode half set) and nesting', async () => {
    const { model, adapters } = setup(25);
    const rankSets = [new Map([['layers.0.q_proj', 1]]), new Map([['layers.0.q_proj', 3]])];
    const training: ForwardContext = { training: true, nextSeed: () => 1 };
    adapters.setCandidateRanks(rankSets);
    expect(() => tf.tidy(() => model.forward(tf.tensor2d([[1, 2], [3, 4]], undefined, 'int32'), training))).toThrow(/inference only/);
    expect(() => tf.tidy(() => model.forward(tf.tensor2d([[1, 2], [3, 4], [5, 6]], undefined, 'int32')))).toThrow(/multiple of 2/);
    adapters.clearCandidates();
    expect(() => adapters.setCandidateRanks([new Map([['layers.0.q_proj', 1]]), new Map([['layers.0.q_proj', R_MAX + 1]])])).toThrow(/candidate 1/);
    expect(() => adapters.setCandidateRanks([new Map([['layers.7.q_proj', 1]])])).toThrow(/no adapter/);
    expect(() => adapters.setCandidateRanks([])).toThrow(/at least one/);
    expect(adapters.candidateCount).toBeUndefined();
    await expect(adapters.withCandidates(rankSets, () => adapters.withCandidates(rankSets, () => 1))).rejects.toThrow(/does not nest/);
    expect(adapters.candidateCount).toBeUndefined();
    expect(await scoreRowsMany(model, adapters, randomRows(2, 1), [])).toEqual([]);
    adapters.dispose();
    model.dispose();
  });
});
