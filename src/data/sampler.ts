/**
 * Epoch sampler: which example indices form batch `k` of epoch `e`, as a pure function of
 * `(seed, epoch)`, with a tiny JSON-serialisable position so training resumes mid-epoch exactly.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import { createRng } from '../util/rng.js';
import { permutation } from './split.js';

/** Options of {@link BatchSampler}. */
export interface BatchSamplerOptions {
  /** Number of examples (indices `0..size-1`). */
  size: number;
  /** Examples per batch. */
  batchSize: number;
  /** Seed; epoch `e` is shuffled by `createRng(\`${seed}:epoch:${e}\`)`. */
  seed: number | string;
  /** Shuffle each epoch (default true); false visits indices in order. */
  shuffle?: boolean;
  /** Drop the last, smaller batch of an epoch (default false: it is yielded, smaller). */
  dropLast?: boolean;
}

/** Serialisable position of a {@link BatchSampler} (plain JSON). */
export interface BatchSamplerState {
  readonly size: number;
  readonly batchSize: number;
  readonly seed: number | string;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  /** Epoch of the next batch. */
  readonly epoch: number;
  /** Index, within that epoch, of the next batch. */
  readonly batch: number;
}

/** One batch of example indices. */
export interface SampledBatch {
  readonly epoch: number;
  /** Index of the batch within its epoch. */
  readonly batch: number;
  /** Global step: `epoch * batchesPerEpoch + batch`. */
  readonly step: number;
  readonly indices: number[];
}

function checkInt(x: unknown, field: string, min: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) {
    throw new NlsError(`must be an integer of at least ${min}, got ${JSON.stringify(x)}`, { field });
  }
  return x;
}

/**
 * Yields batches of example indices, epoch after epoch. Every epoch is a fresh permutation
 * derived only from `(seed, epoch)`, so each index appears exactly once per epoch (minus the
 * dropped remainder with `dropLast`), and any batch can be recomputed without replaying earlier
 * ones: {@link BatchSampler.state} is just `(epoch, batch)` plus the configuration.
 */
export class BatchSampler {
  readonly size: number;
  readonly batchSize: number;
  readonly seed: number | string;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;
  private epochNow = 0;
  private batchNow = 0;
  private order: { epoch: number; perm: number[] } | undefined;

  constructor(options: BatchSamplerOptions) {
    this.size = checkInt(options.size, 'size', 1);
    this.batchSize = checkInt(options.batchSize, 'batchSize', 1);
    if (typeof options.seed !== 'number' && typeof options.seed !== 'string') {
      throw new NlsError(`must be a number or a string, got ${JSON.stringify(options.seed)}`, { field: 'seed' });
    }
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    this.batchesPerEpoch = this.dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new NlsError(`batchSize ${this.batchSize} is larger than the ${this.size} examples with dropLast. Fix: lower batchSize or set dropLast: false`, {
        field: 'batchSize',
      });
    }
  }

  /** Continue from a state captured by {@link BatchSampler.state} (e.g. read from a checkpoint). */
  static restore(state: BatchSamplerState): BatchSampler {
    if (typeof state !== 'object' || state === null) throw new NlsError('sampler state must be an object', { field: 'sampler' });
    const s = new BatchSampler({ size: state.size, batchSize: state.batchSize, seed: state.seed, shuffle: state.shuffle, dropLast: state.dropLast });
    s.seek(checkInt(state.epoch, 'sampler.epoch', 0), checkInt(state.batch, 'sampler.batch', 0));
    return s;
  }

  /** The current position and configuration, as plain JSON. */
  state(): BatchSamplerState {
    return {
      size: this.size,
      batchSize: this.batchSize,
      seed: this.seed,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      epoch: this.epochNow,
      batch: this.batchNow,
    };
  }

  /** Epoch of the next batch. */
  get epoch(): number {
    return this.epochNow;
  }

  /** Global step of the next batch. */
  get step(): number {
    return this.epochNow * this.batchesPerEpoch + this.batchNow;
  }

  /** Move to batch `batch` of epoch `epoch`. */
  seek(epoch: number, batch = 0): void {
    checkInt(epoch, 'epoch', 0);
    checkInt(batch, 'batch', 0);
    if (batch >= this.batchesPerEpoch) {
      throw new NlsError(`batch ${batch} is past the ${this.batchesPerEpoch} batches of an epoch`, { field: 'batch' });
    }
    this.epochNow = epoch;
    this.batchNow = batch;
  }

  /** The example order of `epoch` (a permutation of `0..size-1`). */
  epochOrder(epoch: number): number[] {
    return [...this.permOf(epoch)];
  }

  private permOf(epoch: number): number[] {
    if (this.order?.epoch === epoch) return this.order.perm;
    const perm = this.shuffle ? permutation(this.size, createRng(`${this.seed}:epoch:${epoch}`)) : Array.from({ length: this.size }, (_, i) => i);
    this.order = { epoch, perm };
    return perm;
  }

  /** Indices of batch `batch` of `epoch`, without moving the sampler. */
  batchAt(epoch: number, batch: number): number[] {
    const start = batch * this.batchSize;
    return this.permOf(epoch).slice(start, Math.min(start + this.batchSize, this.size));
  }

  /**
   * The batch of global step `step` (`epoch = floor(step / batchesPerEpoch)`), without moving the
   * sampler: a pure function of the step, for data sources that must replay any step exactly.
   */
  atStep(step: number): SampledBatch {
    checkInt(step, 'step', 0);
    const epoch = Math.floor(step / this.batchesPerEpoch);
    const batch = step - epoch * this.batchesPerEpoch;
    return { epoch, batch, step, indices: this.batchAt(epoch, batch) };
  }

  /** The next batch; advances to the next epoch after the last batch of one. */
  next(): SampledBatch {
    const out: SampledBatch = { epoch: this.epochNow, batch: this.batchNow, step: this.step, indices: this.batchAt(this.epochNow, this.batchNow) };
    this.batchNow++;
    if (this.batchNow >= this.batchesPerEpoch) {
      this.batchNow = 0;
      this.epochNow++;
    }
    return out;
  }

  /** The next `count` batches. */
  take(count: number): SampledBatch[] {
    checkInt(count, 'count', 0);
    return Array.from({ length: count }, () => this.next());
  }
}
