/**
 * Reference points that need no model: what a task's accuracy means is judged against them
 * (NASLib and lm-eval-harness report such rows next to every result).
 *
 * - {@link majorityAccuracy}: always the most frequent training answer;
 * - {@link chanceAccuracy}: a uniform guess among each example's candidates;
 * - {@link naiveBayes}: multinomial naive Bayes over word counts with add-one smoothing (spam);
 * - {@link BigramModel}: a word bigram model with add-k smoothing, picking the candidate most
 *   likely after the previous word (cloze).
 */

/** Accuracy of always answering the training split's most frequent answer. */
export function majorityAccuracy(trainAnswers: readonly string[], answers: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const a of trainAnswers) counts.set(a, (counts.get(a) ?? 0) + 1);
  let best = '';
  let bestCount = -1;
  for (const [a, c] of counts) {
    if (c > bestCount || (c === bestCount && a < best)) {
      best = a;
      bestCount = c;
    }
  }
  return answers.length === 0 ? 0 : answers.filter((a) => a === best).length / answers.length;
}

/** Expected accuracy of a uniform guess among each example's candidates. */
export function chanceAccuracy(candidateCounts: readonly number[]): number {
  return candidateCounts.length === 0 ? 0 : candidateCounts.reduce((s, k) => s + 1 / k, 0) / candidateCounts.length;
}

/** Lower-case word tokens of a text. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
}

/** A trained multinomial naive Bayes classifier. */
export interface NaiveBayes {
  /** The most probable label of a text. */
  predict(text: string): string;
}

/** Train multinomial naive Bayes (word counts, add-one smoothing, class priors) on labelled texts. */
export function naiveBayes(rows: readonly { readonly text: string; readonly label: string }[]): NaiveBayes {
  const labels = [...new Set(rows.map((r) => r.label))].sort();
  const vocabulary = new Set<string>();
  const counts = new Map(labels.map((l) => [l, new Map<string, number>()]));
  const totals = new Map(labels.map((l) => [l, 0]));
  const docs = new Map(labels.map((l) => [l, 0]));
  for (const r of rows) {
    docs.set(r.label, docs.get(r.label)! + 1);
    const m = counts.get(r.label)!;
    for (const w of wordsOf(r.text)) {
      vocabulary.add(w);
      m.set(w, (m.get(w) ?? 0) + 1);
      totals.set(r.label, totals.get(r.label)! + 1);
    }
  }
  const v = vocabulary.size;
  return {
    predict: (text) => {
      const words = wordsOf(text);
      let best = labels[0]!;
      let bestScore = -Infinity;
      for (const l of labels) {
        const m = counts.get(l)!;
        const denominator = Math.log(totals.get(l)! + v);
        let score = Math.log(docs.get(l)! / rows.length);
        for (const w of words) if (vocabulary.has(w)) score += Math.log((m.get(w) ?? 0) + 1) - denominator;
        if (score > bestScore) {
          best = l;
          bestScore = score;
        }
      }
      return best;
    },
  };
}

/** A word bigram model with add-k smoothing. */
export class BigramModel {
  private readonly unigrams = new Map<string, number>();
  private readonly bigrams = new Map<string, number>();

  /** Count the (lower-cased) word pairs of each sentence. */
  constructor(
    sentences: Iterable<readonly string[]>,
    private readonly k = 0.1,
  ) {
    for (const s of sentences) {
      let prev = '';
      for (const raw of s) {
        const w = raw.toLowerCase();
        this.unigrams.set(prev, (this.unigrams.get(prev) ?? 0) + 1);
        const key = `${prev}\u0000${w}`;
        this.bigrams.set(key, (this.bigrams.get(key) ?? 0) + 1);
        prev = w;
      }
    }
  }

  /** log P(word | previous) with add-k smoothing over the vocabulary seen. */
  logProb(previous: string, word: string): number {
    const v = this.unigrams.size + 1;
    return Math.log(((this.bigrams.get(`${previous.toLowerCase()}\u0000${word.toLowerCase()}`) ?? 0) + this.k) / ((this.unigrams.get(previous.toLowerCase()) ?? 0) + this.k * v));
  }

  /** Index of the candidate most likely after `previous` (the first on ties). */
  choose(previous: string, candidates: readonly string[]): number {
    let best = 0;
    let bestScore = -Infinity;
    candidates.forEach((c, i) => {
      const score = this.logProb(previous, c.trim());
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    });
    return best;
  }
}
