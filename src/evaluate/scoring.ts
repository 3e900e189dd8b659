/**
 * The scoring pass every evaluator shares: for each row of a token batch, the summed
 * log-probability of its weighted target tokens under the model's active configuration.
 */
import * as tf from '@tensorflow/tfjs';
import type { LlamaModel } from '../model/llama.js';
import type { TokenBatch } from '../train/batch.js';

/** Per-row results of {@link scoreRows}. */
export interface RowScores {
  /** Sum over positions of weight x log p(target) (nats), per row. */
  readonly logLikelihood: Float64Array;
  /** Sum of the weights (the scored tokens), per row. */
  readonly tokens: Float64Array;
}

/** Score every row of `rows`, `batchSize` rows per forward pass. Deterministic. */
export async function scoreRows(model: LlamaModel, rows: TokenBatch, batchSize = 16): Promise<RowScores> {
  const { seqLen } = rows;
  const logLikelihood = new Float64Array(rows.batchSize);
  const tokens = new Float64Array(rows.batchSize);
  for (let start = 0; start < rows.batchSize; start += batchSize) {
    const n = Math.min(batchSize, rows.batchSize - start);
    const span = [start * seqLen, (start + n) * seqLen] as const;
    const [ll, count] = tf.tidy(() => {
      const ids = tf.tensor2d(rows.inputIds.subarray(...span), [n, seqLen], 'int32');
      const targets = tf.tensor2d(rows.targets.subarray(...span), [n, seqLen], 'int32');
      const weights = tf.tensor2d(rows.weights.subarray(...span), [n, seqLen]);
      const logp = tf.logSoftmax(model.forward(ids), -1);
      // One-hot product, not gather: gather's gradient kernel is missing on wasm, and this is the
      // same computation as the training loss.
      const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, model.config.vocabSize)), -1);
      return [tf.sum(tf.mul(picked, weights), -1), tf.sum(weights, -1)];
    });
    logLikelihood.set(await ll!.data(), start);
    tokens.set(await count!.data(), start);
    tf.dispose([ll!, count!]);
  }
  return { logLikelihood, tokens };
}
