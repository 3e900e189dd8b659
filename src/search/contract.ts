/**
 * The search-strategy contract: what a plugin author implements.
 *
 * A strategy proposes configurations and learns from their results; the study owns everything
 * else: the loop, evaluation, deduplication, the journal, failure handling and budgets.
 *
 * ## Lifecycle
 *
 * 1. The study creates the strategy from its factory with the user's options.
 * 2. Repeatedly, until the budget is spent or the strategy is exhausted:
 *    - `ask(n, ctx)` returns **at most** `n` configurations (fewer, even none, when it has nothing
 *      new to propose; an empty answer to a fresh ask ends the study). Proposals must lie in
 *      `ctx.space`. They may repeat earlier ones: the study answers repeats from its cache
 *      without evaluating them again.
 *    - The study evaluates the batch, then calls `tell(results, ctx)` once with one result per
 *      proposed configuration, in the order they were asked. A result may be `failed` (the
 *      evaluation threw) or `filtered` (a cost filter rejected it before evaluation); a strategy
 *      must accept those and not count on their values.
 * 3. Every random choice must come from `ctx.rng`, and a strategy must keep no state that does
 *    not follow from the sequence of its asks and tells. The study relies on this to resume: it
 *    rebuilds a strategy by creating it afresh and replaying the journal's asks and tells with
 *    the same RNG, so a resumed study continues exactly as an uninterrupted one would.
 *
 * Strategies never evaluate anything and import no tfjs.
 */
import type { Predictor } from '../predict/predictor.js';
import type { Config, SearchSpace } from '../space/index.js';
import type { Rng } from '../util/rng.js';

/** Whether an objective is to be made large or small. */
export type Direction = 'minimize' | 'maximize';

/** One objective of a study. */
export interface ObjectiveSpec {
  /** Name, e.g. `accuracy`, `params`, `flops`, `latency`. */
  readonly name: string;
  readonly direction: Direction;
}

/** One constraint of a study: its value must be `<= 0` for a trial to be feasible. */
export interface ConstraintSpec {
  /** Name, e.g. `params<=150000`. */
  readonly name: string;
}

/** How a trial ended. */
export type TrialState = 'complete' | 'failed' | 'filtered';

/** A finished trial, as strategies see it and the journal stores it. */
export interface TrialResult {
  /** Trial number in the study, 0-based, in the order trials were asked. */
  readonly number: number;
  readonly config: Config;
  /** Canonical key of `config` (`SearchSpace.key`). */
  readonly key: string;
  readonly state: TrialState;
  /** Objective values in the study's objective order (complete trials only). */
  readonly values?: readonly number[];
  /** Constraint values in the study's constraint order; `<= 0` is satisfied (complete trials only). */
  readonly constraints?: readonly number[];
  /** Why it failed or was filtered. */
  readonly message?: string;
  /** Extra facts recorded with the trial (e.g. evaluation fidelity, seconds). */
  readonly attrs?: Readonly<Record<string, unknown>>;
  /**
   * Share of the full evaluation its values were measured on, in (0, 1] (e.g. 0.25 = a quarter of
   * the validation split), when the evaluator said so; absent means a full evaluation. A trial
   * below 1 was stopped early by a multi-fidelity evaluator (see `racingEvaluator`): its values
   * are estimates, and it never enters the Pareto front or the best trial.
   */
  readonly fidelity?: number;
}

/** What a strategy is given on every call. */
export interface StrategyContext {
  readonly space: SearchSpace;
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** The study's seeded RNG: the only source of randomness a strategy may use. */
  readonly rng: Rng;
  /** Every finished trial so far, in trial-number order (including failed and filtered ones). */
  readonly trials: readonly TrialResult[];
  /** Evaluations the study may still spend, or `Infinity`. */
  readonly remainingBudget: number;
  /**
   * Per-configuration statistics from supernet training (activation count, mean training loss),
   * when the study has them; heuristic strategies use them.
   */
  readonly trainingStatistics?: readonly { readonly key: string; readonly activations: number; readonly meanLoss: number }[];
  /**
   * Fit a surrogate (ridge regression on configuration features) of one objective, by index or
   * name, on the evaluated trials so far (`fitTrialSurrogate`); deterministic, so a strategy that
   * uses it stays replayable. Studies provide it; contexts built elsewhere may not.
   */
  readonly fitSurrogate?: (objective: number | string) => Predictor;
  /**
   * Objectives and constraints whose values the study knows for any configuration without
   * evaluating it (analytic costs such as adapter parameters or FLOPs; `StudyOptions.known`), by
   * index; undefined where unknown. A model-based strategy uses them as exact models.
   */
  readonly known?: KnownValues;
}

/** The value of an objective or constraint for a configuration, computed without evaluating it. */
export type KnownValueFn = (config: Config) => number;

/** Known objectives and constraints, indexed like the study's objectives and constraints. */
export interface KnownValues {
  readonly objectives: readonly (KnownValueFn | undefined)[];
  readonly constraints: readonly (KnownValueFn | undefined)[];
}

/** A search strategy instance (stateful). */
export interface SearchStrategy {
  /** Propose at most `n` configurations. See the lifecycle above. */
  ask(n: number, ctx: StrategyContext): Config[];
  /** Learn from the results of the last ask, one per proposed configuration, in order. */
  tell(results: readonly TrialResult[], ctx: StrategyContext): void;
}

/** Documentation of one option of a strategy, for `nls strategies` and docs. */
export interface StrategyOptionDoc {
  readonly name: string;
  readonly type: 'number' | 'integer' | 'boolean' | 'string';
  readonly default?: number | boolean | string;
  /** Allowed values, for string options. */
  readonly choices?: readonly string[];
  readonly description: string;
}

/** What a strategy module (built-in or plugin) exports: a named, versioned factory. */
export interface StrategyFactory {
  /** Registry name, e.g. `nsga2`; plugins use a distinctive name. */
  readonly name: string;
  /** Semantic version of the strategy's behaviour: resuming a study with another version is refused. */
  readonly version: string;
  /** One line for `nls strategies`. */
  readonly description: string;
  readonly options: readonly StrategyOptionDoc[];
  /**
   * Create a fresh instance. `options` are the user's options (already merged with defaults by
   * the registry); a factory must validate them and throw an NlsError naming the bad option.
   */
  create(options: Readonly<Record<string, unknown>>): SearchStrategy;
}
