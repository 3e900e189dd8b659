/**
 * Searching a trained supernet (the `nls search` command): a Study whose evaluator activates each
 * proposed configuration on the supernet and scores it on the validation split (accuracy or
 * answer loss) and with the analytic cost model (adapter parameters, FLOPs per token).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { NlsError } from '../errors.js';
import type { ConstraintSpec, ObjectiveSpec, StrategyFactory } from '../search/contract.js';
import { functionEvaluator } from '../search/evaluator.js';
import { type ParetoFile, writeParetoJson } from '../search/results.js';
import { loadStrategyPlugin } from '../search/plugins.js';
import { defaultRegistry } from '../search/registry.js';
import { Study, type StudyRunResult } from '../search/study.js';
import type { Config } from '../space/index.js';
import type { ConfigStatistics } from '../supernet/trainer.js';
import { writeFileAtomic } from '../util/fs.js';
import { Progress } from '../util/progress.js';
import { type ConfigScorer, openSupernetScorer, SEARCH_METRICS, type ScorerSpec, type SearchMetric } from './scorer.js';

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

/**
 * A built-in strategy name as is; anything else that looks like a path or a package (a plugin)
 * is loaded and its first factory used.
 */
export async function resolveStrategy(spec: string): Promise<string | StrategyFactory> {
  if (defaultRegistry.has(spec)) return spec;
  const plugin = await loadStrategyPlugin(spec);
  return plugin.factories[0]!;
}

/** Options of {@link runSearch}. */
export interface SearchRunOptions {
  readonly supernet: string;
  /** Built-in strategy name or a plugin module path / package name. */
  readonly strategy: string;
  readonly strategyOptions?: Readonly<Record<string, unknown>>;
  readonly budget: number;
  readonly objectives: readonly SearchMetric[];
  readonly constraints: readonly MetricConstraint[];
  readonly seed: number;
  readonly out: string;
  readonly resume?: boolean;
  readonly batchSize?: number;
  /** Validation examples used to score each subnet (default: the supernet's own validation split). */
  readonly validationSize?: number;
  readonly backend?: BackendRequest;
  /** Evaluation worker threads (default 1: evaluate in this thread). */
  readonly workers?: number;
  /** Search this sub-space of the supernet's space (a search-space file) instead of the whole space. */
  readonly space?: string;
  /** Latency predictor file (`nls-predictor/1`, e.g. from `nls profile`), for the `latency` metric. */
  readonly latencyPredictor?: string;
  readonly progress?: Progress;
}

/** What {@link runSearch} returns. */
export interface SearchRunResult {
  readonly backend: BackendInfo;
  readonly study: StudyRunResult;
  readonly pareto: ParetoFile;
  readonly objectives: readonly ObjectiveSpec[];
}

/** Search a supernet folder and write trials.jsonl and pareto.json to `options.out`. */
export async function runSearch(options: SearchRunOptions): Promise<SearchRunResult> {
  const progress = options.progress ?? new Progress();
  const backendRequest = options.backend ?? 'wasm';
  const backend = await initBackend(backendRequest, { quiet: true });
  const needs = [...new Set<SearchMetric>([...options.objectives, ...options.constraints.map((c) => c.metric)])];
  const spec: ScorerSpec = {
    supernet: options.supernet,
    backend: backendRequest,
    needs,
    ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : {}),
    ...(options.space !== undefined ? { spaceFile: options.space } : {}),
    ...(options.latencyPredictor !== undefined ? { latencyPredictor: path.resolve(options.latencyPredictor) } : {}),
  };
  const scorer = await openSupernetScorer(spec, options.workers ?? 1);
  try {
    const space = scorer.space;
    const objectives: ObjectiveSpec[] = options.objectives.map((name) => ({ name, direction: SEARCH_METRICS[name] }));
    const constraints: ConstraintSpec[] = options.constraints.map((c) => ({ name: constraintName(c) }));
    const evaluator = functionEvaluator(metricObjective(scorer.measure, options.objectives, options.constraints), { concurrency: scorer.concurrency });

    await fsp.mkdir(options.out, { recursive: true });
    const journal = path.join(options.out, 'trials.jsonl');
    const statistics = await trainingStatisticsOf(options.supernet);
    const common = {
      journal,
      space,
      evaluator,
      budget: options.budget,
      batchSize: options.batchSize ?? 1,
      progress,
      ...(statistics ? { trainingStatistics: statistics } : {}),
    };
    const study = options.resume
      ? await Study.resume(journal, common)
      : await Study.create({
          ...common,
          strategy: await resolveStrategy(options.strategy),
          ...(options.strategyOptions ? { strategyOptions: options.strategyOptions } : {}),
          objectives,
          constraints,
          seed: options.seed,
        });
    const result = await study.run();
    const pareto = await writeParetoJson(path.join(options.out, 'pareto.json'), study);
    if (spec.latencyPredictor !== undefined && needs.includes('latency')) await recordLatencyPredictor(options.out, spec.latencyPredictor);
    return { backend, study: result, pareto, objectives };
  } finally {
    await scorer.close();
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
): (config: Config) => Promise<{ values: number[]; constraints: number[]; attrs: Record<string, number> }> {
  return async (config) => {
    const m = await measure(config);
    return {
      values: objectives.map((o) => m[o]),
      constraints: constraints.map((c) => (c.op === '<=' ? m[c.metric] - c.bound : c.bound - m[c.metric])),
      attrs: { ...m },
    };
  };
}
