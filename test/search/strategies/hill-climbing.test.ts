import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import type { ObjectiveSpec, TrialResult } from '../../../src/search/contract.js';
import { hillClimbingStrategy, scalarScore } from '../../../src/search/strategies/index.js';
import type { Config } from '../../../src/space/index.js';
import { createRng } from '../../../src/util/rng.js';
import { MiniStudy, accuracyParams, smallSpace, type Problem } from './helpers.js';

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
    for (const start of ['median', 'max', 'random']) {
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

    // A climb whose start fails is a local optimum: with no restarts the strategy stops.
    const failing: Problem = { ...problem, evaluate: () => 'failed' };
    const study = new MiniStudy(failing, createRng(1));
    study.run(hillClimbingStrategy.create({}), 4);
    expect(study.trials.length).toBe(1 + space.neighbours(space.medianConfig()).length);
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
