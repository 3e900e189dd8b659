import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import { exhaustiveStrategy } from '../../../src/search/strategies/index.js';
import { createRng } from '../../../src/util/rng.js';
import { MiniStudy, noisyProblem, smallSpace } from './helpers.js';

describe('exhaustive strategy', () => {
  const space = smallSpace([[32, 24, 16], [8, 0]], 3); // 216 configs

  it('enumerates every configuration exactly once, in canonical order, whatever the batch size', () => {
    const canonical = [...space.enumerate()].map((c) => space.key(c));
    for (const batch of [1, 5, 216, 1000]) {
      const study = new MiniStudy(noisyProblem(space), createRng(0));
      const s = exhaustiveStrategy.create({});
      study.run(s, batch);
      expect(study.trials.map((t) => t.key)).toEqual(canonical);
      expect(s.ask(3, study.ctx())).toEqual([]);
    }
  });

  it('refuses spaces larger than maxCardinality, naming both numbers and alternatives', () => {
    const study = new MiniStudy(noisyProblem(space), createRng(0));
    const s = exhaustiveStrategy.create({ maxCardinality: 100 });
    let err: unknown;
    try {
      s.ask(1, study.ctx());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NlsError);
    expect((err as NlsError).field).toBe('maxCardinality');
    expect((err as Error).message).toMatch(/216/);
    expect((err as Error).message).toMatch(/100\b/);
    expect((err as Error).message).toMatch(/random|nsga2/);
  });

  it('stops at the budget without enumerating the rest', () => {
    const study = new MiniStudy(noisyProblem(space), createRng(0), 10);
    study.run(exhaustiveStrategy.create({}), 4);
    expect(study.trials.length).toBe(10);
  });
});
