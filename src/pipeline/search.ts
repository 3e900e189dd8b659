/**
 * Searching a trained supernet (the `nls search` command): a Study whose evaluator activates each
 * proposed configuration on the supernet and scores it on the validation split (accuracy or
 * answer loss) and with the analytic cost model (adapter parameters, FLOPs per token).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { resolveEngine } from '../engine/select.js';
import type { EngineInfo, EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
import { openQueueScorer } from '../distributed/coordinator.js';
import { withRunLock } from '../run/lock.js';
import type { ConstraintSpec, ObjectiveSpec } from '../search/contract.js';
import { proportionBound, ratioBound } from '../evaluate/confidence.js';
import { type Evaluator, functionEvaluator } from '../search/evaluator.js';
import { checkFidelities, type FidelityEstimate, racingEvaluator, type StagedObjective } from '../search/racing.js';
import { bestFeasibleTrial, type ParetoFile, writeParetoJson } from '../search/results.js';
import { readJournal, type TrialRecord } from '../search/journal.js';
import { isPathSpec, loadStrategySpec } from '../search/plugins.js';
import { defaultRegistry } from '../search/registry.js';
import { JOURNAL_FILE, journalPath, type KnownOptions, Study, type StudyRunResult } from '../search/study.js';
import type { Config, SearchSpace } from '../space/index.js';
import { adapterParameters } from '../predict/cost.js';
import { loadSupernetModelConfig } from '../supernet/artifact.js';
import type { ConfigStatistics } from '../supernet/trainer.js';
import { writeFileAtomic } from '../util/fs.js';
import { Progress } from '../util/progress.js';
import { type ConfigScorer, createSupernetScorer, MODEL_METRICS, openSupernetScorer, SEARCH_METRICS, type ScorerSpec, type SearchMetric, type SliceMeasurement } from './scorer.js';

export { SEARCH_METRICS, type SearchMetric } from './scorer.js';

/** A parsed `--constraint` such as `params<=150000`. */
export interface MetricConstraint {
  readonly metric: SearchMetric;
  readonly op: '<=' | '>=';
  readonly bound: number;
}

function isMetric(name: string): name is SearchMetric {
  return Object.hasOwn(SEARCH_METRICS, name);
}

/** Parse `metric<=value` / `metric>=value`. */
export function parseConstraint(text: string): MetricConstraint {
  const m = /^\s*([a-z]+)\s*(<=|>=)\s*([-+0-9.eE_]+)\s*$/.exec(text);
  const metric = m?.[1];
  const bound = m ? Number(m[3]!.replaceAll('_', '')) : Number.NaN;
  if (!m || !metric || !isMetric(metric) || !Number.isFinite(bound)) {
    throw new NlsError(`cannot read constraint ${JSON.stringify(text)}; fix: write METRIC<=VALUE or METRIC>=VALUE with METRIC one of ${Object.keys(SEARCH_METRICS).join(', ')}, e.g. params<=150000`, {
      field: '--constraint',
    });
  }
  return { metric, op: m[2] as '<=' | '>=', bound };
}

/** Parse `--objectives accuracy,params`. */
export function parseObjectives(list: string): SearchMetric[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new NlsError('no objectives given; fix: e.g. --objectives accuracy,params', { field: '--objectives' });
  for (const n of names) {
    if (!isMetric(n)) throw new NlsError(`unknown objective ${JSON.stringify(n)}; fix: use ${Object.keys(SEARCH_METRICS).join(', ')}`, { field: '--objectives' });
  }
  if (new Set(names).size !== names.length) throw new NlsError('an objective is named twice', { field: '--objectives' });
  return names as SearchMetric[];
}

/** Parse `--fidelities 0.25,0.5,1` (checked by `checkFidelities`). */
export function parseFidelities(list: string): number[] {
  const values = list.split(',').map((x) => Number(x.trim()));
  checkFidelities(values, '--fidelities');
  return values;
}

/**
 * The registered name of the strategy a spec names: a registered (built-in) name as is; a plugin
 * (`./my-strategy.js`, `nls-strategy-acme`, with `#NAME` to choose one of several strategies it
 * exports) is loaded and registered, so that the study journals it as a plugin with its module
 * and SHA-256.
 */
export async function resolveStrategy(spec: string): Promise<string> {
  if (defaultRegistry.has(spec)) return spec;
  return (await loadStrategySpec(spec)).factory.name;
}

/** Defaults of a new study's settings (those of the `nls search` flags). */
export const SEARCH_DEFAULTS = {
  strategy: 'nsga2',
  budget: 50,
  objectives: ['accuracy', 'params'] as readonly SearchMetric[],
  seed: 0,
  batchSize: 1,
  racingConfidence: 0.95,
} as const;

/**
 * Options of {@link runSearch}.
 *
 * The study settings (strategy and its options, objectives, constraints, seed, batch size,
 * validation size, sub-space, latency predictor, fidelities, racing confidence) default to
 * {@link SEARCH_DEFAULTS} for a new study. With `resume` they are taken from the journal, and
 * each one given must equal the journal's (every difference is listed in one NlsError); only
 * `budget` may change (a larger one extends the study).
 */
export interface SearchRunOptions {
  readonly supernet: string;
  /** Built-in strategy name or a plugin module path / package name (`SPEC#NAME` chooses one of several). */
  readonly strategy?: string;
  readonly strategyOptions?: Readonly<Record<string, unknown>>;
  readonly budget?: number;
  readonly objectives?: readonly SearchMetric[];
  readonly constraints?: readonly MetricConstraint[];
  readonly seed?: number | string;
  readonly out: string;
  /**
   * Continue the study journaled in `out` (exactly as an uninterrupted run would). With no
   * journal there yet (a run killed in its first seconds), the study starts, with a note.
   */
  readonly resume?: boolean;
  readonly batchSize?: number;
  /** Validation examples used to score each subnet (default: the supernet's own validation split). */
  readonly validationSize?: number;
  /** tfjs backend: loads the supernet, and computes the model metrics when the engine is tfjs. */
  readonly backend?: BackendRequest;
  /**
   * Evaluation engine for the model metrics (default `auto`: onnx when onnxruntime-node loads
   * here, else tfjs; docs/engines.md). Every trial records it in its attributes (`engine`).
   */
  readonly engine?: EngineRequest;
  /**
   * Evaluation workers (default 1). tfjs: 1 evaluates in this thread, more start worker threads
   * with a backend each. onnx: that many sessions, each in a worker thread, sharing the cores.
   */
  readonly workers?: number;
  /**
   * Evaluate on a BullMQ queue on this Redis (`redis://[USER:PASSWORD@]HOST:PORT/DB`, or
   * `rediss://` for TLS) instead of local threads: `nls worker` processes anywhere take the jobs
   * (docs/distributed.md). This process stays the only writer of the journal.
   */
  readonly queue?: string;
  /** Search this sub-space of the supernet's space (a search-space file) instead of the whole space. */
  readonly space?: string;
  /** Latency predictor file (`nls-predictor/1`, e.g. from `nls profile`), for the `latency` metric. */
  readonly latencyPredictor?: string;
  /**
   * Multi-fidelity racing (`--fidelities`): increasing shares of the validation split ending with
   * 1, e.g. `[0.25, 0.5, 1]`. A subnet is scored on the first share, and on the next only while
   * it can still reach the front (see `racingEvaluator`). Default: every subnet on the full split.
   */
  readonly fidelities?: readonly number[];
  /** One-sided confidence of the racing bounds (default 0.95). */
  readonly racingConfidence?: number;
  readonly progress?: Progress;
}

/** The settings a search ran with: given, defaulted, or (on resume) from the journal. */
export interface SearchSettings {
  /** A built-in strategy's name, or `MODULE#NAME` of a plugin's. */
  readonly strategy: string;
  /** The strategy's options as journaled (with its documented defaults). */
  readonly strategyOptions: Readonly<Record<string, unknown>>;
  readonly budget: number;
  readonly objectives: readonly SearchMetric[];
  readonly constraints: readonly MetricConstraint[];
  readonly seed: number | string;
  readonly batchSize: number;
  readonly validationSize?: number;
  /** Sub-space file (absolute). */
  readonly space?: string;
  /** Latency predictor file (absolute). */
  readonly latencyPredictor?: string;
  readonly fidelities?: readonly number[];
  readonly racingConfidence?: number;
  /** True when the run continued a journaled study. */
  readonly resumed: boolean;
}

/** What {@link runSearch} returns. */
export interface SearchRunResult {
  readonly backend: BackendInfo;
  /** The engine that computed the model metrics. */
  readonly engine: EngineInfo;
  readonly study: StudyRunResult;
  readonly pareto: ParetoFile;
  readonly objectives: readonly ObjectiveSpec[];
  /** The settings the study ran with (on resume: the journal's). */
  readonly settings: SearchSettings;
  /** The final choice, with its test value where the task has a test split (also written to choice.json). */
  readonly choice?: SearchChoice;
}

/**
 * Search a supernet folder and write trials.jsonl and pareto.json to `options.out`, holding the
 * folder's lock (src/run/lock.ts) meanwhile: a folder in use by another run, holding another kind
 * of run, or that cannot be written is refused before any work.
 */
export async function runSearch(options: SearchRunOptions): Promise<SearchRunResult> {
  const progress = options.progress ?? new Progress();
  return withRunLock(options.out, { command: 'search', log: (m) => progress.log(m) }, () => searchInLockedFolder(options, progress));
}

/** The evaluator settings journaled in the study header (`evaluator`), from resolved settings. */
function evaluatorSettingsOf(s: Omit<SearchSettings, 'resumed'>): Record<string, unknown> {
  return {
    ...(s.validationSize !== undefined ? { validationSize: s.validationSize } : {}),
    ...(s.space !== undefined ? { space: s.space } : {}),
    ...(s.latencyPredictor !== undefined ? { latencyPredictor: s.latencyPredictor } : {}),
    ...(s.fidelities !== undefined ? { fidelities: [...s.fidelities], racingConfidence: s.racingConfidence ?? SEARCH_DEFAULTS.racingConfidence } : {}),
  };
}

/** Settings of a new study: the options given, else the defaults. */
function newSearchSettings(options: SearchRunOptions): SearchSettings {
  return {
    strategy: options.strategy ?? SEARCH_DEFAULTS.strategy,
    strategyOptions: options.strategyOptions ?? {},
    budget: options.budget ?? SEARCH_DEFAULTS.budget,
    objectives: options.objectives ?? SEARCH_DEFAULTS.objectives,
    constraints: options.constraints ?? [],
    seed: options.seed ?? SEARCH_DEFAULTS.seed,
    batchSize: options.batchSize ?? SEARCH_DEFAULTS.batchSize,
    ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : {}),
    ...(options.space !== undefined ? { space: path.resolve(options.space) } : {}),
    ...(options.latencyPredictor !== undefined ? { latencyPredictor: path.resolve(options.latencyPredictor) } : {}),
    ...(options.fidelities !== undefined ? { fidelities: options.fidelities, racingConfidence: options.racingConfidence ?? SEARCH_DEFAULTS.racingConfidence } : {}),
    resumed: false,
  };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The settings of a search: with `resume` and a journal, the journal's, checked against every
 * option given (each difference is listed); without a journal to resume, those of a new study.
 */
export async function searchSettings(options: SearchRunOptions, progress: Progress = new Progress({ quiet: true })): Promise<SearchSettings> {
  const journal = journalPath(options.out);
  if (!options.resume) return newSearchSettings(options);
  if (!(await journalHoldsStudy(journal))) {
    progress.log(`nothing to resume in ${options.out}: no study is journaled there yet (${existsSync(journal) ? `${JOURNAL_FILE} holds no complete record` : `no ${JOURNAL_FILE}`}); starting the study`);
    return newSearchSettings(options);
  }
  const { header: h, resumes } = await readJournal(journal);
  const corrupt = (what: string, cause?: unknown) =>
    new NlsError(`${what}: this journal was not written by nls search; fix: resume it with the API that wrote it (Study.resume), or start a new study in another --out folder`, { file: journal, cause });
  const objectives = h.objectives.map((o) => {
    if (!isMetric(o.name) || SEARCH_METRICS[o.name] !== o.direction) throw corrupt(`objective ${JSON.stringify(o)} is not one of nls search's metrics`);
    return o.name;
  });
  const constraints = h.constraints.map((c) => {
    try {
      return parseConstraint(c.name);
    } catch (err) {
      throw corrupt(`constraint "${c.name}" is not METRIC<=VALUE or METRIC>=VALUE`, err);
    }
  });
  const source = h.strategy.source;
  // A plugin by its package name, or by its absolute path (a resume may run from another folder).
  const pluginSpec = source?.spec !== undefined && !isPathSpec(source.spec) ? source.spec : source?.module;
  const strategy = source?.kind === 'plugin' && pluginSpec !== undefined ? `${pluginSpec}#${h.strategy.name}` : h.strategy.name;
  const ev = h.evaluator;
  const fromJournal = <T>(key: string, given: T | undefined): T | undefined => (ev === undefined ? given : (ev[key] as T | undefined));
  const journaledBudget = [h.budget, ...resumes.map((r) => r.budget)].at(-1);
  const settings: SearchSettings = {
    strategy,
    strategyOptions: h.strategy.options,
    budget: options.budget ?? (journaledBudget === null || journaledBudget === undefined ? Infinity : journaledBudget),
    objectives,
    constraints,
    seed: h.seed,
    batchSize: h.batchSize,
    resumed: true,
  };
  const validationSize = fromJournal('validationSize', options.validationSize);
  const space = fromJournal('space', options.space === undefined ? undefined : path.resolve(options.space));
  const latencyPredictor = fromJournal('latencyPredictor', options.latencyPredictor === undefined ? undefined : path.resolve(options.latencyPredictor));
  const fidelities = fromJournal<readonly number[]>('fidelities', options.fidelities);
  const racingConfidence = fromJournal('racingConfidence', options.fidelities !== undefined ? options.racingConfidence ?? SEARCH_DEFAULTS.racingConfidence : undefined);
  const resolved: SearchSettings = {
    ...settings,
    ...(validationSize !== undefined ? { validationSize } : {}),
    ...(space !== undefined ? { space } : {}),
    ...(latencyPredictor !== undefined ? { latencyPredictor } : {}),
    ...(fidelities !== undefined ? { fidelities, racingConfidence: racingConfidence ?? SEARCH_DEFAULTS.racingConfidence } : {}),
  };

  // Every option given that contradicts the journal, named by its flag.
  const diffs: string[] = [];
  const differs = (flag: string, journaled: unknown, given: unknown, show: (v: unknown) => string = (v) => JSON.stringify(v) ?? 'none'): void => {
    if (given !== undefined && !same(journaled, given)) diffs.push(`${flag}: the study has ${show(journaled)}, given ${show(given)}`);
  };
  if (options.strategy !== undefined) {
    const name = await resolveStrategy(options.strategy);
    differs('--strategy', h.strategy.name, name);
  }
  if (options.strategyOptions !== undefined) {
    for (const [k, v] of Object.entries(options.strategyOptions)) {
      const j = h.strategy.options[k];
      // Command lines give strings; the journal holds the option's type.
      if (!same(j, v) && String(j) !== String(v)) diffs.push(`--strategy-option ${k}: the study has ${JSON.stringify(j) ?? 'none'}, given ${JSON.stringify(v)}`);
    }
  }
  differs('--objectives', objectives.join(','), options.objectives?.join(','));
  differs('--constraint', constraints.map(constraintName), options.constraints?.map(constraintName), (v) => ((v as string[]).length > 0 ? (v as string[]).join(' ') : 'none'));
  differs('--seed', h.seed, options.seed);
  differs('--batch-size', h.batchSize, options.batchSize);
  if (ev !== undefined) {
    differs('--validation-size', validationSize ?? 'all', options.validationSize);
    differs('--space', space ?? "the supernet's whole space", options.space === undefined ? undefined : path.resolve(options.space));
    differs('--latency-predictor', latencyPredictor ?? 'none', options.latencyPredictor === undefined ? undefined : path.resolve(options.latencyPredictor));
    differs('--fidelities', fidelities?.join(',') ?? 'none', options.fidelities?.join(','));
    if (options.fidelities !== undefined || fidelities !== undefined) differs('--racing-confidence', racingConfidence, options.racingConfidence);
  }
  if (diffs.length > 0) {
    throw new NlsError(
      `cannot resume: options differ from the study journaled here:\n${diffs.map((d) => `  - ${d}`).join('\n')}\nfix: leave them out (a resume takes its settings from the journal; only --budget may change), or start a new study in another --out folder`,
      { file: journal },
    );
  }
  return resolved;
}

/** Does the journal exist with at least one complete line (a study header)? */
async function journalHoldsStudy(file: string): Promise<boolean> {
  try {
    return (await fsp.readFile(file)).includes(0x0a);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function searchInLockedFolder(given: SearchRunOptions, progress: Progress): Promise<SearchRunResult> {
  const settings = await searchSettings(given, progress);
  // From here on, the resolved settings are the run's options.
  const options = {
    ...given,
    ...settings,
    resume: settings.resumed,
  } satisfies SearchRunOptions & SearchSettings;
  const backendRequest = options.backend ?? 'wasm';
  const backend = await initBackend(backendRequest, { quiet: true });
  const needs = [...new Set<SearchMetric>([...options.objectives, ...options.constraints.map((c) => c.metric)])];
  const spec: ScorerSpec = {
    supernet: options.supernet,
    backend: backendRequest,
    engine: await resolveEngine(options.engine ?? 'auto'),
    needs,
    ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : {}),
    ...(options.space !== undefined ? { spaceFile: options.space } : {}),
    ...(options.latencyPredictor !== undefined ? { latencyPredictor: path.resolve(options.latencyPredictor) } : {}),
  };
  if (options.queue !== undefined && options.workers !== undefined && options.workers !== 1) {
    throw new NlsError('--workers sets local evaluation threads, --queue sends evaluations to nls worker processes; fix: give one of them (with --queue, start more workers instead)', { field: '--workers' });
  }
  const queueScorer =
    options.queue !== undefined ? await openQueueScorer(spec, { queue: options.queue, engine: options.engine ?? 'auto', journal: journalPath(options.out), progress }) : undefined;
  const scorer = queueScorer ?? (await openSupernetScorer(spec, options.workers ?? 1));
  try {
    const space = scorer.space;
    const objectives: ObjectiveSpec[] = options.objectives.map((name) => ({ name, direction: SEARCH_METRICS[name] }));
    const constraints: ConstraintSpec[] = options.constraints.map((c) => ({ name: constraintName(c) }));
    const evaluator = searchEvaluator(scorer, options, needs);

    await fsp.mkdir(options.out, { recursive: true });
    const journal = journalPath(options.out);
    const statistics = await trainingStatisticsOf(options.supernet);
    const known = await knownCosts(options, space, journal);
    const common = {
      journal,
      space,
      evaluator,
      budget: options.budget,
      batchSize: options.batchSize,
      objectives,
      constraints,
      seed: options.seed,
      evaluatorSettings: evaluatorSettingsOf(settings),
      progress,
      ...(statistics ? { trainingStatistics: statistics } : {}),
      ...(known ? { known } : {}),
    };
    const study = options.resume
      ? // The strategy is the journal's (Study.resume loads a plugin from the module it records).
        await Study.resume(journal, common)
      : await Study.create({
          ...common,
          strategy: await resolveStrategy(options.strategy),
          strategyOptions: options.strategyOptions,
        });
    // The queue and its job ids are the study's own (Study.id, from the journal header).
    if (queueScorer) await queueScorer.attach(study.id);
    const result = await study.run();
    const pareto = await writeParetoJson(path.join(options.out, 'pareto.json'), study);
    if (spec.latencyPredictor !== undefined && needs.includes('latency')) await recordLatencyPredictor(options.out, spec.latencyPredictor);
    const choice = await finalChoice(spec, result.trials, objectives, progress);
    if (choice) await writeFileAtomic(path.join(options.out, CHOICE_FILE), `${JSON.stringify(choice, null, 2)}\n`);
    return { backend, engine: scorer.engine, study: result, pareto, objectives, settings, ...(choice ? { choice } : {}) };
  } finally {
    await scorer.close();
  }
}

/** File of a search folder with its final choice (`choice.json`). */
export const CHOICE_FILE = 'choice.json';

/**
 * Adapter parameters are analytic: the study is told (`StudyOptions.known`) so that model-based
 * strategies (mobo) use them exactly, for the params objective and params constraints. A journal
 * written before studies recorded known values is resumed without them, as it ran.
 */
async function knownCosts(options: SearchRunOptions & SearchSettings, space: SearchSpace, journal: string): Promise<KnownOptions | undefined> {
  if (options.resume && (await readJournal(journal)).header.known === undefined) return undefined;
  return knownParams(options.supernet, space, options.objectives, options.constraints);
}

/** The `params` objective and `params` constraints of a search over `supernet`, as known functions (undefined when it has none). */
export async function knownParams(supernet: string, space: SearchSpace, objectives: readonly SearchMetric[], metricConstraints: readonly MetricConstraint[]): Promise<KnownOptions | undefined> {
  const constraints = metricConstraints.filter((c) => c.metric === 'params');
  const objective = objectives.includes('params');
  if (!objective && constraints.length === 0) return undefined;
  const modelConfig = await loadSupernetModelConfig(supernet);
  const params = (config: Config) => adapterParameters(modelConfig, space, config);
  return {
    ...(objective ? { objectives: { params } } : {}),
    ...(constraints.length > 0 ? { constraints: Object.fromEntries(constraints.map((c) => [constraintName(c), (config: Config) => constraintValue(c, params(config))])) } : {}),
  };
}

/**
 * The study's final choice: the best feasible trial by the objectives in order (the first
 * objective's best, e.g. the most accurate subnet), with its first objective measured again on
 * the test split when the supernet's task has one (built-in tasks): search selects on
 * validation, so the validation value of the choice is optimistic; the test value is not.
 */
export interface SearchChoice {
  readonly key: string;
  readonly config: readonly number[];
  readonly trial: number;
  readonly metric: SearchMetric;
  /** The first objective on the validation split (what the search selected on). */
  readonly validation: number;
  /** The same on the test split; absent when the task has none. */
  readonly test?: number;
  /** Every objective's value on validation. */
  readonly values: Readonly<Record<string, number>>;
}

async function finalChoice(spec: ScorerSpec, trials: readonly TrialRecord[], objectives: readonly ObjectiveSpec[], progress: Progress): Promise<SearchChoice | undefined> {
  const best = bestFeasibleTrial(trials.filter((t) => t.fidelity === undefined || t.fidelity >= 1), objectives);
  if (!best || !best.values) return undefined;
  const metric = objectives[0]!.name as SearchMetric;
  const values = Object.fromEntries(objectives.map((o, i) => [o.name, best.values![i]!]));
  const base: SearchChoice = { key: best.key, config: best.config, trial: best.number, metric, validation: best.values[0]!, values };
  if (!MODEL_METRICS.includes(metric)) return base;
  let testScorer;
  try {
    testScorer = await createSupernetScorer({ ...spec, needs: [metric], split: 'test' });
  } catch (err) {
    // No test split (a JSONL task, spam-demo): the choice stands on validation alone.
    if (err instanceof NlsError && err.field === 'split') return base;
    throw err;
  }
  try {
    progress.log(`measuring the chosen subnet ${best.key} on the test split`);
    return { ...base, test: (await testScorer.measure(best.config))[metric] };
  } finally {
    await testScorer.dispose();
  }
}

/** The supernet's training statistics (validation.json), for the heuristic strategies; undefined when absent. */
export async function trainingStatisticsOf(supernetDir: string): Promise<ConfigStatistics[] | undefined> {
  const file = path.join(supernetDir, 'validation.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(await fsp.readFile(file, 'utf8')) as { statistics?: ConfigStatistics[] }).statistics ?? undefined;
}

/**
 * Write `OUT/predictors.json`: which latency predictor scored the study (file, kind, space,
 * samples) and its validation scores when `nls profile --validate` left them next to it.
 */
async function recordLatencyPredictor(out: string, file: string): Promise<void> {
  const predictor = JSON.parse(await fsp.readFile(file, 'utf8')) as { kind?: unknown; space?: unknown; fitted?: unknown };
  const qualityFile = path.join(path.dirname(file), 'predictor-quality.json');
  const quality = existsSync(qualityFile) ? (JSON.parse(await fsp.readFile(qualityFile, 'utf8')) as unknown) : null;
  const record = { latency: { file, kind: predictor.kind, space: predictor.space, fitted: predictor.fitted, validation: quality } };
  await writeFileAtomic(path.join(out, 'predictors.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** Plain evaluation on the full split, or racing through `options.fidelities`. */
function searchEvaluator(scorer: ConfigScorer, options: SearchRunOptions & SearchSettings, needs: readonly SearchMetric[]): Evaluator {
  const concurrency = scorer.concurrency;
  const usesModel = needs.some((m) => MODEL_METRICS.includes(m));
  if (options.fidelities === undefined) {
    const objective = metricObjective((config, hint) => scorer.measure(config, hint), options.objectives, options.constraints);
    return functionEvaluator(async (config, trial) => {
      const r = await objective(config, trial);
      // Every trial says how many validation examples scored it, as racing trials do.
      const examples = usesModel ? { examples: scorer.validationExamples, validationExamples: scorer.validationExamples, engine: scorer.engine.name } : {};
      return { ...r, attrs: { ...r.attrs, ...examples } };
    }, { concurrency });
  }
  checkFidelities(options.fidelities, '--fidelities');
  if (!usesModel) {
    throw new NlsError(`--fidelities needs a metric measured on the validation split (${MODEL_METRICS.join(', ')}); the others are exact at any fidelity`, { field: '--fidelities' });
  }
  const staged = stagedMetricObjective(scorer, options.objectives, options.constraints, options.racingConfidence ?? 0.95);
  return racingEvaluator(staged, { fidelities: options.fidelities, concurrency });
}

/** A metric's estimate from part of the split: the value and how low or high it may plausibly be on all of it. */
interface MetricEstimate {
  readonly value: number;
  readonly lower: number;
  readonly upper: number;
}

/**
 * A staged objective over a scorer's validation split, for multi-fidelity racing: stage f scores
 * the examples up to ceil(f * N) (only those not scored by an earlier stage) and estimates every
 * metric from the examples scored so far (trial attributes: the metrics, the examples scored and,
 * when the scorer says, the engine), with one-sided bounds at `confidence` for the model
 * metrics (src/evaluate/confidence.ts). At f = 1 the values are exactly those of the full
 * evaluation (`metricObjective`).
 */
export function stagedMetricObjective(
  scorer: Pick<ConfigScorer, 'measureSlice' | 'validationExamples'> & Partial<Pick<ConfigScorer, 'engine'>>,
  objectives: readonly SearchMetric[],
  constraints: readonly MetricConstraint[],
  confidence: number,
): StagedObjective {
  return (config, trial) => {
    // Read per trial: a distributed scorer learns the split's size from its first worker.
    const total = scorer.validationExamples;
    const parts: SliceMeasurement[] = [];
    let done = 0;
    const all = (field: 'correct' | 'exact' | 'logLikelihood' | 'tokens'): number[] => parts.flatMap((p) => p[field] ?? []);
    const share = (field: 'correct' | 'exact'): MetricEstimate => {
      const hits = all(field).reduce((a, b) => a + b, 0);
      return { value: hits / done, lower: proportionBound(hits, done, total, confidence, 'lower'), upper: proportionBound(hits, done, total, confidence, 'upper') };
    };
    const estimate = (metric: SearchMetric, cost: Partial<Record<SearchMetric, number>>): MetricEstimate => {
      if (metric === 'accuracy') return share('correct');
      if (metric === 'exact') return share('exact');
      if (metric === 'loss') {
        const ll = all('logLikelihood');
        const tokens = all('tokens');
        const sumLl = ll.reduce((a, b) => a + b, 0);
        const sumTokens = tokens.reduce((a, b) => a + b, 0);
        // The same arithmetic as the full evaluation (evaluateChoices / evaluateLoss), so f = 1 agrees exactly.
        const value = sumTokens > 0 ? -sumLl / sumTokens : Number.NaN;
        const nll = ll.map((x) => -x);
        return sumTokens > 0 ? { value, lower: ratioBound(nll, tokens, total, confidence, 'lower'), upper: ratioBound(nll, tokens, total, confidence, 'upper') } : { value, lower: -Infinity, upper: Infinity };
      }
      const v = cost[metric] ?? Number.NaN;
      return { value: v, lower: v, upper: v };
    };
    return {
      advance: async (fidelity): Promise<FidelityEstimate> => {
        const end = fidelity >= 1 ? total : Math.min(total, Math.max(done + 1, Math.ceil(fidelity * total)));
        if (end > done) {
          parts.push(await scorer.measureSlice(config, done, end, { trial: trial.number, fidelity }));
          done = end;
        }
        const cost = parts[parts.length - 1]?.cost ?? {};
        const metrics = new Map([...new Set<SearchMetric>([...objectives, ...constraints.map((c) => c.metric)])].map((m) => [m, estimate(m, cost)]));
        const get = (m: SearchMetric): MetricEstimate => metrics.get(m)!;
        const attrs: Record<string, number | string> = { ...(cost as Record<string, number>), examples: done, validationExamples: total, ...(scorer.engine ? { engine: scorer.engine.name } : {}) };
        for (const [m, e] of metrics) attrs[m] = e.value;
        return {
          values: objectives.map((m) => get(m).value),
          optimistic: objectives.map((m) => (SEARCH_METRICS[m] === 'maximize' ? get(m).upper : get(m).lower)),
          constraints: constraints.map((c) => constraintValue(c, get(c.metric).value)),
          // The smallest plausible violation: the metric at whichever bound favours the constraint.
          optimisticConstraints: constraints.map((c) => constraintValue(c, c.op === '<=' ? get(c.metric).lower : get(c.metric).upper)),
          attrs,
        };
      },
    };
  };
}

/** A constraint's value for a metric value: `<= 0` when satisfied, the violation otherwise. */
export function constraintValue(c: MetricConstraint, value: number): number {
  return c.op === '<=' ? value - c.bound : c.bound - value;
}

/** The journal name of a constraint, e.g. `params<=150000`. */
export function constraintName(c: MetricConstraint): string {
  return `${c.metric}${c.op}${c.bound}`;
}

/**
 * An objective function over measured metrics: objective values in order, constraint values
 * (<= 0 feasible) and every measured metric as trial attributes.
 */
export function metricObjective(
  measure: ConfigScorer['measure'],
  objectives: readonly SearchMetric[],
  constraints: readonly MetricConstraint[],
): (config: Config, trial?: { readonly number: number }) => Promise<{ values: number[]; constraints: number[]; attrs: Record<string, number> }> {
  return async (config, trial) => {
    const m = await measure(config, trial !== undefined ? { trial: trial.number } : undefined);
    return {
      values: objectives.map((o) => m[o]),
      constraints: constraints.map((c) => constraintValue(c, m[c.metric])),
      attrs: { ...m },
    };
  };
}
