import { describe, expect, it } from 'vitest';
import type { TrialResult } from '../../../src/search/contract.js';
import { selectSurvivors, type Member } from '../../../src/search/strategies/nsga2.js';
import { nsga2Strategy, randomStrategy } from '../../../src/search/strategies/index.js';
import { createRng } from '../../../src/util/rng.js';
import { EVOLUTION_SPACE, MiniStudy, accuracyParams, biObjectiveProblem, hypervolume2d, noisyProblem, smallSpace, type Problem } from './helpers.js';

const space = EVOLUTION_SPACE; // 3600 configurations
/** Separable bi-objective problem: accuracy (maximize, concave per gene) and params (minimize, linear). */
const biObjective: Problem = biObjectiveProblem(space);

describe('nsga2 strategy', () => {
  it('seeds the initial population with max, min and median', () => {
    const study = new MiniStudy(biObjective, createRng(0));
    const asked = study.round(nsga2Strategy.create({}), 5);
    expect(asked.slice(0, 3)).toEqual([space.maxConfig(), space.minConfig(), space.medianConfig()]);
    const unseeded = new MiniStudy(biObjective, createRng(0)).round(nsga2Strategy.create({ seedHeuristics: false }), 3);
    expect(unseeded).not.toEqual([space.maxConfig(), space.minConfig(), space.medianConfig()]);
  });

  it('serves any batch size without crossing a round (population) boundary', () => {
    const sizes = (batch: number, rounds: number): number[] => {
      const study = new MiniStudy(biObjective, createRng(1));
      const s = nsga2Strategy.create({ populationSize: 20 });
      for (let r = 0; r < rounds; r++) study.round(s, batch);
      return study.rounds.map((r) => r.asked.length);
    };
    expect(sizes(7, 9)).toEqual([7, 7, 6, 7, 7, 6, 7, 7, 6]);
    expect(sizes(1, 45).every((n) => n === 1)).toBe(true);
    expect(sizes(20, 4)).toEqual([20, 20, 20, 20]);
    expect(sizes(50, 3)).toEqual([20, 20, 20]);
    for (const options of [{}, { algorithm: 'aging' }]) {
      const study = new MiniStudy(biObjective, createRng(2));
      const s = nsga2Strategy.create({ populationSize: 10, ...options });
      for (let r = 0; r < 6; r++) study.round(s, 7);
      expect(study.rounds.map((r) => r.asked.length)).toEqual(options.algorithm === 'aging' ? [7, 3, 7, 7, 7, 7] : [7, 3, 7, 3, 7, 3]);
    }
  });

  it('never proposes a configuration twice and answers [] once the space is exhausted', () => {
    const tiny = smallSpace([[8, 4, 0], [16, 8]], 2); // 36 configurations
    for (const options of [{}, { algorithm: 'aging', populationSize: 6, sampleSize: 3 }, { mutation: 'adjacent', populationSize: 8 }]) {
      const study = new MiniStudy(noisyProblem(tiny), createRng(5));
      study.run(nsga2Strategy.create(options), 5);
      const keys = study.trials.map((t) => t.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBe(36);
    }
  });

  it('keeps going when every trial fails', () => {
    const problem: Problem = { ...biObjective, evaluate: () => 'failed' };
    for (const algorithm of ['nsga2', 'aging']) {
      const study = new MiniStudy(problem, createRng(5), 120);
      study.run(nsga2Strategy.create({ algorithm, populationSize: 10 }), 8);
      expect(study.trials.length).toBe(120);
      expect(new Set(study.trials.map((t) => t.key)).size).toBe(120);
    }
  });

  it('environmental selection: feasible first, then less violation, failed last; fronts cut by crowding', () => {
    const m = (key: string, values: number[] | undefined, violation: number): Member => ({ config: [], key, values, violation });
    const dirs = ['maximize', 'minimize'] as const;
    const members = [
      m('failed', undefined, Infinity),
      m('bad', [9, 0], 2),
      m('less-bad', [0, 9], 1),
      m('a', [1, 1], 0),
      m('b', [2, 2], 0),
      m('c', [3, 3], 0),
      m('dominated', [1, 5], 0),
      m('mid', [1.5, 1.6], 0),
    ];
    const order = (n: number) => selectSurvivors(members, n, [...dirs]).map((r) => r.key);
    expect(order(8)).toEqual(['a', 'b', 'c', 'mid', 'dominated', 'less-bad', 'bad', 'failed']);
    // Front {a, mid, b, c}: the boundary points a and c have infinite crowding; mid is more crowded than b.
    expect(order(3)).toEqual(['a', 'c', 'b']);
    const ranked = selectSurvivors(members, 8, [...dirs]);
    expect(ranked.map((r) => r.rank)).toEqual([0, 0, 0, 0, 1, 2, 3, 4]);
  });

  it('reaches 95% of the true hypervolume within 300 evaluations, and beats random on average', () => {
    const all = [...space.enumerate()].map((c) => accuracyParams(c, space));
    const ref: [number, number] = [-Math.min(...all.map((v) => v[0]!)), Math.max(...all.map((v) => v[1]!))];
    const asMin = (vs: readonly (readonly number[])[]) => vs.map((v) => [-v[0]!, v[1]!] as [number, number]);
    const trueHv = hypervolume2d(asMin(all), ref);
    const hvRatio = (study: MiniStudy) => hypervolume2d(asMin(study.trials.map((t) => t.values!)), ref) / trueHv;
    const nsga: number[] = [];
    const rand: number[] = [];
    for (let seed = 0; seed < 5; seed++) {
      const a = new MiniStudy(biObjective, createRng(seed), 300);
      a.run(nsga2Strategy.create({}), 7);
      nsga.push(hvRatio(a));
      const b = new MiniStudy(biObjective, createRng(seed), 300);
      b.run(randomStrategy.create({}), 7);
      rand.push(hvRatio(b));
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    for (const r of nsga) expect(r).toBeGreaterThanOrEqual(0.95);
    expect(mean(nsga)).toBeGreaterThan(mean(rand));
  });

  it('respects constraints: the best feasible accuracy beats random under a params bound', () => {
    const maxParams = accuracyParams(space.maxConfig(), space)[1]!;
    const constrained: Problem = {
      ...biObjective,
      constraints: [{ name: 'params<=30%' }],
      evaluate: (c, sp) => {
        const v = accuracyParams(c, sp);
        return { values: v, constraints: [v[1]! - 0.3 * maxParams] };
      },
    };
    const bestFeasible = (trials: readonly TrialResult[]) => Math.max(...trials.filter((t) => (t.constraints?.[0] ?? 1) <= 0).map((t) => t.values![0]!));
    let wins = 0;
    for (let seed = 0; seed < 5; seed++) {
      const a = new MiniStudy(constrained, createRng(seed), 200);
      a.run(nsga2Strategy.create({}), 10);
      const b = new MiniStudy(constrained, createRng(seed), 200);
      b.run(randomStrategy.create({}), 10);
      if (bestFeasible(a.trials) >= bestFeasible(b.trials)) wins++;
    }
    expect(wins).toBeGreaterThanOrEqual(4);
  });

  it('aging evolution optimises the first objective better than random', () => {
    const big = smallSpace([[32, 24, 16, 8, 0], [32, 24, 16, 8, 0], [32, 16, 8, 0]], 6); // 100^6 configurations
    const score = (c: readonly number[]) => {
      const [a, p] = accuracyParams(c, big);
      return a! - 0.05 * p!;
    };
    // Scalarised by the first objective: the second (params) must not matter.
    const problem: Problem = {
      space: big,
      objectives: [
        { name: 'score', direction: 'maximize' },
        { name: 'params', direction: 'minimize' },
      ],
      evaluate: (c, sp) => ({ values: [score(c), accuracyParams(c, sp)[1]!] }),
    };
    const best = (study: MiniStudy) => Math.max(...study.trials.map((t) => t.values![0]!));
    for (let seed = 0; seed < 3; seed++) {
      const a = new MiniStudy(problem, createRng(seed), 300);
      a.run(nsga2Strategy.create({ algorithm: 'aging' }), 4);
      const b = new MiniStudy(problem, createRng(seed), 300);
      b.run(randomStrategy.create({}), 4);
      expect(best(a)).toBeGreaterThan(best(b) + 2);
    }
  });

  it('validates sampleSize against populationSize for aging', () => {
    expect(() => nsga2Strategy.create({ algorithm: 'aging', populationSize: 4, sampleSize: 5 })).toThrow(/sampleSize/);
    expect(() => nsga2Strategy.create({ populationSize: 1 })).toThrow(/populationSize/);
    expect(() => nsga2Strategy.create({ crossoverProb: 1.5 })).toThrow(/crossoverProb/);
    expect(() => nsga2Strategy.create({ populationSize: '12', seedHeuristics: 'false' })).not.toThrow();
  });
});
