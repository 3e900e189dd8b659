/** The unit of training data the loop consumes: one micro-batch of token ids as typed arrays. */

/**
 * A causal-LM micro-batch, right-padded: position t of row b reads `inputIds[b*seqLen+t]` and is
 * trained to predict `targets[...]` with weight `weights[...]` (0 for padding and prompt tokens).
 */
export interface TokenBatch {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly inputIds: Int32Array;
  readonly targets: Int32Array;
  readonly weights: Float32Array;
}

/**
 * Where the loop gets its data. `batch(step, micro)` must be a pure function of its arguments,
 * so a resumed run sees exactly the batches an uninterrupted run would.
 */
export interface BatchSource {
  batch(step: number, micro: number): TokenBatch;
}
