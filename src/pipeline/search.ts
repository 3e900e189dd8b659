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
import { loadSupernet, loadSupernetSpace } from '../supernet/artifact.js';
import type { ConfigStatistics } from '../supernet/trainer.js';
import { Progress } from '../util/progress.js';
import { startWorker } from '../util/worker.js';
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
  /** Evaluation worker threads (default 1: evaluate in this thread). */
  readonly workers?: number;
  readonly progress?: Progress;
}

/** What {@link runSearch} returns. */
export interface SearchRunResult {
  readonly backend: BackendInfo;
  readonly study: StudyRunResult;
  readonly pareto: ParetoFile;
  readonly objectives: readonly ObjectiveSpec[];
}

/** What a scorer needs to know; plain data, so it can be sent to a worker thread. */
export interface ScorerSpec {
  readonly supernet: string;
  readonly backend: BackendRequest;
  /** Score on the first N validation examples only. */
  readonly validationSize?: number;
  /** The metrics to compute (model evaluation runs only for accuracy and loss). */
  readonly needs: readonly SearchMetric[];
}

/** Scores configurations of one loaded supernet. */
export interface SupernetScorer {
  readonly space: import('../space/index.js').SearchSpace;
  measure(config: Config): Promise<Record<SearchMetric, number>>;
  dispose(): void;
}

/** Load a supernet and its validation data, and return a scorer for its configurations. */
export async function createSupernetScorer(spec: ScorerSpec): Promise<SupernetScorer> {
  await initBackend(spec.backend, { quiet: true });
  const supernet = await loadSupernet(spec.supernet);
  try {
    const { manifest, space, model, adapters, tokenizer, config: modelConfig } = supernet;
    const data = manifest.data as { name?: string; source?: string; options?: { trainSize?: number; validationSize?: number; maxChars?: number; promptStyle?: 'direct' | 'channel' } };
    const training = manifest.training as { seed?: number; maxLength?: number };
    const dataSource = data.name === 'spam-demo' ? 'spam-demo' : data.source;
    if (!dataSource) throw new NlsError('the supernet manifest does not say which data it was trained on', { file: path.join(spec.supernet, 'supernet.json'), field: 'data' });
    const taskOptions: TaskDataOptions = {
      seed: training.seed ?? 0,
      ...(data.options?.trainSize !== undefined ? { trainSize: data.options.trainSize } : {}),
      ...(data.options?.validationSize !== undefined ? { validationSize: data.options.validationSize } : {}),
      ...(data.options?.maxChars !== undefined ? { maxChars: data.options.maxChars } : {}),
      ...(data.options?.promptStyle !== undefined ? { promptStyle: data.options.promptStyle } : {}),
    };
    const task = await loadTaskData(dataSource, taskOptions);
    const maxLength = training.maxLength ?? 128;
    const validationTask = spec.validationSize ? { ...task, validation: task.validation.slice(0, spec.validationSize) } : task;
    const validation = prepareValidation(validationTask, tokenizer, maxLength);
    const needs = new Set(spec.needs);
    if (needs.has('accuracy') && !validation.choices) {
      throw new NlsError('accuracy needs a classification or multiple-choice task; this supernet was trained on another kind; fix: use --objectives loss,params', {
        field: '--objectives',
      });
    }
    const seqLen = validation.choices ? validation.choices.rows.seqLen : validation.rows!.seqLen;
    return {
      space,
      measure: async (config) => {
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
      },
      dispose: () => {
        adapters.dispose();
        model.dispose();
      },
    };
  } catch (err) {
    supernet.adapters.dispose();
    supernet.model.dispose();
    throw err;
  }
}

/**
 * Scorers in `n` worker threads, each with its own tfjs backend and copy of the supernet (wasm
 * computes on one thread per instance, so this is how a search uses more than one core).
 * `measure` runs on whichever worker is free.
 */
export async function startScorerPool(spec: ScorerSpec, n: number): Promise<{ measure(config: Config): Promise<Record<SearchMetric, number>>; close(): Promise<void> }> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  type Reply = { id: number; ok: true; metrics: Record<SearchMetric, number> } | { id: number; ok: false; error: string } | { ready: true } | { ready: false; error: string };
  const pending = new Map<number, { resolve: (m: Record<SearchMetric, number>) => void; reject: (e: Error) => void }>();
  const idle: import('node:worker_threads').Worker[] = [];
  const queue: { id: number; config: Config }[] = [];
  let nextId = 0;
  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) idle.shift()!.postMessage(queue.shift());
  };
  const workers = await Promise.all(
    Array.from({ length: n }, () => {
      const worker = startWorker(new URL(`./search-worker.${ext}`, import.meta.url), { workerData: spec });
      return new Promise<import('node:worker_threads').Worker>((resolve, reject) => {
        worker.on('message', (msg: Reply) => {
          if ('ready' in msg) {
            if (msg.ready) {
              idle.push(worker);
              resolve(worker);
              dispatch();
            } else reject(new Error(`search worker failed to start: ${msg.error}`));
            return;
          }
          const p = pending.get(msg.id);
          pending.delete(msg.id);
          idle.push(worker);
          dispatch();
          if (msg.ok) p?.resolve(msg.metrics);
          else p?.reject(new Error(msg.error));
        });
        worker.once('error', reject);
      });
    }),
  );
  return {
    measure: (config) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        queue.push({ id, config: [...config] });
        dispatch();
      }),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
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
  };
  // One worker: score in this thread. More: each worker thread loads its own copy, and this
  // thread needs only the search space.
  const workers = options.workers ?? 1;
  const local = workers > 1 ? undefined : await createSupernetScorer(spec);
  const pool = workers > 1 ? await startScorerPool(spec, workers) : undefined;
  try {
    const space = local ? local.space : await loadSupernetSpace(options.supernet);
    const objectives: ObjectiveSpec[] = options.objectives.map((name) => ({ name, direction: SEARCH_METRICS[name] }));
    const constraints: ConstraintSpec[] = options.constraints.map((c) => ({ name: `${c.metric}${c.op}${c.bound}` }));
    const measure = pool ? pool.measure : local!.measure;
    const evaluator = functionEvaluator(
      async (config) => {
        const m = await measure(config);
        return {
          values: options.objectives.map((o) => m[o]),
          constraints: options.constraints.map((c) => (c.op === '<=' ? m[c.metric] - c.bound : c.bound - m[c.metric])),
          attrs: Object.fromEntries(needs.map((k) => [k, m[k]])),
        };
      },
      { concurrency: workers },
    );

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
    await pool?.close();
    local?.dispose();
  }
}
