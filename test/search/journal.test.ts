import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalWriter, readJournal, type JournalRecord, type StudyHeaderRecord } from '../../src/search/journal.js';
import { tempDir } from './fixtures.js';

const dir = tempDir('nls-journal-');

const header: StudyHeaderRecord = {
  type: 'study',
  format: 'nls-study/1',
  created: '2025-01-01T00:00:00.000Z',
  nls: '0.1.0',
  strategy: { name: 's', version: '1.0.0', options: {} },
  objectives: [{ name: 'f', direction: 'minimize' }],
  constraints: [],
  seed: 1,
  space: { name: 'x', fingerprint: 'abc', genes: 1, cardinality: '2' },
  batchSize: 1,
  budget: null,
  cache: true,
  retryFailed: false,
  maxReplacementRounds: 3,
  maxIdleBatches: 10,
  costFilter: null,
  trainingStatistics: null,
};
const ask: JournalRecord = { type: 'ask', batch: 0, round: 0, n: 2, firstNumber: 0, remainingBudget: null, keys: ['0', '1'] };
const trial = (number: number): JournalRecord => ({ type: 'trial', batch: 0, round: 0, number, key: String(number), config: [number], state: 'complete', values: [number] });

describe('journal', () => {
  it('appends lines in call order, even when appends are not awaited one by one', async () => {
    const file = path.join(dir, 'order', 'trials.jsonl');
    const w = await JournalWriter.open(file);
    await Promise.all([w.append(header), w.append(ask), w.append(trial(1)), w.append(trial(0))]);
    await w.close();
    const j = await readJournal(file);
    expect(j.records.map((r) => r.type)).toEqual(['ask', 'trial', 'trial']);
    expect(j.trials.map((t) => t.number)).toEqual([0, 1]); // sorted by number
    expect(j.tornBytes).toBe(0);
  });

  it('ignores a torn last line and reports its size; truncation drops it', async () => {
    const file = path.join(dir, 'torn.jsonl');
    const good = [header, ask, trial(0)].map((r) => JSON.stringify(r)).join('\n') + '\n';
    writeFileSync(file, `${good}{"type":"tri`);
    const j = await readJournal(file);
    expect(j.trials).toHaveLength(1);
    expect(j.validBytes).toBe(Buffer.byteLength(good));
    expect(j.tornBytes).toBe(12);
    const w = await JournalWriter.open(file, { truncateTo: j.validBytes });
    await w.append(trial(1));
    await w.close();
    expect(readFileSync(file, 'utf8')).toBe(`${good}${JSON.stringify(trial(1))}\n`);
  });

  it('refuses corrupt journals with the line number', async () => {
    const cases: [string, RegExp][] = [
      [`${JSON.stringify(ask)}\n`, /first line is not a study header/],
      [`${JSON.stringify(header)}\n${JSON.stringify(header)}\n`, /line 2 is a second study header/],
      [`${JSON.stringify(header)}\n${JSON.stringify(trial(0))}\n${JSON.stringify(trial(0))}\n`, /trial 0 is recorded twice/],
      [`${JSON.stringify(header)}\n{"type":"bogus"}\n`, /line 2: unknown record type "bogus"/],
      [`${JSON.stringify({ ...header, format: 'nls-study/9' })}\n`, /format is "nls-study\/9"/],
      [`${JSON.stringify(header)}\n{"type":"trial","number":0}\n`, /line 2: trial record lacks/],
      ['', /no complete study header/],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const file = path.join(dir, `corrupt-${i}.jsonl`);
      writeFileSync(file, text);
      await expect(readJournal(file)).rejects.toThrow(message);
    }
    await expect(readJournal(path.join(dir, 'missing.jsonl'))).rejects.toThrow(/cannot read study journal \(ENOENT\)/);
  });
});
