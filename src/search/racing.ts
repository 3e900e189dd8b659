/**
 * Multi-fidelity evaluation by racing: score a candidate on a small fixed part of the evaluation
 * first, and go on to the full evaluation only while the candidate can still reach the Pareto
 * front.
 *
 * A *staged* evaluation ({@link StagedEvaluation}) is advanced through increasing fidelities
 * (shares of the full evaluation, e.g. 1/8, 1/4, 1/2, 1 of the validation split; nested, so each
 * stage only adds the work between the previous share and this one). After every stage below 1 it
 * reports point estimates and *optimistic bounds* of the objectives and constraints: values the
 * full evaluation beats with only a small, stated probability (see `src/evaluate/confidence.ts`).
 * The candidate is stopped when even its optimistic bounds cannot enter the front of the study's
 * fully evaluated trials:
 *
 * - some feasible full-fidelity trial dominates the optimistic objective vector, or
 * - an optimistic constraint value is still violated (> 0) while some full-fidelity trial is
 *   feasible (with no feasible trial yet, infeasible candidates are all the study has to learn
 *   from, so they are evaluated fully).
 *
 * A stopped candidate is recorded with its estimates and `fidelity < 1`: strategies see it (as a
 * poor candidate), but it never enters the front or the best trial (`src/search/results.ts`).
 * When the bounds hold, racing keeps every member of the true front: a front member is dominated
 * by no trial, so it is never stopped (tested as a property).
 *
 * Decisions use only the trials finished before the round (`EvaluationContext.trials`), so they
 * do not depend on the order in which concurrent evaluations finish, and a resumed study decides
 * exactly as an uninterrupted one.
 */
import { NlsError } from '../errors.js';
import type { Config } from '../space/index.js';
import type { ObjectiveSpec, TrialResult } from './contract.js';
import { functionEvaluator, type Evaluator, type ObjectiveFunctionResult, type TrialEvaluationContext } from './evaluator.js';
import { dominates, isFeasible } from './pareto.js';
import { paretoFront } from './results.js';

/** What one stage of a staged evaluation reports. */
export interface FidelityEstimate {
  /** Point estimates of the objectives at this fidelity, in the study's objective order. */
  readonly values: readonly number[];
  /**
   * Optimistic bounds of the full-fidelity objective values: at least the estimate for a maximized
   * objective, at most for a minimized one. Equal to `values` for objectives that are exact at any
   * fidelity (analytic cost). Ignored at fidelity 1.
   */
  readonly optimistic: readonly number[];
  /** Constraint estimates (`<= 0` = satisfied), in the study's constraint order. */
  readonly constraints?: readonly number[];
  /** Optimistic (smallest plausible) constraint values. Defaults to `constraints`. */
  readonly optimisticConstraints?: readonly number[];
  /** Extra facts to record with the trial. */
  readonly attrs?: Readonly<Record<string, unknown>>;
}

/**
 * An evaluation of one configuration that can be advanced in stages. `advance` is called with
 * strictly increasing fidelities, the last being 1; each call does only the work that the
 * previous one did not.
 */
export interface StagedEvaluation {
  advance(fidelity: number): Promise<FidelityEstimate>;
  /** Called once when the evaluation ends (stopped, complete or failed), to free resources. */
  close?(): void;
}

/** Opens a staged evaluation of a configuration. */
export type StagedObjective = (config: Config, ctx: TrialEvaluationContext) => StagedEvaluation | Promise<StagedEvaluation>;

/** Options of {@link racingEvaluator}. */
export interface RacingOptions {
  /** Increasing shares of the full evaluation in (0, 1], ending with 1 (e.g. `[0.25, 0.5, 1]`). */
  readonly fidelities: readonly number[];
  /** Configurations evaluated at once (default 1). */
  readonly concurrency?: number;
}

/** What racing records in a trial's attrs under `racing`. */
export interface RacingRecord {
  /** The fidelities scheduled. */
  readonly fidelities: readonly number[];
  /** Stages run (1 = only the first). */
  readonly stages: number;
  /** Set when the candidate was stopped early: why. */
  readonly stopped?: { readonly reason: 'dominated' | 'infeasible'; readonly by?: number; readonly optimistic: readonly number[] };
}

/** Check a fidelity schedule; throws an NlsError naming `field` and the fix. */
export function checkFidelities(fidelities: readonly number[], field = 'fidelities'): void {
  const fix = 'fix: give increasing shares in (0, 1] that end with 1, e.g. 0.25,0.5,1';
  if (!Array.isArray(fidelities) || fidelities.length === 0) throw new NlsError(`no fidelities given; ${fix}`, { field });
  fidelities.forEach((f, i) => {
    if (typeof f !== 'number' || !(f > 0 && f <= 1)) throw new NlsError(`fidelity ${i} is ${String(f)}, not in (0, 1]; ${fix}`, { field });
    if (i > 0 && !(f > (fidelities[i - 1] ?? 0))) throw new NlsError(`fidelities must increase, but ${String(fidelities[i - 1])} is followed by ${String(f)}; ${fix}`, { field });
  });
  if (fidelities[fidelities.length - 1] !== 1) throw new NlsError(`the last fidelity must be 1 (the full evaluation), got ${String(fidelities[fidelities.length - 1])}; ${fix}`, { field });
}

/**
 * Why a candidate with these optimistic bounds cannot reach the front of `front` (feasible
 * full-fidelity trials), or undefined when it still can.
 */
export function racingVerdict(
  optimistic: readonly number[],
  optimisticConstraints: readonly number[] | undefined,
  front: readonly TrialResult[],
  objectives: readonly ObjectiveSpec[],
): RacingRecord['stopped'] {
  if (front.length === 0) return undefined;
  if (!isFeasible(optimisticConstraints)) return { reason: 'infeasible', optimistic: [...optimistic] };
  const by = front.find((t) => dominates(t.values ?? [], optimistic, objectives));
  return by ? { reason: 'dominated', by: by.number, optimistic: [...optimistic] } : undefined;
}

/**
 * An evaluator that races each configuration through `options.fidelities` (see the module
 * comment). Outcomes carry `fidelity` (the share actually evaluated) and `attrs.racing`
 * ({@link RacingRecord}) besides the attrs of the last stage.
 */
export function racingEvaluator(open: StagedObjective, options: RacingOptions): Evaluator {
  checkFidelities(options.fidelities);
  const fidelities = [...options.fidelities];
  return {
    evaluate(configs, ctx) {
      // One front for the whole round, from earlier rounds only (see the module comment).
      const front = paretoFront(ctx.trials ?? [], ctx.objectives);
      const race = async (config: Config, tctx: TrialEvaluationContext): Promise<ObjectiveFunctionResult> => {
        const staged = await open(config, tctx);
        try {
          for (let stage = 0; stage < fidelities.length; stage++) {
            const fidelity = fidelities[stage]!;
            const est = await staged.advance(fidelity);
            const stopped = fidelity < 1 ? racingVerdict(est.optimistic, est.optimisticConstraints ?? est.constraints, front, ctx.objectives) : undefined;
            if (fidelity === 1 || stopped) {
              const racing: RacingRecord = { fidelities, stages: stage + 1, ...(stopped ? { stopped } : {}) };
              return {
                values: est.values,
                ...(est.constraints ? { constraints: est.constraints } : {}),
                attrs: { ...est.attrs, racing },
                fidelity,
              };
            }
          }
          throw new Error('unreachable: the last fidelity is 1');
        } finally {
          staged.close?.();
        }
      };
      return functionEvaluator(race, options.concurrency !== undefined ? { concurrency: options.concurrency } : {}).evaluate(configs, ctx);
    },
  };
}
