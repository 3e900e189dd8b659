import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import type { Config } from '../../src/space/index.js';
import type { SearchStrategy, StrategyContext, StrategyFactory, TrialResult } from '../../src/search/contract.js';
import { functionEvaluator, type Evaluator } from '../../src/search/evaluator.js';
import { hypervolume } from '../../src/search/hypervolume.js';
import { readJournal, type AskRecord, type StudyHeaderRecord, type TrialRecord } from '../../src/search/journal.js';
import { paretoFrontIndices } from '../../src/search/pareto.js';
import { readFile } from 'node:fs/promises';
import { writeParetoJson, type ParetoFile } from '../../src/search/results.js';
import { Study, type StudyOptions } from '../../src/search/study.js';
import type { StudyProgress } from '../../src/search/study-progress.js';
import { smallSpace } from '../../src/search/testing.js';
import { evolutionFactory, mathRandomFactory, objectivesOf, outsideFactory, randomFactory, SPACE, tempDir, TINY } from './fixtures.js';

const dir = tempDir('nls-study-');
let counter = 0;
const fresh = (name: string): string => path.join(dir, `${name}-${counter++}`, 'trials.jsonl');

const twoObjectives = [
  { name: 'error', direction: 'minimize' as const },
  { name: 'size', direction: 'maximize' as const },
];

function base(journal: string, extra: Partial<StudyOptions> = {}): StudyOptions {
  return {
    journal,
    space: SPACE,
    strategy: evolutionFactory,
    objectives: twoObjectives,
    constraints: [{ name: 'sum<=6' }],
    seed: 5,
    batchSize: 3,
    budget: 12,
    fsync: false,
    evaluator: functionEvaluator((c) => objectivesOf(c)),
    ...extra,
  };
}

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('Study: loop and journal', () => {
  it('journals a header, each ask before its trials, every trial and an end record', async () => {
    const file = fresh('basic');
    const study = await Study.create(base(file, { strategyOptions: { population: 3 } }));
    const result = await study.run();
    expect(result.reason).toBe('budget');
    expect(result.evaluations).toBe(12);
    const recs = lines(file);
    const header = recs[0] as unknown as StudyHeaderRecord;
    expect(header).toMatchObject({
      type: 'study',
      format: 'nls-study/1',
      strategy: { name: 'test-evolution', version: '1.0.0', options: { population: 3 }, source: { kind: 'api' } },
      objectives: twoObjectives,
      constraints: [{ name: 'sum<=6' }],
      seed: 5,
      space: { name: 'fixture', fingerprint: SPACE.fingerprint, genes: 4, cardinality: '54' },
      batchSize: 3,
      budget: 12,
      cache: true,
      retryFailed: false,
      maxReplacementRounds: 3,
      maxIdleBatches: 10,
      costFilter: null,
      trainingStatistics: null,
    });
    expect(recs.at(-1)).toMatchObject({ type: 'end', reason: 'budget', trials: 12, evaluations: 12 });
    // Each ask precedes its trials; trial numbers follow the ask's firstNumber.
    let current: AskRecord | undefined;
    for (const r of recs.slice(1, -1)) {
      if (r['type'] === 'ask') current = r as unknown as AskRecord;
      else {
        const t = r as unknown as TrialRecord;
        expect(current).toBeDefined();
        expect(t.number - current!.firstNumber).toBeGreaterThanOrEqual(0);
        expect(current!.keys[t.number - current!.firstNumber]).toBe(t.key);
        expect(t.batch).toBe(current!.batch);
        expect(SPACE.key(t.config)).toBe(t.key);
        expect(t.values).toEqual(objectivesOf(t.config).values);
        expect(t.time?.seconds).toBeGreaterThanOrEqual(0);
      }
    }
    expect(study.trials.map((t) => t.number)).toEqual([...Array(12).keys()]);
  });

  it('answers repeats from the cache without spending budget and stops after idle batches', async () => {
    const file = fresh('cache');
    const study = await Study.create(base(file, { space: TINY, strategy: randomFactory, budget: 50, maxIdleBatches: 4, batchSize: 2 }));
    const r = await study.run();
    expect(r.reason).toBe('idle');
    expect(r.evaluations).toBe(2); // TINY has two configurations
    const cached = study.trials.filter((t) => t.attrs?.['cached'] === true);
    expect(cached.length).toBe(study.trials.length - 2);
    for (const t of cached) {
      const src = study.trials[t.attrs?.['cachedFrom'] as number]!;
      expect(src.key).toBe(t.key);
      expect(t.values).toEqual(src.values);
    }
    // The front counts each configuration once.
    expect(new Set(study.paretoFront().map((t) => t.key)).size).toBe(study.paretoFront().length);
  });

  it('with cache: false evaluates repeats again (and spends budget)', async () => {
    const file = fresh('nocache');
    const r = await (await Study.create(base(file, { space: TINY, strategy: randomFactory, budget: 6, cache: false }))).run();
    expect(r.evaluations).toBe(6);
    expect(r.trials.filter((t) => t.attrs?.['cached'])).toHaveLength(0);
  });

  it('stops when the strategy has nothing new to propose', async () => {
    const file = fresh('exhausted');
    const r = await (await Study.create(base(file, { space: TINY, budget: 100 }))).run();
    expect(r.reason).toBe('exhausted');
    expect(r.evaluations).toBe(2);
  });

  it('asks for replacements of filtered configurations a bounded number of times', async () => {
    const file = fresh('filter');
    const study = await Study.create(
      base(file, {
        strategy: randomFactory,
        budget: 100,
        maxReplacementRounds: 2,
        maxIdleBatches: 3,
        costFilter: { name: 'params', bound: -1, predict: () => 0 }, // everything is filtered
      }),
    );
    const r = await study.run();
    expect(r.reason).toBe('idle');
    expect(r.evaluations).toBe(0);
    const asks = lines(file).filter((x) => x['type'] === 'ask') as unknown as AskRecord[];
    expect(asks.map((a) => [a.batch, a.round, a.n])).toEqual([
      [0, 0, 3],
      [0, 1, 3],
      [0, 2, 3],
      [1, 0, 3],
      [1, 1, 3],
      [1, 2, 3],
      [2, 0, 3],
      [2, 1, 3],
      [2, 2, 3],
    ]);
    expect(study.trials.every((t) => t.state === 'filtered' && t.message === 'predicted params 0 exceeds the bound -1')).toBe(true);
    expect(lines(file)[0]).toMatchObject({ costFilter: { name: 'params', bound: -1 } });
  });

  it('replaces only the filtered configurations, within the budget', async () => {
    const file = fresh('replace');
    const sum = (c: Config) => c.reduce((a, b) => a + b, 0);
    const study = await Study.create(base(file, { strategy: randomFactory, batchSize: 4, budget: 20, costFilter: { bound: 3, predict: sum } }));
    const r = await study.run();
    expect(r.evaluations).toBe(20);
    const asks = lines(file).filter((x) => x['type'] === 'ask') as unknown as AskRecord[];
    for (const a of asks.filter((x) => x.round > 0)) {
      const prev = asks.find((x) => x.batch === a.batch && x.round === a.round - 1)!;
      const filteredBefore = study.trials.filter((t) => t.batch === prev.batch && t.round === prev.round && t.state === 'filtered').length;
      expect(a.n).toBeLessThanOrEqual(filteredBefore);
    }
    expect(study.trials.filter((t) => t.state === 'complete').every((t) => sum(t.config) <= 3)).toBe(true);
  });

  it('records failed evaluations with their message and goes on', async () => {
    const file = fresh('fail');
    const evaluator = functionEvaluator((c) => {
      if (c[0] === 0) throw new Error('out of memory at layer 0');
      return objectivesOf(c);
    });
    const study = await Study.create(base(file, { evaluator, strategy: randomFactory }));
    const r = await study.run();
    expect(r.evaluations).toBe(12);
    const failed = study.trials.filter((t) => t.state === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const t of failed) expect(t.message).toBe('out of memory at layer 0');
  });

  it('records invalid outcomes as failed trials naming the problem', async () => {
    const file = fresh('invalid');
    const outcomes = [[1], [NaN, 2], { values: [1, 2], constraints: [1, 2] }, { values: [1, 2], constraints: [Infinity] }];
    let i = 0;
    const evaluator = functionEvaluator(() => outcomes[i++ % outcomes.length] as never);
    const study = await Study.create(base(file, { evaluator, batchSize: 4, budget: 4 }));
    await study.run();
    expect(study.trials.map((t) => t.message)).toEqual([
      'evaluator returned 1 objective values for 2 objectives (error, size)',
      'objective "error" is NaN, not a finite number',
      'evaluator returned 2 constraint values for 1 constraints (sum<=6)',
      'constraint "sum<=6" is Infinity, not a finite number',
    ]);
  });

  it('refuses an evaluator that returns the wrong number of outcomes', async () => {
    const file = fresh('count');
    const evaluator: Evaluator = { evaluate: async () => [] };
    await expect((await Study.create(base(file, { evaluator }))).run()).rejects.toThrow(/returned 0 outcomes for 3 configurations/);
  });

  it('refuses proposals outside the space or more than asked for', async () => {
    await expect((await Study.create(base(fresh('outside'), { strategy: outsideFactory }))).run()).rejects.toThrow(/not a configuration of search space "fixture".*gene 0/);
    const greedy: StrategyFactory = { ...randomFactory, name: 'greedy', create: () => ({ ask: (n, ctx) => Array.from({ length: n + 1 }, () => ctx.space.sample(ctx.rng)), tell: () => undefined }) };
    await expect((await Study.create(base(fresh('greedy'), { strategy: greedy }))).run()).rejects.toThrow(/returned 4 configurations, more than asked for/);
  });

  it('gives the strategy one result per proposal, in order, and a consistent context', async () => {
    const file = fresh('ctx');
    const seen: { n: number; remaining: number; trials: number; results: number[] }[] = [];
    let lastAsk: Config[] = [];
    const spy: StrategyFactory = {
      ...randomFactory,
      name: 'spy',
      create(): SearchStrategy {
        return {
          ask(n: number, ctx: StrategyContext) {
            expect(Object.isFrozen(ctx.trials)).toBe(true);
            lastAsk = Array.from({ length: n }, () => ctx.space.sample(ctx.rng));
            seen.push({ n, remaining: ctx.remainingBudget, trials: ctx.trials.length, results: [] });
            return lastAsk;
          },
          tell(results: readonly TrialResult[], ctx: StrategyContext) {
            expect(results.map((r) => r.config)).toEqual(lastAsk);
            expect(ctx.trials.slice(-results.length)).toEqual(results);
            expect(Object.isFrozen(results[0])).toBe(true);
            seen.at(-1)!.results = results.map((r) => r.number);
          },
        };
      },
    };
    await (await Study.create(base(file, { strategy: spy, cache: false, budget: 7 }))).run();
    expect(seen.map((s) => [s.n, s.remaining, s.trials])).toEqual([
      [3, 7, 0],
      [3, 4, 3],
      [1, 1, 6],
    ]);
    expect(seen.map((s) => s.results)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });

  it('stops before the next round when the signal is aborted, and resumes from there', async () => {
    const ref = await Study.create(base(fresh('sig-ref'), { budget: 15 }));
    await ref.run();
    const file = fresh('sig');
    const controller = new AbortController();
    let n = 0;
    const evaluator = functionEvaluator((c) => {
      if (++n === 5) controller.abort();
      return objectivesOf(c);
    });
    const first = await Study.create(base(file, { budget: 15, evaluator, signal: controller.signal }));
    const r = await first.run();
    expect(r.reason).toBe('stopped');
    expect(r.evaluations).toBe(6); // the batch in progress finishes
    const resumed = await Study.resume(file, base(file, { budget: 15 }));
    await resumed.run();
    const strip = (s: Study) => s.trials.map(({ time: _t, ...rest }) => rest);
    expect(strip(resumed)).toEqual(strip(ref));
  });

  it('applies a per-evaluation timeout', async () => {
    const file = fresh('timeout');
    const evaluator = functionEvaluator(async (c) => {
      if (c[0] === 2) await new Promise((r) => setTimeout(r, 300));
      return objectivesOf(c);
    });
    const study = await Study.create(base(file, { evaluator, strategy: randomFactory, budget: 6, timeout: { seconds: 0.05, concurrency: 3 } }));
    await study.run();
    const slow = study.trials.filter((t) => t.config[0] === 2 && !t.attrs?.['cached']);
    for (const t of slow) expect(t).toMatchObject({ state: 'failed', attrs: { timedOut: true } });
  });
});

describe('Study: creating and resuming', () => {
  it('refuses to start over an existing journal without resume', async () => {
    const file = fresh('exists');
    await (await Study.create(base(file))).run();
    await expect(Study.create(base(file))).rejects.toThrow(/already holds a study.*resume: true/);
    const resumed = await Study.create(base(file, { resume: true }));
    expect(resumed.trials).toHaveLength(12);
  });

  it('refuses to resume with other settings and lists every difference', async () => {
    const file = fresh('mismatch');
    await (await Study.create(base(file, { strategyOptions: { population: 3 } }))).run();
    const other = smallSpace([3, 3, 2, 2]);
    const err = await Study.resume(file, base(file, { seed: 6, space: other, batchSize: 4, objectives: [twoObjectives[0]!], strategyOptions: { population: 5 }, constraints: [] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    const msg = (err as Error).message;
    for (const what of ['seed: journal has 5, given 6', 'search space fingerprint', 'batchSize: journal has 3, given 4', 'objectives:', 'constraints:', 'strategy options: journal has {"population":3}, given {"population":5}']) {
      expect(msg).toContain(what);
    }
    expect(msg).toContain(file);
  });

  it('refuses another strategy version or a missing cost filter', async () => {
    const file = fresh('version');
    await (await Study.create(base(file, { costFilter: { bound: 100, predict: () => 0 } }))).run();
    await expect(Study.resume(file, base(file, { strategy: { ...evolutionFactory, version: '2.0.0' }, costFilter: { bound: 100, predict: () => 0 } }))).rejects.toThrow(
      /strategy version: journal has "1.0.0", given "2.0.0"/,
    );
    await expect(Study.resume(file, base(file))).rejects.toThrow(/costFilter: the journal has a cost filter \(cost <= 100\) but none was given/);
  });

  it('known objectives and constraints: journaled by name, handed to strategies by index, checked against evaluations, required on resume', async () => {
    const file = fresh('known');
    const sum = (c: Config) => c.reduce((a, b) => a + b, 0);
    const seen: (StrategyContext['known'] | undefined)[] = [];
    const spy: StrategyFactory = {
      ...evolutionFactory,
      create(options) {
        const inner = evolutionFactory.create(options);
        return { ask: (n, ctx) => (seen.push(ctx.known), inner.ask(n, ctx)), tell: (r, ctx) => inner.tell(r, ctx) };
      },
    };
    const known = { constraints: { 'sum<=6': (c: Config) => sum(c) - 6 } };
    await (await Study.create(base(file, { strategy: spy, known }))).run();
    expect(lines(file)[0]).toMatchObject({ known: { objectives: [], constraints: ['sum<=6'] } });
    const k = seen[0]!;
    expect(k.objectives).toEqual([undefined, undefined]);
    expect(k.constraints[0]!([3, 3, 2, 3])).toBe(5);
    await expect(Study.resume(file, base(file, { strategy: spy }))).rejects.toThrow(/known objectives and constraints: journal has sum<=6, given none/);
    await expect(Study.resume(file, base(file, { strategy: spy, known }))).resolves.toBeInstanceOf(Study);
    // A name the study does not have, or something that is not a function, is refused up front.
    await expect(Study.create(base(fresh('known-bad'), { known: { objectives: { err: () => 0 } } }))).rejects.toThrow(/known.objectives names "err", which is not one of the study's objectives \(error, size\)/);
    await expect(Study.create(base(fresh('known-bad'), { known: { objectives: { error: 3 as unknown as () => number } } }))).rejects.toThrow(/known.objectives.error must be a function/);
    // A known function that disagrees with the evaluator fails the trials it disagrees on, saying why.
    const wrong = await (await Study.create(base(fresh('known-wrong'), { known: { objectives: { size: (c: Config) => 10 - sum(c) + 100 } } }))).run();
    const failed = wrong.trials.filter((t) => t.state === 'failed');
    expect(failed.length).toBe(wrong.trials.length);
    expect(failed[0]!.message).toMatch(/objective "size" is .* from the evaluator but .* from known.objectives\["size"\]; fix:/);
  });

  it('refuses to resume a strategy that is not deterministic', async () => {
    const file = fresh('nondet');
    await (await Study.create(base(file, { strategy: mathRandomFactory }))).run();
    await expect((await Study.resume(file, base(file, { strategy: mathRandomFactory }))).run()).rejects.toThrow(/is not deterministic: at batch 0 round 0/);
  });

  it('reports a corrupt line (not the last) with its line number', async () => {
    const file = fresh('corrupt');
    await (await Study.create(base(file))).run();
    const text = readFileSync(file, 'utf8').split('\n');
    text[3] = '{"type":"trial", oops';
    writeFileSync(file, text.join('\n'));
    await expect(readJournal(file)).rejects.toThrow(/line 4 is not valid JSON/);
    await expect(Study.resume(file, base(file))).rejects.toThrow(NlsError);
  });

  it('validates options of a new study', async () => {
    await expect(Study.create(base(fresh('v'), { objectives: [] }))).rejects.toThrow(/at least one objective/);
    await expect(Study.create(base(fresh('v'), { objectives: [{ name: 'a', direction: 'up' as never }] }))).rejects.toThrow(/direction "up"/);
    await expect(Study.create(base(fresh('v'), { batchSize: 0 }))).rejects.toThrow(/batchSize must be an integer >= 1/);
    await expect(Study.create(base(fresh('v'), { strategyOptions: { populaton: 3 } }))).rejects.toThrow(/no option "populaton".*did you mean "population"/);
    await expect(Study.create(base(fresh('v'), { referencePoint: [1] }))).rejects.toThrow(/reference point must be 2 finite numbers/);
    await expect(Study.create(base(fresh('v'), { strategy: 'no-such-strategy' }))).rejects.toThrow(/unknown search strategy "no-such-strategy"/);
  });
});

describe('Study: results and progress', () => {
  it('reports progress to a Progress-like object and a callback', async () => {
    const file = fresh('progress');
    const calls: string[] = [];
    const snapshots: StudyProgress[] = [];
    const study = await Study.create(
      base(file, {
        referencePoint: [2, 0],
        progress: { start: (task, total) => calls.push(`start ${task} ${total}`), step: (s, m) => calls.push(`step ${s} ${m?.['trials']}`) },
        onProgress: (p) => snapshots.push(p),
      }),
    );
    await study.run();
    expect(calls[0]).toBe('start search 12');
    expect(calls.at(-1)).toBe('step 12 12');
    const last = snapshots.at(-1)!;
    expect(last).toMatchObject({ trials: 12, evaluations: 12, budget: 12, complete: 12 });
    expect(last.hypervolume).toBeCloseTo(study.hypervolume(), 12);
    // best-so-far per objective over feasible trials
    const feasible = study.trials.filter((t) => (t.constraints?.[0] ?? 0) <= 0);
    expect(last.best['error']).toBe(Math.min(...feasible.map((t) => t.values![0]!)));
    expect(last.best['size']).toBe(Math.max(...feasible.map((t) => t.values![1]!)));
    expect(last.etaSeconds).toBe(0);
    expect(last.frontSize).toBe(study.paretoFront().length);
  });

  it('computes the Pareto front of feasible trials, the hypervolume and pareto.json', async () => {
    const file = fresh('results');
    const study = await Study.create(base(file, { strategy: randomFactory, budget: 30 }));
    await study.run();
    const usable = study.trials.filter((t) => t.state === 'complete' && !t.attrs?.['cached']);
    const unique = usable.filter((t, i) => usable.findIndex((u) => u.key === t.key) === i);
    const feasible = unique.filter((t) => t.constraints![0]! <= 0);
    const expected = paretoFrontIndices(feasible.map((t) => t.values!), twoObjectives).map((i) => feasible[i]!.number);
    expect(study.paretoFront().map((t) => t.number)).toEqual(expected.sort((a, b) => a - b));
    expect(study.paretoFront().every((t) => t.constraints![0]! <= 0)).toBe(true);
    const hv = hypervolume(study.paretoFront().map((t) => t.values!), [2, 0], twoObjectives);
    expect(study.hypervolume([2, 0])).toBe(hv);

    const out = path.join(path.dirname(file), 'pareto.json');
    await writeParetoJson(out, study, { referencePoint: [2, 0] });
    const json = JSON.parse(await readFile(out, 'utf8')) as ParetoFile;
    expect(json.format).toBe('nls-pareto/1');
    expect(json.hypervolume).toBe(hv);
    expect(json.referencePoint).toEqual([2, 0]);
    expect(json.study).toMatchObject({ journal: file, seed: 5, strategy: { name: 'test-random' } });
    expect(json.front.map((m) => m.number).sort((a, b) => a - b)).toEqual(expected);
    // best first by the first objective (error, minimized)
    const errors = json.front.map((m) => m.values[0]!);
    expect(errors).toEqual([...errors].sort((a, b) => a - b));
    for (const m of json.front) expect(m.ranks).toEqual(SPACE.decode(m.config));
    expect(json.counts.trials).toBe(study.trials.length);
    expect(json.counts.evaluations).toBe(30);
    await writeParetoJson(out, study);
    expect((JSON.parse(await readFile(out, 'utf8')) as ParetoFile).hypervolume).toBeNull();
  });

  it('finds the best feasible trial of a single-objective study', async () => {
    const file = fresh('best');
    const study = await Study.create(base(file, { objectives: [{ name: 'error', direction: 'minimize' }], evaluator: functionEvaluator((c) => ({ values: [objectivesOf(c).values[0]!], constraints: objectivesOf(c).constraints })) }));
    await study.run();
    const best = study.bestTrial()!;
    const feasible = study.trials.filter((t) => t.state === 'complete' && t.constraints![0]! <= 0);
    expect(best.values![0]).toBe(Math.min(...feasible.map((t) => t.values![0]!)));
    const multi = await Study.create(base(fresh('best-multi')));
    expect(() => multi.bestTrial()).toThrow(/single-objective/);
  });
});
