/**
 * A study: the search loop around a strategy, with an append-only journal and exact resume.
 *
 * ```
 * loop over batches:                                  (until budget, exhaustion, idleness, or a stop signal)
 *   round 0: configs = strategy.ask(min(batchSize, remaining budget))
 *            journal {type:"ask"}                      (before anything is evaluated)
 *            evaluate through the middleware stack:   cache -> cost filter -> failures -> timeout -> user middleware -> evaluator
 *            journal each {type:"trial"} as it finishes
 *            strategy.tell(results)
 *   rounds 1..maxReplacementRounds: while the last round had filtered configs,
 *            ask for as many replacements, same steps
 * ```
 *
 * Resume replays the journal through the same loop: a fresh strategy with a fresh RNG from the
 * same seed is asked again at every journaled round (its proposals must equal the journaled keys,
 * or the strategy is not deterministic and resume is refused) and told the journaled results.
 * Configurations of the last round that have no trial record yet are evaluated, and the loop
 * continues live. A study killed at any moment and resumed therefore produces the same trials, in
 * the same order, as an uninterrupted run. See docs/search.md.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { NLS_VERSION } from '../package-info.js';
import type { Config, SearchSpace } from '../space/index.js';
import { createRng } from '../util/rng.js';
import type { ConstraintSpec, Direction, KnownValueFn, KnownValues, ObjectiveSpec, SearchStrategy, StrategyContext, StrategyFactory } from './contract.js';
import { checkOutcomeCount, composeEvaluator, type EvaluationContext, type EvaluationOutcome, type Evaluator, type EvaluatorMiddleware } from './evaluator.js';
import {
  JournalWriter,
  readJournal,
  STUDY_FORMAT,
  type AskRecord,
  type JournalContents,
  type StopReason,
  type StudyHeaderRecord,
  type TrialRecord,
} from './journal.js';
import { cacheMiddleware, isCachedTrial, TrialCache } from './middleware/cache.js';
import { checkCostFilterOptions, costFilterMiddleware, type CostFilterOptions } from './middleware/cost-filter.js';
import { failureMiddleware, type FailureHandlingOptions } from './middleware/failures.js';
import { timeoutMiddleware, type TimeoutOptions } from './middleware/timeout.js';
import { loadStrategyPlugin } from './plugins.js';
import { defaultRegistry, instantiateStrategy, resolveStrategyOptions, type StrategyRegistry } from './registry.js';
import { bestTrial, paretoFront, trialsHypervolume, type ParetoSource } from './results.js';
import { fitTrialSurrogate } from './surrogate.js';
import { ProgressTracker, type ProgressLike, type StudyProgress } from './study-progress.js';

/** Defaults of the study options. */
export const STUDY_DEFAULTS = {
  batchSize: 1,
  cache: true,
  retryFailed: false,
  maxReplacementRounds: 3,
  maxIdleBatches: 10,
} as const;

/** Training statistics handed to strategies (see `StrategyContext.trainingStatistics`). */
export type TrainingStatistics = NonNullable<StrategyContext['trainingStatistics']>;

/**
 * Options of {@link Study.create} and {@link Study.resume}.
 *
 * When resuming, every setting that is left out is taken from the journal's header, and every
 * setting that is given must equal it (strategy name, version and options, objectives,
 * constraints, seed, search space, batch size, cache, retryFailed, maxReplacementRounds,
 * maxIdleBatches, cost-filter bound, training statistics, evaluator settings). `budget` may
 * change: a larger one extends a finished study.
 */
export interface StudyOptions {
  /** Path of the journal, conventionally `<out>/trials.jsonl`. */
  readonly journal: string;
  /** The search space (its fingerprint is recorded and checked on resume). */
  readonly space: SearchSpace;
  /** Evaluates configurations. */
  readonly evaluator: Evaluator;
  /** A registered strategy name or a factory. Required for a new study. */
  readonly strategy?: string | StrategyFactory;
  /** Strategy options (merged with its documented defaults and checked). */
  readonly strategyOptions?: Readonly<Record<string, unknown>>;
  /** Registry to look strategy names up in (default: the process-wide registry). */
  readonly registry?: StrategyRegistry;
  /** Objectives, in order. Required for a new study. */
  readonly objectives?: readonly ObjectiveSpec[];
  /** Constraints, in order (value `<= 0` = satisfied). Default none. */
  readonly constraints?: readonly ConstraintSpec[];
  /** Seed of the strategy's RNG. Required for a new study. */
  readonly seed?: number | string;
  /** Configurations asked per batch (default 1). */
  readonly batchSize?: number;
  /** Maximum evaluations (cached and filtered trials are free). Default unlimited. */
  readonly budget?: number;
  /** Answer repeated configurations from the cache (default true). */
  readonly cache?: boolean;
  /** Evaluate a configuration again when proposed again after it failed (default false). */
  readonly retryFailed?: boolean;
  /** Filter configurations by predicted cost before evaluation. */
  readonly costFilter?: CostFilterOptions;
  /** Replacement rounds per batch for filtered configurations (default 3). */
  readonly maxReplacementRounds?: number;
  /** Stop after this many consecutive batches that evaluated nothing (default 10). */
  readonly maxIdleBatches?: number;
  /** Per-evaluation time limit. */
  readonly timeout?: TimeoutOptions;
  /** How thrown evaluations are handled. */
  readonly failures?: FailureHandlingOptions;
  /** Extra middleware, placed directly around the evaluator (first listed = outermost). */
  readonly middleware?: readonly EvaluatorMiddleware[];
  /** Supernet training statistics for heuristic strategies (a hash is recorded). */
  readonly trainingStatistics?: TrainingStatistics;
  /**
   * JSON settings of the evaluator that change trial values (e.g. a validation-set size),
   * journaled in the header's `evaluator` field; on resume, given ones must equal the journal's.
   */
  readonly evaluatorSettings?: Readonly<Record<string, unknown>>;
  /**
   * Objectives and constraints, by name, whose values are known for any configuration without
   * evaluating it: analytic costs (adapter parameters, FLOPs, a fitted latency predictor).
   * Model-based strategies (mobo) use them as exact models instead of fitting surrogates. Each
   * must return what the evaluator reports: an evaluated trial whose value differs fails, with a
   * message saying which. The names are journaled; a resumed study must be given the same ones.
   */
  readonly known?: KnownOptions;
  /** Reference point for hypervolume in progress reports and results. */
  readonly referencePoint?: readonly number[];
  /** A `Progress` (src/util/progress.ts) to report to. */
  readonly progress?: ProgressLike;
  /** Called after every new trial with a progress snapshot. */
  readonly onProgress?: (progress: StudyProgress) => void;
  /** Called after every new trial is journaled. */
  readonly onTrial?: (trial: TrialRecord) => void;
  /** Aborting it stops the study before its next ask round (resume continues it). */
  readonly signal?: AbortSignal;
  /** {@link Study.create} only: resume the journal if it already holds a study (default false: refuse). */
  readonly resume?: boolean;
  /** fsync every journal line (default true). Turn off only for throwaway studies and tests. */
  readonly fsync?: boolean;
}

/** Known objectives and constraints by name (see {@link StudyOptions.known}). */
export interface KnownOptions {
  readonly objectives?: Readonly<Record<string, KnownValueFn>>;
  readonly constraints?: Readonly<Record<string, KnownValueFn>>;
}

/** The journaled names of `known` in study order, after checking them; undefined when none. */
function knownNames(known: KnownOptions | undefined, objectives: readonly ObjectiveSpec[], constraints: readonly ConstraintSpec[]): { objectives: string[]; constraints: string[] } | undefined {
  if (known === undefined) return undefined;
  const check = (kind: 'objectives' | 'constraints', given: Readonly<Record<string, KnownValueFn>> | undefined, names: readonly string[]): string[] => {
    if (given === undefined) return [];
    if (typeof given !== 'object' || given === null) throw new NlsError(`known.${kind} must be an object of functions by name, got ${describe(given)}`, { field: `known.${kind}` });
    for (const [name, fn] of Object.entries(given)) {
      if (!names.includes(name)) throw new NlsError(`known.${kind} names "${name}", which is not one of the study's ${kind} (${names.join(', ') || 'none'}); fix: use one of those names`, { field: `known.${kind}.${name}` });
      if (typeof fn !== 'function') throw new NlsError(`known.${kind}.${name} must be a function (config) => number, got ${describe(fn)}`, { field: `known.${kind}.${name}` });
    }
    return names.filter((n) => given[n] !== undefined);
  };
  const out = {
    objectives: check('objectives', known.objectives, objectives.map((o) => o.name)),
    constraints: check('constraints', known.constraints, constraints.map((c) => c.name)),
  };
  return out.objectives.length + out.constraints.length > 0 ? out : undefined;
}

/** `known` indexed like the study's objectives and constraints, for strategies. */
function knownByIndex(known: KnownOptions | undefined, objectives: readonly ObjectiveSpec[], constraints: readonly ConstraintSpec[]): KnownValues | undefined {
  if (knownNames(known, objectives, constraints) === undefined) return undefined;
  return Object.freeze({
    objectives: Object.freeze(objectives.map((o) => known?.objectives?.[o.name])),
    constraints: Object.freeze(constraints.map((c) => known?.constraints?.[c.name])),
  });
}

/** What {@link Study.run} returns. */
export interface StudyRunResult {
  readonly reason: StopReason;
  /** All trials, in number order. */
  readonly trials: readonly TrialRecord[];
  /** Evaluations spent over the whole study. */
  readonly evaluations: number;
  /** The Pareto front of feasible trials. */
  readonly front: readonly TrialRecord[];
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v); // JSON would print NaN and Infinity as null
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** JSON with object keys sorted, for comparing settings. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

function budgetJson(b: number): number | null {
  return Number.isFinite(b) ? b : null;
}

function budgetOf(b: number | null | undefined): number {
  return b === null || b === undefined ? Infinity : b;
}

function statisticsHash(stats: TrainingStatistics | undefined): string | null {
  return stats ? createHash('sha256').update(canonical(stats)).digest('hex') : null;
}

function checkNat(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new NlsError(`${name} must be an integer >= ${min}, got ${describe(v)}`, { field: name });
}

function checkObjectives(objectives: readonly ObjectiveSpec[], constraints: readonly ConstraintSpec[]): void {
  if (!Array.isArray(objectives) || objectives.length === 0) {
    throw new NlsError('a study needs at least one objective; fix: pass objectives: [{ name, direction }]', { field: 'objectives' });
  }
  const names = new Set<string>();
  objectives.forEach((o, i) => {
    if (typeof o?.name !== 'string' || o.name === '') throw new NlsError(`objective ${i} has no name`, { field: `objectives[${i}].name` });
    if (o.direction !== 'minimize' && o.direction !== 'maximize') {
      throw new NlsError(`objective "${o.name}" has direction ${describe(o.direction)}; fix: use "minimize" or "maximize"`, { field: `objectives[${i}].direction` });
    }
    if (names.has(o.name)) throw new NlsError(`objective "${o.name}" is declared twice`, { field: `objectives[${i}].name` });
    names.add(o.name);
  });
  const cnames = new Set<string>();
  constraints.forEach((c, i) => {
    if (typeof c?.name !== 'string' || c.name === '') throw new NlsError(`constraint ${i} has no name`, { field: `constraints[${i}].name` });
    if (cnames.has(c.name)) throw new NlsError(`constraint "${c.name}" is declared twice`, { field: `constraints[${i}].name` });
    cnames.add(c.name);
  });
}

/** Settings of a study as they are resolved from options and/or the journal header. */
interface Settings {
  readonly factory: StrategyFactory;
  readonly header: StudyHeaderRecord;
  readonly budget: number;
}

/** Does the file exist and hold at least one complete line? */
async function journalHasContent(file: string): Promise<boolean> {
  try {
    const buf = await fsp.readFile(file);
    return buf.includes(0x0a);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new NlsError(`cannot read study journal (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file, cause: err });
  }
}

/**
 * A search study (see the module comment). Create with {@link Study.create} or
 * {@link Study.resume}, then {@link Study.run}.
 */
export class Study implements ParetoSource {
  /** Journal path. */
  readonly file: string;
  /** The study's settings, as journaled. */
  readonly header: StudyHeaderRecord;
  readonly space: SearchSpace;
  readonly referencePoint?: readonly number[];

  private readonly options: StudyOptions;
  private readonly factory: StrategyFactory;
  private readonly journal: JournalContents | undefined;
  private budget: number;
  private allTrials: TrialRecord[];
  private ran = false;
  private reason: StopReason | undefined;
  private spent = 0;

  private constructor(options: StudyOptions, settings: Settings, journal: JournalContents | undefined) {
    this.options = options;
    this.file = options.journal;
    this.space = options.space;
    this.header = deepFreeze(settings.header);
    this.factory = settings.factory;
    this.budget = settings.budget;
    this.journal = journal;
    if (options.referencePoint) this.referencePoint = [...options.referencePoint];
    this.allTrials = journal ? [...journal.trials] : [];
    this.spent = this.allTrials.filter((t) => t.state !== 'filtered' && !isCachedTrial(t)).length;
  }

  /**
   * Open a new study writing to `options.journal`. When that journal already holds a study, this
   * is refused unless `options.resume` is set, in which case the study is resumed (as
   * {@link Study.resume}).
   */
  static async create(options: StudyOptions): Promise<Study> {
    if (await journalHasContent(options.journal)) {
      if (!options.resume) {
        throw new NlsError('the journal already holds a study; fix: pass resume: true (--resume) to continue it, or choose another output folder', { file: options.journal });
      }
      return Study.resume(options.journal, options);
    }
    const settings = Study.newSettings(options);
    return new Study(options, settings, undefined);
  }

  /**
   * Resume the study journaled in `journal`: settings left out of `options` are taken from the
   * header; settings given must match it (else an {@link NlsError} lists every difference).
   * A torn last line (from a crash) is ignored and cut off before anything is appended.
   */
  static async resume(journal: string, options: Omit<StudyOptions, 'journal'> & { readonly journal?: string }): Promise<Study> {
    const contents = await readJournal(journal);
    const opts: StudyOptions = { ...options, journal };
    // A plugin strategy that is not loaded yet is loaded from the module the header recorded.
    const registry = options.registry ?? defaultRegistry;
    const { name, source } = contents.header.strategy;
    if (options.strategy === undefined && !registry.has(name) && source?.kind === 'plugin' && source.module) {
      try {
        await loadStrategyPlugin(source.module, { registry });
      } catch (err) {
        throw new NlsError(`the study used strategy "${name}" from plugin ${source.module}, which cannot be loaded (${(err as Error).message}); fix: pass the strategy (--strategy) explicitly`, {
          file: journal,
          cause: err,
        });
      }
    }
    const settings = Study.resumeSettings(opts, contents);
    return new Study(opts, settings, contents);
  }

  private static newSettings(options: StudyOptions): Settings {
    if (options.strategy === undefined) throw new NlsError('a new study needs a strategy; fix: pass strategy (a registered name or a factory)', { field: 'strategy' });
    if (options.objectives === undefined) throw new NlsError('a new study needs objectives; fix: pass objectives: [{ name, direction }]', { field: 'objectives' });
    if (options.seed === undefined) throw new NlsError('a new study needs a seed; fix: pass seed (a number or string)', { field: 'seed' });
    const registry = options.registry ?? defaultRegistry;
    const factory = typeof options.strategy === 'string' ? registry.get(options.strategy) : options.strategy;
    // A factory object passed in code that a plugin registered is still the plugin's.
    const source = typeof options.strategy === 'string' ? registry.entry(options.strategy).source : (registry.sourceOf(options.strategy) ?? { kind: 'api' as const });
    const strategyOptions = resolveStrategyOptions(factory, options.strategyOptions ?? {});
    instantiateStrategy(factory, strategyOptions); // refuse bad options now, before anything is written
    const constraints = options.constraints ?? [];
    checkObjectives(options.objectives, constraints);
    const batchSize = options.batchSize ?? STUDY_DEFAULTS.batchSize;
    checkNat('batchSize', batchSize, 1);
    const maxReplacementRounds = options.maxReplacementRounds ?? STUDY_DEFAULTS.maxReplacementRounds;
    checkNat('maxReplacementRounds', maxReplacementRounds, 0);
    const maxIdleBatches = options.maxIdleBatches ?? STUDY_DEFAULTS.maxIdleBatches;
    checkNat('maxIdleBatches', maxIdleBatches, 1);
    const budget = options.budget ?? Infinity;
    if (budget !== Infinity) checkNat('budget', budget, 0);
    if (typeof options.seed !== 'number' && typeof options.seed !== 'string') throw new NlsError(`seed must be a number or a string, got ${describe(options.seed)}`, { field: 'seed' });
    if (options.costFilter) checkCostFilterOptions(options.costFilter);
    Study.checkReferencePoint(options.referencePoint, options.objectives);
    const known = knownNames(options.known, options.objectives, constraints);
    const header: StudyHeaderRecord = {
      type: 'study',
      format: STUDY_FORMAT,
      created: new Date().toISOString(),
      nls: NLS_VERSION,
      strategy: { name: factory.name, version: factory.version, options: strategyOptions, source },
      objectives: options.objectives.map((o) => ({ name: o.name, direction: o.direction })),
      constraints: constraints.map((c) => ({ name: c.name })),
      seed: options.seed,
      space: { name: options.space.name, fingerprint: options.space.fingerprint, genes: options.space.size, cardinality: options.space.cardinality().toString() },
      batchSize,
      budget: budgetJson(budget),
      cache: options.cache ?? STUDY_DEFAULTS.cache,
      retryFailed: options.retryFailed ?? STUDY_DEFAULTS.retryFailed,
      maxReplacementRounds,
      maxIdleBatches,
      costFilter: options.costFilter ? { name: options.costFilter.name ?? 'cost', bound: options.costFilter.bound } : null,
      trainingStatistics: statisticsHash(options.trainingStatistics),
      ...(options.evaluatorSettings !== undefined ? { evaluator: options.evaluatorSettings } : {}),
      ...(known ? { known } : {}),
    };
    return { factory, header: JSON.parse(JSON.stringify(header)) as StudyHeaderRecord, budget };
  }

  private static checkReferencePoint(ref: readonly number[] | undefined, objectives: readonly ObjectiveSpec[]): void {
    if (ref === undefined) return;
    if (!Array.isArray(ref) || ref.length !== objectives.length || !ref.every(Number.isFinite)) {
      throw new NlsError(`reference point must be ${objectives.length} finite numbers (one per objective), got ${describe(ref)}`, { field: 'referencePoint' });
    }
  }

  private static resumeSettings(options: StudyOptions, journal: JournalContents): Settings {
    const h = journal.header;
    const registry = options.registry ?? defaultRegistry;
    const diffs: string[] = [];
    const compare = (name: string, journaled: unknown, given: unknown): void => {
      if (given === undefined) return;
      if (canonical(journaled) !== canonical(given)) diffs.push(`${name}: journal has ${canonical(journaled)}, given ${canonical(given)}`);
    };
    let factory: StrategyFactory;
    if (options.strategy === undefined) {
      factory = registry.get(h.strategy.name);
    } else {
      factory = typeof options.strategy === 'string' ? registry.get(options.strategy) : options.strategy;
    }
    compare('strategy', h.strategy.name, factory.name);
    compare('strategy version', h.strategy.version, factory.version);
    if (factory.name === h.strategy.name) {
      const resolved = resolveStrategyOptions(factory, options.strategyOptions ?? h.strategy.options);
      compare('strategy options', h.strategy.options, resolved);
    }
    compare('objectives', h.objectives, options.objectives?.map((o) => ({ name: o.name, direction: o.direction })));
    compare('constraints', h.constraints, options.constraints?.map((c) => ({ name: c.name })));
    compare('seed', h.seed, options.seed);
    compare('search space fingerprint', h.space.fingerprint, options.space.fingerprint);
    compare('batchSize', h.batchSize, options.batchSize);
    compare('cache', h.cache, options.cache);
    compare('retryFailed', h.retryFailed, options.retryFailed);
    compare('maxReplacementRounds', h.maxReplacementRounds, options.maxReplacementRounds);
    compare('maxIdleBatches', h.maxIdleBatches, options.maxIdleBatches);
    const cf = options.costFilter ? { name: options.costFilter.name ?? 'cost', bound: options.costFilter.bound } : null;
    if (canonical(h.costFilter) !== canonical(cf)) {
      diffs.push(
        h.costFilter && !cf
          ? `costFilter: the journal has a cost filter (${h.costFilter.name} <= ${h.costFilter.bound}) but none was given (pass the same costFilter)`
          : `costFilter: journal has ${canonical(h.costFilter)}, given ${canonical(cf)}`,
      );
    }
    // Journals written before the field existed have none to compare with.
    if (h.evaluator !== undefined) compare('evaluator settings', h.evaluator, options.evaluatorSettings === undefined ? undefined : JSON.parse(JSON.stringify(options.evaluatorSettings)));
    const known = knownNames(options.known, h.objectives, h.constraints) ?? null;
    if (canonical(h.known ?? null) !== canonical(known)) {
      const list = (k: { readonly objectives: readonly string[]; readonly constraints: readonly string[] } | null) => (k ? [...k.objectives, ...k.constraints].join(', ') : 'none');
      diffs.push(`known objectives and constraints: journal has ${list(h.known ?? null)}, given ${list(known)} (pass the same known functions)`);
    }
    const stats = statisticsHash(options.trainingStatistics);
    if (h.trainingStatistics !== stats) diffs.push(`trainingStatistics: journal has ${h.trainingStatistics ?? 'none'}, given ${stats ?? 'none'}`);
    if (diffs.length > 0) {
      throw new NlsError(
        `cannot resume: the study was started with other settings:\n${diffs.map((d) => `  - ${d}`).join('\n')}\nfix: resume with the original settings, or start a new study in another folder`,
        { file: journal.file },
      );
    }
    Study.checkReferencePoint(options.referencePoint, h.objectives);
    if (options.costFilter) checkCostFilterOptions(options.costFilter);
    let budget = budgetOf(h.budget);
    for (const r of journal.resumes) budget = budgetOf(r.budget);
    if (options.budget !== undefined) {
      if (options.budget !== Infinity) checkNat('budget', options.budget, 0);
      budget = options.budget;
    }
    return { factory, header: h, budget };
  }

  /** Objectives, in order. */
  get objectives(): readonly ObjectiveSpec[] {
    return this.header.objectives;
  }

  /** Constraints, in order. */
  get constraints(): readonly ConstraintSpec[] {
    return this.header.constraints;
  }

  /** Directions of the objectives. */
  get directions(): Direction[] {
    return this.header.objectives.map((o) => o.direction);
  }

  /** Every trial so far, in number order (before `run`, those of the journal). */
  get trials(): readonly TrialRecord[] {
    return this.allTrials;
  }

  /**
   * The study's identity: the first 16 hex digits of the SHA-256 of its journal header (which
   * holds its creation time), the same after every resume and different for every new study.
   * Distributed evaluation names the study's queue and jobs by it.
   */
  get id(): string {
    return createHash('sha256').update(JSON.stringify(this.header)).digest('hex').slice(0, 16);
  }

  /** Evaluations spent so far (trials neither cached nor filtered). */
  get evaluations(): number {
    return this.spent;
  }

  /** Why the last run stopped (undefined before it ends). */
  get stopReason(): StopReason | undefined {
    return this.reason;
  }

  /** The Pareto front of feasible trials, in number order. */
  paretoFront(): TrialRecord[] {
    return paretoFront(this.allTrials, this.objectives);
  }

  /** Best feasible trial of a single-objective study. */
  bestTrial(): TrialRecord | undefined {
    return bestTrial(this.allTrials, this.objectives);
  }

  /** Hypervolume of the front w.r.t. `referencePoint` (default: the study's). */
  hypervolume(referencePoint: readonly number[] | undefined = this.referencePoint): number {
    if (!referencePoint) throw new NlsError('hypervolume needs a reference point; fix: pass referencePoint (one value per objective)', { field: 'referencePoint' });
    return trialsHypervolume(this.allTrials, this.objectives, referencePoint);
  }

  /** The middleware stack around the evaluator. */
  private pipeline(cache: TrialCache): Evaluator {
    const o = this.options;
    const stack: EvaluatorMiddleware[] = [];
    if (this.header.cache) stack.push(cacheMiddleware(cache));
    if (o.costFilter) stack.push(costFilterMiddleware(o.costFilter));
    stack.push(failureMiddleware(o.failures));
    if (o.timeout) stack.push(timeoutMiddleware(o.timeout));
    stack.push(...(o.middleware ?? []));
    return composeEvaluator(o.evaluator, ...stack);
  }

  /**
   * Run (or, after resume, continue) the study until the budget is spent, the strategy has
   * nothing new to propose, `maxIdleBatches` batches in a row evaluate nothing, or `signal` is
   * aborted. Rejects on fatal errors (the journal stays resumable). Call once per Study object.
   */
  async run(): Promise<StudyRunResult> {
    if (this.ran) throw new NlsError('run() was already called on this Study; fix: open it again with Study.resume to continue', { file: this.file });
    this.ran = true;
    const writer = await JournalWriter.open(this.file, { truncateTo: this.journal?.validBytes ?? 0, fsync: this.options.fsync ?? true });
    try {
      if (this.journal) await writer.append({ type: 'resume', time: new Date().toISOString(), asks: this.journal.asks.length, budget: budgetJson(this.budget) });
      else await writer.append(this.header);
      const appended = { count: 0 };
      const reason = await this.loop(writer, appended);
      this.reason = reason;
      // Resuming a finished study changes nothing: do not repeat its end record.
      const last = this.journal?.records[this.journal.records.length - 1];
      const alreadyEnded = appended.count === 0 && last?.type === 'end' && last.reason === reason;
      if (!alreadyEnded) await writer.append({ type: 'end', reason, trials: this.allTrials.length, evaluations: this.spent, time: new Date().toISOString() });
      return { reason, trials: this.allTrials, evaluations: this.spent, front: this.paretoFront() };
    } finally {
      await writer.close();
    }
  }

  private async loop(writer: JournalWriter, appended: { count: number }): Promise<StopReason> {
    const h = this.header;
    const o = this.options;
    const journal = this.journal;
    const journaledAsks = journal?.asks ?? [];
    const journaledTrials = new Map<number, TrialRecord>((journal?.trials ?? []).map((t) => [t.number, t]));
    const budgetChanges = (journal?.resumes ?? []).map((r) => ({ asks: r.asks, budget: budgetOf(r.budget) }));
    const budgetAt = (askIndex: number): number => {
      if (askIndex >= journaledAsks.length) return this.budget;
      let b = budgetOf(h.budget);
      for (const c of budgetChanges) if (c.asks <= askIndex) b = c.budget;
      return b;
    };

    const rng = createRng(h.seed);
    const strategy: SearchStrategy = instantiateStrategy(this.factory, resolveStrategyOptions(this.factory, h.strategy.options));
    const cache = new TrialCache({ retryFailed: h.retryFailed });
    const evaluator = this.pipeline(cache);
    const tracker = new ProgressTracker(h.objectives, this.referencePoint);
    const trials: TrialRecord[] = [];
    this.allTrials = trials;
    this.spent = 0;
    let live = false;
    const goLive = (): void => {
      if (live) return;
      live = true;
      tracker.begin();
      o.progress?.start('search', Number.isFinite(this.budget) ? this.budget : 0, this.spent);
    };
    if (journaledAsks.length === 0) goLive();

    const known = knownByIndex(o.known, h.objectives, h.constraints);
    const ctxFor = (remainingBudget: number): StrategyContext => {
      const snapshot = Object.freeze(trials.slice());
      return Object.freeze({
        space: this.space,
        objectives: h.objectives,
        constraints: h.constraints,
        rng,
        trials: snapshot,
        remainingBudget,
        ...(o.trainingStatistics ? { trainingStatistics: o.trainingStatistics } : {}),
        ...(known ? { known } : {}),
        fitSurrogate: (objective: number | string) => fitTrialSurrogate(this.space, snapshot, h.objectives, objective),
      });
    };
    const accept = (t: TrialRecord, isLive: boolean): void => {
      cache.record(t);
      tracker.add(t);
      if (t.state !== 'filtered' && !isCachedTrial(t)) this.spent++;
      if (!isLive) return;
      o.onTrial?.(t);
      o.progress?.step(this.spent, tracker.metrics());
      o.onProgress?.(tracker.snapshot(this.budget, t));
    };

    let askIndex = 0;
    let idle = 0;
    let nextNumber = 0;
    let reason: StopReason | undefined;
    for (let batch = 0; reason === undefined; batch++) {
      let evaluatedInBatch = 0;
      let want = Math.min(h.batchSize, budgetAt(askIndex) - this.spent);
      for (let round = 0; ; round++) {
        const replaying = askIndex < journaledAsks.length;
        if (!replaying) goLive();
        if (!replaying && o.signal?.aborted) {
          reason = 'stopped';
          break;
        }
        if (want <= 0) {
          if (round === 0) reason = 'budget';
          break;
        }
        const remaining = budgetAt(askIndex) - this.spent;
        const proposals = this.checkProposals(strategy.ask(want, ctxFor(remaining)), want, batch, round);
        const keys = proposals.map((c) => this.space.key(c));
        let ask: AskRecord;
        if (replaying) {
          ask = journaledAsks[askIndex] as AskRecord;
          this.checkReplayedAsk(ask, batch, round, want, keys);
        } else {
          if (proposals.length === 0) {
            reason = 'exhausted';
            break;
          }
          ask = { type: 'ask', batch, round, n: want, firstNumber: nextNumber, remainingBudget: budgetJson(remaining), keys };
          await writer.append(ask);
          appended.count++;
        }
        const isLastJournaled = askIndex === journaledAsks.length - 1;
        askIndex++;
        nextNumber = ask.firstNumber + keys.length;

        // Journaled trials of this round, then evaluation of the rest.
        const results = new Array<TrialRecord | undefined>(keys.length).fill(undefined); // dense: flatMap skips holes
        for (let i = 0; i < keys.length; i++) {
          const t = journaledTrials.get(ask.firstNumber + i);
          if (!t) continue;
          if (t.key !== keys[i] || t.batch !== batch || t.round !== round) {
            throw new NlsError(`trial ${t.number} does not match its ask record (batch ${batch}, round ${round}, key ${keys[i]}); fix: the journal is corrupt`, { file: this.file });
          }
          results[i] = deepFreeze(t);
        }
        const missing = results.flatMap((t, i) => (t ? [] : [i]));
        if (replaying && missing.length > 0 && !isLastJournaled) {
          throw new NlsError(`batch ${batch} round ${round} has no record of trial ${ask.firstNumber + (missing[0] ?? 0)} although later rounds were journaled; fix: the journal is corrupt`, { file: this.file });
        }
        for (const t of results) if (t) accept(t, false);
        if (missing.length > 0) {
          goLive();
          appended.count += missing.length;
          await this.evaluateRound(evaluator, writer, ask, proposals, missing, results, Object.freeze(trials.slice()), (t) => accept(t, true));
        }
        const told = results as TrialRecord[];
        for (const t of told) trials.push(t);
        strategy.tell(Object.freeze(told.slice()), ctxFor(budgetAt(askIndex - 1) - this.spent));

        const filtered = told.filter((t) => t.state === 'filtered').length;
        evaluatedInBatch += told.filter((t) => t.state !== 'filtered' && !isCachedTrial(t)).length;
        if (filtered === 0 || round + 1 > h.maxReplacementRounds) break;
        want = Math.min(filtered, budgetAt(askIndex) - this.spent);
      }
      if (reason !== undefined) break;
      idle = evaluatedInBatch === 0 ? idle + 1 : 0;
      if (idle >= h.maxIdleBatches) reason = 'idle';
    }
    if (askIndex < journaledAsks.length) {
      throw new NlsError(
        `the study stopped (${reason}) after ${askIndex} ask rounds, but the journal holds ${journaledAsks.length}; the strategy "${h.strategy.name}" or the settings do not reproduce the journaled run; fix: resume with the original strategy version and settings`,
        { file: this.file },
      );
    }
    return reason;
  }

  private checkProposals(proposals: unknown, n: number, batch: number, round: number): Config[] {
    const who = `strategy "${this.header.strategy.name}" ${this.header.strategy.version}`;
    if (!Array.isArray(proposals)) throw new NlsError(`${who}: ask(${n}) returned ${describe(proposals)}, not an array of configurations (batch ${batch}, round ${round})`, { field: 'ask' });
    if (proposals.length > n) throw new NlsError(`${who}: ask(${n}) returned ${proposals.length} configurations, more than asked for (batch ${batch}, round ${round})`, { field: 'ask' });
    return proposals.map((c: unknown, i) => {
      if (!Array.isArray(c) || !this.space.contains(c as number[])) {
        let why = '';
        try {
          this.space.assertContains(c as number[], 'proposal');
        } catch (err) {
          why = `: ${(err as Error).message}`;
        }
        throw new NlsError(`${who}: ask(${n}) proposal ${i} (batch ${batch}, round ${round}) is not a configuration of search space "${this.space.name}"${why}`, { field: 'ask' });
      }
      return [...(c as number[])];
    });
  }

  private checkReplayedAsk(ask: AskRecord, batch: number, round: number, n: number, keys: readonly string[]): void {
    const who = `strategy "${this.header.strategy.name}" ${this.header.strategy.version}`;
    if (ask.batch !== batch || ask.round !== round || ask.n !== n) {
      throw new NlsError(
        `cannot resume: replay reached batch ${batch} round ${round} asking for ${n} configurations, but the journal's next ask is batch ${ask.batch} round ${ask.round} for ${ask.n}; fix: resume with the original settings (batch size, budget, cost filter) and an unchanged evaluator`,
        { file: this.file },
      );
    }
    const differs = keys.length !== ask.keys.length || keys.some((k, i) => k !== ask.keys[i]);
    if (differs) {
      const at = keys.findIndex((k, i) => k !== ask.keys[i]);
      const pos = at < 0 ? Math.min(keys.length, ask.keys.length) : at;
      throw new NlsError(
        `cannot resume: ${who} is not deterministic: at batch ${batch} round ${round} it proposed ${keys.length} configurations [${keys.join(', ')}] but the journal has ${ask.keys.length} [${ask.keys.join(', ')}] (first difference at position ${pos}); a strategy must draw all randomness from ctx.rng and keep no state beyond its asks and tells; fix: use the strategy version that wrote the journal, or start a new study`,
        { file: this.file },
      );
    }
  }

  /** Evaluate the `missing` proposals of a round, journaling each trial as soon as it is known. */
  private async evaluateRound(
    evaluator: Evaluator,
    writer: JournalWriter,
    ask: AskRecord,
    configs: readonly Config[],
    missing: readonly number[],
    results: (TrialRecord | undefined)[],
    earlier: readonly TrialRecord[],
    accept: (t: TrialRecord) => void,
  ): Promise<void> {
    const start = Date.now();
    const controller = new AbortController();
    const writes: Promise<void>[] = [];
    let closed = false;
    const finish = (i: number, outcome: EvaluationOutcome | undefined): void => {
      if (closed || i < 0 || results[i]) return;
      const t = this.trialRecord(ask, i, configs[i] ?? [], outcome, start);
      results[i] = t;
      writes.push(writer.append(t));
      accept(t);
    };
    const ctx: EvaluationContext = {
      space: this.space,
      objectives: this.header.objectives,
      constraints: this.header.constraints,
      batch: ask.batch,
      round: ask.round,
      numbers: missing.map((i) => ask.firstNumber + i),
      keys: missing.map((i) => ask.keys[i] ?? ''),
      trials: earlier,
      signal: controller.signal,
      report: (k, outcome) => finish(missing[k] ?? -1, outcome),
    };
    try {
      const outcomes = await evaluator.evaluate(
        missing.map((i) => configs[i] ?? []),
        ctx,
      );
      checkOutcomeCount(outcomes, missing.length);
      missing.forEach((i, k) => finish(i, outcomes[k]));
    } catch (err) {
      closed = true;
      controller.abort(err);
      await Promise.allSettled(writes);
      throw err;
    }
    closed = true;
    await Promise.all(writes);
  }

  /** The journal record of proposal `i` of `ask` with `outcome` (invalid outcomes become failures). */
  private trialRecord(ask: AskRecord, i: number, config: Config, outcome: EvaluationOutcome | undefined, start: number): TrialRecord {
    const end = Date.now();
    const fields = this.checkKnown(config, this.checkOutcome(outcome));
    const record = {
      type: 'trial' as const,
      batch: ask.batch,
      round: ask.round,
      number: ask.firstNumber + i,
      key: ask.keys[i] ?? '',
      config: [...config],
      ...fields,
      time: { start: new Date(start).toISOString(), end: new Date(end).toISOString(), seconds: (end - start) / 1000 },
    };
    // The journal line *is* the trial: what the strategy sees now equals what a replay will see.
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch (err) {
      // e.g. a BigInt or a cycle in attrs: keep the trial, say why its attrs are missing.
      line = JSON.stringify({ ...record, attrs: { unserializableAttrs: (err as Error).message } });
    }
    return deepFreeze(JSON.parse(line) as TrialRecord);
  }

  /** A complete outcome whose values disagree with a known objective or constraint becomes a failure. */
  private checkKnown<T extends Pick<TrialRecord, 'state' | 'values' | 'constraints' | 'message' | 'attrs' | 'fidelity'>>(config: Config, fields: T): T | Pick<TrialRecord, 'state' | 'message' | 'attrs'> {
    const known = this.options.known;
    if (fields.state !== 'complete' || known === undefined) return fields;
    const differs = (a: number, b: number) => Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
    const groups = [
      ['objectives', this.header.objectives, fields.values ?? []],
      ['constraints', this.header.constraints, fields.constraints ?? []],
    ] as const;
    for (const [kind, specs, values] of groups) {
      for (let i = 0; i < specs.length; i++) {
        const fn = known[kind]?.[specs[i]!.name];
        if (fn === undefined) continue;
        const expected = fn(config);
        if (differs(expected, values[i]!)) {
          return {
            state: 'failed',
            message: `${kind === 'objectives' ? 'objective' : 'constraint'} "${specs[i]!.name}" is ${values[i]} from the evaluator but ${expected} from known.${kind}["${specs[i]!.name}"]; fix: make the known function return what the evaluator reports, or leave it out`,
            ...(fields.attrs ? { attrs: fields.attrs } : {}),
          };
        }
      }
    }
    return fields;
  }

  private checkOutcome(outcome: EvaluationOutcome | undefined): Pick<TrialRecord, 'state' | 'values' | 'constraints' | 'message' | 'attrs' | 'fidelity'> {
    const nObj = this.header.objectives.length;
    const nCon = this.header.constraints.length;
    if (typeof outcome !== 'object' || outcome === null) return { state: 'failed', message: `evaluator returned ${describe(outcome)} instead of an outcome` };
    const attrs = outcome.attrs && typeof outcome.attrs === 'object' && !Array.isArray(outcome.attrs) ? { attrs: outcome.attrs } : {};
    const fail = (message: string) => ({ state: 'failed' as const, message, ...attrs });
    switch (outcome.state) {
      case 'failed':
      case 'filtered':
        return { state: outcome.state, message: typeof outcome.message === 'string' ? outcome.message : outcome.state, ...attrs };
      case 'complete': {
        const { values, constraints } = outcome;
        if (!Array.isArray(values) || values.length !== nObj) {
          return fail(`evaluator returned ${Array.isArray(values) ? values.length : describe(values)} objective values for ${nObj} objectives (${this.header.objectives.map((x) => x.name).join(', ')})`);
        }
        const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
        if (bad >= 0) return fail(`objective "${this.header.objectives[bad]?.name}" is ${describe(values[bad])}, not a finite number`);
        const cons = constraints ?? [];
        if (!Array.isArray(cons) || cons.length !== nCon) {
          return fail(`evaluator returned ${Array.isArray(cons) ? cons.length : describe(cons)} constraint values for ${nCon} constraints${nCon > 0 ? ` (${this.header.constraints.map((x) => x.name).join(', ')})` : ''}`);
        }
        const badC = cons.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
        if (badC >= 0) return fail(`constraint "${this.header.constraints[badC]?.name}" is ${describe(cons[badC])}, not a finite number`);
        const { fidelity } = outcome;
        if (fidelity !== undefined && !(typeof fidelity === 'number' && fidelity > 0 && fidelity <= 1)) {
          return fail(`evaluator returned fidelity ${describe(fidelity)}; a fidelity is a share of the full evaluation in (0, 1]`);
        }
        return { state: 'complete', values: [...values], ...(nCon > 0 ? { constraints: [...cons] } : {}), ...(fidelity !== undefined ? { fidelity } : {}), ...attrs };
      }
      default:
        return { state: 'failed', message: `evaluator returned an outcome with state ${describe((outcome as { state?: unknown }).state)}; expected complete, failed or filtered` };
    }
  }
}

/** Default name of a study's journal in its output folder. */
export const JOURNAL_FILE = 'trials.jsonl';

/** Path of the journal in output folder `dir`. */
export function journalPath(dir: string): string {
  return path.join(dir, JOURNAL_FILE);
}
