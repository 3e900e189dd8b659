import { describe, expect, it } from 'vitest';
import { randomStrategy } from '../../../src/search/strategies/index.js';
import { createRng } from '../../../src/util/rng.js';
import { MiniStudy, noisyProblem, smallSpace } from './helpers.js';

describe('random strategy', () => {
  const space = smallSpace([[32, 24, 16], [8, 4, 0], [16, 8]], 2); // 3*3*2 per layer, 324 configs

  for (const options of [{}, { maxAttempts: 1 }]) {
    it(`visits every configuration exactly once, then answers [] ${JSON.stringify(options)}`, () => {
      for (const batch of [1, 7, 50]) {
        const study = new MiniStudy(noisyProblem(space), createRng(batch));
        const s = randomStrategy.create(options);
        study.run(s, batch);
        const keys = study.trials.map((t) => t.key);
        expect(new Set(keys).size).toBe(keys.length);
        expect(keys.length).toBe(324);
        expect(s.ask(5, study.ctx())).toEqual([]);
      }
    });
  }

  it('never repeats in a space too large to enumerate', () => {
    const big = smallSpace([[64, 48, 32, 16, 8, 4, 0], [64, 32, 16, 8, 0]], 8); // 35^8 configurations
    const study = new MiniStudy(noisyProblem(big), createRng(3), 300);
    study.run(randomStrategy.create({ enumerationLimit: 1000 }), 32);
    expect(study.trials.length).toBe(300);
    expect(new Set(study.trials.map((t) => t.key)).size).toBe(300);
  });

  it('draws uniformly', () => {
    const tiny = smallSpace([[8, 4, 2, 1]]);
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 800; seed++) {
      const study = new MiniStudy(noisyProblem(tiny), createRng(seed));
      // maxAttempts 1: the later draws mostly come from the enumeration fallback, which must be uniform too.
      const s = randomStrategy.create({ maxAttempts: 1 });
      s.ask(1, study.ctx());
      const [c] = s.ask(3, study.ctx()).slice(-1);
      const key = tiny.key(c!);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(4);
    for (const n of counts.values()) expect(Math.abs(n - 200)).toBeLessThan(60);
  });
});
