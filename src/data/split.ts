/**
 * Deterministic shuffles and train/validation splits, driven by the seeded {@link Rng} of
 * `src/util/rng.ts` (seedrandom ARC4 in JavaScript), so the same seed gives the same result on
 * every platform and Node version. Only integer arithmetic decides sizes (no float rounding).
 *
 * @module
 */
import { NlsError } from '../errors.js';
import { createRng, type Rng, shuffleInPlace } from '../util/rng.js';
import { sortStrings, type Dataset } from './jsonl.js';

export { shuffleInPlace };

/** A shuffled copy of `items` (see {@link shuffleInPlace}); `rng` may be a seed. */
export function shuffle<T>(items: readonly T[], rng: Rng | number | string): T[] {
  return shuffleInPlace([...items], typeof rng === 'object' ? rng : createRng(rng));
}

/** A random permutation of `0..n-1` (see {@link shuffleInPlace}); `rng` may be a seed. */
export function permutation(n: number, rng: Rng | number | string): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new NlsError(`must be a non-negative integer, got ${n}`, { field: 'n' });
  return shuffle(
    Array.from({ length: n }, (_, i) => i),
    rng,
  );
}

/** Options of {@link splitDataset}. */
export interface SplitOptions<T> {
  /** Fraction of rows held out, in [0, 1]; the count is `round(n * fraction)`. Default 0.1. */
  validationFraction?: number;
  /** Exact number of rows held out (instead of a fraction). */
  validationSize?: number;
  /** Seed of the shuffle. */
  seed: number | string;
  /**
   * Stratum of a row: each stratum contributes its share of the validation rows (largest
   * remainder rounding, so every stratum is within one row of proportional). Default: when every
   * row is an object with a string `label` (classification), the label; else no stratification.
   * Pass `false` to turn the default off.
   */
  stratify?: ((row: T) => string) | false;
}

/** Result of {@link splitDataset}: rows and their indices into the input, in input order. */
export interface Split<T> {
  readonly train: T[];
  readonly validation: T[];
  readonly trainIndices: number[];
  readonly validationIndices: number[];
}

function labelOf(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null) return undefined;
  const label = (row as { label?: unknown }).label;
  return typeof label === 'string' ? label : undefined;
}

/** Validation count from the options. */
function validationCount(n: number, opts: SplitOptions<unknown>): number {
  if (opts.validationSize !== undefined && opts.validationFraction !== undefined) {
    throw new NlsError('give validationSize or validationFraction, not both', { field: 'validationSize' });
  }
  if (opts.validationSize !== undefined) {
    const v = opts.validationSize;
    if (!Number.isSafeInteger(v) || v < 0 || v > n) {
      throw new NlsError(`must be an integer in 0..${n} (the number of rows), got ${v}. Fix: choose a smaller validation set`, { field: 'validationSize' });
    }
    return v;
  }
  const f = opts.validationFraction ?? 0.1;
  if (!(f >= 0 && f <= 1)) throw new NlsError(`must be in [0, 1], got ${f}`, { field: 'validationFraction' });
  return Math.round(n * f);
}

/**
 * Split rows into train and validation, deterministically from `seed`.
 *
 * Unstratified: the indices are shuffled (Fisher-Yates, {@link createRng}`(seed)`) and the first
 * `v` form the validation set. Stratified (default for rows with a string `label`): strata are
 * visited in sorted order; stratum `g` with `n_g` rows gets `floor(v * n_g / n)` validation rows,
 * the `v - sum` rows left over go to the strata with the largest remainders (ties: sorted label
 * order); each stratum's indices are shuffled with the same rng and its first `v_g` are held out.
 * Both outputs keep the input order.
 */
export function splitDataset<T>(rows: readonly T[], options: SplitOptions<T>): Split<T> {
  const n = rows.length;
  const v = validationCount(n, options as SplitOptions<unknown>);
  const rng = createRng(options.seed);
  let stratum: ((row: T) => string) | undefined;
  if (options.stratify !== undefined) {
    stratum = options.stratify === false ? undefined : options.stratify;
  } else if (n > 0 && rows.every((r) => labelOf(r) !== undefined)) {
    stratum = (r) => labelOf(r) as string;
  }
  const held = new Set<number>();
  if (stratum === undefined) {
    for (const i of permutation(n, rng).slice(0, v)) held.add(i);
  } else {
    const groups = new Map<string, number[]>();
    rows.forEach((r, i) => {
      const key = (stratum as (row: T) => string)(r);
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = []));
      g.push(i);
    });
    const keys = sortStrings(groups.keys());
    const quota = keys.map((k) => {
      const size = (groups.get(k) as number[]).length;
      return { key: k, take: Math.floor((v * size) / n), rem: (v * size) % n };
    });
    let left = v - quota.reduce((s, q) => s + q.take, 0);
    const byRemainder = quota.map((q, i) => ({ rem: q.rem, i })).sort((a, b) => b.rem - a.rem || a.i - b.i);
    for (const { i } of byRemainder) {
      if (left === 0) break;
      (quota[i] as { take: number }).take += 1;
      left--;
    }
    for (const q of quota) {
      const members = shuffle(groups.get(q.key) as number[], rng);
      for (const i of members.slice(0, q.take)) held.add(i);
    }
  }
  const trainIndices: number[] = [];
  const validationIndices: number[] = [];
  for (let i = 0; i < n; i++) (held.has(i) ? validationIndices : trainIndices).push(i);
  return {
    train: trainIndices.map((i) => rows[i] as T),
    validation: validationIndices.map((i) => rows[i] as T),
    trainIndices,
    validationIndices,
  };
}

/**
 * {@link splitDataset} applied to a loaded {@link Dataset}: two datasets of the same format, with
 * their source line numbers; a classification split keeps the full label set in both halves (so
 * candidates are the same for train and validation). Stratified by label for classification.
 */
export function splitLoadedDataset(
  dataset: Dataset,
  options: Omit<SplitOptions<unknown>, 'stratify'> & { stratify?: false },
): { train: Dataset; validation: Dataset } {
  const split = splitDataset<unknown>(dataset.rows, options);
  const part = (indices: number[]): Dataset =>
    ({
      ...dataset,
      rows: indices.map((i) => dataset.rows[i]),
      lines: dataset.lines.length === 0 ? [] : indices.map((i) => dataset.lines[i] as number),
    }) as Dataset;
  return { train: part(split.trainIndices), validation: part(split.validationIndices) };
}
