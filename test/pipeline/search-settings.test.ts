import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConstraint, SEARCH_DEFAULTS, searchSettings } from '../../src/pipeline/search.js';
import { Progress } from '../../src/util/progress.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-search-settings-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** A study header as nls search writes it, with `fields` changed. */
function header(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'study',
    format: 'nls-study/1',
    created: '2026-01-01T00:00:00.000Z',
    nls: '0.1.0',
    strategy: { name: 'random', version: '1.0.0', options: { unique: true }, source: { kind: 'builtin' } },
    objectives: [
      { name: 'accuracy', direction: 'maximize' },
      { name: 'params', direction: 'minimize' },
    ],
    constraints: [{ name: 'params<=1800' }],
    seed: 3,
    space: { name: 'toy', fingerprint: 'f', genes: 4, cardinality: '16' },
    batchSize: 2,
    budget: 4,
    cache: true,
    retryFailed: false,
    maxReplacementRounds: 3,
    maxIdleBatches: 10,
    costFilter: null,
    trainingStatistics: null,
    evaluator: { validationSize: 8, fidelities: [0.5, 1], racingConfidence: 0.9 },
    ...fields,
  };
}

async function folderWith(name: string, lines: readonly unknown[]): Promise<string> {
  const dir = path.join(root, name);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'trials.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  return dir;
}

const quiet = new Progress({ quiet: true });

describe('searchSettings (runSearch on resume)', () => {
  it('a resume takes every study setting from the journal, and the budget of its last resume', async () => {
    const out = await folderWith('inherit', [header(), { type: 'resume', time: 't', asks: 1, budget: 7 }]);
    const s = await searchSettings({ supernet: 's', out, resume: true }, quiet);
    expect(s).toEqual({
      strategy: 'random',
      strategyOptions: { unique: true },
      budget: 7,
      objectives: ['accuracy', 'params'],
      constraints: [parseConstraint('params<=1800')],
      seed: 3,
      batchSize: 2,
      validationSize: 8,
      fidelities: [0.5, 1],
      racingConfidence: 0.9,
      resumed: true,
    });
    // A larger budget extends the study; that is no contradiction.
    expect((await searchSettings({ supernet: 's', out, resume: true, budget: 20 }, quiet)).budget).toBe(20);
  });

  it('lists every given option that contradicts the journal, by its flag', async () => {
    const out = await folderWith('contradict', [header()]);
    const attempt = searchSettings(
      {
        supernet: 's',
        out,
        resume: true,
        strategy: 'nsga2',
        strategyOptions: { unique: false },
        objectives: ['accuracy'],
        constraints: [],
        seed: 0,
        batchSize: 1,
        validationSize: 4,
        fidelities: [1],
        racingConfidence: 0.95,
      },
      quiet,
    );
    const message = await attempt.then(
      () => '',
      (err: Error) => err.message,
    );
    for (const line of [
      '--strategy: the study has "random", given "nsga2"',
      '--strategy-option unique: the study has true, given false',
      '--objectives: the study has "accuracy,params", given "accuracy"',
      '--constraint: the study has params<=1800, given none',
      '--seed: the study has 3, given 0',
      '--batch-size: the study has 2, given 1',
      '--validation-size: the study has 8, given 4',
      '--fidelities: the study has "0.5,1", given "1"',
      '--racing-confidence: the study has 0.9, given 0.95',
    ]) {
      expect(message).toContain(line);
    }
    expect(message).toMatch(/trials\.jsonl: cannot resume: options differ from the study journaled here:\n {2}- /);
    // Options equal to the journal's pass.
    await expect(searchSettings({ supernet: 's', out, resume: true, strategy: 'random', seed: 3, constraints: [parseConstraint('params <= 1800')], strategyOptions: { unique: 'true' } }, quiet)).resolves.toMatchObject({
      strategy: 'random',
    });
  });

  it('a journal from before evaluator settings were recorded keeps the options given for them', async () => {
    const { evaluator: _dropped, ...old } = header();
    const out = await folderWith('old', [old]);
    const s = await searchSettings({ supernet: 's', out, resume: true, validationSize: 5 }, quiet);
    expect(s.validationSize).toBe(5);
    expect(s.fidelities).toBeUndefined();
  });

  it('nothing to resume (no journal, or only a torn first line): a new study, with a note', async () => {
    const lines: string[] = [];
    const progress = new Progress({ stream: { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream });
    const none = path.join(root, 'none');
    const s = await searchSettings({ supernet: 's', out: none, resume: true, strategy: 'random' }, progress);
    expect(s).toMatchObject({ strategy: 'random', budget: SEARCH_DEFAULTS.budget, objectives: SEARCH_DEFAULTS.objectives, constraints: [], seed: 0, resumed: false });
    expect(lines.join('')).toMatch(/nothing to resume in .*none: no study is journaled there yet \(no trials\.jsonl\); starting the study/);
    const torn = path.join(root, 'torn');
    await fsp.mkdir(torn, { recursive: true });
    await fsp.writeFile(path.join(torn, 'trials.jsonl'), '{"type":"study"');
    expect((await searchSettings({ supernet: 's', out: torn, resume: true }, progress)).resumed).toBe(false);
    expect(lines.join('')).toMatch(/trials\.jsonl holds no complete record\); starting the study/);
  });

  it('refuses a journal whose objectives or constraints are not nls search metrics', async () => {
    const out = await folderWith('foreign', [header({ objectives: [{ name: 'error', direction: 'minimize' }] })]);
    await expect(searchSettings({ supernet: 's', out, resume: true }, quiet)).rejects.toThrow(/objective .*"error".* is not one of nls search's metrics: this journal was not written by nls search/);
  });
});
