/**
 * Multiple-choice and classification accuracy by answer log-likelihood, as lm-eval-harness
 * scores such tasks: each candidate answer is appended to the prompt, the model's summed
 * log-probability of the candidate's tokens is its score (`acc`), or that sum divided by the
 * candidate's length in bytes (`acc_norm`); the highest-scoring candidate is the prediction.
 */
import type { AdapterSet } from '../adapters/adapter-set.js';
import { NlsError } from '../errors.js';
import { encodeExample, makeBatch } from '../data/encode.js';
import type { PromptExample } from '../data/templates.js';
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { type RowScorer, scoreRows, scoreRowsMany } from './scoring.js';

/** Options of {@link evaluateChoices}. */
export interface ChoiceEvalOptions {
  /** Maximum tokens of prompt + answer (longer prompts are cut from the left). */
  readonly maxLength: number;
  /** Rows (example x candidate) per forward pass (default 16). */
  readonly batchSize?: number;
}

/** Accuracy of one evaluation. */
export interface ChoiceMetrics {
  /** Share of examples whose highest summed log-likelihood candidate is correct. */
  readonly accuracy: number;
  /** The same with scores normalised by the candidate's length in bytes (lm-eval's acc_norm). */
  readonly accuracyNorm: number;
  /** Predicted candidate index per example (by summed log-likelihood). */
  readonly predictions: readonly number[];
  /** Mean log-likelihood of the correct candidate (nats). */
  readonly meanCorrectLogLikelihood: number;
  /** Mean loss per token of the correct candidates (nats): the validation loss on the answers. */
  readonly answerLoss: number;
  readonly examples: number;
  /** Per-example values, e.g. for evaluators that look at a growing prefix of the examples. */
  readonly perExample: ChoicePerExample;
}

/** Per-example results of a choice evaluation (index = example). */
export interface ChoicePerExample {
  /** 1 if the highest summed log-likelihood candidate (the prediction) is the correct one, else 0. */
  readonly correct: Uint8Array;
  /** Summed log-likelihood of the correct candidate (nats). */
  readonly correctLogLikelihood: Float64Array;
  /** Scored tokens of the correct candidate. */
  readonly correctTokens: Float64Array;
}

/** A prepared evaluation set: encoded rows, reusable across many subnets. */
export interface PreparedChoices {
  readonly rows: ReturnType<typeof makeBatch>;
  /** For each example, the row range of its candidates. */
  readonly spans: readonly { readonly start: number; readonly count: number; readonly correct: number }[];
  /** Byte length of each row's candidate (for acc_norm). */
  readonly candidateBytes: readonly number[];
  /** Tokens of each row's candidate (its loss weights). */
  readonly candidateTokens: readonly number[];
}

const UTF8 = new TextEncoder();

/** Encode every (example, candidate) pair once; the result is evaluated by {@link evaluateChoices}. */
export function prepareChoices(examples: readonly PromptExample[], tokenizer: Tokenizer, options: ChoiceEvalOptions): PreparedChoices {
  const encoded: { ids: number[]; lossMask: number[] }[] = [];
  const spans: { start: number; count: number; correct: number }[] = [];
  const candidateBytes: number[] = [];
  const candidateTokens: number[] = [];
  examples.forEach((ex, i) => {
    if (!ex.candidates || ex.correct === undefined) {
      throw new NlsError('example has no candidates; accuracy needs a classification or multiple-choice dataset', { field: `examples[${i}]` });
    }
    spans.push({ start: encoded.length, count: ex.candidates.length, correct: ex.correct });
    for (const answer of ex.candidates) {
      // No EOS: the score is of the answer text itself, as lm-eval computes it.
      const e = encodeExample({ prompt: ex.prompt, answer }, tokenizer, { maxLength: options.maxLength, addEos: false });
      encoded.push(e);
      candidateBytes.push(UTF8.encode(answer).length);
      candidateTokens.push(e.lossMask.reduce((a, b) => a + b, 0));
    }
  });
  const seqLen = Math.max(...encoded.map((e) => e.ids.length)) - 1;
  return { rows: makeBatch(encoded, { seqLen, padId: tokenizer.padId ?? 0 }), spans, candidateBytes, candidateTokens };
}

/**
 * The examples `[startExample, endExample)` of a prepared set, as a prepared set of their own
 * (rows copied, spans re-based to start at row 0; the sequence length is kept, so every row scores
 * exactly as in the full set). For evaluators that score a growing prefix or a subset.
 */
export function sliceChoices(prepared: PreparedChoices, startExample: number, endExample: number): PreparedChoices {
  const n = prepared.spans.length;
  if (!Number.isInteger(startExample) || !Number.isInteger(endExample) || startExample < 0 || endExample > n || startExample >= endExample) {
    throw new NlsError(`example range must satisfy 0 <= start < end <= ${n} (integers), got [${startExample}, ${endExample})`, { field: 'startExample' });
  }
  const spans = prepared.spans.slice(startExample, endExample);
  // Rows are contiguous per example, in example order.
  const first = spans[0]!.start;
  const last = spans[spans.length - 1]!;
  const end = last.start + last.count;
  const { seqLen } = prepared.rows;
  return {
    rows: {
      batchSize: end - first,
      seqLen,
      inputIds: prepared.rows.inputIds.slice(first * seqLen, end * seqLen),
      targets: prepared.rows.targets.slice(first * seqLen, end * seqLen),
      weights: prepared.rows.weights.slice(first * seqLen, end * seqLen),
    },
    spans: spans.map((s) => ({ start: s.start - first, count: s.count, correct: s.correct })),
    candidateBytes: prepared.candidateBytes.slice(first, end),
    candidateTokens: prepared.candidateTokens.slice(first, end),
  };
}

/**
 * Choice metrics from per-row summed log-likelihoods (`logLikelihood[row]`, rows as in
 * `prepared.rows`): the computation behind {@link evaluateChoices} and
 * {@link evaluateChoicesMany}.
 */
export function choiceMetrics(prepared: PreparedChoices, logLikelihood: ArrayLike<number>): ChoiceMetrics {
  const scores = logLikelihood;
  const n = prepared.spans.length;
  const perExample: ChoicePerExample = {
    correct: new Uint8Array(n),
    correctLogLikelihood: new Float64Array(n),
    correctTokens: new Float64Array(n),
  };
  let correct = 0;
  let correctNorm = 0;
  let ll = 0;
  let correctTokens = 0;
  const predictions = prepared.spans.map((s, i) => {
    let best = 0;
    let bestNorm = 0;
    for (let c = 1; c < s.count; c++) {
      if (scores[s.start + c]! > scores[s.start + best]!) best = c;
      const norm = (k: number) => scores[s.start + k]! / prepared.candidateBytes[s.start + k]!;
      if (norm(c) > norm(bestNorm)) bestNorm = c;
    }
    if (best === s.correct) correct += 1;
    if (bestNorm === s.correct) correctNorm += 1;
    const exampleLl = scores[s.start + s.correct]!;
    const exampleTokens = prepared.candidateTokens[s.start + s.correct]!;
    ll += exampleLl;
    correctTokens += exampleTokens;
    perExample.correct[i] = best === s.correct ? 1 : 0;
    perExample.correctLogLikelihood[i] = exampleLl;
    perExample.correctTokens[i] = exampleTokens;
    return best;
  });
  return {
    accuracy: correct / n,
    accuracyNorm: correctNorm / n,
    predictions,
    meanCorrectLogLikelihood: ll / n,
    answerLoss: -ll / Math.max(1, correctTokens),
    examples: n,
    perExample,
  };
}

/**
 * Score prepared rows with `model`'s active configuration (a tfjs model, or an engine: {@link RowScorer}). Deterministic.
 * `onBatch(rowsDone)` follows each forward pass.
 */
export async function evaluateChoices(model: LlamaModel | RowScorer, prepared: PreparedChoices, batchSize = 16, onBatch?: (rowsDone: number) => void): Promise<ChoiceMetrics> {
  return choiceMetrics(prepared, (await scoreRows(model, prepared.rows, batchSize, onBatch)).logLikelihood);
}

/**
 * Evaluate several rank configurations ("candidates") of `adapters` on the same prepared set, all
 * candidates in the same forward passes ({@link scoreRowsMany}). Entry k means what
 * `evaluateChoices` means with `adapters.setActiveRanks(rankSets[k])` active (equal up to float32
 * rounding of the scores). The adapters' single-candidate ranks are unchanged afterwards.
 *
 * @param rankSets - one map module key -> rank per candidate; modules not named keep their active rank.
 * @param batchSize - prepared rows per forward pass, each tiled once per candidate (default 16).
 */
export async function evaluateChoicesMany(
  model: LlamaModel,
  adapters: AdapterSet,
  prepared: PreparedChoices,
  rankSets: readonly ReadonlyMap<string, number>[],
  batchSize = 16,
): Promise<ChoiceMetrics[]> {
  const scores = await scoreRowsMany(model, adapters, prepared.rows, rankSets, batchSize);
  return scores.map((s) => choiceMetrics(prepared, s.logLikelihood));
}
