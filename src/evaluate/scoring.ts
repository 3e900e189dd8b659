/**
 * The scoring pass every evaluator shares: for each row of a token batch, the summed
 * log-probability of its weighted target tokens under the model's active configuration.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import { NlsError } from '../errors.js';
import type { LlamaModel } from '../model/llama.js';
import type { TokenBatch } from '../train/batch.js';

/** Per-row results of {@link scoreRows}. */
export interface RowScores {
  /** Sum over positions of weight x log p(target) (nats), per row. */
  readonly logLikelihood: Float64Array;
  /** Sum of the weights (the scored tokens), per row. */
  readonly tokens: Float64Array;
}

/**
 * Rows `[start, start + n)` of `rows` as tensors, tiled `copies` times along the batch axis
 * (candidate-major: all n rows, then all n rows again, ...).
 */
function rowTensors(rows: TokenBatch, start: number, n: number, copies: number): { ids: tf.Tensor2D; targets: tf.Tensor2D; weights: tf.Tensor2D } {
  const { seqLen } = rows;
  const span = [start * seqLen, (start + n) * seqLen] as const;
  const tile = <T extends tf.Tensor2D>(t: T): T => (copies === 1 ? t : (tf.tile(t, [copies, 1]) as T));
  return {
    ids: tile(tf.tensor2d(rows.inputIds.subarray(...span), [n, seqLen], 'int32')),
    targets: tile(tf.tensor2d(rows.targets.subarray(...span), [n, seqLen], 'int32')),
    weights: tile(tf.tensor2d(rows.weights.subarray(...span), [n, seqLen])),
  };
}

/** One forward pass: per row, the weighted log-likelihood sum and the weight sum (call inside tidy). */
function scoreBatch(model: LlamaModel, ids: tf.Tensor2D, targets: tf.Tensor2D, weights: tf.Tensor2D): [tf.Tensor1D, tf.Tensor1D] {
  const logp = tf.logSoftmax(model.forward(ids), -1);
  // One-hot product, not gather: gather's gradient kernel is missing on wasm, and this is the
  // same computation as the training loss.
  const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, model.config.vocabSize)), -1);
  return [tf.sum(tf.mul(picked, weights), -1) as tf.Tensor1D, tf.sum(weights, -1) as tf.Tensor1D];
}

/**
 * Something that scores rows like {@link scoreRows} without being a tfjs model: an evaluation
 * engine (src/engine/, e.g. ONNX Runtime) holding a model and its active configuration.
 */
export interface RowScorer {
  /** Per-row weighted log-likelihood and weight sums; `batchSize` is a hint (rows per pass). */
  scoreRows(rows: TokenBatch, batchSize?: number): Promise<RowScores>;
}

/**
 * Score every row of `rows`, `batchSize` rows per forward pass. Deterministic. `model` is a tfjs
 * model (its active configuration) or a {@link RowScorer} (an engine), which scores them itself.
 * `onBatch(rowsDone)` is called after each pass (for progress: a pass blocks this thread).
 */
export async function scoreRows(model: LlamaModel | RowScorer, rows: TokenBatch, batchSize = 16, onBatch?: (rowsDone: number) => void): Promise<RowScores> {
  if ('scoreRows' in model) {
    const scores = await model.scoreRows(rows, batchSize);
    onBatch?.(rows.batchSize);
    return scores;
  }
  const logLikelihood = new Float64Array(rows.batchSize);
  const tokens = new Float64Array(rows.batchSize);
  for (let start = 0; start < rows.batchSize; start += batchSize) {
    const n = Math.min(batchSize, rows.batchSize - start);
    const [ll, count] = tf.tidy(() => {
      const t = rowTensors(rows, start, n, 1);
      return scoreBatch(model, t.ids, t.targets, t.weights);
    });
    logLikelihood.set(await ll.data(), start);
    tokens.set(await count.data(), start);
    tf.dispose([ll, count]);
    onBatch?.(start + n);
  }
  return { logLikelihood, tokens };
}

/**
 * Score every row of `rows` under each of several rank configurations ("candidates") of
 * `adapters`, all candidates in the same forward passes: each pass holds `batchSize` rows tiled
 * once per candidate (K x batchSize rows in all), and the adapters run in multi-candidate mode
 * ({@link AdapterSet.withCandidates}), which is left again before this returns or throws.
 *
 * The result for candidate k equals `scoreRows` with `adapters.setActiveRanks(rankSets[k])`
 * active, up to float32 rounding (the masked adapter product sums in a different order). Modules a
 * rank set does not name take their current active rank. The base model's work is not shared
 * between candidates: a pass costs about K times a single-candidate pass of `batchSize` rows; what
 * batching saves is per-operation overhead (docs/evaluators.md).
 *
 * @param rankSets - one map module key -> rank per candidate.
 * @param batchSize - rows of `rows` per forward pass (each tiled K times).
 * @returns one {@link RowScores} per candidate, in the order of `rankSets`.
 */
export async function scoreRowsMany(
  model: LlamaModel,
  adapters: AdapterSet,
  rows: TokenBatch,
  rankSets: readonly ReadonlyMap<string, number>[],
  batchSize = 16,
): Promise<RowScores[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new NlsError(`batchSize must be a positive integer, got ${batchSize}`, { field: 'batchSize' });
  const k = rankSets.length;
  if (k === 0) return [];
  const out = rankSets.map(() => ({ logLikelihood: new Float64Array(rows.batchSize), tokens: new Float64Array(rows.batchSize) }));
  await adapters.withCandidates(rankSets, async () => {
    for (let start = 0; start < rows.batchSize; start += batchSize) {
      const n = Math.min(batchSize, rows.batchSize - start);
      const [ll, count] = tf.tidy(() => {
        const t = rowTensors(rows, start, n, k);
        return scoreBatch(model, t.ids, t.targets, t.weights);
      });
      const [llValues, countValues] = [await ll.data(), await count.data()];
      tf.dispose([ll, count]);
      // Row j of candidate c sits at c * n + j in the tiled batch.
      out.forEach((scores, c) => {
        scores.logLikelihood.set(llValues.subarray(c * n, (c + 1) * n), start);
        scores.tokens.set(countValues.subarray(c * n, (c + 1) * n), start);
      });
    }
  });
  return out;
}
