/**
 * Training batches drawn from a table of rows: the bridge between datasets and the training
 * loop's `batch(step, micro)` interface.
 */
import { NlsError } from '../errors.js';
import { type Batch, selectRows } from './encode.js';
import { BatchSampler } from './sampler.js';

/** Options of {@link rowBatchSource}. */
export interface RowBatchSourceOptions {
  /** Rows per micro-batch. */
  readonly batchSize: number;
  /** Micro-batches per optimizer step (each optimizer step consumes this many sampler batches). */
  readonly gradAccum?: number;
  /** Seed of the epoch shuffles. */
  readonly seed: number | string;
}

/**
 * Micro-batch `micro` of optimizer step `step` is sampler batch `step * gradAccum + micro` of a
 * seeded epoch-by-epoch shuffle of `rows` (full batches only). A pure function of its
 * arguments, so resumed training sees the same data.
 */
export function rowBatchSource(rows: Batch, options: RowBatchSourceOptions): { batch(step: number, micro: number): Batch; readonly batchesPerEpoch: number } {
  if (rows.batchSize < options.batchSize) {
    throw new NlsError(`only ${rows.batchSize} training rows for batches of ${options.batchSize}; fix: lower the batch size or add data`, { field: 'batchSize' });
  }
  const sampler = new BatchSampler({ size: rows.batchSize, batchSize: options.batchSize, seed: options.seed, dropLast: true });
  const accum = options.gradAccum ?? 1;
  return {
    batchesPerEpoch: sampler.batchesPerEpoch,
    batch: (step, micro) => selectRows(rows, sampler.atStep(step * accum + micro).indices),
  };
}
