/**
 * `arith`: arithmetic word problems generated from a seed, the analogue of the papers'
 * GSM8K-style math tasks at a scale a small byte-level model can learn. A problem has one to
 * three operations (adding, taking away, doubling or tripling) on counts of one object, with
 * names and objects drawn from Brown's vocabulary ({@link arithVocabulary}); the answer is the
 * final count, scored by exact match of the generated number:
 *
 *     Q: Anne has 7 cards. Anne gets 5 more cards. Anne gives 3 cards to Paul. How many cards
 *     does Anne have now?
 *     A: 9
 *
 * Every intermediate count stays in 0..99. Problems are unique across splits (test, validation,
 * train are disjoint sets of texts).
 */
import { NlsError } from '../errors.js';
import { createRng, type Rng } from '../util/rng.js';
import { brownTaggedSentences, brownTrainingFiles } from './brown-tagged.js';
import type { PromptExample } from './templates.js';

/** Options of {@link arithTask}. */
export interface ArithOptions {
  readonly seed: number | string;
  /** Default 4000. */
  readonly trainSize?: number;
  /** Default 500. */
  readonly validationSize?: number;
  /** Default 500. */
  readonly testSize?: number;
}

/** One generated problem, before it becomes a prompt. */
export interface ArithProblem {
  readonly text: string;
  readonly answer: number;
  /** The numbers in the problem, in order (for the no-model baselines). */
  readonly numbers: readonly number[];
  readonly operations: number;
}

/** The task's splits and how they were made. */
export interface ArithTask {
  readonly train: PromptExample[];
  readonly validation: PromptExample[];
  readonly test: PromptExample[];
  /** The problems of each split, in example order. */
  readonly problems: { readonly train: ArithProblem[]; readonly validation: ArithProblem[]; readonly test: ArithProblem[] };
  readonly description: Readonly<Record<string, unknown>>;
}

/** The prompt and answer of a problem (the answer is what greedy generation must produce). */
export function arithExample(p: ArithProblem): PromptExample {
  return { prompt: `Q: ${p.text}\nA:`, answer: ` ${p.answer}` };
}

const pick = <T>(xs: readonly T[], rng: Rng): T => xs[Math.floor(rng.next() * xs.length)]!;
const int = (lo: number, hi: number, rng: Rng): number => lo + Math.floor(rng.next() * (hi - lo + 1));

/** Generate one problem with `names` and `objects` to draw from. */
export function generateArithProblem(names: readonly string[], objects: readonly string[], rng: Rng): ArithProblem {
  const who = pick(names, rng);
  let other = pick(names, rng);
  while (other === who) other = pick(names, rng);
  const thing = pick(objects, rng);
  let count = int(2, 20, rng);
  const numbers = [count];
  const sentences = [`${who} has ${count} ${thing}.`];
  const operations = int(1, 3, rng);
  for (let k = 0; k < operations; k++) {
    const options: (() => void)[] = [];
    if (count <= 89) {
      options.push(() => {
        const n = int(1, Math.min(10, 99 - count), rng);
        sentences.push(pick([`${who} gets ${n} more ${thing}.`, `${who} finds ${n} more ${thing}.`, `${other} gives ${who} ${n} ${thing}.`], rng));
        numbers.push(n);
        count += n;
      });
    }
    if (count >= 2) {
      options.push(() => {
        const n = int(1, Math.min(10, count - 1), rng);
        sentences.push(pick([`${who} gives ${n} ${thing} to ${other}.`, `${who} loses ${n} ${thing}.`, `${who} sells ${n} ${thing}.`], rng));
        numbers.push(n);
        count -= n;
      });
    }
    if (count <= 33) {
      options.push(() => {
        const factor = count <= 24 && rng.next() < 0.3 ? 3 : 2;
        sentences.push(factor === 2 ? `${who} doubles the ${thing}.` : `${who} triples the ${thing}.`);
        numbers.push(factor);
        count *= factor;
      });
    }
    pick(options, rng)();
  }
  sentences.push(`How many ${thing} does ${who} have now?`);
  return { text: sentences.join(' '), answer: count, numbers, operations };
}

/**
 * Names and objects from Brown's training files: proper nouns (`np`) that often come right before
 * a past-tense verb (people and groups who did something: "John said"), and plural nouns (`nns`)
 * that often follow a number (countable things: "three books"), most frequent first.
 */
export async function arithVocabulary(): Promise<{ names: string[]; objects: string[] }> {
  const sentences = await brownTaggedSentences(await brownTrainingFiles());
  const nameCounts = new Map<string, number>();
  const objectCounts = new Map<string, number>();
  for (const s of sentences) {
    if (s.headline) continue;
    for (let i = 0; i + 1 < s.words.length; i++) {
      const a = s.words[i]!;
      const b = s.words[i + 1]!;
      if (a.tag === 'np' && b.tag === 'vbd' && /^[A-Z][a-z]{2,7}$/.test(a.word)) nameCounts.set(a.word, (nameCounts.get(a.word) ?? 0) + 1);
      if (a.tag === 'cd' && b.tag === 'nns' && /^[a-z]{4,10}$/.test(b.word) && b.word.endsWith('s')) objectCounts.set(b.word, (objectCounts.get(b.word) ?? 0) + 1);
    }
  }
  const frequent = (m: ReadonlyMap<string, number>, min: number) =>
    [...m].filter(([, c]) => c >= min).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  return { names: frequent(nameCounts, 4).slice(0, 200), objects: frequent(objectCounts, 4).slice(0, 200) };
}

/** Build the arith task (see the module comment). */
export async function arithTask(options: ArithOptions): Promise<ArithTask> {
  const sizes = { train: options.trainSize ?? 4000, validation: options.validationSize ?? 500, test: options.testSize ?? 500 };
  for (const [field, v] of Object.entries(sizes)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new NlsError(`must be a non-negative integer, got ${v}`, { field: `${field}Size` });
  }
  const { names, objects } = await arithVocabulary();
  if (names.length < 10 || objects.length < 10) throw new NlsError(`too few names (${names.length}) or objects (${objects.length}) in the Brown corpus`, { field: 'arith' });
  const rng = createRng(`arith:${options.seed}`);
  const seen = new Set<string>();
  const draw = (n: number): ArithProblem[] => {
    const out: ArithProblem[] = [];
    for (let tries = 0; out.length < n; tries++) {
      if (tries > n * 50) throw new NlsError(`could not generate ${n} distinct problems`, { field: 'arith' });
      const p = generateArithProblem(names, objects, rng);
      if (seen.has(p.text)) continue;
      seen.add(p.text);
      out.push(p);
    }
    return out;
  };
  const test = draw(sizes.test);
  const validation = draw(sizes.validation);
  const train = draw(sizes.train);
  return {
    train: train.map(arithExample),
    validation: validation.map(arithExample),
    test: test.map(arithExample),
    problems: { train, validation, test },
    description: {
      source: 'generated from the seed; names (np) and objects (nns) from the Brown corpus training files',
      operations: '1-3 of: gets/finds/is given n more (n <= 10), gives/loses/sells n (n <= 10), doubles/triples; counts stay in 0..99',
      template: 'Q: {problem}\\nA: {answer}',
      scoring: 'exact match of the greedily generated number',
      names: names.length,
      objects: objects.length,
      seed: options.seed,
    },
  };
}
