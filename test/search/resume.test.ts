/**
 * Exact resume: a study killed at any moment and resumed writes the same trials, in the same order,
 * and ends with the same front as an uninterrupted run with the same seed.
 */
import { copyFileSync, readFileSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/space/index.js';
import type { StrategyFactory } from '../../src/search/contract.js';
import { FatalEvaluationError, functionEvaluator } from '../../src/search/evaluator.js';
import { Study, type StudyOptions } from '../../src/search/study.js';
import { comparableJournal } from '../../src/search/testing.js';
import { BUILTIN_STRATEGIES } from '../../src/search/strategies/index.js';
import { evolutionFactory, objectivesOf, randomFactory, SPACE, tempDir } from './fixtures.js';

const dir = tempDir('nls-resume-');

/** Settings of the study under test; the evaluator throws a fatal "kill" at evaluation `killAt`. */
function settings(journal: string, strategy: StrategyFactory, killAt = -1, extra: Partial<StudyOptions> = {}): StudyOptions & { calls: () => number } {
  let calls = 0;
  return {
    journal,
    space: SPACE,
    strategy,
    objectives: [
      { name: 'error', direction: 'minimize' },
      { name: 'size', direction: 'maximize' },
    ],
    constraints: [{ name: 'sum<=6' }],
    seed: 1234,
    batchSize: 4,
    budget: 18,
    fsync: false,
    costFilter: { name: 'sum', bound: 4, predict: (c: Config) => c.reduce((a, b) => a + b, 0) },
    maxReplacementRounds: 2,
    referencePoint: [2, 0],
    evaluator: functionEvaluator((config) => {
      calls++;
      if (calls === killAt) throw new FatalEvaluationError(`kill at evaluation ${killAt}`);
      // Some configurations fail deterministically.
      if (config[0] === 1 && config[3] === 2) throw new Error('simulated evaluation error');
      return objectivesOf(config);
    }),
    calls: () => calls,
    ...extra,
  };
}

async function uninterrupted(name: string, strategy: StrategyFactory, extra: Partial<StudyOptions> = {}): Promise<{ file: string; records: unknown[]; study: Study }> {
  const file = path.join(dir, `${name}.jsonl`);
  const study = await Study.create(settings(file, strategy, -1, extra));
  await study.run();
  return { file, records: await comparableJournal(file), study };
}

const frontKeys = (s: Study): string[] => s.paretoFront().map((t) => t.key);

describe.each([
  ['random with repeats', randomFactory],
  ['stateful evolution', evolutionFactory],
])('resume (%s)', (name, strategy) => {
  it('after a kill at every evaluation k reproduces the uninterrupted journal and front', async () => {
    const ref = await uninterrupted(`ref-${strategy.name}`, strategy);
    const evaluations = ref.study.evaluations;
    expect(evaluations).toBe(18);
    // The fixture must exercise every trial kind.
    const states = new Set(ref.study.trials.map((t) => (t.attrs?.['cached'] ? 'cached' : t.state)));
    expect(states).toContain('filtered');
    expect(states).toContain('failed');
    if (strategy === randomFactory) expect(states).toContain('cached');
    for (let k = 1; k <= evaluations; k++) {
      const file = path.join(dir, `${strategy.name}-kill-${k}.jsonl`);
      const first = await Study.create(settings(file, strategy, k));
      await expect(first.run()).rejects.toThrow(`kill at evaluation ${k}`);
      const resumed = await Study.resume(file, settings(file, strategy));
      const result = await resumed.run();
      expect(await comparableJournal(file), `${name}, killed at ${k}`).toEqual(ref.records);
      expect(frontKeys(resumed)).toEqual(frontKeys(ref.study));
      expect(result.evaluations).toBe(evaluations);
    }
  });

  it('after a crash at any byte of the journal (torn lines included) reproduces it', async () => {
    const ref = await uninterrupted(`bytes-${strategy.name}`, strategy);
    const full = readFileSync(ref.file);
    const lineEnds = [...full.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1);
    // Every line boundary, and a cut in the middle of every line.
    const cuts = [0, ...lineEnds, ...lineEnds.map((e, i) => Math.floor(((lineEnds[i - 1] ?? 0) + e) / 2))];
    for (const cut of cuts) {
      const file = path.join(dir, `${strategy.name}-cut-${cut}.jsonl`);
      copyFileSync(ref.file, file);
      truncateSync(file, cut);
      const s = settings(file, strategy);
      const study = await Study.create({ ...s, resume: true });
      await study.run();
      expect(await comparableJournal(file), `${name}, cut at byte ${cut}`).toEqual(ref.records);
      // Evaluations are spent only on trials that were not journaled.
      const journaled = full.subarray(0, cut).toString('utf8').split('\n').slice(0, -1).filter((l) => {
        const r = JSON.parse(l) as { type: string; state?: string; attrs?: { cached?: boolean } };
        return r.type === 'trial' && r.state !== 'filtered' && !r.attrs?.cached;
      }).length;
      expect(s.calls()).toBe(18 - journaled);
    }
  });
});

describe('resume details', () => {
  it('cuts a torn last line before appending', async () => {
    const ref = await uninterrupted('torn-ref', evolutionFactory);
    const file = path.join(dir, 'torn.jsonl');
    const text = readFileSync(ref.file, 'utf8').split('\n');
    writeFileSync(file, `${text.slice(0, 6).join('\n')}\n`);
    appendFileSync(file, '{"type":"trial","batch":0,"rou'); // torn by a crash
    const study = await Study.resume(file, settings(file, evolutionFactory));
    await study.run();
    expect(await comparableJournal(file)).toEqual(ref.records);
  });

  it('a resumed finished study changes nothing', async () => {
    const ref = await uninterrupted('finished', evolutionFactory);
    const before = readFileSync(ref.file, 'utf8');
    const s = settings(ref.file, evolutionFactory);
    const again = await Study.resume(ref.file, s);
    expect(again.trials).toHaveLength(ref.study.trials.length);
    await again.run();
    expect(s.calls()).toBe(0);
    const after = readFileSync(ref.file, 'utf8');
    expect(after.startsWith(before)).toBe(true);
    expect(after.slice(before.length).trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['resume']);
  });

  it('a larger budget on resume extends a finished study exactly like a longer run would continue', async () => {
    const file = path.join(dir, 'extend.jsonl');
    const first = await Study.create(settings(file, evolutionFactory, -1, { budget: 10 }));
    expect((await first.run()).reason).toBe('budget');
    const more = await Study.resume(file, settings(file, evolutionFactory, -1, { budget: 18 }));
    const r = await more.run();
    expect(r.evaluations).toBe(18);
    // Resuming again replays both budget segments without complaint.
    const again = await Study.resume(file, settings(file, evolutionFactory));
    await again.run();
    expect(again.evaluations).toBe(18);
  });

  it('takes omitted settings from the journal header', async () => {
    const ref = await uninterrupted('omitted', evolutionFactory);
    const file = path.join(dir, 'omitted-kill.jsonl');
    await Study.create(settings(file, evolutionFactory, 7)).then((s) => s.run()).catch(() => undefined);
    const full = settings(file, evolutionFactory);
    // Only what cannot be journaled: space, evaluator, strategy factory (not registered), cost filter.
    const resumed = await Study.resume(file, { space: SPACE, evaluator: full.evaluator, strategy: evolutionFactory, costFilter: full.costFilter, fsync: false });
    await resumed.run();
    expect(await comparableJournal(file)).toEqual(ref.records);
  });

  it('with concurrent evaluation, a kill mid-batch still resumes to the same trials', async () => {
    const conc = (journal: string, killAt: number) => {
      const s = settings(journal, evolutionFactory, killAt);
      let calls = 0;
      return {
        ...s,
        evaluator: functionEvaluator(
          async (config: Config) => {
            calls++;
            if (calls === killAt) throw new FatalEvaluationError('kill');
            await new Promise((r) => setTimeout(r, (config[1] ?? 0) * 2));
            return objectivesOf(config);
          },
          { concurrency: 3 },
        ),
      };
    };
    const refFile = path.join(dir, 'conc-ref.jsonl');
    const ref = await Study.create(conc(refFile, -1));
    await ref.run();
    const byNumber = (s: Study) => s.trials.map(({ time: _t, ...rest }) => rest);
    for (const k of [2, 5, 9]) {
      const file = path.join(dir, `conc-${k}.jsonl`);
      await (await Study.create(conc(file, k))).run().catch(() => undefined);
      const resumed = await Study.resume(file, conc(file, -1));
      await resumed.run();
      expect(byNumber(resumed)).toEqual(byNumber(ref));
      expect(frontKeys(resumed)).toEqual(frontKeys(ref));
    }
  });

  it('resumes the built-in strategies exactly', async () => {
    const ran: string[] = [];
    for (const factory of BUILTIN_STRATEGIES) {
      let ref: Awaited<ReturnType<typeof uninterrupted>>;
      try {
        ref = await uninterrupted(`builtin-${factory.name}`, factory);
      } catch {
        continue; // a strategy that cannot run with these settings (e.g. needs training statistics)
      }
      ran.push(factory.name);
      const evals = ref.study.evaluations;
      for (const k of new Set([1, Math.ceil(evals / 2), evals])) {
        if (k < 1) continue;
        const file = path.join(dir, `builtin-${factory.name}-${k}.jsonl`);
        await (await Study.create(settings(file, factory, k))).run().catch(() => undefined);
        const resumed = await Study.resume(file, settings(file, factory));
        await resumed.run();
        expect(await comparableJournal(file), `${factory.name} killed at ${k}`).toEqual(ref.records);
      }
    }
    expect(ran.length).toBeGreaterThanOrEqual(Math.min(3, BUILTIN_STRATEGIES.length));
  });
});
