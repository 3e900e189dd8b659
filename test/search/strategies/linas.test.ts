import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import { linasStrategy, randomStrategy } from '../../../src/search/strategies/index.js';
import type { SearchStrategy } from '../../../src/search/contract.js';
import { createRng } from '../../../src/util/rng.js';
import { EVOLUTION_SPACE, MiniStudy, accuracyParams, biObjectiveProblem, hypervolume2d, noisyProblem, replay, smallSpace, type Problem } from './helpers.js';

const space = EVOLUTION_SPACE; // 3600 configurations
/** Separable bi-objective problem: accuracy (maximize, concave per gene) and params (minimize, linear). */
const biObjective: Problem = biObjectiveProblem(space);

const all = [...space.enumerate()].map((c) => accuracyParams(c, space));
const ref: [number, number] = [-Math.min(...all.map((v) => v[0]!)), Math.max(...all.map((v) => v[1]!))];
const asMin = (vs: readonly (readonly number[])[]) => vs.map((v) => [-v[0]!, v[1]!] as [number, number]);
const trueHv = hypervolume2d(asMin(all), ref);

/** Evaluations until the trials reach `target` of the true hypervolume (budget + 1 when never). */
function evaluationsTo(strategy: SearchStrategy, seed: number, target: number, budget: number): number {
  const study = new MiniStudy(biObjective, createRng(seed), budget);
  const values: number[][] = [];
  while (study.trials.length < budget) {
    const before = study.trials.length;
    if (study.round(strategy, Math.min(8, budget - before)).length === 0) break;
    for (const [i, t] of study.trials.entries()) {
      if (i < before || !t.values) continue;
      values.push([...t.values]);
      if (hypervolume2d(asMin(values), ref) / trueHv >= target) return i + 1;
    }
  }
  return budget + 1;
}

describe('linas strategy', () => {
  it('starts with max, min and median, then initialSamples - 3 random configurations', () => {
    const study = new MiniStudy(biObjective, createRng(0));
    const s = linasStrategy.create({ populationSize: 6, initialSamples: 10 });
    const first = study.round(s, 100);
    expect(first).toHaveLength(10); // the initial round, not crossed
    expect(first.slice(0, 3)).toEqual([space.maxConfig(), space.minConfig(), space.medianConfig()]);
    expect(study.round(s, 100)).toHaveLength(6);
    expect(study.round(s, 4)).toHaveLength(4);
    expect(study.round(s, 4)).toHaveLength(2); // what is left of the round
    const keys = study.trials.map((t) => t.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('reaches 95% of the true hypervolume with fewer evaluations than random search', () => {
    const budget = 300;
    const linas: number[] = [];
    const rand: number[] = [];
    for (let seed = 0; seed < 3; seed++) {
      linas.push(evaluationsTo(linasStrategy.create({ populationSize: 16 }), seed, 0.95, budget));
      rand.push(evaluationsTo(randomStrategy.create({}), seed, 0.95, budget));
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    for (const n of linas) expect(n).toBeLessThanOrEqual(budget);
    expect(mean(linas)).toBeLessThan(mean(rand));
  });

  it('is deterministic for a seed, and replays from its asks and tells', () => {
    const run = (seed: number) => {
      const study = new MiniStudy(noisyProblem(space), createRng(seed), 70);
      study.run(linasStrategy.create({ populationSize: 8, innerGenerations: 5 }), (r) => 1 + (r % 5));
      return study;
    };
    const a = run(3);
    const b = run(3);
    expect(b.trials.map((t) => t.key)).toEqual(a.trials.map((t) => t.key));
    expect(run(4).trials.map((t) => t.key)).not.toEqual(a.trials.map((t) => t.key));
    // a fresh instance replayed the rounds continues like the original
    const half = a.rounds.slice(0, 9);
    const original = new MiniStudy(noisyProblem(space), createRng(3));
    const s1 = linasStrategy.create({ populationSize: 8, innerGenerations: 5 });
    for (const r of half) original.round(s1, r.n);
    const s2 = linasStrategy.create({ populationSize: 8, innerGenerations: 5 });
    const resumed = replay(s2, noisyProblem(space), 3, original.rounds);
    expect(resumed.round(s2, 5)).toEqual(original.round(s1, 5));
  });

  it('ignores failed trials as training data and keeps proposing; exhausts a small space with []', () => {
    const tiny = smallSpace([[8, 4], [8, 4, 0]]); // 6 configurations
    const failing: Problem = { ...biObjective, space: tiny, evaluate: () => 'failed' };
    const study = new MiniStudy(failing, createRng(1));
    const s = linasStrategy.create({ populationSize: 2, initialSamples: 2 });
    study.run(s, 3);
    expect(study.trials).toHaveLength(6);
    expect(new Set(study.trials.map((t) => t.key)).size).toBe(6);
    expect(s.ask(3, study.ctx())).toEqual([]);
    const ok = new MiniStudy({ ...biObjective, space: tiny }, createRng(2));
    const s2 = linasStrategy.create({ populationSize: 2 });
    ok.run(s2, 2);
    expect(ok.trials).toHaveLength(6);
    expect(s2.ask(1, ok.ctx())).toEqual([]);
  });

  it('validates its options', () => {
    expect(() => linasStrategy.create({ populationSize: 0 })).toThrow(NlsError);
    expect(() => linasStrategy.create({ lambda: -1 })).toThrow(/lambda/);
    expect(() => linasStrategy.create({ initialSamples: 'x' })).toThrow(/initialSamples/);
    expect(() => linasStrategy.create({ innerPopulation: 1 })).toThrow(/innerPopulation/);
    expect(() => linasStrategy.create({ innerGenerations: '5', crossoverProb: '0.5' })).not.toThrow();
  });
});
