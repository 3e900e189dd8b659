/**
 * Properties every built-in strategy must have (the lifecycle rules of src/search/contract.ts):
 * proposals in the space, at most n, deterministic per seed, state rebuilt by replay, failed and
 * filtered results accepted, options validated.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../../src/errors.js';
import { resolveSearchSpace } from '../../../src/space/index.js';
import { BUILTIN_STRATEGIES } from '../../../src/search/strategies/index.js';
import { createRng } from '../../../src/util/rng.js';
import { specArb } from '../../space/arbitraries.js';
import { MiniStudy, noisyProblem, replay, syntheticStatistics, type Problem } from './helpers.js';

const problemFor = (space: Parameters<typeof noisyProblem>[0]): Problem => ({ ...noisyProblem(space), statistics: syntheticStatistics(space) });

/** Option sets exercised per strategy (each also with defaults). */
const VARIANTS: Record<string, readonly Record<string, unknown>[]> = {
  heuristic: [{}, { subnets: 'median,most-activated,lowest-loss', minActivations: 2 }],
  random: [{}, { maxAttempts: 1, enumerationLimit: 1000 }],
  exhaustive: [{}],
  nsga2: [{}, { populationSize: 4, mutation: 'adjacent', seedHeuristics: false }, { algorithm: 'aging', populationSize: 5, sampleSize: 2 }],
  'hill-climbing': [{}, { mode: 'first', restarts: 2, start: 'random' }, { scalarization: 'bounded', bound: 50, start: 'max', restarts: 1 }],
};

const smallSpaceArb = specArb({ maxLayers: 2, maxGroups: 2, maxChoices: 3 }).map(({ spec, numLayers }) => resolveSearchSpace(spec, { numLayers }));
const batchesArb = fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 12 });

/** Versions of the built-in strategies: a change of proposals must bump one deliberately. */
const VERSIONS: Readonly<Record<string, string>> = { mobo: '1.1.0' };

describe.each(BUILTIN_STRATEGIES.map((f) => [f.name, f] as const))('%s', (name, factory) => {
  it('is a documented, versioned factory', () => {
    expect(factory.version).toBe(VERSIONS[name] ?? '1.0.0');
    expect(factory.description.length).toBeGreaterThan(10);
    for (const o of factory.options) {
      expect(o.description.length).toBeGreaterThan(10);
      if (o.default !== undefined) expect(typeof o.default === o.type || (o.type === 'integer' && typeof o.default === 'number')).toBe(true);
      if (o.choices) expect(o.choices).toContain(o.default);
    }
  });

  it('refuses unknown options with an NlsError naming them', () => {
    expect(() => factory.create({ notAnOption: 1 })).toThrow(NlsError);
    try {
      factory.create({ notAnOption: 1 });
    } catch (e) {
      expect((e as NlsError).field).toBe('notAnOption');
    }
  });

  it('refuses bad option values with an NlsError naming the option', () => {
    for (const o of factory.options) {
      const bad = o.type === 'string' ? (o.choices ? 'no-such-choice' : 42) : o.type === 'boolean' ? 'maybe' : o.type === 'integer' ? 1.5 : 'x';
      if (o.type === 'string' && !o.choices && o.name !== 'subnets') continue; // free-form strings (lists) are checked elsewhere
      let err: unknown;
      try {
        factory.create({ [o.name]: bad });
      } catch (e) {
        err = e;
      }
      expect(err, `${name}.${o.name} = ${JSON.stringify(bad)}`).toBeInstanceOf(NlsError);
      expect((err as NlsError).field).toBe(o.name);
    }
  });

  it('accepts its documented defaults', () => {
    const defaults = Object.fromEntries(factory.options.filter((o) => o.default !== undefined).map((o) => [o.name, o.default]));
    expect(() => factory.create(defaults)).not.toThrow();
  });

  for (const options of VARIANTS[name] ?? [{}]) {
    const label = JSON.stringify(options);

    it(`asks lie in the space, at most n, never throw on failed/filtered results ${label}`, () => {
      fc.assert(
        fc.property(smallSpaceArb, fc.integer({ min: 0, max: 1000 }), batchesArb, (space, seed, batches) => {
          const problem = problemFor(space);
          const study = new MiniStudy(problem, createRng(seed));
          const strategy = factory.create(options);
          for (const n of batches) {
            const asked = strategy.ask(n, study.ctx());
            expect(asked.length).toBeLessThanOrEqual(n);
            for (const c of asked) expect(space.contains(c)).toBe(true);
            const told = study.results(asked);
            study.trials.push(...told);
            strategy.tell(told, study.ctx());
          }
        }),
        { numRuns: 40 },
      );
    });

    it(`is deterministic per seed and rebuilt by replaying asks and tells ${label}`, () => {
      fc.assert(
        fc.property(smallSpaceArb, fc.integer({ min: 0, max: 1000 }), batchesArb, fc.integer({ min: 1, max: 7 }), (space, seed, batches, next) => {
          const problem = problemFor(space);
          const a = factory.create(options);
          const studyA = new MiniStudy(problem, createRng(seed));
          for (const n of batches) studyA.round(a, n);

          // Same seed, same calls: same proposals.
          const c = factory.create(options);
          const studyC = new MiniStudy(problem, createRng(seed));
          for (const n of batches) studyC.round(c, n);
          expect(studyC.rounds.map((r) => r.asked)).toEqual(studyA.rounds.map((r) => r.asked));

          // Fresh instance + replayed journal continues exactly like the original.
          const b = factory.create(options);
          const studyB = replay(b, problem, seed, studyA.rounds);
          expect(b.ask(next, studyB.ctx())).toEqual(a.ask(next, studyA.ctx()));
        }),
        { numRuns: 40 },
      );
    });
  }

  it('answers ask(0) with []', () => {
    const space = resolveSearchSpace(
      { format: 'nls-search-space/1', name: 't', alpha: 16, groups: [{ name: 'g', modules: ['q_proj'], ranks: [8, 4, 0] }] },
      { numLayers: 2 },
    );
    const study = new MiniStudy(noisyProblem(space), createRng(1));
    const strategy = factory.create({});
    expect(strategy.ask(0, study.ctx())).toEqual([]);
  });
});
