/**
 * The Brown corpus with its part-of-speech tags: sentences of (word, tag) pairs as the package's
 * tagged files hold them (one sentence per line, a leading tab opens a paragraph), for tasks that
 * need the tags (brown-cloze) or the corpus's vocabulary by tag (arith's names and objects).
 *
 * Tags are the Brown tagset's; compound tags keep only their base (`nn-tl` -> `nn`, `np$` stays),
 * and headline / title markers (`-hl`, `-tl`, `-nc`, `fw-`) are dropped from the tag, not the word.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { BROWN_VALIDATION_FILES, brownDir, brownFileIds } from './brown.js';

/** A word with its Brown tag. */
export interface TaggedWord {
  readonly word: string;
  readonly tag: string;
}

/** A sentence of a Brown file, with its place. */
export interface TaggedSentence {
  /** File id, e.g. `ca10`. */
  readonly file: string;
  /** Paragraph number within the file (0-based). */
  readonly paragraph: number;
  readonly words: readonly TaggedWord[];
  /** The sentence is a headline (every token tagged `-hl`). */
  readonly headline: boolean;
}

/** The base of a Brown tag: lower case, without `fw-` and the `-tl` / `-hl` / `-nc` markers. */
export function baseTag(tag: string): string {
  return tag
    .toLowerCase()
    .replace(/^fw-/, '')
    .replace(/-(tl|hl|nc)\b/g, '')
    .replace(/-(tl|hl|nc)\b/g, '');
}

/** Parse one tagged Brown file into sentences. */
export function parseTaggedBrownFile(file: string, content: string): TaggedSentence[] {
  const out: TaggedSentence[] = [];
  let paragraph = -1;
  let open = false;
  for (const line of content.split('\n')) {
    if (line.trim() === '') {
      open = false;
      continue;
    }
    if (!open || line.startsWith('\t')) paragraph++;
    open = true;
    const words = line
      .trim()
      .split(/\s+/)
      .map((token): TaggedWord => {
        const slash = token.lastIndexOf('/');
        return slash > 0 ? { word: token.slice(0, slash), tag: token.slice(slash + 1) } : { word: token, tag: '' };
      });
    const headline = words.every((w) => /-hl(?:-|$)/.test(w.tag));
    out.push({ file, paragraph, words: words.map((w) => ({ word: w.word, tag: baseTag(w.tag) })), headline });
  }
  return out;
}

/** Parsed files, kept for the process: tasks read the training files' tags more than once. */
const parsed = new Map<string, Promise<TaggedSentence[]>>();

/** Tagged sentences of the given files (default: every file), in file then line order. */
export async function brownTaggedSentences(files?: readonly string[]): Promise<TaggedSentence[]> {
  const ids = files ?? (await brownFileIds());
  const dir = brownDir();
  const parts = await Promise.all(
    ids.map((id) => {
      let p = parsed.get(id);
      if (!p) parsed.set(id, (p = fsp.readFile(path.join(dir, id), 'utf8').then((content) => parseTaggedBrownFile(id, content))));
      return p;
    }),
  );
  return parts.flat();
}

/** The training (pre-training) files: every file not held out ({@link BROWN_VALIDATION_FILES}). */
export async function brownTrainingFiles(): Promise<string[]> {
  const held = new Set(BROWN_VALIDATION_FILES);
  return (await brownFileIds()).filter((id) => !held.has(id));
}

/**
 * How often each lower-case alphabetic word occurs under each base tag in `sentences`:
 * tag -> word -> count.
 */
export function wordsByTag(sentences: readonly TaggedSentence[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const s of sentences) {
    if (s.headline) continue;
    for (const { word, tag } of s.words) {
      if (!/^[a-z]+$/.test(word)) continue;
      let m = out.get(tag);
      if (!m) out.set(tag, (m = new Map()));
      m.set(word, (m.get(word) ?? 0) + 1);
    }
  }
  return out;
}
