/**
 * Validation loss and perplexity of the active model configuration.
 */
import * as tf from '@tensorflow/tfjs';
import type { LlamaModel } from '../model/llama.js';
import type { TokenBatch } from '../train/batch.js';

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
 * Token-weighted mean loss of `model` (its active configuration) over all rows of `rows`,
 * evaluated `batchSize` rows at a time. Deterministic: no dropout, fixed row order.
 */
export async function evaluateLoss(model: LlamaModel, rows: TokenBatch, batchSize = 16): Promise<LossMetrics> {
  let nll = 0;
  let tokens = 0;
  const { seqLen } = rows;
  for (let start = 0; start < rows.batchSize; start += batchSize) {
    const n = Math.min(batchSize, rows.batchSize - start);
    const span = [start * seqLen, (start + n) * seqLen] as const;
    const [sum, count] = tf.tidy(() => {
      const ids = tf.tensor2d(rows.inputIds.subarray(...span), [n, seqLen], 'int32');
      const targets = tf.tensor2d(rows.targets.subarray(...span), [n, seqLen], 'int32');
      const weights = tf.tensor2d(rows.weights.subarray(...span), [n, seqLen]);
      const logp = tf.logSoftmax(model.forward(ids), -1);
      const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, model.config.vocabSize)), -1);
      return [tf.neg(tf.sum(tf.mul(picked, weights))), tf.sum(weights)];
    });
    nll += (await sum!.data())[0]!;
    tokens += (await count!.data())[0]!;
    tf.dispose([sum!, count!]);
  }
  const loss = tokens > 0 ? nll / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2, tokens };
}
