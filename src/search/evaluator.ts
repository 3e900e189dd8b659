/**
 * Evaluators: how a study turns configurations into objective and constraint values.
 *
 * An {@link Evaluator} receives a batch of configurations and returns one
 * {@link EvaluationOutcome} per configuration, in order. It may also *report* each outcome as soon
 * as it is known (`ctx.report`), which lets the study journal finished trials while the rest of the
 * batch is still running, so a crash loses as little work as possible.
 *
 * Middleware ({@link EvaluatorMiddleware}) wraps an evaluator to add behaviour around it — the
 * study's dedup cache, cost filter, failure handling and timeouts are middleware (see
 * `src/search/middleware/`), and users can add their own. {@link composeEvaluator} stacks them.
 *
 * {@link functionEvaluator} adapts a plain per-configuration function, the common case.
 */
import type { Config, SearchSpace } from '../space/index.js';
import type { ConstraintSpec, ObjectiveSpec, TrialResult } from './contract.js';

/** A configuration was evaluated: its objective values and, when the study has constraints, constraint values. */
export interface CompleteOutcome {
  readonly state: 'complete';
  /** One finite value per objective, in the study's objective order. */
  readonly values: readonly number[];
  /** One finite value per constraint, in the study's constraint order (`<= 0` = satisfied). */
  readonly constraints?: readonly number[];
  /** Extra facts to record with the trial (JSON-serializable). */
  readonly attrs?: Readonly<Record<string, unknown>>;
  /** Share of the full evaluation the values were measured on, in (0, 1]; omit for a full evaluation (see `TrialResult.fidelity`). */
  readonly fidelity?: number;
}

/** The evaluation threw or could not produce values. */
export interface FailedOutcome {
  readonly state: 'failed';
  /** Why, for the journal and the user. */
  readonly message: string;
  readonly attrs?: Readonly<Record<string, unknown>>;
}

/** The configuration was rejected before evaluation (e.g. by a cost filter). It costs no budget. */
export interface FilteredOutcome {
  readonly state: 'filtered';
  /** Why it was rejected. */
  readonly message: string;
  readonly attrs?: Readonly<Record<string, unknown>>;
}

/** The outcome of evaluating one configuration. */
export type EvaluationOutcome = CompleteOutcome | FailedOutcome | FilteredOutcome;

/** What an evaluator is told about the batch it evaluates. */
export interface EvaluationContext {
  readonly space: SearchSpace;
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** Index of the study batch (0-based). */
  readonly batch: number;
  /** Ask round within the batch (0 = the batch's first ask, then cost-filter replacement rounds). */
  readonly round: number;
  /** Trial number of each configuration (parallel to `configs`). */
  readonly numbers: readonly number[];
  /** Canonical key of each configuration (parallel to `configs`). */
  readonly keys: readonly string[];
  /**
   * The trials finished before this round, in number order (studies provide it). Evaluators that
   * decide by earlier results (multi-fidelity racing stops a candidate that cannot reach their
   * front) must use only these, never outcomes of the same round, so that a resumed study decides
   * exactly as an uninterrupted one.
   */
  readonly trials?: readonly TrialResult[];
  /**
   * Aborted when the evaluation should stop early (the study is stopping, or a timeout fired).
   * Cooperative: JavaScript cannot interrupt running code, so long evaluations should check it.
   */
  readonly signal: AbortSignal;
  /**
   * Report the final outcome of configuration `index` as soon as it is known. Optional to call;
   * an outcome reported here is the one recorded (the returned array must agree with it). The
   * study journals reported trials at once.
   */
  readonly report?: (index: number, outcome: EvaluationOutcome) => void;
}

/** Evaluates batches of configurations. */
export interface Evaluator {
  /**
   * Evaluate `configs` and resolve to one outcome per configuration, in order. Throwing rejects
   * the whole batch: the failure middleware records that as failed trials, except for
   * {@link FatalEvaluationError}, which stops the study.
   */
  evaluate(configs: readonly Config[], ctx: EvaluationContext): Promise<EvaluationOutcome[]>;
}

/** Wraps an evaluator with extra behaviour (caching, filtering, failure handling, timeouts, logging...). */
export type EvaluatorMiddleware = (next: Evaluator) => Evaluator;

/**
 * Stack middleware around `base`. The first middleware listed is the outermost: it sees every
 * batch first and every outcome last. `composeEvaluator(e, a, b)` is `a(b(e))`.
 */
export function composeEvaluator(base: Evaluator, ...middleware: readonly EvaluatorMiddleware[]): Evaluator {
  let out = base;
  for (let i = middleware.length - 1; i >= 0; i--) {
    const mw = middleware[i];
    if (mw) out = mw(out);
  }
  return out;
}

/**
 * An error that must stop the study rather than fail one trial (out of memory, a lost device, a
 * deliberate abort). Failure handling rethrows it; the study stops at once without telling the
 * strategy, exactly as a crash would, and `Study.resume` continues from the journal.
 * Any error with a truthy `fatal` property is treated the same way.
 */
export class FatalEvaluationError extends Error {
  /** Marks the error as fatal for {@link isFatalError}. */
  readonly fatal = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FatalEvaluationError';
  }
}

/** True for errors that must stop the study: {@link FatalEvaluationError} or any error with `fatal: true`. */
export function isFatalError(err: unknown): boolean {
  return err instanceof FatalEvaluationError || (typeof err === 'object' && err !== null && (err as { fatal?: unknown }).fatal === true);
}

/** A one-line message for an error of any type. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/**
 * The context for evaluating the subset `indices` of a batch: numbers and keys restricted to the
 * subset, and `report` mapped back to the parent's indices. For middleware that answers some
 * configurations itself and forwards the rest.
 */
export function subContext(ctx: EvaluationContext, indices: readonly number[], signal: AbortSignal = ctx.signal): EvaluationContext {
  const parentReport = ctx.report;
  return {
    ...ctx,
    numbers: indices.map((i) => ctx.numbers[i] ?? -1),
    keys: indices.map((i) => ctx.keys[i] ?? ''),
    signal,
    ...(parentReport ? { report: (k: number, outcome: EvaluationOutcome) => parentReport(indices[k] ?? -1, outcome) } : {}),
  };
}

/**
 * Evaluate a batch of which some outcomes are already decided: report the decided ones at once,
 * forward the others to `next` (with a {@link subContext}), and merge. The building block of
 * filtering and caching middleware.
 */
export async function evaluateUndecided(
  next: Evaluator,
  configs: readonly Config[],
  ctx: EvaluationContext,
  decided: ReadonlyMap<number, EvaluationOutcome>,
): Promise<EvaluationOutcome[]> {
  const out = new Array<EvaluationOutcome | undefined>(configs.length);
  const rest: number[] = [];
  for (let i = 0; i < configs.length; i++) {
    const d = decided.get(i);
    if (d) {
      out[i] = d;
      ctx.report?.(i, d);
    } else rest.push(i);
  }
  if (rest.length > 0) {
    const results = await next.evaluate(
      rest.map((i) => configs[i] ?? []),
      subContext(ctx, rest),
    );
    checkOutcomeCount(results, rest.length);
    rest.forEach((i, k) => (out[i] = results[k]));
  }
  return out as EvaluationOutcome[];
}

/** Throw when an evaluator returned the wrong number of outcomes (a programming error). */
export function checkOutcomeCount(results: unknown, expected: number): asserts results is EvaluationOutcome[] {
  if (!Array.isArray(results) || results.length !== expected) {
    const got = Array.isArray(results) ? `${results.length} outcomes` : typeof results;
    throw new FatalEvaluationError(`evaluator returned ${got} for ${expected} configurations; an evaluator must resolve to one outcome per configuration, in order`);
  }
}

/** What {@link functionEvaluator}'s function is told about one trial. */
export interface TrialEvaluationContext {
  readonly space: SearchSpace;
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** Trial number. */
  readonly number: number;
  /** Canonical key of the configuration. */
  readonly key: string;
  readonly batch: number;
  readonly round: number;
  /** Aborted when the evaluation should stop early. */
  readonly signal: AbortSignal;
}

/**
 * What an objective function returns: the objective value(s), or an object with values,
 * constraint values and attributes.
 */
export type ObjectiveFunctionResult =
  | number
  | readonly number[]
  | {
      readonly values: number | readonly number[];
      readonly constraints?: readonly number[];
      readonly attrs?: Readonly<Record<string, unknown>>;
      /** Share of the full evaluation the values were measured on (see `TrialResult.fidelity`). */
      readonly fidelity?: number;
    };

/** A per-configuration objective function. */
export type ObjectiveFunction = (config: Config, ctx: TrialEvaluationContext) => ObjectiveFunctionResult | Promise<ObjectiveFunctionResult>;

/** Options of {@link functionEvaluator}. */
export interface FunctionEvaluatorOptions {
  /** How many configurations to evaluate at once (default 1: one after another, in order). */
  readonly concurrency?: number;
}

/** Turn an objective function's result into an outcome. */
export function outcomeFromResult(result: ObjectiveFunctionResult): EvaluationOutcome {
  if (typeof result === 'number') return { state: 'complete', values: [result] };
  if (Array.isArray(result)) return { state: 'complete', values: [...(result as readonly number[])] };
  const r = result as Exclude<ObjectiveFunctionResult, number | readonly number[]>;
  if (typeof r !== 'object' || r === null || !('values' in r)) {
    return { state: 'failed', message: `objective function returned ${errorMessage(result)}; expected a number, an array of numbers or { values, constraints?, attrs? }` };
  }
  const values = typeof r.values === 'number' ? [r.values] : [...r.values];
  return {
    state: 'complete',
    values,
    ...(r.constraints !== undefined ? { constraints: [...r.constraints] } : {}),
    ...(r.attrs !== undefined ? { attrs: r.attrs } : {}),
    ...(r.fidelity !== undefined ? { fidelity: r.fidelity } : {}),
  };
}

/**
 * An evaluator that calls `fn` once per configuration, `concurrency` at a time, reporting each
 * outcome as soon as it is known. A throw from `fn` becomes a `failed` outcome with the error's
 * message — except a fatal error ({@link isFatalError}), which rejects the batch at once and stops
 * the study.
 */
export function functionEvaluator(fn: ObjectiveFunction, options: FunctionEvaluatorOptions = {}): Evaluator {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`functionEvaluator: concurrency must be a positive integer, got ${concurrency}`);
  return {
    evaluate(configs, ctx) {
      return new Promise<EvaluationOutcome[]>((resolve, reject) => {
        const out = new Array<EvaluationOutcome>(configs.length);
        let nextIndex = 0;
        let running = 0;
        let finished = 0;
        let stopped = false;
        const launch = (): void => {
          while (!stopped && running < concurrency && nextIndex < configs.length) {
            const i = nextIndex++;
            running++;
            const tctx: TrialEvaluationContext = {
              space: ctx.space,
              objectives: ctx.objectives,
              constraints: ctx.constraints,
              number: ctx.numbers[i] ?? -1,
              key: ctx.keys[i] ?? '',
              batch: ctx.batch,
              round: ctx.round,
              signal: ctx.signal,
            };
            Promise.resolve()
              .then(() => fn(configs[i] ?? [], tctx))
              .then(
                (result) => outcomeFromResult(result),
                (err: unknown): EvaluationOutcome => {
                  if (isFatalError(err)) throw err;
                  return { state: 'failed', message: errorMessage(err) };
                },
              )
              .then(
                (outcome) => {
                  running--;
                  if (stopped) return;
                  try {
                    out[i] = outcome;
                    ctx.report?.(i, outcome);
                    finished++;
                    if (finished === configs.length) resolve(out);
                    else launch();
                  } catch (err) {
                    stopped = true;
                    reject(err);
                  }
                },
                (err: unknown) => {
                  running--;
                  if (stopped) return;
                  stopped = true;
                  reject(err);
                },
              );
          }
        };
        if (configs.length === 0) resolve(out);
        else launch();
      });
    },
  };
}
