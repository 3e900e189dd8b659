/**
 * Timing of a repeated piece of work, robust to the occasional slow run (a garbage
 * collection, another process taking the core): the median of the runs after dropping those
 * farther than 3 MAD (median absolute deviation) from the median.
 *
 * Two clocks ({@link MeasureClock}): `wall` (`performance.now()`, what a user waits for) and
 * `cpu` (CPU time of the whole process, user + system, from `process.cpuUsage()`), which does
 * not count the time the process spends descheduled while other jobs use the cores. CPU time
 * approximates latency only for work computed on one thread; see {@link checkClockForBackend}.
 *
 * For tfjs work the timed function must wait for the result (`await t.data()`): tfjs ops only
 * enqueue work on asynchronous backends, so timing the call alone measures almost nothing.
 *
 * Pure TypeScript (no tfjs import).
 */
import { NlsError } from '../errors.js';

/**
 * What a measurement counts:
 *
 * - `wall`: elapsed real time (`performance.now()`). The latency a user sees, but on a shared
 *   machine it also counts the time other processes hold the core.
 * - `cpu`: CPU time of this process, user + system (`process.cpuUsage()`), in milliseconds. Time
 *   spent descheduled is not counted, so on a loaded machine it approximates the latency on an idle
 *   one, as long as the work runs on one thread. With several compute threads it is the sum over
 *   the threads, not a latency. It also counts the process's helper threads (garbage collector,
 *   background compilation), which is small once the process has settled.
 */
export type MeasureClock = 'wall' | 'cpu';

/** Every {@link MeasureClock}, for option parsing and messages. */
export const MEASURE_CLOCKS: readonly MeasureClock[] = ['wall', 'cpu'];

/** CPU time of this process so far (user + system, all threads), in milliseconds. */
export function cpuTimeMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The millisecond clock function of `clock`. */
export function clockFunction(clock: MeasureClock): () => number {
  return clock === 'cpu' ? cpuTimeMs : () => performance.now();
}

/**
 * Check a clock name read from an option or a file.
 *
 * @param field The option or JSON field it came from, named in the error.
 * @param file The file it came from, if any.
 * @throws NlsError naming `field` when `value` is not one of {@link MEASURE_CLOCKS}.
 */
export function parseClock(value: unknown, field = 'clock', file?: string): MeasureClock {
  if (value === 'wall' || value === 'cpu') return value;
  throw new NlsError(`expected one of ${MEASURE_CLOCKS.join(', ')}, got ${JSON.stringify(value) ?? String(value)}; fix: use wall (elapsed time) or cpu (process CPU time)`, {
    field,
    ...(file !== undefined ? { file } : {}),
  });
}

/** What {@link checkClockForBackend} decided: the clock can be used, possibly with a caveat. */
export interface ClockCheck {
  /** A caveat to show to the user (e.g. the thread count is unknown); absent when there is none. */
  readonly warning?: string;
}

/**
 * Decide whether `clock` measures latency on `backend`. The `wall` clock always does. The `cpu`
 * clock sums the CPU time of all threads, so it is refused for a backend that reports more than
 * one compute thread (2 threads busy for 10 ms would read 20 ms), accepted with a warning when
 * the backend does not report its threads (e.g. libtensorflow's own thread pool), and accepted
 * for single-threaded backends (wasm in Node, cpu).
 *
 * @throws NlsError (field `clock`) for `cpu` with `backend.threads > 1`.
 */
export function checkClockForBackend(clock: MeasureClock, backend: { readonly name: string; readonly threads?: number | undefined }): ClockCheck {
  if (clock === 'wall') return {};
  if (backend.threads === undefined) {
    return {
      warning:
        `backend ${backend.name} does not report how many threads it computes with; the cpu clock sums the CPU time of all threads, ` +
        'so if it uses several, the measurements are not latencies (use --clock wall on an idle machine)',
    };
  }
  if (backend.threads > 1) {
    throw new NlsError(
      `the cpu clock sums the CPU time of all threads, but backend ${backend.name} computes with ${backend.threads} threads, so it would not measure latency; ` +
        'fix: use --clock wall (on an idle machine), or a single-threaded backend',
      { field: 'clock' },
    );
  }
  return {};
}

/** Options of {@link measureMedian}. */
export interface MeasureOptions {
  /** Untimed runs before the timed ones (JIT, caches, lazily built kernels). Default 2. */
  readonly warmup?: number;
  /** Timed runs. Default 7. */
  readonly repeats?: number;
  /** Which clock times the runs (default `wall`); ignored when `now` is given. */
  readonly clock?: MeasureClock;
  /** Clock in milliseconds, overriding `clock`; replace it to test with a synthetic clock. */
  readonly now?: () => number;
}

/** Result of {@link measureMedian}. */
export interface Measurement {
  /** Median of the timed runs that were kept, in milliseconds. */
  readonly medianMs: number;
  /** Every timed run, in milliseconds, in the order they ran (rejected ones included). */
  readonly samplesMs: number[];
  /** How many timed runs were dropped as outliers (outside median ± 3·MAD). */
  readonly rejected: number;
}

/** Result of {@link robustMedian}. */
export interface RobustMedian {
  /** Median of the kept values (NaN for no values). */
  readonly median: number;
  /** Median absolute deviation of all values from their median. */
  readonly mad: number;
  /** The values within median ± 3·MAD, in input order. */
  readonly kept: number[];
  /** Number of values dropped. */
  readonly rejected: number;
}

/** Plain median (mean of the two middle values for an even count); NaN for no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Median of `values` after dropping those outside `median ± k·MAD` (k = 3 by default). The
 * MAD is not rescaled to a standard deviation, so the band is deliberately wide for normal
 * noise and only catches real outliers. When MAD is 0 (most values identical) only the values
 * equal to the median are kept.
 */
export function robustMedian(values: readonly number[], k = 3): RobustMedian {
  const m = median(values);
  const mad = median(values.map((v) => Math.abs(v - m)));
  if (values.length === 0) return { median: Number.NaN, mad: Number.NaN, kept: [], rejected: 0 };
  const bound = k * mad;
  const kept = values.filter((v) => Math.abs(v - m) <= bound);
  return { median: median(kept), mad, kept, rejected: values.length - kept.length };
}

function checkCount(value: number, min: number, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new NlsError(`${field} must be an integer >= ${min}, got ${String(value)}; fix: pass e.g. ${field} ${Math.max(min, 2)}`, { field });
  }
  return value;
}

/**
 * Time `fn`: run it `warmup` times untimed, then `repeats` times timed, one run after the
 * other; return the median of the timed runs after outlier rejection ({@link robustMedian}).
 *
 * @throws NlsError when `warmup` is not an integer >= 0 or `repeats` not an integer >= 1.
 */
export async function measureMedian(fn: () => Promise<void> | void, options: MeasureOptions = {}): Promise<Measurement> {
  const warmup = checkCount(options.warmup ?? 2, 0, 'warmup');
  const repeats = checkCount(options.repeats ?? 7, 1, 'repeats');
  const now = options.now ?? clockFunction(options.clock ?? 'wall');
  for (let i = 0; i < warmup; i++) await fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    await fn();
    samplesMs.push(now() - t0);
  }
  const r = robustMedian(samplesMs);
  return { medianMs: r.median, samplesMs, rejected: r.rejected };
}

/** Result of {@link measurePairedDifference}. */
export interface PairedMeasurement {
  /** Median of `b - a` over the kept pairs, in milliseconds. */
  readonly medianDiffMs: number;
  /** Timed runs of `a`, in order. */
  readonly aMs: number[];
  /** Timed runs of `b`, in order. */
  readonly bMs: number[];
  /** How many pairs were dropped as outliers (their difference outside median ± 3·MAD). */
  readonly rejected: number;
}

/**
 * Time how much slower `b` is than `a`: `repeats` pairs of runs back to back (`a` first in even pairs, `b` first in odd ones), and
 * the median of the per-pair differences `b - a` after outlier rejection ({@link robustMedian}).
 * Pairing cancels slow drift of the machine (warming caches, other processes, clock scaling),
 * which is larger than a small difference: measuring `a` and `b` at different times and
 * subtracting their medians can get even the sign wrong. Both are run `warmup` times untimed first.
 *
 * @throws NlsError when `warmup` is not an integer >= 0 or `repeats` not an integer >= 1.
 */
export async function measurePairedDifference(
  a: () => Promise<void> | void,
  b: () => Promise<void> | void,
  options: MeasureOptions = {},
): Promise<PairedMeasurement> {
  const warmup = checkCount(options.warmup ?? 2, 0, 'warmup');
  const repeats = checkCount(options.repeats ?? 7, 1, 'repeats');
  const now = options.now ?? clockFunction(options.clock ?? 'wall');
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const aMs: number[] = [];
  const bMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    // ABBA order: alternating which runs first cancels linear drift and first-after-switch effects.
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
    const t0 = now();
    await first();
    const t1 = now();
    await second();
    const t2 = now();
    aMs.push(i % 2 === 0 ? t1 - t0 : t2 - t1);
    bMs.push(i % 2 === 0 ? t2 - t1 : t1 - t0);
  }
  const r = robustMedian(bMs.map((v, i) => v - (aMs[i] as number)));
  return { medianDiffMs: r.median, aMs, bMs, rejected: r.rejected };
}

/**
 * Measure several functions interleaved: `warmup` untimed runs of each, then `repeats` rounds of
 * one timed run of each (order reversed every other round), so that slow drift of the machine
 * lands on all of them alike instead of on whichever ran during it. One {@link Measurement} per
 * function, in the order given (robust median of its runs). `onRound(r)` is called after each
 * timed round (1-based), for progress output.
 *
 * @throws NlsError when `warmup` is not an integer >= 0 or `repeats` not an integer >= 1.
 */
export async function measureRoundRobin(
  fns: readonly (() => Promise<void> | void)[],
  options: MeasureOptions = {},
  onRound?: (round: number) => void,
): Promise<Measurement[]> {
  const warmup = checkCount(options.warmup ?? 2, 0, 'warmup');
  const repeats = checkCount(options.repeats ?? 7, 1, 'repeats');
  const now = options.now ?? clockFunction(options.clock ?? 'wall');
  for (let w = 0; w < warmup; w++) for (const fn of fns) await fn();
  const samples = fns.map(() => [] as number[]);
  const forward = fns.map((_, i) => i);
  const backward = [...forward].reverse();
  for (let r = 0; r < repeats; r++) {
    for (const i of r % 2 === 0 ? forward : backward) {
      const t0 = now();
      await fns[i]!();
      samples[i]!.push(now() - t0);
    }
    onRound?.(r + 1);
  }
  return samples.map((samplesMs) => {
    const r = robustMedian(samplesMs);
    return { medianMs: r.median, samplesMs, rejected: r.rejected };
  });
}
