/**
 * Dedup cache: a configuration that was already evaluated is answered from the cache, without
 * evaluating it again and without spending budget.
 *
 * Rules (they make a resumed study behave exactly like an uninterrupted one):
 * - Across rounds, a key is answered from its latest non-cached trial when that trial is
 *   `complete`, or `failed` unless `retryFailed` is set. Filtered trials are never reused across
 *   rounds (filters are cheap and deterministic, so they simply run again).
 * - Within one round (one ask), a repeated key is evaluated once; its later copies take the first
 *   copy's outcome, whatever its state.
 * - A cached outcome copies the source's state, values, constraints, fidelity and message, and carries
 *   `attrs: { cached: true, cachedFrom: <trial number of the source> }`.
 *
 * The study owns the {@link TrialCache} and records every finished trial in it (also those replayed
 * from the journal on resume); the middleware only reads it.
 */
import type { TrialState } from '../contract.js';
import { evaluateUndecided, type EvaluationOutcome, type EvaluatorMiddleware } from '../evaluator.js';

/** The fields of a finished trial the cache needs. */
export interface CacheableTrial {
  readonly number: number;
  readonly key: string;
  readonly batch: number;
  readonly round: number;
  readonly state: TrialState;
  readonly values?: readonly number[];
  readonly constraints?: readonly number[];
  readonly message?: string;
  readonly attrs?: Readonly<Record<string, unknown>>;
  readonly fidelity?: number;
}

/** Options of {@link TrialCache}. */
export interface TrialCacheOptions {
  /** Evaluate a configuration again when its earlier evaluation failed (default false). */
  readonly retryFailed?: boolean;
}

/** True when a trial's attrs mark it as answered from the cache. */
export function isCachedTrial(trial: { readonly attrs?: Readonly<Record<string, unknown>> | undefined }): boolean {
  return trial.attrs?.['cached'] === true;
}

/** Finished trials by canonical key. */
export class TrialCache {
  private readonly byKey = new Map<string, CacheableTrial>();
  private readonly retryFailed: boolean;

  constructor(options: TrialCacheOptions = {}) {
    this.retryFailed = options.retryFailed ?? false;
  }

  /** Remember a finished trial. Cached trials are ignored (they point at their source). */
  record(trial: CacheableTrial): void {
    if (isCachedTrial(trial)) return;
    this.byKey.set(trial.key, trial);
  }

  /** The trial that answers `key` for a configuration asked in (`batch`, `round`), if any. */
  lookup(key: string, batch: number, round: number): CacheableTrial | undefined {
    const t = this.byKey.get(key);
    if (!t) return undefined;
    if (t.batch === batch && t.round === round) return t;
    if (t.state === 'complete') return t;
    if (t.state === 'failed' && !this.retryFailed) return t;
    return undefined;
  }

  /** Number of distinct keys remembered. */
  get size(): number {
    return this.byKey.size;
  }
}

/** The outcome a cached copy of `source` gets. */
export function cachedOutcome(source: CacheableTrial | EvaluationOutcome, cachedFrom: number): EvaluationOutcome {
  const attrs = { cached: true, cachedFrom };
  if (source.state === 'complete') {
    const values = source.values ?? [];
    return {
      state: 'complete',
      values: [...values],
      ...(source.constraints ? { constraints: [...source.constraints] } : {}),
      ...(source.fidelity !== undefined ? { fidelity: source.fidelity } : {}),
      attrs,
    };
  }
  return { state: source.state, message: source.message ?? source.state, attrs };
}

/** Middleware answering repeated configurations from `cache` (see the module comment). */
export function cacheMiddleware(cache: TrialCache): EvaluatorMiddleware {
  return (next) => ({
    async evaluate(configs, ctx) {
      const decided = new Map<number, EvaluationOutcome>();
      // Copies of a key first seen earlier in this batch wait for that first copy.
      const firstIndex = new Map<string, number>();
      const copies = new Map<number, number[]>();
      const forward: number[] = [];
      for (let i = 0; i < configs.length; i++) {
        const key = ctx.keys[i] ?? '';
        const hit = cache.lookup(key, ctx.batch, ctx.round);
        if (hit) {
          decided.set(i, cachedOutcome(hit, hit.number));
          continue;
        }
        const first = firstIndex.get(key);
        if (first !== undefined) {
          copies.get(first)?.push(i);
          continue;
        }
        firstIndex.set(key, i);
        copies.set(i, []);
        forward.push(i);
      }
      if (forward.length === configs.length) return next.evaluate(configs, ctx);

      const out = new Array<EvaluationOutcome | undefined>(configs.length);
      const reported = new Set<number>();
      const settle = (i: number, outcome: EvaluationOutcome): void => {
        if (reported.has(i)) return;
        reported.add(i);
        out[i] = outcome;
        ctx.report?.(i, outcome);
        for (const c of copies.get(i) ?? []) {
          const copy = cachedOutcome(outcome, ctx.numbers[i] ?? -1);
          out[c] = copy;
          ctx.report?.(c, copy);
        }
      };
      for (const [i, o] of decided) {
        out[i] = o;
        ctx.report?.(i, o);
      }
      const inner = await evaluateUndecided(
        next,
        forward.map((i) => configs[i] ?? []),
        { ...ctx, numbers: forward.map((i) => ctx.numbers[i] ?? -1), keys: forward.map((i) => ctx.keys[i] ?? ''), report: (k, o) => settle(forward[k] ?? -1, o) },
        new Map(),
      );
      forward.forEach((i, k) => {
        const o = inner[k];
        if (o) settle(i, o);
      });
      return out as EvaluationOutcome[];
    },
  });
}
