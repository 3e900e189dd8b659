/**
 * Searching a trained supernet (the `nls search` command): a Study whose evaluator activates each
 * proposed configuration on the supernet and scores it on the validation split (accuracy or
 * answer loss) and with the analytic cost model (adapter parameters, FLOPs per token).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { NlsError } from '../errors.js';
import { evaluateChoices } from '../evaluate/choice.js';
import { evaluateLoss } from '../evaluate/loss.js';
import { adapterParameters, flopsPerToken } from '../predict/cost.js';
import type { ConstraintSpec, ObjectiveSpec } from '../search/contract.js';
import { functionEvaluator } from '../search/evaluator.js';
import { type ParetoFile, writeParetoJson } from '../search/results.js';
import { loadStrategyPlugin } from '../search/plugins.js';
import { defaultRegistry } from '../search/registry.js';
import { Study, type StudyRunResult } from '../search/study.js';
import type { Config } from '../space/index.js';
import { loadSupernet } from '../supernet/artifact.js';
import type { ConfigStatistics } from '../supernet/trainer.js';
import { Progress } from '../util/progress.js';
import { loadTaskData, prepareValidation, type TaskDataOptions } from './train-supernet.js';

/** Metrics a search can optimise or constrain. */
export const SEARCH_METRICS = {
  accuracy: 'maximize',
  loss: 'minimize',
  params: 'minimize',
  flops: 'minimize',
} as const;
/** One of {@link SEARCH_METRICS}. */
export type SearchMetric = keyof typeof SEARCH_METRICS;

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
async function resolveStrategy(spec: string): Promise<string | import('../search/contract.js').StrategyFactory> {
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
  const backend = await initBackend(options.backend ?? 'wasm', { quiet: true });
  const supernet = await loadSupernet(options.supernet);
  try {
    const { manifest, space, model, adapters, tokenizer, config: modelConfig } = supernet;
    const data = manifest.data as { name?: string; source?: string; options?: { trainSize?: number; validationSize?: number; maxChars?: number; promptStyle?: 'direct' | 'channel' }; validation?: number };
    const training = manifest.training as { seed?: number; maxLength?: number };
    const dataSource = data.name === 'spam-demo' ? 'spam-demo' : data.source;
    if (!dataSource) throw new NlsError('the supernet manifest does not say which data it was trained on', { file: path.join(options.supernet, 'supernet.json'), field: 'data' });
    const taskOptions: TaskDataOptions = {
      seed: training.seed ?? 0,
      ...(data.options?.trainSize !== undefined ? { trainSize: data.options.trainSize } : {}),
      ...(data.options?.validationSize !== undefined ? { validationSize: data.options.validationSize } : {}),
      ...(data.options?.maxChars !== undefined ? { maxChars: data.options.maxChars } : {}),
      ...(data.options?.promptStyle !== undefined ? { promptStyle: data.options.promptStyle } : {}),
    };
    const task = await loadTaskData(dataSource, taskOptions);
    const maxLength = training.maxLength ?? 128;
    const validationTask = options.validationSize ? { ...task, validation: task.validation.slice(0, options.validationSize) } : task;
    const validation = prepareValidation(validationTask, tokenizer, maxLength);
    const needs = new Set<SearchMetric>([...options.objectives, ...options.constraints.map((c) => c.metric)]);
    if (needs.has('accuracy') && !validation.choices) {
      throw new NlsError('accuracy needs a classification or multiple-choice task; this supernet was trained on another kind; fix: use --objectives loss,params', {
        field: '--objectives',
      });
    }
    const objectives: ObjectiveSpec[] = options.objectives.map((name) => ({ name, direction: SEARCH_METRICS[name] }));
    const constraints: ConstraintSpec[] = options.constraints.map((c) => ({ name: `${c.metric}${c.op}${c.bound}` }));
    const seqLen = validation.choices ? validation.choices.rows.seqLen : validation.rows!.seqLen;

    const measure = async (config: Config): Promise<Record<SearchMetric, number>> => {
      const out: Partial<Record<SearchMetric, number>> = {
        params: adapterParameters(modelConfig, space, config),
        flops: flopsPerToken(modelConfig, space, config, seqLen),
      };
      if (needs.has('accuracy') || needs.has('loss')) {
        adapters.setActiveRanks(space.activeRanks(config));
        if (validation.choices) {
          const m = await evaluateChoices(model, validation.choices);
          out.accuracy = m.accuracy;
          out.loss = m.answerLoss;
        } else {
          out.loss = (await evaluateLoss(model, validation.rows!)).loss;
        }
      }
      return out as Record<SearchMetric, number>;
    };
    const evaluator = functionEvaluator(async (config) => {
      const m = await measure(config);
      return {
        values: options.objectives.map((o) => m[o]),
        constraints: options.constraints.map((c) => (c.op === '<=' ? m[c.metric] - c.bound : c.bound - m[c.metric])),
        attrs: Object.fromEntries([...needs].map((k) => [k, m[k]])),
      };
    });

    await fsp.mkdir(options.out, { recursive: true });
    const journal = path.join(options.out, 'trials.jsonl');
    const validationFile = path.join(options.supernet, 'validation.json');
    const statistics = existsSync(validationFile)
      ? ((JSON.parse(await fsp.readFile(validationFile, 'utf8')) as { statistics?: ConfigStatistics[] }).statistics ?? undefined)
      : undefined;
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
    return { backend, study: result, pareto, objectives };
  } finally {
    supernet.adapters.dispose();
    supernet.model.dispose();
  }
}
