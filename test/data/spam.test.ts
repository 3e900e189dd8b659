import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EMPTY_EMAIL_TEXT,
  cleanEmail,
  demoSpamTask,
  encodeExample,
  loadJsonlDataset,
  spamAssassin,
  spamAssassinSources,
  toPromptExamples,
  writeJsonl,
  type DemoSpamTask,
} from '../../src/data/index.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';

/** Header lines every raw message starts with (case-sensitive: a body may shout "FROM: MR JOE"). */
const HEADER_LINE = /^(Received|Return-Path|Delivered-To|Message-I[Dd]|X-[A-Za-z-]+|MIME-Version|Content-Transfer-Encoding):/m;
const HTML_TAG = /<\/?(html|head|body|div|p|br|table|tr|td|font|a|b|i|span|img|meta|style|script|center|strong)\b[^>]*>/i;

describe('cleanEmail', () => {
  it('keeps the subject, drops other headers, decodes MIME and strips HTML', () => {
    const raw = [
      'From someone@example.com  Thu Aug 22 13:17:22 2002',
      'Received: from localhost (localhost [127.0.0.1])',
      '\tby example.com (Postfix) with ESMTP id 1',
      'Subject: =?iso-8859-1?Q?Caf=E9_deals?=',
      '  today',
      'Content-Type: multipart/alternative; boundary="XX"',
      '',
      'preamble',
      '--XX',
      'Content-Type: text/html; charset="iso-8859-1"',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<html><head><title>t</title></head><body><p align=3D"center">Hello&nbsp;<b>w=',
      'orld</b> &amp; caf=E9</p><!-- hidden --></body></html>',
      '--XX',
      'Content-Type: image/gif',
      'Content-Transfer-Encoding: base64',
      '',
      'R0lGODlhAQABAAAAACw=',
      '--XX--',
    ].join('\n');
    expect(cleanEmail(raw)).toBe('Subject: Café deals today\nHello world & café');
  });

  it('prefers text/plain in alternatives, decodes base64, collapses whitespace, cuts to maxChars', () => {
    const body = Buffer.from('Plain   text\n\n  body with <user@example.com> address').toString('base64');
    const raw = `Subject: Hi\nContent-Type: multipart/alternative; boundary=b1\n\n--b1\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n${body}\n--b1\nContent-Type: text/html\n\n<p>html</p>\n--b1--\n`;
    expect(cleanEmail(raw)).toBe('Subject: Hi\nPlain text body with address');
    expect(cleanEmail(raw, { maxChars: 15 })).toBe('Subject: Hi\nPla');
    expect(cleanEmail('X-Foo: bar\n\n')).toBe(EMPTY_EMAIL_TEXT);
  });
});

describe('SpamAssassin', () => {
  let task: DemoSpamTask;
  beforeAll(async () => {
    task = await demoSpamTask({ trainSize: 200, validationSize: 40, seed: 7 });
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'nls-spam-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists 6,046 messages: 4,150 ham and 1,896 spam', async () => {
    const sources = await spamAssassinSources();
    expect(sources).toHaveLength(6046);
    expect(sources.filter((s) => s.label === 'spam')).toHaveLength(1896);
    expect(new Set(sources.map((s) => s.id)).size).toBe(6046);
    expect(sources.every((s) => (s.label === 'spam') === s.group.startsWith('spam'))).toBe(true);
  });

  it('the demo task is balanced and its splits are disjoint', () => {
    expect(task.train).toHaveLength(200);
    expect(task.validation).toHaveLength(40);
    expect(task.train.filter((r) => r.label === 'spam')).toHaveLength(100);
    expect(task.validation.filter((r) => r.label === 'spam')).toHaveLength(20);
    expect(task.labels).toEqual(['ham', 'spam']);
    expect(task.sources.train).toEqual(task.train.map((r) => r.id));
    expect(task.sources.validation).toEqual(task.validation.map((r) => r.id));
    const all = [...task.sources.train, ...task.sources.validation];
    expect(new Set(all).size).toBe(all.length);
    // Both labels appear in the first few rows: the splits are shuffled, not grouped by label.
    expect(new Set(task.train.slice(0, 20).map((r) => r.label)).size).toBe(2);
  });

  it('is deterministic per seed and differs across seeds', async () => {
    const again = await demoSpamTask({ trainSize: 200, validationSize: 40, seed: 7 });
    expect(again.sources).toEqual(task.sources);
    expect(again.train).toEqual(task.train);
    const other = await demoSpamTask({ trainSize: 200, validationSize: 40, seed: 8 });
    expect(other.sources.train).not.toEqual(task.sources.train);
  });

  it('reloads exactly the recorded source files', async () => {
    const rows = await spamAssassin({ ids: task.sources.validation });
    expect(rows).toEqual(task.validation);
    await expect(spamAssassin({ ids: ['spam-1/nope'] })).rejects.toThrow(/unknown message id/);
  });

  it('a message read again (cached per process) is the same text, and the cache keeps each maxChars apart', async () => {
    const ids = task.sources.validation.slice(0, 20);
    const long = await spamAssassin({ ids, maxChars: 300 });
    const short = await spamAssassin({ ids, maxChars: 40 });
    expect(await spamAssassin({ ids, maxChars: 300 })).toEqual(long);
    for (const [i, r] of short.entries()) {
      expect(Array.from(r.text).length).toBeLessThanOrEqual(40);
      expect(long[i]!.text.startsWith(r.text.trimEnd())).toBe(true);
    }
    expect(short.some((r, i) => r.text !== long[i]!.text)).toBe(true);
  });

  it('texts are cleaned: no header lines, no HTML tags, short, non-empty', () => {
    for (const r of [...task.train, ...task.validation]) {
      expect(r.text.length).toBeGreaterThan(0);
      expect(Array.from(r.text).length).toBeLessThanOrEqual(400);
      const lines = r.text.split('\n');
      expect(lines.length).toBeLessThanOrEqual(2);
      if (lines.length === 2) expect(lines[0]).toMatch(/^Subject: /);
      for (const line of lines.slice(lines.length === 2 ? 1 : 0)) expect(line).not.toMatch(HEADER_LINE);
      expect(r.text).not.toMatch(/Received: from .* by .* with E?SMTP/);
      expect(r.text).not.toMatch(HTML_TAG);
      expect(r.text).not.toMatch(/\s{2,}/);
    }
  });

  it('dumps to JSONL and loads back as a classification dataset that encodes', async () => {
    const file = path.join(dir, 'spam-train.jsonl');
    await writeJsonl(file, task.train);
    const ds = await loadJsonlDataset(file);
    expect(ds.format).toBe('classification');
    if (ds.format !== 'classification') throw new Error('unreachable');
    expect(ds.labels).toEqual(['ham', 'spam']);
    expect(ds.rows).toEqual(task.train.map((r) => ({ text: r.text, label: r.label })));
    const tok = new ByteTokenizer();
    const [ex] = toPromptExamples(ds);
    const enc = encodeExample(ex!, tok, { maxLength: 128 });
    expect(tok.decode(enc.ids.filter((_, i) => enc.lossMask[i] === 1))).toBe(` ${ds.rows[0]!.label}`);
  });

  it('the default 1,000 / 200 demo loads in a few seconds', async () => {
    const t0 = performance.now();
    const full = await demoSpamTask();
    const ms = performance.now() - t0;
    expect(full.train).toHaveLength(1000);
    expect(full.validation).toHaveLength(200);
    expect(full.options).toEqual({ trainSize: 1000, validationSize: 200, seed: 0, maxChars: 400, groups: ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] });
    expect(ms).toBeLessThan(5000);
  });

  it('refuses sizes beyond the corpus', async () => {
    await expect(demoSpamTask({ trainSize: 5000, validationSize: 0 })).rejects.toThrow(/lower trainSize/);
  });
});
