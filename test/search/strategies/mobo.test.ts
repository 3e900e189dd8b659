/**
 * The `mobo` strategy (issue 21): its start, that it never proposes a configuration twice (also
 * within a batch), that it handles constraints by probability of feasibility, that an additive
 * noiseless cost needs no Gaussian process, that known objectives and constraints are used exactly, and that on a problem with gene interactions it finds
 * more of the true front than random search and linas at a small budget (fixed seeds).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hypervolume } from '../../../src/search/hypervolume.js';
import { exactFront, noiseOf, syntheticProblem, syntheticSuite, trueValues } from '../../../src/search/synthetic-problems.js';
import type { ConstraintSpec, ObjectiveSpec, StrategyContext, TrialResult } from '../../../src/search/contract.js';
import { functionEvaluator } from '../../../src/search/evaluator.js';
import { moboStrategy } from '../../../src/search/strategies/mobo.js';
import { Study } from '../../../src/search/study.js';
import { smallSpace } from '../../../src/search/testing.js';
import { createRng } from '../../../src/util/rng.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'nls-mobo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let journals = 0;

const OBJECTIVES: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];

function ctxOf(space: ReturnType<typeof smallSpace>, trials: TrialResult[] = [], constraints: ConstraintSpec[] = []): StrategyContext {
  return { space, objectives: OBJECTIVES, constraints, rng: createRng(7), trials, remainingBudget: Infinity };
}

/** Run a study of `strategy` on a synthetic problem; the hypervolume fraction of its true evaluated values. */
async function fraction(strategy: string, seed: number, budget: number, options: Record<string, unknown> = {}, constrained = false, genes = 6, known = false): Promise<{ hv: number; trials: readonly TrialResult[] }> {
  const p = syntheticProblem(`test 4^${genes}`, genes, 4, constrained, 11);
  const space = smallSpace(Array.from({ length: genes }, () => 4), 'mobo-test');
  const { front, worstAccuracy, maxParams } = exactFront(p);
  const ref: [number, number] = [worstAccuracy, p.bound ?? maxParams];
  const study = await Study.create({
    journal: path.join(dir, `${journals++}.jsonl`),
    space,
    evaluator: functionEvaluator((config, t) => {
      const [a, c] = trueValues(p, config);
      return { values: [a + noiseOf(p, seed, t.key), c], ...(p.bound !== null ? { constraints: [c - p.bound] } : {}) };
    }),
    strategy,
    strategyOptions: options,
    objectives: OBJECTIVES,
    constraints: p.bound !== null ? [{ name: `params<=${p.bound}` }] : [],
    seed,
    budget,
    fsync: false,
    ...(known
      ? {
          known: {
            objectives: { params: (x: readonly number[]) => trueValues(p, x)[1] },
            ...(p.bound !== null ? { constraints: { [`params<=${p.bound}`]: (x: readonly number[]) => trueValues(p, x)[1] - p.bound! } } : {}),
          },
        }
      : {}),
  });
  const r = await study.run();
  const evaluated = r.trials.map((t) => trueValues(p, t.config)).filter((v) => p.bound === null || v[1] <= p.bound);
  const hv = (points: readonly (readonly number[])[]) => hypervolume(points, ref, OBJECTIVES);
  return { hv: hv(evaluated) / hv(front), trials: r.trials };
}

describe('mobo', () => {
  it('starts with the max, min and median configurations, then random ones, initialSamples in all', () => {
    const space = smallSpace([4, 4, 3, 3], 'start');
    const s = moboStrategy.create({ initialSamples: 5 });
    const first = s.ask(5, ctxOf(space));
    expect(first.slice(0, 3)).toEqual([space.maxConfig(), space.minConfig(), space.medianConfig()]);
    expect(new Set(first.map((c) => space.key(c))).size).toBe(5);
  });

  it('property: never proposes a configuration twice, within a batch or across asks, and stays in the space', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), async (batch, seed) => {
        const space = smallSpace([3, 3, 2, 3], 'dedup');
        const s = moboStrategy.create({ initialSamples: 3 });
        const ctx = { ...ctxOf(space), rng: createRng(seed) };
        const keys = new Set<string>();
        let number = 0;
        for (let round = 0; round < 6; round++) {
          const asked = s.ask(batch, ctx);
          for (const c of asked) {
            expect(space.contains(c)).toBe(true);
            const key = space.key(c);
            expect(keys.has(key)).toBe(false);
            keys.add(key);
          }
          s.tell(
            asked.map((config) => ({ number: number++, config, key: space.key(config), state: 'complete' as const, values: [config.reduce((a, b) => a + b, 0) / 10 + (seed % 7) / 100, 100 - config[0]! * 10] })),
            ctx,
          );
        }
      }),
      { numRuns: 8 },
    );
  });

  it('with a parameter bound, proposals after the start are mostly feasible (probability of feasibility)', async () => {
    const { trials } = await fraction('mobo', 3, 30, {}, true);
    const p = syntheticProblem('test 4^6', 6, 4, true, 11);
    const later = trials.slice(6).map((t) => trueValues(p, t.config)[1] <= p.bound!);
    expect(later.filter(Boolean).length / later.length).toBeGreaterThanOrEqual(0.8);
  });

  it('on a problem with interactions, finds more of the true front in 30 evaluations than random search and linas (3 seeds)', async () => {
    for (const seed of [0, 1, 2]) {
      const mobo = (await fraction('mobo', seed, 30)).hv;
      const random = (await fraction('random', seed, 30)).hv;
      const linas = (await fraction('linas', seed, 30, { populationSize: 8 })).hv;
      expect(mobo, `seed ${seed}`).toBeGreaterThan(random);
      expect(mobo, `seed ${seed}`).toBeGreaterThan(linas);
      expect(mobo, `seed ${seed}`).toBeGreaterThan(0.9);
    }
  }, 120_000);

  it('additive: false fits the Matérn kernel alone: a different search after the start, still without repeats', async () => {
    const additive = await fraction('mobo', 0, 20, {}, false, 12);
    const plain = await fraction('mobo', 0, 20, { additive: false }, false, 12);
    const keys = (r: typeof plain) => r.trials.map((t) => t.key);
    expect(keys(plain).slice(0, 6)).toEqual(keys(additive).slice(0, 6));
    expect(keys(plain)).not.toEqual(keys(additive));
    expect(new Set(keys(plain)).size).toBe(20);
  }, 60_000);

  it('with the parameter bound known (StudyOptions.known), spends no evaluation on an infeasible configuration but the heuristic subnets of the start (none with startInfeasible: false)', async () => {
    // 4^6 is scored exhaustively, 4^8 (65,536) from a candidate pool and local search.
    for (const genes of [6, 8]) {
      const p = syntheticProblem(`test 4^${genes}`, genes, 4, true, 11);
      const space = smallSpace(Array.from({ length: genes }, () => 4), 'heuristic');
      const heuristic = [space.maxConfig(), space.minConfig(), space.medianConfig()].filter((c) => trueValues(p, c)[1] > p.bound!);
      expect(heuristic.length).toBeGreaterThan(0);
      for (const startInfeasible of [true, false]) {
        const { trials, hv } = await fraction('mobo', 1, 25, { startInfeasible }, true, genes, true);
        expect(trials).toHaveLength(25);
        const infeasible = trials.filter((t) => trueValues(p, t.config)[1] > p.bound!).map((t) => [...t.config]);
        expect(infeasible, `${genes} genes, startInfeasible ${startInfeasible}`).toEqual(startInfeasible ? heuristic : []);
        expect(hv).toBeGreaterThan(0.6);
      }
    }
  }, 120_000);

  it('under a known parameter bound, configurations beyond the feasible observations still count (no stall below the bound)', async () => {
    // The suite's 4^12 bounded problem, benchmark seeds 2 and 9: when the hypervolume reference
    // stopped at the largest feasible parameter count observed, these runs stalled at 0.47 of the
    // true front from 25 evaluations on, never proposing the accurate configurations near the bound.
    const p = syntheticSuite().find((q) => q.name === '4^12 bounded')!;
    const space = smallSpace(Array.from({ length: p.genes }, () => p.choices), 'mobo-bound');
    const { front, worstAccuracy } = exactFront(p);
    const ref: [number, number] = [worstAccuracy, p.bound!];
    const hv = (points: readonly (readonly number[])[]) => hypervolume(points, ref, OBJECTIVES);
    const name = `params<=${p.bound}`;
    for (const seed of [2, 9]) {
      const study = await Study.create({
        journal: path.join(dir, `${journals++}.jsonl`),
        space,
        evaluator: functionEvaluator((config, t) => {
          const [a, c] = trueValues(p, config);
          return { values: [a + noiseOf(p, seed, t.key), c], constraints: [c - p.bound!] };
        }),
        strategy: 'mobo',
        // The stall was seen without the infeasible max subnet among the observations.
        strategyOptions: { startInfeasible: false },
        objectives: OBJECTIVES,
        constraints: [{ name }],
        seed,
        budget: 30,
        fsync: false,
        known: { objectives: { params: (x) => trueValues(p, x)[1] }, constraints: { [name]: (x) => trueValues(p, x)[1] - p.bound! } },
      });
      const r = await study.run();
      const evaluated = r.trials.map((t) => trueValues(p, t.config)).filter((v) => v[1] <= p.bound!);
      expect(hv(evaluated) / hv(front), `seed ${seed}`).toBeGreaterThan(0.75);
    }
  }, 60_000);

  it('a known objective is used as an exact model: the search differs from modelling it, and replays the same', async () => {
    const modelled = await fraction('mobo', 2, 16, {}, false, 8);
    const known = await fraction('mobo', 2, 16, {}, false, 8, true);
    const again = await fraction('mobo', 2, 16, {}, false, 8, true);
    const keys = (r: typeof known) => r.trials.map((t) => t.key);
    expect(keys(known).slice(0, 6)).toEqual(keys(modelled).slice(0, 6));
    expect(keys(known)).not.toEqual(keys(modelled));
    expect(keys(again)).toEqual(keys(known));
  }, 60_000);

  it('refuses bad options naming them', () => {
    expect(() => moboStrategy.create({ initialSamples: 0 })).toThrow(/initialSamples/);
    expect(() => moboStrategy.create({ candidate: 10 })).toThrow(/did you mean "candidates"/);
    expect(() => moboStrategy.create({ additive: 1 })).toThrow(/additive/);
  });
});
