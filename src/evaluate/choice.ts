/**
 * Multiple-choice and classification accuracy by answer log-likelihood, as lm-eval-harness
 * scores such tasks: each candidate answer is appended to the prompt, the model's summed
 * log-probability of the candidate's tokens is its score (`acc`), or that sum divided by the
 * candidate's length in bytes (`acc_norm`); the highest-scoring candidate is the prediction.
 */
import { NlsError } from '../errors.js';
import { encodeExample, makeBatch } from '../data/encode.js';
import type { PromptExample } from '../data/templates.js';
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { scoreRows } from './scoring.js';

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

/** Score prepared rows with `model`'s active configuration. Deterministic. */
export async function evaluateChoices(model: LlamaModel, prepared: PreparedChoices, batchSize = 16): Promise<ChoiceMetrics> {
  const scores = (await scoreRows(model, prepared.rows, batchSize)).logLikelihood;
  let correct = 0;
  let correctNorm = 0;
  let ll = 0;
  let correctTokens = 0;
  const predictions = prepared.spans.map((s) => {
    let best = 0;
    let bestNorm = 0;
    for (let c = 1; c < s.count; c++) {
      if (scores[s.start + c]! > scores[s.start + best]!) best = c;
      const norm = (k: number) => scores[s.start + k]! / prepared.candidateBytes[s.start + k]!;
      if (norm(c) > norm(bestNorm)) bestNorm = c;
    }
    if (best === s.correct) correct += 1;
    if (bestNorm === s.correct) correctNorm += 1;
    ll += scores[s.start + s.correct]!;
    correctTokens += prepared.candidateTokens[s.start + s.correct]!;
    return best;
  });
  const n = prepared.spans.length;
  return {
    accuracy: correct / n,
    accuracyNorm: correctNorm / n,
    predictions,
    meanCorrectLogLikelihood: ll / n,
    answerLoss: -ll / Math.max(1, correctTokens),
    examples: n,
  };
}
