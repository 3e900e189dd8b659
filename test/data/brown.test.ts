import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BROWN_CATEGORIES,
  BROWN_VALIDATION_FILES,
  brownCorpus,
  brownDir,
  brownFileIds,
  brownSplit,
  brownText,
  detokenizeBrown,
} from '../../src/data/index.js';
import { NlsError } from '../../src/errors.js';

describe('Brown reader', () => {
  it('reads the first sentence of ca01 back as plain text, without tags', async () => {
    const [doc] = await brownCorpus({ maxDocuments: 1 });
    expect(doc?.id).toBe('ca01');
    expect(doc?.category).toBe('news');
    expect(doc?.split).toBe('train');
    const lines = doc?.text.split('\n') ?? [];
    expect(lines[0]).toBe(
      `The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`,
    );
    expect(lines[1]).toBe(
      `The jury further said in term-end presentments that the City Executive Committee, which had over-all charge of the election, "deserves the praise and thanks of the City of Atlanta" for the manner in which the election was conducted.`,
    );
    // "... Ivan Allen Jr. ./." keeps one period; the headline "Merger proposed" stands alone.
    expect(lines[2]).toMatch(/won by Mayor-nominate Ivan Allen Jr\.$/);
    expect(lines).toContain('Merger proposed');
    expect(doc?.text).not.toMatch(/\/(at|nn|np|vbd|in)\b/);
    expect(doc?.text).not.toMatch(/``|''/);
    expect(doc?.tokens).toBeGreaterThan(2000);
  });

  it('detokenises punctuation, quotes, dashes and doubled marks', () => {
    expect(detokenizeBrown(['He', 'said', ',', '``', 'Go', '!', "''"])).toBe('He said, "Go!"');
    expect(detokenizeBrown(['North', 'and', 'South', '--', 'others', '(', 'many', ')', '.'])).toBe('North and South--others (many).');
    expect(detokenizeBrown(['think', ',', "'", 'You', 'win', "'", "''", '.'])).toBe(`think, 'You win'".`);
    expect(detokenizeBrown(['Do', 'you', 'worry', '?', '?'])).toBe('Do you worry?');
    expect(detokenizeBrown(['Ann', ';', ';', 'each', 'day'])).toBe('Ann; each day');
    expect(detokenizeBrown(['I', "didn't", 'see', 'Atlanta\'s', 'mayor', ':', 'none', '.'])).toBe("I didn't see Atlanta's mayor: none.");
  });

  it('splits word/tag at the last slash and groups paragraphs', () => {
    const file = '\n\n\tThe/at ratio/nn 1/2/cd won/vbd ./.\nIt/pps rose/vbd ./.\n\n\n\tNext/ap one/cd ./.\n';
    expect(brownText(file)).toEqual({ text: 'The ratio 1/2 won. It rose.\nNext one.', tokens: 11 });
  });

  it('filters by category and split; categories match the package cats.txt', async () => {
    const cats = readFileSync(path.join(brownDir(), 'cats.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    const ids = await brownFileIds();
    expect(ids).toHaveLength(500);
    expect(ids).toEqual(cats.map((c) => c[0]));
    const docs = await brownCorpus({ categories: ['science_fiction', 'humor'] });
    expect(docs.map((d) => d.id)).toEqual(cats.filter((c) => c[1] === 'science_fiction' || c[1] === 'humor').map((c) => c[0]));
    expect(new Set(docs.map((d) => d.category))).toEqual(new Set(['science_fiction', 'humor']));
    for (const [id, cat] of cats) expect(BROWN_CATEGORIES[(id as string)[1] as keyof typeof BROWN_CATEGORIES]).toBe(cat);
    await expect(brownCorpus({ categories: ['poetry' as never] })).rejects.toThrow(NlsError);
  });

  it('the validation files follow the documented rule and the split partitions the corpus', async () => {
    const ids = await brownFileIds();
    const rule = ids.filter((id) => {
      const same = ids.filter((x) => x[1] === id[1]);
      return same.length < 10 ? id === same[same.length - 1] : Number(id.slice(2)) % 10 === 0;
    });
    expect([...BROWN_VALIDATION_FILES]).toEqual(rule);
    const { train, validation } = await brownSplit({ categories: ['news'] });
    expect(validation.map((d) => d.id)).toEqual(['ca10', 'ca20', 'ca30', 'ca40']);
    expect(train).toHaveLength(40);
    expect(train.every((d) => d.split === 'train')).toBe(true);
    const few = await brownSplit({ maxDocuments: 2 });
    expect(few.train.map((d) => d.id)).toEqual(['ca01', 'ca02']);
    expect(few.validation.map((d) => d.id)).toEqual(['ca10', 'ca20']);
  });

  it('loads the whole corpus in well under a few seconds', async () => {
    const t0 = performance.now();
    const docs = await brownCorpus();
    const ms = performance.now() - t0;
    expect(docs).toHaveLength(500);
    expect(docs.reduce((s, d) => s + d.tokens, 0)).toBe(1161192);
    expect(ms).toBeLessThan(5000);
  });
});
