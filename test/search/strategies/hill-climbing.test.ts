import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import type { ObjectiveSpec, TrialResult } from '../../../src/search/contract.js';
import { hillClimbingStrategy, scalarScore } from '../../../src/search/strategies/index.js';
import type { Config } from '../../../src/space/index.js';
import { createRng } from '../../../src/util/rng.js';
import { smallSpace as conformanceSpace } from '../../../src/search/testing.js';
import { MiniStudy, accuracyParams, replay, smallSpace, type Problem } from './helpers.js';

const space = smallSpace([[32, 24, 16, 8, 0], [32, 24, 16, 8, 0], [64, 48, 32, 16, 8]], 2); // 15625 configurations
const LAMBDA = 0.05;
const objectives: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];
const problem: Problem = { space, objectives, evaluate: (c, sp) => ({ values: accuracyParams(c, sp) }) };
const weighted = (c: Config) => {
  const [a, p] = accuracyParams(c, space);
  return a! - LAMBDA * p!;
};

describe('hill-climbing strategy', () => {
  // Global optimum by enumeration; the problem is separable and unimodal in every gene (checked).
  let optimum = -Infinity;
  for (const c of space.enumerate()) optimum = Math.max(optimum, weighted(c));

  it('the test problem is separable and unimodal per gene', () => {
    const base = space.medianConfig();
    for (let g = 0; g < space.size; g++) {
      const f = [...Array(space.choiceCounts[g]).keys()].map((k) => weighted(base.map((x, i) => (i === g ? k : x))));
      const peak = f.indexOf(Math.max(...f));
      for (let k = 0; k < f.length; k++) if (k < peak) expect(f[k]!).toBeLessThan(f[k + 1]!);
      for (let k = peak + 1; k < f.length; k++) expect(f[k]!).toBeLessThan(f[k - 1]!);
    }
  });

  for (const mode of ['steepest', 'first']) {
    for (const start of ['median', 'max', 'min', 'random']) {
      it(`${mode} ascent from ${start} finds the global optimum of a separable unimodal problem, then stops`, () => {
        for (const batch of [1, 5, 100]) {
          const study = new MiniStudy(problem, createRng(7), 20_000);
          study.run(hillClimbingStrategy.create({ mode, start, weights: `1,${LAMBDA}` }), batch);
          const best = Math.max(...study.trials.map((t) => weighted(t.config)));
          expect(best).toBeCloseTo(optimum, 9);
          expect(study.trials.length).toBeLessThan(2000); // it stopped on its own
          const keys = study.trials.map((t) => t.key);
          expect(new Set(keys).size).toBe(keys.length); // never re-evaluates
        }
      });
    }
  }

  it('starts the first climb where `start` says', () => {
    const first = (start: string) => new MiniStudy(problem, createRng(1)).round(hillClimbingStrategy.create({ start, weights: `1,${LAMBDA}` }), 1);
    expect(first('min')).toEqual([space.minConfig()]);
    expect(first('max')).toEqual([space.maxConfig()]);
    expect(first('median')).toEqual([space.medianConfig()]);
  });

  it('steepest ascent evaluates the start, then all neighbours, in batches of at most n', () => {
    const study = new MiniStudy(problem, createRng(1));
    const s = hillClimbingStrategy.create({ weights: `1,${LAMBDA}` });
    expect(study.round(s, 10)).toEqual([space.medianConfig()]);
    const neighbours = space.neighbours(space.medianConfig());
    expect(study.round(s, 4)).toEqual(neighbours.slice(0, 4));
    expect(study.round(s, 100)).toEqual(neighbours.slice(4));
    // Next: the neighbours of the best improving neighbour (excluding those already evaluated).
    const best = neighbours.reduce((b, c) => (weighted(c) > weighted(b) ? c : b));
    const next = study.round(s, 100);
    const expected = space.neighbours(best).filter((c) => !study.trials.slice(0, -next.length).some((t) => t.key === space.key(c)));
    expect(next).toEqual(expected);
  });

  it('restarts from random unevaluated configurations, `restarts` times', () => {
    const starts = (restarts: number) => {
      const study = new MiniStudy(problem, createRng(3));
      study.run(hillClimbingStrategy.create({ restarts, weights: `1,${LAMBDA}`, mode: 'first' }), 3);
      return study.trials.length;
    };
    const one = starts(0);
    const three = starts(2);
    expect(three).toBeGreaterThan(one);
  });

  it('bounded: maximizes objective 0 with objective 1 under the bound, climbing out of an infeasible start', () => {
    const maxParams = accuracyParams(space.maxConfig(), space)[1]!;
    const bound = 0.4 * maxParams;
    let best = -Infinity;
    for (const c of space.enumerate()) {
      const [a, p] = accuracyParams(c, space);
      if (p! <= bound) best = Math.max(best, a!);
    }
    const study = new MiniStudy(problem, createRng(4));
    study.run(hillClimbingStrategy.create({ scalarization: 'bounded', bound, start: 'max', restarts: 5 }), 8);
    const found = Math.max(...study.trials.filter((t) => t.values![1]! <= bound).map((t) => t.values![0]!));
    // The supernet breaks the bound; the climber must still reach feasible, near-optimal points.
    expect(found).toBeGreaterThan(0.97 * best);
    expect(found).toBeLessThanOrEqual(best);
  });

  it('treats failed, filtered and constraint-violating trials as infeasible', () => {
    const base = { number: 0, config: [0], key: '0' } as const;
    const spec = { scalarization: 'weighted' as const, weights: [1, 2] };
    expect(scalarScore({ ...base, state: 'complete', values: [3, 1] }, spec, objectives)).toBe(1);
    expect(scalarScore({ ...base, state: 'complete', values: [3, 1], constraints: [0.5] }, spec, objectives)).toBe(-Infinity);
    expect(scalarScore({ ...base, state: 'failed' } as TrialResult, spec, objectives)).toBe(-Infinity);
    expect(scalarScore({ ...base, state: 'filtered' } as TrialResult, spec, objectives)).toBe(-Infinity);
    const bounded = { scalarization: 'bounded' as const, weights: [], bound: 2 };
    expect(scalarScore({ ...base, state: 'complete', values: [3, 1] }, bounded, objectives)).toBe(3);
    expect(scalarScore({ ...base, state: 'complete', values: [3, 2.5] }, bounded, objectives)).toBe(-Infinity);

    // A climb whose start fails (with no usable neighbour) is not a local optimum: the strategy
    // restarts instead of stopping, even with restarts=0, and never re-evaluates a configuration.
    const failing: Problem = { ...problem, evaluate: () => 'failed' };
    const study = new MiniStudy(failing, createRng(1), 300);
    study.run(hillClimbingStrategy.create({}), 4);
    expect(study.trials.length).toBe(300); // ran until the budget, not until the first failed climb
    const keys = study.trials.map((t) => t.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  describe('unusable start points (failed, filtered) restart the climb', () => {
    // The conformance kit's counterexample: 3 genes of 2 choices, seed 392097564, batches of 3.
    const tiny = conformanceSpace([2, 2, 2]);
    const single: ObjectiveSpec[] = [{ name: 'score', direction: 'maximize' }];
    const score = (c: Config) => c.reduce((a, x, i) => a + (i + 1) * x, 0);
    const badKeys = new Set([tiny.medianConfig(), ...tiny.neighbours(tiny.medianConfig())].map((c) => tiny.key(c)));
    const failingStart: Problem = {
      space: tiny,
      objectives: single,
      evaluate: (c, sp) => (badKeys.has(sp.key(c)) ? (score(c) % 2 === 0 ? 'failed' : 'filtered') : { values: [score(c)] }),
    };

    for (const mode of ['steepest', 'first']) {
      it(`${mode}: keeps proposing after a failed start whose neighbours fail or are filtered (restarts=0)`, () => {
        const seed = 392097564;
        const bad = new MiniStudy(failingStart, createRng(seed));
        const good = new MiniStudy({ ...failingStart, evaluate: (c) => ({ values: [score(c)] }) }, createRng(seed));
        const sBad = hillClimbingStrategy.create({ mode });
        const sGood = hillClimbingStrategy.create({ mode });
        expect(bad.round(sBad, 3)).toEqual([tiny.medianConfig()]);
        expect(bad.round(sBad, 3).map((c) => tiny.key(c)).sort()).toEqual(tiny.neighbours(tiny.medianConfig()).map((c) => tiny.key(c)).sort());
        expect(bad.trials.every((t) => t.state !== 'complete')).toBe(true);
        for (let r = 0; r < 2; r++) good.round(sGood, 3);

        // Third ask: the old strategy answered [] here (the study ended as "exhausted").
        const seen = new Set(bad.trials.map((t) => t.key));
        const third = bad.round(sBad, 3);
        expect(good.round(sGood, 3).length).toBeGreaterThan(0);
        expect(third.length).toBeGreaterThan(0);
        for (const c of third) expect(seen.has(tiny.key(c))).toBe(false); // a restart never re-proposes a seen key

        // Replay rebuilds the same state: a fresh instance proposes what the original proposes next.
        const fresh = hillClimbingStrategy.create({ mode });
        const rebuilt = replay(fresh, failingStart, seed, bad.rounds);
        expect(fresh.ask(3, rebuilt.ctx())).toEqual(sBad.ask(3, bad.ctx()));
      });
    }

    it('still answers [] once every configuration was evaluated', () => {
      for (const mode of ['steepest', 'first']) {
        for (const batch of [1, 3, 100]) {
          const study = new MiniStudy({ ...failingStart, evaluate: (c) => (score(c) % 2 === 0 ? 'failed' : 'filtered') }, createRng(5));
          const s = hillClimbingStrategy.create({ mode });
          study.run(s, batch);
          const keys = study.trials.map((t) => t.key);
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys.length).toBe(Number(tiny.cardinality()));
          expect(s.ask(batch, study.ctx())).toEqual([]);
        }
      }
    });

    it('a restart caused by an unusable start does not consume `restarts`', () => {
      // Steepest mode draws from the RNG only to pick a restart point, so the asks that drew are the restarts.
      const badAround = new Set([space.medianConfig(), ...space.neighbours(space.medianConfig())].map((c) => space.key(c)));
      const failing: Problem = { ...problem, evaluate: (c, sp) => (badAround.has(sp.key(c)) ? 'failed' : { values: accuracyParams(c, sp) }) };
      for (const restarts of [0, 1, 3]) {
        const base = createRng(11);
        let draws = 0;
        const rng = { ...base, next: () => (draws++, base.next()), int: (n: number) => (draws++, base.int(n)) };
        const study = new MiniStudy(failing, rng);
        const s = hillClimbingStrategy.create({ restarts, weights: `1,${LAMBDA}` });
        let restartsDrawn = 0;
        for (let r = 0; r < 10_000; r++) {
          const before = draws;
          const asked = study.round(s, 50);
          if (asked.length === 0) break;
          if (draws > before) restartsDrawn++;
        }
        expect(s.ask(50, study.ctx())).toEqual([]); // it stopped on its own, after its climbs
        // One free restart after the failed first climb, then the user's `restarts`.
        expect(restartsDrawn).toBe(1 + restarts);
        const keys = study.trials.map((t) => t.key);
        expect(new Set(keys).size).toBe(keys.length);
      }
    });
  });

  it('validates options against the objectives', () => {
    const study = new MiniStudy(problem, createRng(1));
    expect(() => hillClimbingStrategy.create({ scalarization: 'bounded' })).toThrow(/bound/);
    expect(() => hillClimbingStrategy.create({ weights: '1,x' })).toThrow(NlsError);
    expect(() => hillClimbingStrategy.create({ weights: '1,2,3' }).ask(1, study.ctx())).toThrow(/weights/);
    const single = new MiniStudy({ ...problem, objectives: [objectives[0]!] }, createRng(1));
    expect(() => hillClimbingStrategy.create({ scalarization: 'bounded', bound: 1 }).ask(1, single.ctx())).toThrow(/at least 2 objectives/);
  });
});
