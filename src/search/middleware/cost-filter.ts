/**
 * Cost filter: configurations whose *predicted* cost exceeds a bound are recorded as `filtered`
 * without being evaluated (they cost no budget), and the study asks the strategy for replacements
 * — at most `maxReplacementRounds` times per batch, never an unbounded rejection loop.
 *
 * The predictor is any cheap, deterministic function of the configuration: a parameter count, a
 * FLOP estimate, a latency model. Determinism matters: on resume the filter runs again and must
 * reach the same verdicts.
 */
import type { Config, SearchSpace } from '../../space/index.js';
import { NlsError } from '../../errors.js';
import { evaluateUndecided, type EvaluationOutcome, type EvaluatorMiddleware } from '../evaluator.js';

/** Options of {@link costFilterMiddleware}. */
export interface CostFilterOptions {
  /** Predicted cost of a configuration (cheap and deterministic). */
  readonly predict: (config: Config, space: SearchSpace) => number;
  /** Largest acceptable predicted cost; configurations predicted above it are filtered. */
  readonly bound: number;
  /** Name of the cost in messages and the journal header, e.g. `params` (default `cost`). */
  readonly name?: string;
}

/** Check the options of a cost filter. */
export function checkCostFilterOptions(options: CostFilterOptions): void {
  if (typeof options.predict !== 'function') throw new NlsError('costFilter.predict must be a function (config, space) => number', { field: 'costFilter.predict' });
  if (typeof options.bound !== 'number' || Number.isNaN(options.bound)) {
    throw new NlsError(`costFilter.bound must be a number, got ${String(options.bound)}`, { field: 'costFilter.bound' });
  }
}

/**
 * Middleware that filters configurations predicted to cost more than `bound`. A NaN prediction is
 * filtered too. Outcomes of configurations that pass get `attrs.predictedCost`.
 */
export function costFilterMiddleware(options: CostFilterOptions): EvaluatorMiddleware {
  checkCostFilterOptions(options);
  const name = options.name ?? 'cost';
  return (next) => ({
    async evaluate(configs, ctx) {
      const decided = new Map<number, EvaluationOutcome>();
      const predicted = configs.map((c) => options.predict(c, ctx.space));
      predicted.forEach((cost, i) => {
        if (!(cost <= options.bound)) {
          decided.set(i, {
            state: 'filtered',
            message: Number.isNaN(cost) ? `predicted ${name} is NaN` : `predicted ${name} ${cost} exceeds the bound ${options.bound}`,
            attrs: { predictedCost: Number.isFinite(cost) ? cost : String(cost) },
          });
        }
      });
      const withCost = (i: number, o: EvaluationOutcome): EvaluationOutcome =>
        o.state === 'filtered' ? o : { ...o, attrs: { predictedCost: predicted[i], ...(o.attrs ?? {}) } };
      const inner = await evaluateUndecided(next, configs, { ...ctx, ...(ctx.report ? { report: (i: number, o: EvaluationOutcome) => ctx.report?.(i, withCost(i, o)) } : {}) }, decided);
      return inner.map((o, i) => withCost(i, o));
    },
  });
}
