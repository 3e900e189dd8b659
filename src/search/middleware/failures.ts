/**
 * Failure handling: an evaluation that throws becomes a `failed` trial carrying the error's
 * message, and the study goes on. Fatal errors ({@link isFatalError}) are rethrown and stop the
 * study.
 *
 * When a whole batch throws, the evaluator cannot say which configuration was at fault:
 * - `fail-all` (default) marks every configuration of the batch that has not reported an outcome
 *   as failed with the error's message;
 * - `isolate` evaluates those configurations again one at a time, so only the ones that throw on
 *   their own fail (costs extra evaluations; use it when evaluations are cheap or failures rare).
 */
import { NlsError } from '../../errors.js';
import { errorMessage, isFatalError, subContext, type EvaluationOutcome, type Evaluator, type EvaluationContext, type EvaluatorMiddleware } from '../evaluator.js';
import type { Config } from '../../space/index.js';

/** Options of {@link failureMiddleware}. */
export interface FailureHandlingOptions {
  /** What to do when a batch throws (see the module comment). Default `fail-all`. */
  readonly onBatchError?: 'fail-all' | 'isolate';
  /** Errors for which this returns true stop the study (default {@link isFatalError}). */
  readonly isFatal?: (err: unknown) => boolean;
}

/** Middleware turning thrown evaluations into failed outcomes (see the module comment). */
export function failureMiddleware(options: FailureHandlingOptions = {}): EvaluatorMiddleware {
  const mode = options.onBatchError ?? 'fail-all';
  if (mode !== 'fail-all' && mode !== 'isolate') {
    throw new NlsError(`onBatchError must be "fail-all" or "isolate", got ${JSON.stringify(mode)}`, { field: 'failures.onBatchError' });
  }
  const isFatal = options.isFatal ?? isFatalError;
  return (next) => ({
    async evaluate(configs, ctx) {
      const reported = new Map<number, EvaluationOutcome>();
      const tracked: EvaluationContext = {
        ...ctx,
        report: (i, o) => {
          if (reported.has(i)) return;
          reported.set(i, o);
          ctx.report?.(i, o);
        },
      };
      try {
        return await next.evaluate(configs, tracked);
      } catch (err) {
        if (isFatal(err)) throw err;
        const rest = configs.map((_, i) => i).filter((i) => !reported.has(i));
        const out: EvaluationOutcome[] = configs.map((_, i) => reported.get(i) ?? { state: 'failed', message: errorMessage(err) });
        if (mode === 'isolate' && configs.length > 1) {
          for (const i of rest) out[i] = await evaluateAlone(next, configs[i] ?? [], subContext(ctx, [i]), isFatal);
        }
        for (const i of rest) {
          reported.set(i, out[i] as EvaluationOutcome); // silence late reports of the abandoned batch
          ctx.report?.(i, out[i] as EvaluationOutcome);
        }
        return out;
      }
    },
  });
}

async function evaluateAlone(next: Evaluator, config: Config, ctx: EvaluationContext, isFatal: (err: unknown) => boolean): Promise<EvaluationOutcome> {
  let reportedOutcome: EvaluationOutcome | undefined;
  try {
    const [o] = await next.evaluate([config], { ...ctx, report: (_i, outcome) => (reportedOutcome ??= outcome) });
    return reportedOutcome ?? o ?? { state: 'failed', message: 'evaluator returned no outcome' };
  } catch (err) {
    if (isFatal(err)) throw err;
    return reportedOutcome ?? { state: 'failed', message: errorMessage(err) };
  }
}
