/**
 * Multi-fidelity racing: candidates that cannot reach the front are stopped early and recorded
 * with their fidelity; with sound optimistic bounds the front is exactly that of full evaluation;
 * decisions use earlier rounds only, so resume is exact.
 */
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/space/index.js';
import type { ObjectiveSpec } from '../../src/search/contract.js';
import { FatalEvaluationError, functionEvaluator } from '../../src/search/evaluator.js';
import { checkFidelities, racingEvaluator, racingVerdict, type StagedObjective } from '../../src/search/racing.js';
import { paretoFront } from '../../src/search/results.js';
import { exhaustiveStrategy } from '../../src/search/strategies/index.js';
import { Study, type StudyOptions } from '../../src/search/study.js';
import { comparableJournal } from '../../src/search/testing.js';
import { SPACE, tempDir } from './fixtures.js';

const dir = tempDir('nls-racing-');
const OBJECTIVES: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];
const configs = [...SPACE.enumerate()];
const indexOf = new Map(configs.map((c, i) => [SPACE.key(c), i]));

/** Cost of a configuration: exact at every fidelity. */
const paramsOf = (c: Config): number => c.reduce((a, b, i) => a + b * (i + 1), 0);

/**
 * A staged objective over a table of true accuracies. Below fidelity 1 it reports a noisy estimate
 * and an optimistic bound `truth + slack` (sound: never below the truth); at 1, the truth.
 * `advances` counts the stages run per key.
 */
function tableObjective(truth: readonly number[], noise: readonly number[], slack: number, advances = new Map<string, number[]>()): StagedObjective {
  return (config) => {
    const i = indexOf.get(SPACE.key(config))!;
    return {
      advance: async (fidelity) => {
        const key = SPACE.key(config);
        advances.set(key, [...(advances.get(key) ?? []), fidelity]);
        const t = truth[i]!;
        const estimate = fidelity === 1 ? t : t + (noise[i] ?? 0) * (1 - fidelity);
        const optimistic = fidelity === 1 ? t : t + slack * (1 - fidelity);
        const params = paramsOf(config);
        return { values: [estimate, params], optimistic: [optimistic, params], attrs: { examples: Math.round(fidelity * 100) } };
      },
    };
  };
}

function studyOptions(file: string, evaluator: StudyOptions['evaluator'], batchSize = 1): StudyOptions {
  return { journal: file, space: SPACE, strategy: exhaustiveStrategy, objectives: OBJECTIVES, seed: 7, batchSize, evaluator, fsync: false };
}

let runs = 0;
async function runStudy(evaluator: StudyOptions['evaluator'], batchSize = 1): Promise<Study> {
  const study = await Study.create(studyOptions(path.join(dir, `run-${runs++}.jsonl`), evaluator, batchSize));
  await study.run();
  return study;
}

describe('checkFidelities', () => {
  it('accepts increasing shares ending with 1', () => {
    expect(() => checkFidelities([1])).not.toThrow();
    expect(() => checkFidelities([0.125, 0.25, 0.5, 1])).not.toThrow();
  });
  it.each([
    [[], /no fidelities/],
    [[0.5], /last fidelity must be 1/],
    [[0, 1], /not in \(0, 1\]/],
    [[0.5, 0.25, 1], /must increase/],
    [[0.5, 0.5, 1], /must increase/],
    [[0.5, 1.5], /not in \(0, 1\]/],
  ])('refuses %j', (f, message) => {
    expect(() => checkFidelities(f as number[], '--fidelities')).toThrow(message);
    expect(() => checkFidelities(f as number[], '--fidelities')).toThrow(/--fidelities/);
  });
});

describe('racingVerdict', () => {
  const front = [{ number: 3, key: 'a', config: [0], state: 'complete' as const, values: [0.8, 10] }];
  it('stops a candidate whose optimistic vector is dominated, naming the trial', () => {
    expect(racingVerdict([0.7, 12], undefined, front, OBJECTIVES)).toEqual({ reason: 'dominated', by: 3, optimistic: [0.7, 12] });
  });
  it('keeps a candidate that could still be on the front (or ties)', () => {
    expect(racingVerdict([0.85, 12], undefined, front, OBJECTIVES)).toBeUndefined();
    expect(racingVerdict([0.7, 9], undefined, front, OBJECTIVES)).toBeUndefined();
    expect(racingVerdict([0.8, 10], undefined, front, OBJECTIVES)).toBeUndefined();
  });
  it('stops an optimistically infeasible candidate only once something is feasible', () => {
    expect(racingVerdict([0.9, 1], [0.5], front, OBJECTIVES)).toMatchObject({ reason: 'infeasible' });
    expect(racingVerdict([0.9, 1], [0.5], [], OBJECTIVES)).toBeUndefined();
  });
});

describe('racingEvaluator in a study', () => {
  it('with sound bounds, keeps exactly the front of full evaluation and stops some candidates early (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: configs.length, maxLength: configs.length }),
        fc.array(fc.double({ min: -0.3, max: 0.3, noNaN: true }), { minLength: configs.length, maxLength: configs.length }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.integer({ min: 1, max: 5 }),
        async (truth, noise, slack, batchSize) => {
          const full = await runStudy(
            functionEvaluator((c) => [truth[indexOf.get(SPACE.key(c))!]!, paramsOf(c)]),
            batchSize,
          );
          const raced = await runStudy(racingEvaluator(tableObjective(truth, noise, slack), { fidelities: [0.25, 0.5, 1] }), batchSize);
          expect(raced.paretoFront().map((t) => t.key)).toEqual(full.paretoFront().map((t) => t.key));
          for (const t of raced.trials) {
            const racing = t.attrs?.['racing'] as { stopped?: unknown; stages: number };
            expect(t.fidelity).toBe(racing.stopped ? [0.25, 0.5][racing.stages - 1] : 1);
            // A stopped trial's estimate is recorded, and it never counts for the front.
            if (racing.stopped) expect(paretoFront([t], OBJECTIVES)).toEqual([]);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('runs each stage once per candidate, in order, and records fidelity and examples', async () => {
    const truth = configs.map((c) => 1 - paramsOf(c) / 30 + (SPACE.key(c).length % 3) * 0.01);
    const advances = new Map<string, number[]>();
    const study = await runStudy(racingEvaluator(tableObjective(truth, [], 0.05, advances), { fidelities: [0.25, 0.5, 1] }));
    const stopped = study.trials.filter((t) => (t.fidelity ?? 1) < 1);
    expect(stopped.length).toBeGreaterThan(0);
    for (const t of study.trials) {
      const stages = advances.get(t.key)!;
      expect(stages).toEqual([0.25, 0.5, 1].slice(0, stages.length));
      expect(t.attrs?.['examples']).toBe(Math.round((t.fidelity ?? 1) * 100));
    }
    // The journal records the fidelity of every trial.
    const journal = (await comparableJournal(study.file)).filter((r) => (r as { type: string }).type === 'trial') as { fidelity?: number }[];
    expect(journal.map((r) => r.fidelity)).toEqual(study.trials.map((t) => t.fidelity));
  });

  it('a study killed mid-race and resumed writes the journal of an uninterrupted one', async () => {
    const truth = configs.map((c, i) => ((i * 37) % 54) / 54);
    const make = (killAt: number) => {
      let calls = 0;
      const inner = tableObjective(truth, configs.map((_, i) => ((i % 5) - 2) / 20), 0.1);
      const staged: StagedObjective = async (config, ctx) => {
        const s = await inner(config, ctx);
        return {
          advance: (f) => {
            if (++calls === killAt) throw new FatalEvaluationError(`kill at stage ${killAt}`);
            return s.advance(f);
          },
        };
      };
      return racingEvaluator(staged, { fidelities: [0.25, 0.5, 1], concurrency: 2 });
    };
    const reference = path.join(dir, 'reference.jsonl');
    await (await Study.create(studyOptions(reference, make(-1), 3))).run();
    const expected = await comparableJournal(reference);
    for (const killAt of [2, 9, 40]) {
      const file = path.join(dir, `killed-${killAt}.jsonl`);
      await expect((await Study.create(studyOptions(file, make(killAt), 3))).run()).rejects.toThrow(/kill at stage/);
      await (await Study.resume(file, { ...studyOptions(file, make(-1), 3) })).run();
      expect(await comparableJournal(file)).toEqual(expected);
    }
  });

  it('a fidelity outside (0, 1] from an evaluator fails the trial with a clear message', async () => {
    const study = await runStudy({ evaluate: async (cs) => cs.map(() => ({ state: 'complete' as const, values: [0.5, 1], fidelity: 1.5 })) });
    expect(study.trials[0]).toMatchObject({ state: 'failed', message: expect.stringMatching(/fidelity 1.5/) });
  });

  it('a candidate proposed again is answered from the cache with the fidelity of its evaluation', async () => {
    const truth = configs.map((c) => 1 - paramsOf(c) / 30);
    const study = await Study.create({
      ...studyOptions(path.join(dir, 'repeat.jsonl'), racingEvaluator(tableObjective(truth, [], 0), { fidelities: [0.5, 1] })),
      strategy: {
        name: 'repeat',
        version: '1.0.0',
        description: 'proposes the min configuration, then one configuration twice',
        options: [],
        create: () => ({ ask: (_n, ctx) => [ctx.trials.length === 0 ? [0, 0, 0, 0] : [2, 2, 1, 1]], tell: () => undefined }),
      },
      budget: 3,
      maxIdleBatches: 1,
    });
    await study.run();
    const [first, second, third] = study.trials;
    expect(first?.fidelity).toBe(1);
    expect(second?.fidelity).toBe(0.5);
    expect(third).toMatchObject({ fidelity: 0.5, attrs: { cached: true, cachedFrom: second?.number } });
  });
});
