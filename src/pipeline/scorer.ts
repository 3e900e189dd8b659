/**
 * Scoring configurations of a trained supernet: accuracy or answer loss on the validation split,
 * and the analytic cost model (adapter parameters, FLOPs per token). Model metrics are computed by
 * an evaluation engine (src/engine/): tfjs, or ONNX Runtime. In this thread, or in a pool of
 * worker threads (each with its own backend, supernet copy and engine) so that more cores work;
 * the onnx engine always scores in worker threads, so that its blocking session runs never stall
 * this thread's event loop (progress, timers, signals).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendRequest, initBackend } from '../backend/index.js';
import { createOnnxEngine } from '../engine/onnx/engine.js';
import { createTfjsEngine } from '../engine/tfjs.js';
import type { EngineInfo, EngineName, EvaluationEngine } from '../engine/types.js';
import { NlsError } from '../errors.js';
import { evaluateChoices, sliceChoices } from '../evaluate/choice.js';
import { evaluateExactMatch } from '../evaluate/exact-match.js';
import { evaluateLoss } from '../evaluate/loss.js';
import { scoreRows } from '../evaluate/scoring.js';
import type { TokenBatch } from '../train/batch.js';
import { adapterParameters, flopsPerToken, inferenceMemoryBytes } from '../predict/cost.js';
import { loadPredictor } from '../predict/predictor.js';
import { assertSubspace, type Config, loadAndResolveSearchSpace, type SearchSpace } from '../space/index.js';
import { loadSupernet, loadSupernetSpace } from '../supernet/artifact.js';
import { startWorker } from '../util/worker.js';
import { loadTaskData, prepareValidation, type TaskDataOptions } from './train-supernet.js';
import { isBuiltinTask } from '../data/tasks.js';

/** Metrics a search can optimise or constrain. */
export const SEARCH_METRICS = {
  accuracy: 'maximize',
  loss: 'minimize',
  params: 'minimize',
  flops: 'minimize',
  latency: 'minimize',
  memory: 'minimize',
  exact: 'maximize',
} as const;
/** One of {@link SEARCH_METRICS}. */
export type SearchMetric = keyof typeof SEARCH_METRICS;

/** What a scorer needs to know; plain data, so it can be sent to a worker thread. */
export interface ScorerSpec {
  readonly supernet: string;
  readonly backend: BackendRequest;
  /** Score on the first N validation examples only. */
  readonly validationSize?: number;
  /**
   * The split the model metrics are measured on (default `validation`, what searches select on;
   * `test` for reporting a chosen subnet: built-in tasks have one).
   */
  readonly split?: 'validation' | 'test';
  /** The metrics to compute (model evaluation runs only for accuracy and loss). */
  readonly needs: readonly SearchMetric[];
  /**
   * An `nls-predictor/1` file predicting latency (ms) for configurations of the supernet's space
   * (e.g. `latency-predictor.json` from `nls profile`); required when `needs` has `latency`.
   */
  readonly latencyPredictor?: string;
  /** Search a sub-space of the supernet's space given by this search-space file (checked with {@link assertSubspace}). */
  readonly spaceFile?: string;
  /** The evaluation engine (default tfjs); resolve `--engine auto` first with `resolveEngine`. */
  readonly engine?: EngineName;
  /** onnx: intra-op threads of each worker's session (default: the cores divided among the workers, at least 1). */
  readonly threads?: number;
  /** Base model folder to load instead of the one supernet.json names (a copy elsewhere; its weights' SHA-256 is still checked). */
  readonly baseModel?: string;
}

/**
 * The latency of a configuration of `space` by the predictor of `spec.latencyPredictor`, which was
 * fitted on the supernet's space (`trained`); undefined when latency is not needed.
 */
async function latencyOf(spec: ScorerSpec, trained: SearchSpace, space: SearchSpace): Promise<((config: Config) => number) | undefined> {
  if (!spec.needs.includes('latency')) return undefined;
  if (spec.latencyPredictor === undefined) {
    throw new NlsError('latency needs a latency predictor; fix: measure one with nls profile --model BASE --space SPACE --out DIR and pass --latency-predictor DIR/latency-predictor.json', {
      field: '--latency-predictor',
    });
  }
  const predictor = await loadPredictor(spec.latencyPredictor, trained);
  return (config) => predictor.predict(trained.fromActiveRanks(space.activeRanks(config), space.activeWidths(config)));
}

/** The space a scorer scores: the supernet's own, or the sub-space of `spec.spaceFile`. */
export async function scoredSpace(spec: ScorerSpec, trained: SearchSpace): Promise<SearchSpace> {
  if (spec.spaceFile === undefined) return trained;
  const sub = await loadAndResolveSearchSpace(spec.spaceFile, { numLayers: trained.numLayers });
  assertSubspace(trained, sub, spec.spaceFile);
  return sub;
}

/** Metrics that come from running the model on the validation split (the others are analytic). */
export const MODEL_METRICS: readonly SearchMetric[] = ['accuracy', 'loss', 'exact'];

/**
 * Per-example results of a configuration on the validation examples `[start, end)`, for
 * multi-fidelity evaluation (`stagedMetricObjective` in src/pipeline/search.ts). Each array has one
 * entry per example of the slice, for the metrics the scorer was asked for.
 */
export interface SliceMeasurement {
  /** Analytic metrics (params, flops, memory, latency): exact whatever the slice. */
  readonly cost: Partial<Record<SearchMetric, number>>;
  /** 1 when the predicted candidate is the correct one (accuracy). */
  readonly correct?: number[];
  /** 1 when the greedy generation matches the reference (exact). */
  readonly exact?: number[];
  /** Summed log-likelihood of the scored tokens (the correct candidate's, for choice tasks), nats (loss). */
  readonly logLikelihood?: number[];
  /** Scored tokens, parallel to `logLikelihood`. */
  readonly tokens?: number[];
}

/**
 * Which trial a measurement is for: local scorers ignore it; the distributed scorer
 * (src/distributed/) derives its job ids from it, so that a resumed study re-attaches to the
 * jobs it had already sent instead of sending them again.
 */
export interface TrialHint {
  /** The study's trial number. */
  readonly trial: number;
  /** The fidelity (share of the validation split) of a racing stage; absent for a full measurement. */
  readonly fidelity?: number;
}

/** Scores configurations of one loaded supernet. */
export interface SupernetScorer {
  readonly space: SearchSpace;
  /** The engine that computes the model metrics. */
  readonly engine: EngineInfo;
  /** Examples in the validation split the model metrics are measured on. */
  readonly validationExamples: number;
  measure(config: Config, hint?: TrialHint): Promise<Record<SearchMetric, number>>;
  /** Per-example results on validation examples `[start, end)` (see {@link SliceMeasurement}). */
  measureSlice(config: Config, start: number, end: number, hint?: TrialHint): Promise<SliceMeasurement>;
  dispose(): Promise<void>;
}

/** Rows `[start, end)` of a token batch. */
function sliceRows(rows: TokenBatch, start: number, end: number): TokenBatch {
  const span = [start * rows.seqLen, end * rows.seqLen] as const;
  return { batchSize: end - start, seqLen: rows.seqLen, inputIds: rows.inputIds.slice(...span), targets: rows.targets.slice(...span), weights: rows.weights.slice(...span) };
}

/** Load a supernet and its validation data, and return a scorer for its configurations. */
export async function createSupernetScorer(spec: ScorerSpec): Promise<SupernetScorer> {
  await initBackend(spec.backend, { quiet: true });
  const supernet = await loadSupernet(spec.supernet, spec.baseModel !== undefined ? { baseModel: spec.baseModel } : {});
  let engine: EvaluationEngine | undefined;
  try {
    const { manifest, model, adapters, tokenizer, config: modelConfig } = supernet;
    const space = await scoredSpace(spec, supernet.space);
    const data = manifest.data as {
      name?: string;
      source?: string;
      options?: { trainSize?: number; validationSize?: number; maxChars?: number; promptStyle?: 'direct' | 'channel' };
      taskOptions?: TaskDataOptions;
    };
    const training = manifest.training as { seed?: number; maxLength?: number };
    const builtin = data.name !== undefined && isBuiltinTask(data.name);
    const dataSource = builtin || data.name === 'spam-demo' ? data.name : data.source;
    if (!dataSource) throw new NlsError('the supernet manifest does not say which data it was trained on', { file: path.join(spec.supernet, 'supernet.json'), field: 'data' });
    // Built-in tasks record the options that rebuild their splits; other data, the options of the split by the run's seed.
    const taskOptions: TaskDataOptions =
      builtin && data.taskOptions
        ? data.taskOptions
        : {
            seed: training.seed ?? 0,
            ...(data.options?.trainSize !== undefined ? { trainSize: data.options.trainSize } : {}),
            ...(data.options?.validationSize !== undefined ? { validationSize: data.options.validationSize } : {}),
            ...(data.options?.maxChars !== undefined ? { maxChars: data.options.maxChars } : {}),
            ...(data.options?.promptStyle !== undefined ? { promptStyle: data.options.promptStyle } : {}),
          };
    const loaded = await loadTaskData(dataSource, taskOptions);
    const split = spec.split ?? 'validation';
    if (split === 'test' && !(loaded.test && loaded.test.length > 0)) {
      throw new NlsError(`the supernet's task (${loaded.name}) has no test split; fix: train on a built-in task (spam, arith, brown-cloze)`, { field: 'split' });
    }
    // The scored split stands in the `validation` place (its examples are what every metric reads).
    const task = split === 'test' ? { ...loaded, validation: loaded.test! } : loaded;
    const maxLength = training.maxLength ?? 128;
    const validationTask = spec.validationSize ? { ...task, validation: task.validation.slice(0, spec.validationSize) } : task;
    const validation = prepareValidation(validationTask, tokenizer, maxLength);
    const needs = new Set(spec.needs);
    if (needs.has('accuracy') && !validation.choices) {
      if (task.scoring === 'exact') throw new NlsError(`the task ${task.name} is scored by exact match of the generated answer; fix: use --objectives exact,params`, { field: '--objectives' });
      throw new NlsError('accuracy needs a classification or multiple-choice task; this supernet was trained on another kind; fix: use --objectives loss,params', {
        field: '--objectives',
      });
    }
    const seqLen = validation.choices ? validation.choices.rows.seqLen : validation.rows!.seqLen;
    // Width spaces: the unmerged onnx graph takes each layer's MLP width as an input (one session for all).
    engine =
      spec.engine === 'onnx'
        ? await createOnnxEngine(model, adapters, { ...(spec.threads !== undefined ? { threads: spec.threads } : {}), ...(supernet.space.hasWidths ? { elasticWidths: true } : {}) })
        : createTfjsEngine(model, adapters);
    const e = engine;
    const latency = await latencyOf(spec, supernet.space, space);
    // Exact match generates as many tokens as the longest reference answer, plus EOS.
    const exactTokens = needs.has('exact') ? Math.max(1, ...validationTask.validation.map((e) => tokenizer.encode(e.answer).length)) + 1 : 0;
    const needsModel = MODEL_METRICS.some((m) => needs.has(m));
    const validationExamples = validationTask.validation.length;
    const costOf = (config: Config): Partial<Record<SearchMetric, number>> => ({
      params: adapterParameters(modelConfig, space, config),
      flops: flopsPerToken(modelConfig, space, config, seqLen),
      // Bytes at batch 1 with the validation context, float32 weights as tfjs holds them.
      memory: inferenceMemoryBytes(modelConfig, space, config, { seqLen }).total,
      ...(latency ? { latency: latency(config) } : {}),
    });
    const activate = async (config: Config): Promise<void> => {
      await e.setRanks(space.activeRanks(config));
      if (space.hasWidths) await e.setWidths(space.activeWidths(config));
    };
    return {
      space,
      validationExamples,
      measureSlice: async (config, start, end) => {
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > validationExamples || start >= end) {
          throw new NlsError(`validation slice must satisfy 0 <= start < end <= ${validationExamples}, got [${start}, ${end})`, { field: 'slice' });
        }
        const out: { -readonly [K in keyof SliceMeasurement]: SliceMeasurement[K] } = { cost: costOf(config) };
        if (!needsModel) return out;
        await activate(config);
        if (needs.has('accuracy') || needs.has('loss')) {
          if (validation.choices) {
            const m = await evaluateChoices(e, sliceChoices(validation.choices, start, end));
            out.correct = Array.from(m.perExample.correct);
            out.logLikelihood = Array.from(m.perExample.correctLogLikelihood);
            out.tokens = Array.from(m.perExample.correctTokens);
          } else {
            const scores = await scoreRows(e, sliceRows(validation.rows!, start, end));
            out.logLikelihood = Array.from(scores.logLikelihood);
            out.tokens = Array.from(scores.tokens);
          }
        }
        if (needs.has('exact')) {
          const m = await evaluateExactMatch(e, tokenizer, validationTask.validation.slice(start, end), { maxNewTokens: exactTokens, maxLength });
          out.exact = m.correct.map((c) => (c ? 1 : 0));
        }
        return out;
      },
      measure: async (config) => {
        const out = costOf(config);
        if (needsModel) await activate(config);
        if (needs.has('accuracy') || needs.has('loss')) {
          if (validation.choices) {
            const m = await evaluateChoices(e, validation.choices);
            out.accuracy = m.accuracy;
            out.loss = m.answerLoss;
          } else {
            out.loss = (await evaluateLoss(e, validation.rows!)).loss;
          }
        }
        if (needs.has('exact')) {
          // Greedy generations compared after trimming (docs/evaluators.md).
          out.exact = (await evaluateExactMatch(e, tokenizer, validationTask.validation, { maxNewTokens: exactTokens, maxLength })).accuracy;
        }
        return out as Record<SearchMetric, number>;
      },
      engine: e.info,
      dispose: async () => {
        await e.dispose();
        adapters.dispose();
        model.dispose();
      },
    };
  } catch (err) {
    await engine?.dispose();
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
export async function startScorerPool(
  spec: ScorerSpec,
  n: number,
): Promise<Pick<SupernetScorer, 'measure' | 'measureSlice' | 'validationExamples' | 'engine'> & { close(): Promise<void> }> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string } | { ready: true; validationExamples: number; engine: EngineInfo } | { ready: false; error: string };
  const pending = new Map<number, { resolve: (m: unknown) => void; reject: (e: Error) => void }>();
  const idle: import('node:worker_threads').Worker[] = [];
  const queue: ScorerRequest[] = [];
  let validationExamples = 0;
  let engine: EngineInfo = { name: spec.engine ?? 'tfjs' };
  let nextId = 0;
  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) idle.shift()!.postMessage(queue.shift());
  };
  const workers = await Promise.all(
    Array.from({ length: n }, () => {
      const worker = startWorker(new URL(`./scorer-worker.${ext}`, import.meta.url), { workerData: spec });
      return new Promise<import('node:worker_threads').Worker>((resolve, reject) => {
        worker.on('message', (msg: Reply) => {
          if ('ready' in msg) {
            if (msg.ready) {
              validationExamples = msg.validationExamples;
              engine = msg.engine;
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
          if (msg.ok) p?.resolve(msg.result);
          else p?.reject(new Error(msg.error));
        });
        worker.once('error', reject);
      });
    }),
  );
  const request = <T>(config: Config, slice?: readonly [number, number]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (m: unknown) => void, reject });
      queue.push({ id, config: [...config], ...(slice ? { slice } : {}) });
      dispatch();
    });
  return {
    validationExamples,
    engine,
    measure: (config) => request<Record<SearchMetric, number>>(config),
    measureSlice: (config, start, end) => request<SliceMeasurement>(config, [start, end]),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** A request to a scorer worker: score `config`, on the validation slice `slice` when given. */
export interface ScorerRequest {
  readonly id: number;
  readonly config: Config;
  readonly slice?: readonly [number, number];
}

/** Scores configurations: in this thread or in a worker pool. */
export interface ConfigScorer extends Pick<SupernetScorer, 'space' | 'validationExamples' | 'measure' | 'measureSlice' | 'engine'> {
  /** How many configurations can be scored at once (the number of workers). */
  readonly concurrency: number;
  close(): Promise<void>;
}

/**
 * A scorer with `workers` evaluation threads. tfjs: one scores in this thread; more start a
 * worker pool, and this thread then reads only the search space (no model copy it would never
 * score with). onnx: always a pool of `workers` worker threads (one session each), each session
 * with `spec.threads` intra-op threads, by default the cores divided among the workers (so the
 * default, one worker, runs one session on every core).
 */
export async function openSupernetScorer(spec: ScorerSpec, workers = 1): Promise<ConfigScorer> {
  if (!Number.isSafeInteger(workers) || workers < 1) throw new NlsError(`must be a positive integer, got ${workers}`, { field: 'workers' });
  if (workers === 1 && spec.engine !== 'onnx') {
    const local = await createSupernetScorer(spec);
    return {
      space: local.space,
      validationExamples: local.validationExamples,
      engine: local.engine,
      concurrency: 1,
      measure: local.measure,
      measureSlice: local.measureSlice,
      close: () => local.dispose(),
    };
  }
  const space = await scoredSpace(spec, await loadSupernetSpace(spec.supernet, spec.baseModel !== undefined ? { baseModel: spec.baseModel } : {}));
  const threads = spec.engine === 'onnx' ? (spec.threads ?? Math.max(1, Math.floor(os.availableParallelism() / workers))) : undefined;
  const pool = await startScorerPool(threads !== undefined ? { ...spec, threads } : spec, workers);
  return { space, concurrency: workers, ...pool };
}
