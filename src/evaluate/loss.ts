/**
 * Validation loss and perplexity of the active model configuration.
 */
import type { LlamaModel } from '../model/llama.js';
import type { TokenBatch } from '../train/batch.js';
import { type RowScorer, scoreRows } from './scoring.js';

/** Loss metrics over a set of rows. */
export interface LossMetrics {
  /** Mean cross-entropy per target token (nats). */
  readonly loss: number;
  /** exp(loss). */
  readonly perplexity: number;
  /** loss / ln 2: bits per target token (bits per byte for a byte-level model). */
  readonly bitsPerToken: number;
  /** Target tokens counted (weight sum). */
  readonly tokens: number;
}

/**
 * Token-weighted mean loss of `model` (its active configuration; a tfjs model or an engine) over all rows of `rows`,
 * evaluated `batchSize` rows at a time. Deterministic: no dropout, fixed row order. `onBatch(rowsDone)` follows each pass.
 */
export async function evaluateLoss(model: LlamaModel | RowScorer, rows: TokenBatch, batchSize = 16, onBatch?: (rowsDone: number) => void): Promise<LossMetrics> {
  const scores = await scoreRows(model, rows, batchSize, onBatch);
  const nll = -scores.logLikelihood.reduce((a, b) => a + b, 0);
  const tokens = scores.tokens.reduce((a, b) => a + b, 0);
  const loss = tokens > 0 ? nll / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2, tokens };
}
