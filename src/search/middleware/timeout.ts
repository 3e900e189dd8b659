/**
 * Timeouts: an evaluation that takes longer than `seconds` is recorded as `failed` (with
 * `attrs.timedOut: true`) and the study moves on.
 *
 * Each configuration is passed to the wrapped evaluator on its own, `concurrency` at a time, with
 * its own deadline and its own `AbortSignal`, which is aborted at the deadline. JavaScript cannot
 * interrupt running code: an evaluator that ignores the signal keeps running in the background
 * and its late result is discarded. For hard limits, evaluate in a worker or child process and
 * terminate it when the signal fires.
 */
import { NlsError } from '../../errors.js';
import { errorMessage, isFatalError, subContext, type EvaluationOutcome, type EvaluatorMiddleware } from '../evaluator.js';

/** Options of {@link timeoutMiddleware}. */
export interface TimeoutOptions {
  /** Time limit of one evaluation, in seconds. */
  readonly seconds: number;
  /** How many configurations to evaluate at once (default 1). */
  readonly concurrency?: number;
}

/** Check the options of a timeout. */
export function checkTimeoutOptions(options: TimeoutOptions): void {
  if (typeof options.seconds !== 'number' || !(options.seconds > 0)) {
    throw new NlsError(`timeout seconds must be a positive number, got ${String(options.seconds)}`, { field: 'timeout.seconds' });
  }
  const c = options.concurrency ?? 1;
  if (!Number.isSafeInteger(c) || c < 1) throw new NlsError(`timeout concurrency must be a positive integer, got ${String(c)}`, { field: 'timeout.concurrency' });
}

/** Middleware enforcing a per-evaluation time limit (see the module comment). */
export function timeoutMiddleware(options: TimeoutOptions): EvaluatorMiddleware {
  checkTimeoutOptions(options);
  const ms = options.seconds * 1000;
  const concurrency = options.concurrency ?? 1;
  return (next) => ({
    async evaluate(configs, ctx) {
      const out = new Array<EvaluationOutcome>(configs.length);
      let cursor = 0;
      let stop = false;
      const one = async (i: number): Promise<void> => {
        const controller = new AbortController();
        const onParentAbort = (): void => controller.abort(ctx.signal.reason);
        ctx.signal.addEventListener('abort', onParentAbort, { once: true });
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        const sub = subContext(ctx, [i], controller.signal);
        const finish = (o: EvaluationOutcome): void => {
          if (settled) return;
          settled = true;
          out[i] = o;
          ctx.report?.(i, o);
        };
        const timedOut = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            finish({ state: 'failed', message: `evaluation timed out after ${options.seconds}s`, attrs: { timedOut: true } });
            controller.abort(new Error('timeout'));
            resolve();
          }, ms);
        });
        const run = next.evaluate([configs[i] ?? []], { ...sub, report: (_k, o) => finish(o) }).then((results) => {
          const o = results[0];
          if (o) finish(o);
        });
        try {
          await Promise.race([run, timedOut]);
        } catch (err) {
          // The configuration is known, so a throw is attributed to it alone; fatal errors stop everything.
          if (isFatalError(err)) {
            stop = true;
            throw err;
          }
          finish({ state: 'failed', message: errorMessage(err) });
        } finally {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onParentAbort);
          // A late rejection of an abandoned evaluation must not become an unhandled rejection.
          run.catch(() => undefined);
        }
      };
      const worker = async (): Promise<void> => {
        while (!stop && cursor < configs.length) await one(cursor++);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, configs.length) }, worker));
      return out;
    },
  });
}
