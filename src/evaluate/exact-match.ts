/**
 * Exact-match accuracy of generated answers (lm-eval-harness's `generate_until` + `exact_match`):
 * the model continues each prompt greedily, an answer is extracted from the generated text, and
 * it counts as correct when it equals the example's `answer` after the same normalisation.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import type { PromptExample } from '../data/templates.js';
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { greedyGenerate, type NextTokenModel } from './generate.js';

/** How predictions and reference answers are normalised before comparison. */
export type ExactMatchNormalize = 'none' | 'trim' | 'lower-trim';

const NORMALIZE_MODES: readonly ExactMatchNormalize[] = ['none', 'trim', 'lower-trim'];

/** Options of {@link evaluateExactMatch}. */
export interface ExactMatchOptions {
  /** Maximum tokens generated per example (generation also stops at EOS). */
  readonly maxNewTokens: number;
  /**
   * Where the answer is in the generated text: a regular expression (a string is compiled with
   * `new RegExp`) whose first capture group, or whole match when it has no group, is the answer.
   * The first match counts; a generation without a match is wrong. Default: the generated text
   * up to its first newline.
   */
  readonly pattern?: string | RegExp;
  /**
   * `'trim'` (default) strips surrounding whitespace (templates often start answers with a
   * space); `'lower-trim'` also lower-cases; `'none'` compares the strings as they are.
   */
  readonly normalize?: ExactMatchNormalize;
  /** Prompts decoded together (default: {@link greedyGenerate}'s, 8, or 32 with a key/value cache). */
  readonly batchSize?: number;
  /** Maximum tokens of prompt + generation (default the model's `maxPositionEmbeddings`); see {@link greedyGenerate}. */
  readonly maxLength?: number;
}

/** Result of {@link evaluateExactMatch}. */
export interface ExactMatchMetrics {
  /** Share of examples whose extracted answer equals the reference (NaN when there are none). */
  readonly accuracy: number;
  /** Number of examples. */
  readonly examples: number;
  /** Extracted answer per example, before normalisation ('' when the pattern did not match). */
  readonly predictions: readonly string[];
  /** Full generated text per example. */
  readonly generations: readonly string[];
  /** Whether each example was answered correctly. */
  readonly correct: readonly boolean[];
}

/** Compile `pattern` once; a stateless copy (no `g`/`y`) so `exec` always searches from the start. */
function compilePattern(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  try {
    return new RegExp(pattern);
  } catch (cause) {
    throw new NlsError(
      `${JSON.stringify(pattern)} is not a valid regular expression (${cause instanceof Error ? cause.message : String(cause)}). ` +
        `Fix: escape special characters such as ( [ ? with a backslash, e.g. "Answer: (\\\\w+)"`,
      { field: 'pattern', cause },
    );
  }
}

/** The answer in `text` by `pattern`, or undefined when it does not match. */
export function extractAnswer(text: string, pattern: RegExp | undefined): string | undefined {
  if (!pattern) {
    const newline = text.indexOf('\n');
    return newline < 0 ? text : text.slice(0, newline);
  }
  const m = pattern.exec(text);
  if (!m) return undefined;
  // A pattern with groups answers with group 1 (empty when that group did not take part).
  return m.length > 1 ? (m[1] ?? '') : m[0];
}

/** Normalise an answer string for comparison. */
export function normalizeAnswer(text: string, mode: ExactMatchNormalize): string {
  switch (mode) {
    case 'none':
      return text;
    case 'trim':
      return text.trim();
    case 'lower-trim':
      return text.trim().toLowerCase();
  }
}

/**
 * Exact-match accuracy of `model`'s active configuration on `examples`: greedy generation from
 * each `prompt` (see {@link greedyGenerate}), answer extraction by `pattern`, normalisation, and
 * comparison with the example's `answer`. Deterministic.
 */
export async function evaluateExactMatch(
  model: LlamaModel | NextTokenModel,
  tokenizer: Tokenizer,
  examples: readonly PromptExample[],
  options: ExactMatchOptions,
): Promise<ExactMatchMetrics> {
  // Validate everything before the (slow) generation.
  const pattern = options.pattern === undefined ? undefined : compilePattern(options.pattern);
  const mode = options.normalize ?? 'trim';
  if (!NORMALIZE_MODES.includes(mode)) {
    throw new NlsError(`unknown mode ${JSON.stringify(mode)}. Fix: use one of ${NORMALIZE_MODES.map((m) => `'${m}'`).join(', ')}`, {
      field: 'normalize',
    });
  }
  const generateOptions = {
    maxNewTokens: options.maxNewTokens,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
  };
  const generated = await greedyGenerate(
    model,
    tokenizer,
    examples.map((e) => e.prompt),
    generateOptions,
  );
  const generations = generated.map((g) => g.text);
  const predictions: string[] = [];
  const correct = examples.map((ex, i) => {
    const answer = extractAnswer(generations[i]!, pattern);
    predictions.push(answer ?? '');
    return answer !== undefined && normalizeAnswer(answer, mode) === normalizeAnswer(ex.answer, mode);
  });
  const hits = correct.filter(Boolean).length;
  return {
    accuracy: examples.length > 0 ? hits / examples.length : Number.NaN,
    examples: examples.length,
    predictions,
    generations,
    correct,
  };
}
