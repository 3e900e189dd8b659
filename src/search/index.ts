/**
 * Search: the strategy contract, studies (loop, journal, exact resume), evaluators and their
 * middleware, multi-objective results, the strategy registry and plugin loading.
 *
 * Pure TypeScript: nothing here imports tfjs. See docs/search.md and docs/plugins.md. The
 * conformance kit for strategy authors is the separate entry point `nls/testing`
 * (src/search/testing.ts), so that fast-check is only loaded by tests.
 *
 * @packageDocumentation
 */
export type {
  ConstraintSpec,
  Direction,
  KnownValueFn,
  KnownValues,
  ObjectiveSpec,
  SearchStrategy,
  StrategyContext,
  StrategyFactory,
  StrategyOptionDoc,
  TrialResult,
  TrialState,
} from './contract.js';
export {
  composeEvaluator,
  errorMessage,
  evaluateUndecided,
  FatalEvaluationError,
  functionEvaluator,
  isFatalError,
  outcomeFromResult,
  subContext,
  type CompleteOutcome,
  type EvaluationContext,
  type EvaluationOutcome,
  type Evaluator,
  type EvaluatorMiddleware,
  type FailedOutcome,
  type FilteredOutcome,
  type FunctionEvaluatorOptions,
  type ObjectiveFunction,
  type ObjectiveFunctionResult,
  type TrialEvaluationContext,
} from './evaluator.js';
export { cacheMiddleware, cachedOutcome, isCachedTrial, TrialCache, type CacheableTrial, type TrialCacheOptions } from './middleware/cache.js';
export { costFilterMiddleware, type CostFilterOptions } from './middleware/cost-filter.js';
export { failureMiddleware, type FailureHandlingOptions } from './middleware/failures.js';
export { timeoutMiddleware, type TimeoutOptions } from './middleware/timeout.js';
export {
  constrainedDominates,
  crowdingDistance,
  directionSigns,
  dominates,
  isFeasible,
  nonDominatedSort,
  paretoFrontIndices,
  totalViolation,
  type DirectionsLike,
} from './pareto.js';
export { hypervolume } from './hypervolume.js';
export {
  checkFidelities,
  racingEvaluator,
  racingVerdict,
  type FidelityEstimate,
  type RacingOptions,
  type RacingRecord,
  type StagedEvaluation,
  type StagedObjective,
} from './racing.js';
export { fitTrialSurrogate, type SurrogateOptions } from './surrogate.js';
export {
  JournalWriter,
  readJournal,
  STUDY_FORMAT,
  type AskRecord,
  type EndRecord,
  type JournalContents,
  type JournalRecord,
  type JournalWriterOptions,
  type ResumeRecord,
  type StopReason,
  type StrategySourceRecord,
  type StudyHeaderRecord,
  type TrialRecord,
  type TrialTime,
} from './journal.js';
export {
  bestFeasibleTrial,
  bestTrial,
  feasibleTrials,
  PARETO_FORMAT,
  paretoFront,
  paretoJson,
  trialsHypervolume,
  usableTrials,
  writeParetoJson,
  type ParetoFile,
  type ParetoMember,
  type ParetoSource,
} from './results.js';
export { ProgressTracker, type ProgressLike, type StudyProgress } from './study-progress.js';
// Bayesian optimisation numerics (the mobo strategy's) and the synthetic benchmark problems.
export { fitGaussianProcess, gaussianProcessWith, type GaussianProcess, type GpFitOptions, type GpHyperparameters, type GpPrediction } from './bayes/gp.js';
export { ehvi2d, logEhvi2d, prepareEhvi2d, hypervolume2d, type PreparedEhvi2d } from './bayes/ehvi.js';
export { expectedImprovement, logExpectedImprovement, normalCdf, normalLogCdf } from './bayes/normal.js';
export { exactFront, noiseOf, syntheticProblem, syntheticSuite, trueValues, type SyntheticProblem } from './synthetic-problems.js';
export { JOURNAL_FILE, journalPath, Study, STUDY_DEFAULTS, type KnownOptions, type StudyOptions, type StudyRunResult, type TrainingStatistics } from './study.js';
export {
  defaultRegistry,
  getStrategy,
  instantiateStrategy,
  listStrategies,
  registerStrategy,
  resolveStrategyOptions,
  StrategyRegistry,
  validateStrategyFactory,
  type RegisteredStrategy,
  type RegisterOptions,
} from './registry.js';
export { isPathSpec, loadStrategyPlugin, loadStrategySpec, pluginFactories, resolvePluginSpec, splitStrategySpec, type LoadedPlugin, type LoadPluginOptions } from './plugins.js';
