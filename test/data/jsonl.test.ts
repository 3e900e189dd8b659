import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { datasetFromRows, loadJsonlDataset, parseJsonl, writeJsonl, type DatasetFormat } from '../../src/data/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nls-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: string[]): string {
  const f = path.join(dir, name);
  writeFileSync(f, lines.join('\n'));
  return f;
}

const j = (x: unknown) => JSON.stringify(x);

describe('loadJsonlDataset: the four formats', () => {
  it('reads instruction rows (input optional; null or "" = none)', async () => {
    const f = file('inst.jsonl', [
      j({ instruction: 'Add', input: '2 3', output: '5' }),
      '',
      j({ instruction: 'Say hi', output: 'hi', id: 7 }),
      j({ instruction: 'Say bye', input: null, output: 'bye' }),
      j({ instruction: 'Echo', input: '', output: 'x' }),
    ]);
    const ds = await loadJsonlDataset(f);
    expect(ds.format).toBe('instruction');
    expect(ds.rows).toEqual([
      { instruction: 'Add', input: '2 3', output: '5' },
      { instruction: 'Say hi', output: 'hi' },
      { instruction: 'Say bye', output: 'bye' },
      { instruction: 'Echo', output: 'x' },
    ]);
    expect(ds.lines).toEqual([1, 3, 4, 5]);
    expect(ds.file).toBe(f);
  });

  it('reads multiple-choice rows with the answer as index, text or letter', async () => {
    const f = file('mc.jsonl', [
      j({ question: 'q1', choices: ['a', 'b', 'c'], answer: 2 }),
      j({ question: 'q2', choices: ['red', 'green'], answer: 'green' }),
      j({ question: 'q3', choices: ['x', 'y', 'z'], answer: 'B' }),
      j({ question: 'q4', choices: ['A', 'B'], answer: 'B' }), // text and letter agree
    ]);
    const ds = await loadJsonlDataset(f);
    expect(ds.format).toBe('multiple-choice');
    expect(ds.rows.map((r) => (r as { answer: number }).answer)).toEqual([2, 1, 1, 1]);
  });

  it('reads classification rows and records the sorted label set', async () => {
    const f = file('cls.jsonl', [j({ text: 'a', label: 'spam' }), j({ text: 'b', label: 'ham' }), j({ text: 'c', label: 'Zed' }), j({ text: 'd', label: 'ham' })]);
    const ds = await loadJsonlDataset(f);
    expect(ds.format).toBe('classification');
    if (ds.format !== 'classification') throw new Error('unreachable');
    expect(ds.labels).toEqual(['Zed', 'ham', 'spam']); // code-unit order, not locale order
  });

  it('reads plain text rows, CRLF line ends and a BOM', async () => {
    const f = path.join(dir, 'text.jsonl');
    writeFileSync(f, `\uFEFF${j({ text: 'one' })}\r\n\r\n${j({ text: 'two' })}\r\n`);
    const ds = await loadJsonlDataset(f);
    expect(ds.format).toBe('text');
    expect(ds.rows).toEqual([{ text: 'one' }, { text: 'two' }]);
    expect(ds.lines).toEqual([1, 3]);
  });

  it('honours an explicit format (other keys ignored) and maxRows', async () => {
    const f = file('explicit.jsonl', [j({ text: 'a', label: 'x' }), j({ text: 'b', label: 'y' }), '{broken']);
    const ds = await loadJsonlDataset(f, { format: 'text', maxRows: 2 });
    expect(ds.format).toBe('text');
    expect(ds.rows).toEqual([{ text: 'a' }, { text: 'b' }]);
  });

  it('validates in-memory rows the same way', () => {
    expect(datasetFromRows('classification', [{ text: 't', label: 'a' }]).format).toBe('classification');
    expect(() => datasetFromRows('classification', [{ text: 't', label: 'a' }, { text: 't', label: 3 }], 'demo')).toThrow(/demo:2: label/);
  });
});

describe('malformed rows name file:line, the field and a fix', () => {
  const cases: { name: string; lines: string[]; line: number; field: string; format?: DatasetFormat; message: RegExp }[] = [
    { name: 'bad JSON', lines: [j({ text: 'a' }), '', '{"text": "b",}'], line: 3, field: '(row)', message: /invalid JSON/ },
    { name: 'not an object', lines: ['[1, 2]'], line: 1, field: '(row)', message: /must be a JSON object/ },
    { name: 'unknown keys', lines: [j({ prompt: 'p', completion: 'c' })], line: 1, field: 'prompt, completion', message: /cannot tell the dataset format/ },
    { name: 'missing output', lines: [j({ instruction: 'i', output: 'o' }), j({ instruction: 'i' })], line: 2, field: 'output', message: /missing field "output"/ },
    { name: 'ill-typed instruction', lines: [j({ instruction: 3, output: 'o' })], line: 1, field: 'instruction', message: /must be a string, got number 3/ },
    { name: 'ill-typed input', lines: [j({ instruction: 'i', input: ['x'], output: 'o' })], line: 1, field: 'input', message: /must be a string/ },
    { name: 'empty output', lines: [j({ instruction: 'i', output: '  ' })], line: 1, field: 'output', message: /is empty/ },
    { name: 'empty choices', lines: [j({ question: 'q', choices: [], answer: 0 })], line: 1, field: 'choices', message: /no choices/ },
    { name: 'one choice', lines: [j({ question: 'q', choices: ['a'], answer: 0 })], line: 1, field: 'choices', message: /at least 2/ },
    { name: 'choices not a list', lines: [j({ question: 'q', choices: 'a,b', answer: 0 })], line: 1, field: 'choices', message: /list of strings/ },
    { name: 'non-string choice', lines: [j({ question: 'q', choices: ['a', 2], answer: 0 })], line: 1, field: 'choices[1]', message: /choice 1 must be a string/ },
    { name: 'answer index out of range', lines: [j({ question: 'q', choices: ['a', 'b'], answer: 2 })], line: 1, field: 'answer', message: /out of range/ },
    { name: 'negative answer', lines: [j({ question: 'q', choices: ['a', 'b'], answer: -1 })], line: 1, field: 'answer', message: /out of range/ },
    { name: 'answer letter out of range', lines: [j({ question: 'q', choices: ['a', 'b'], answer: 'C' })], line: 1, field: 'answer', message: /out of range/ },
    { name: 'answer unknown text', lines: [j({ question: 'q', choices: ['a', 'b'], answer: 'maybe' })], line: 1, field: 'answer', message: /neither a letter nor the text/ },
    { name: 'ambiguous answer', lines: [j({ question: 'q', choices: ['B', 'A'], answer: 'A' })], line: 1, field: 'answer', message: /ambiguous/ },
    { name: 'missing answer', lines: [j({ question: 'q', choices: ['a', 'b'] })], line: 1, field: 'answer', message: /missing field "answer"/ },
    { name: 'numeric label', lines: [j({ text: 't', label: 'a' }), j({ text: 't', label: 1 })], line: 2, field: 'label', message: /must be a string, got number 1/ },
    { name: 'missing label', lines: [j({ text: 't', label: 'a' }), j({ text: 'u' })], line: 2, field: 'label', message: /missing field "label"/ },
    { name: 'missing text', lines: [j({ text: 't', label: 'a' }), j({ label: 'a' })], line: 2, field: 'text', message: /missing field "text"/ },
    { name: 'mixed formats', lines: [j({ text: 'plain' }), j({ instruction: 'i', output: 'o' })], line: 2, field: 'instruction', message: /formats cannot be mixed/ },
    { name: 'mixed: label in a text file', lines: [j({ text: 'plain' }), j({ text: 't', label: 'x' })], line: 2, field: 'label', message: /looks like a classification row/ },
    { name: 'explicit format, missing field', lines: [j({ text: 'a' })], line: 1, field: 'label', format: 'classification', message: /missing field "label"/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const f = file(`bad-${c.name.replace(/\W+/g, '-')}.jsonl`, c.lines);
      const err = await loadJsonlDataset(f, c.format === undefined ? {} : { format: c.format }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NlsError);
      const e = err as NlsError;
      expect(e.file).toBe(`${f}:${c.line}`);
      expect(e.field).toBe(c.field);
      expect(e.message).toContain(`${f}:${c.line}: ${c.field}: `);
      expect(e.message).toMatch(c.message);
      expect(e.message).toMatch(/Fix: /);
    });
  }

  it('an empty file and a missing file are errors', async () => {
    await expect(loadJsonlDataset(file('empty.jsonl', ['', '  ']))).rejects.toThrow(/no rows/);
    await expect(loadJsonlDataset(path.join(dir, 'nope.jsonl'))).rejects.toThrow(/file not found/);
  });

  it('an unknown explicit format is an error', () => {
    expect(() => parseJsonl('{}', 'x', { format: 'chat' as DatasetFormat })).toThrow(/unknown dataset format/);
  });
});

describe('writeJsonl', () => {
  it('writes one row per line atomically and reads back', async () => {
    const f = path.join(dir, 'out', 'rows.jsonl');
    const rows = [
      { text: 'a\nb "q"', label: 'x', id: 'src/1' },
      { text: 'ünïcödé ✓', label: 'y', id: 'src/2' },
    ];
    await writeJsonl(f, rows);
    expect(readFileSync(f, 'utf8')).toBe(`${j(rows[0])}\n${j(rows[1])}\n`);
    expect(readdirSync(path.dirname(f))).toEqual(['rows.jsonl']); // no temp file left behind
    const ds = await loadJsonlDataset(f);
    expect(ds.format).toBe('classification');
    expect(ds.rows).toEqual(rows.map(({ text, label }) => ({ text, label })));
  });
});
