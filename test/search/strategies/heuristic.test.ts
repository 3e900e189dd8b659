import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import { heuristicStrategy, heuristicSubnet, namedHeuristicSubnets } from '../../../src/search/strategies/index.js';
import { createRng } from '../../../src/util/rng.js';
import { MiniStudy, accuracyParams, smallSpace, type Problem } from './helpers.js';

const space = smallSpace([[32, 24, 16], [32, 24, 16, 8], [8], [16, 0]], 2);
const problem = (statistics?: Problem['statistics']): Problem => ({
  space,
  objectives: [{ name: 'accuracy', direction: 'maximize' }],
  evaluate: (c, sp) => ({ values: [accuracyParams(c, sp)[0] ?? 0] }),
  ...(statistics ? { statistics } : {}),
});

describe('heuristic strategy', () => {
  it('proposes max, min, median in order, then stops; median is choices[(len-1)//2]', () => {
    const study = new MiniStudy(problem(), createRng(1));
    const s = heuristicStrategy.create({});
    const asked = study.round(s, 10);
    expect(asked).toEqual([space.maxConfig(), space.minConfig(), space.medianConfig()]);
    // Median ranks by the Shears/SQFT rule, per gene: [32,24,16] -> 24, [32,24,16,8] -> 24, [8] -> 8, [16,0] -> 16.
    expect(space.decode(asked[2]!)).toEqual([24, 24, 8, 16, 24, 24, 8, 16]);
    expect(study.round(s, 10)).toEqual([]);
  });

  it('serves small batches in order', () => {
    const study = new MiniStudy(problem(), createRng(1));
    const s = heuristicStrategy.create({});
    expect(study.round(s, 2)).toEqual([space.maxConfig(), space.minConfig()]);
    expect(study.round(s, 2)).toEqual([space.medianConfig()]);
    expect(study.round(s, 2)).toEqual([]);
  });

  it('honours the subnets option and its order', () => {
    const study = new MiniStudy(problem(), createRng(1));
    const s = heuristicStrategy.create({ subnets: 'median, max' });
    expect(study.round(s, 5)).toEqual([space.medianConfig(), space.maxConfig()]);
    expect(() => heuristicStrategy.create({ subnets: 'max,biggest' })).toThrow(/biggest/);
    expect(() => heuristicStrategy.create({ subnets: 'max,max' })).toThrow(NlsError);
    expect(() => heuristicStrategy.create({ subnets: '' })).toThrow(NlsError);
  });

  it('drops heuristics equal to an earlier one', () => {
    const two = smallSpace([[8, 4], [16, 0]]);
    // With two choices per gene the median is index 0, the supernet.
    expect(namedHeuristicSubnets(two, undefined).map((h) => h.name)).toEqual(['max', 'min']);
  });

  it('picks the most-activated and lowest-loss configurations from training statistics', () => {
    const keys = [...space.enumerate()].slice(0, 40).map((c) => space.key(c));
    const stats = keys.map((key, i) => ({ key, activations: (i * 7) % 9, meanLoss: 1 + ((i * 13) % 17) / 4 }));
    // Naive reference.
    const most = [...stats].sort((a, b) => b.activations - a.activations || a.meanLoss - b.meanLoss || (a.key < b.key ? -1 : 1))[0]!;
    const lowest = (min: number) =>
      [...stats].filter((s) => s.activations >= min).sort((a, b) => a.meanLoss - b.meanLoss || b.activations - a.activations || (a.key < b.key ? -1 : 1))[0]!;
    expect(space.key(heuristicSubnet('most-activated', space, stats)!)).toBe(most.key);
    expect(space.key(heuristicSubnet('lowest-loss', space, stats)!)).toBe(lowest(1).key);
    expect(space.key(heuristicSubnet('lowest-loss', space, stats, 8)!)).toBe(lowest(8).key);
    expect(heuristicSubnet('lowest-loss', space, stats, 100)).toBeUndefined();

    const study = new MiniStudy(problem(stats), createRng(1));
    const s = heuristicStrategy.create({ subnets: 'most-activated,lowest-loss', minActivations: 8 });
    expect(study.round(s, 5).map((c) => space.key(c))).toEqual([most.key, lowest(8).key].filter((k, i, a) => a.indexOf(k) === i));
  });

  it('skips statistics-based heuristics without statistics', () => {
    const study = new MiniStudy(problem(), createRng(1));
    const s = heuristicStrategy.create({ subnets: 'most-activated,lowest-loss,min' });
    expect(study.round(s, 5)).toEqual([space.minConfig()]);
  });

  it('refuses statistics of another space', () => {
    const study = new MiniStudy(problem([{ key: 'zz', activations: 3, meanLoss: 1 }]), createRng(1));
    const s = heuristicStrategy.create({ subnets: 'most-activated' });
    expect(() => s.ask(1, study.ctx())).toThrow(NlsError);
  });
});
