/**
 * The built-in tasks: splits of the promised sizes, disjoint and fixed by the seed; brown-cloze
 * from held-out files only with candidates of the answer's tag; arith answers checked by an
 * independent reading of the problem text; reference points in their expected ranges.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generateArithProblem } from '../../src/data/arith.js';
import { BROWN_VALIDATION_FILES } from '../../src/data/brown.js';
import { brownTaggedSentences, brownTrainingFiles, wordsByTag } from '../../src/data/brown-tagged.js';
import { brownClozeTask, type ClozeTask } from '../../src/data/cloze.js';
import { BUILTIN_TASKS, type BuiltinTask, loadBuiltinTask } from '../../src/data/tasks.js';
import { createRng } from '../../src/util/rng.js';

const tasks = new Map<string, BuiltinTask>();
beforeAll(async () => {
  for (const name of BUILTIN_TASKS) tasks.set(name, await loadBuiltinTask(name, { seed: 1 }));
}, 60_000);

/** The answer of a generated problem, read from its text alone (an independent check of the generator). */
function solve(text: string): number {
  const sentences = text.split(/(?<=\.) /);
  let count = Number(/has (\d+) /.exec(sentences[0]!)![1]);
  for (const s of sentences.slice(1)) {
    const n = Number(/ (\d+) /.exec(s)?.[1] ?? NaN);
    if (/ (gets|finds) \d+ more /.test(s) || / gives \S+ \d+ /.test(s.replace(/^(\S+) gives (\S+) (\d+)/, '$1 gives $2 $3 '))) {
      if (/ gives (?!\d)/.test(s) && !/ gives \d/.test(s)) count += n;
      else if (/ (gets|finds) /.test(s)) count += n;
      else count -= n;
    } else if (/ (gives|loses|sells) \d+ /.test(s)) count -= n;
    else if (/ doubles /.test(s)) count *= 2;
    else if (/ triples /.test(s)) count *= 3;
  }
  return count;
}

describe('built-in tasks', () => {
  it('every task has validation and test splits of 500 and disjoint splits, the same for the same seed', async () => {
    for (const name of BUILTIN_TASKS) {
      const t = tasks.get(name)!;
      expect(t.validation.length, name).toBe(500);
      expect(t.test.length, name).toBe(500);
      expect(t.train.length, name).toBeGreaterThanOrEqual(2000);
      const key = (e: { prompt: string; answer: string }) => `${e.prompt}\u0000${e.answer}`;
      const test = new Set(t.test.map(key));
      expect(t.validation.filter((e) => test.has(key(e))), name).toEqual([]);
      expect(t.train.filter((e) => test.has(key(e))), name).toEqual([]);
    }
    const again = await loadBuiltinTask('arith', { seed: 1 });
    expect(again.test).toEqual(tasks.get('arith')!.test);
    const other = await loadBuiltinTask('arith', { seed: 2 });
    expect(other.test).not.toEqual(tasks.get('arith')!.test);
  });

  it('arith: answers are what the problem text says (independent reading, property over seeds)', () => {
    const names = ['Anne', 'Paul', 'Mike', 'Kate'];
    const objects = ['books', 'cards', 'coins'];
    const rng = createRng(7);
    for (let i = 0; i < 2000; i++) {
      const p = generateArithProblem(names, objects, rng);
      expect(solve(p.text), p.text).toBe(p.answer);
      expect(p.answer).toBeGreaterThanOrEqual(0);
      expect(p.answer).toBeLessThanOrEqual(99);
    }
    for (const e of tasks.get('arith')!.test) expect(e.answer).toMatch(/^ \d+$/);
  });

  it('brown-cloze: held-out sentences only, four candidates of the answer\'s tag with the answer among them', async () => {
    const cloze: ClozeTask = await brownClozeTask({ seed: 1 });
    const held = new Set(BROWN_VALIDATION_FILES);
    for (const f of [...cloze.files.train, ...cloze.files.validation, ...cloze.files.test]) expect(held.has(f)).toBe(true);
    const byTag = wordsByTag(await brownTaggedSentences(await brownTrainingFiles()));
    cloze.test.forEach((e, i) => {
      expect(e.candidates).toHaveLength(4);
      expect(e.candidates![e.correct!]).toBe(e.answer);
      expect(new Set(e.candidates).size).toBe(4);
      // Every distractor occurs with the answer's tag in the training files.
      for (const c of e.candidates!) if (c !== e.answer) expect(byTag.get(cloze.tags.test[i]!)?.has(c.trim()), `${c} as ${cloze.tags.test[i]}`).toBe(true);
    });
  });

  it('reference points: majority at 50% on balanced spam, naive Bayes far above it, chance 25% on cloze and the bigram above it', () => {
    const ref = (task: string, name: string) => tasks.get(task)!.references.find((r) => r.name === name)!;
    expect(ref('spam', 'majority').test).toBeCloseTo(0.5, 5);
    expect(ref('spam', 'naive Bayes').test).toBeGreaterThan(0.85);
    expect(ref('brown-cloze', 'chance').test).toBeCloseTo(0.25, 5);
    expect(ref('brown-cloze', 'word bigram').test).toBeGreaterThan(0.28);
    expect(ref('arith', 'majority').test).toBeLessThan(0.1);
  });
});
