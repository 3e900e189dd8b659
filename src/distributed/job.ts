/**
 * What travels through the evaluation queue: a job names a built-in evaluator, a supernet by path
 * and SHA-256, and a configuration; a result carries numbers and the worker's identity. Nothing
 * executable is ever sent. Both sides check every payload with the functions here, so a
 * malformed job fails that job and a malformed result fails that trial, never the process.
 */
import { SEARCH_METRICS, type SearchMetric, type SliceMeasurement } from '../pipeline/scorer.js';
import type { EngineName, EngineRequest } from '../engine/types.js';

/** Format tag of a job payload. */
export const JOB_FORMAT = 'nls-eval-job/1';
/** Format tag of a job's return value. */
export const RESULT_FORMAT = 'nls-eval-result/1';

/** The only evaluator a job can name today: the supernet scorer of `nls search` (src/pipeline/scorer.ts). */
export const JOB_EVALUATORS = ['supernet'] as const;

/** A file a job depends on, by path and content. */
export interface FileRef {
  readonly path: string;
  readonly sha256: string;
}

/** How the worker scores: the {@link ScorerSpec} fields that change values, with files as {@link FileRef}s. */
export interface JobScorer {
  readonly evaluator: (typeof JOB_EVALUATORS)[number];
  readonly supernet: FileRef;
  readonly needs: readonly SearchMetric[];
  /** The study's `--engine`: `auto` lets each worker use its own `--engine` choice. */
  readonly engine: EngineRequest;
  readonly validationSize?: number;
  readonly space?: FileRef;
  readonly latencyPredictor?: FileRef;
}

/** `info`: the split's size and the engine; `measure`: a full evaluation; `slice`: validation examples `[start, end)` (a racing stage). */
export type JobKind = 'info' | 'measure' | 'slice';

/** One job on a study's queue. */
export interface EvaluationJob {
  readonly format: typeof JOB_FORMAT;
  /** The study's id ({@link Study.id}); the queue is the study's own. */
  readonly study: string;
  readonly kind: JobKind;
  readonly scorer: JobScorer;
  /** measure, slice: the trial number and configuration. */
  readonly trial?: number;
  readonly config?: readonly number[];
  /** slice: the examples and the racing stage's fidelity. */
  readonly slice?: readonly [number, number];
  readonly fidelity?: number;
}

/** Who evaluated a job. */
export interface WorkerIdentity {
  readonly host: string;
  readonly pid: number;
  /** `host:pid:random`, unique per worker process. */
  readonly id: string;
}

/** What an `info` job returns. */
export interface ScorerInfo {
  readonly validationExamples: number;
  readonly engine: EngineName;
}

/** A job's return value. */
export type JobResult =
  | { readonly format: typeof RESULT_FORMAT; readonly ok: true; readonly worker: WorkerIdentity; readonly seconds: number; readonly value: unknown }
  | { readonly format: typeof RESULT_FORMAT; readonly ok: false; readonly worker: WorkerIdentity; readonly message: string };

/** A payload that is not what its format says. */
export class PayloadError extends Error {
  constructor(
    message: string,
    /** The offending field, as a path (`scorer.supernet.sha256`). */
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PayloadError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => (x === undefined ? 'missing' : JSON.stringify(x)?.slice(0, 80) ?? String(x));

function obj(x: unknown, field: string): Obj {
  if (!isObj(x)) throw new PayloadError(`expected an object, got ${show(x)}`, field);
  return x;
}
function str(x: unknown, field: string, pattern?: RegExp): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > 4096 || (pattern && !pattern.test(x))) throw new PayloadError(`expected ${pattern ? `a string matching ${pattern}` : 'a non-empty string'}, got ${show(x)}`, field);
  return x;
}
function nat(x: unknown, field: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw new PayloadError(`expected a non-negative integer, got ${show(x)}`, field);
  return x as number;
}
function finite(x: unknown, field: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new PayloadError(`expected a finite number, got ${show(x)}`, field);
  return x;
}
function oneOf<T extends string>(x: unknown, choices: readonly T[], field: string): T {
  if (typeof x !== 'string' || !choices.includes(x as T)) throw new PayloadError(`expected one of ${choices.join(', ')}, got ${show(x)}`, field);
  return x as T;
}
function only(o: Obj, keys: readonly string[], field: string): void {
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length > 0) throw new PayloadError(`unexpected field(s) ${extra.join(', ')}`, field);
}

const SHA256 = /^[0-9a-f]{64}$/;
/** A study id: 16 lowercase hex digits. */
export const STUDY_ID = /^[0-9a-f]{16}$/;

function fileRef(x: unknown, field: string): FileRef {
  const o = obj(x, field);
  only(o, ['path', 'sha256'], field);
  return { path: str(o['path'], `${field}.path`), sha256: str(o['sha256'], `${field}.sha256`, SHA256) };
}

function scorerOf(x: unknown): JobScorer {
  const o = obj(x, 'scorer');
  only(o, ['evaluator', 'supernet', 'needs', 'engine', 'validationSize', 'space', 'latencyPredictor'], 'scorer');
  const needsRaw = o['needs'];
  if (!Array.isArray(needsRaw) || needsRaw.length === 0) throw new PayloadError(`expected a non-empty list of metrics, got ${show(needsRaw)}`, 'scorer.needs');
  const needs = needsRaw.map((m, i) => oneOf(m, Object.keys(SEARCH_METRICS) as SearchMetric[], `scorer.needs[${i}]`));
  return {
    evaluator: oneOf(o['evaluator'], JOB_EVALUATORS, 'scorer.evaluator'),
    supernet: fileRef(o['supernet'], 'scorer.supernet'),
    needs,
    engine: oneOf(o['engine'], ['auto', 'tfjs', 'onnx'] as const, 'scorer.engine'),
    ...(o['validationSize'] !== undefined ? { validationSize: nat(o['validationSize'], 'scorer.validationSize') } : {}),
    ...(o['space'] !== undefined ? { space: fileRef(o['space'], 'scorer.space') } : {}),
    ...(o['latencyPredictor'] !== undefined ? { latencyPredictor: fileRef(o['latencyPredictor'], 'scorer.latencyPredictor') } : {}),
  };
}

/** Check a job payload (the worker, before any work); throws {@link PayloadError} naming the field. */
export function checkJob(x: unknown): EvaluationJob {
  const o = obj(x, 'job');
  only(o, ['format', 'study', 'kind', 'scorer', 'trial', 'config', 'slice', 'fidelity'], 'job');
  if (o['format'] !== JOB_FORMAT) throw new PayloadError(`expected ${JOB_FORMAT}, got ${show(o['format'])} (a coordinator of another nls version?)`, 'format');
  const kind = oneOf(o['kind'], ['info', 'measure', 'slice'] as const, 'kind');
  const job: { -readonly [K in keyof EvaluationJob]: EvaluationJob[K] } = { format: JOB_FORMAT, study: str(o['study'], 'study', STUDY_ID), kind, scorer: scorerOf(o['scorer']) };
  if (kind === 'info') {
    for (const k of ['trial', 'config', 'slice', 'fidelity']) if (o[k] !== undefined) throw new PayloadError('not allowed in an info job', k);
    return job;
  }
  job.trial = nat(o['trial'], 'trial');
  const config = o['config'];
  if (!Array.isArray(config) || config.length === 0 || config.length > 65536) throw new PayloadError(`expected a list of choice indices, got ${show(config)}`, 'config');
  job.config = config.map((c, i) => nat(c, `config[${i}]`));
  if (kind === 'slice') {
    const s = o['slice'];
    if (!Array.isArray(s) || s.length !== 2) throw new PayloadError(`expected [start, end], got ${show(s)}`, 'slice');
    const start = nat(s[0], 'slice[0]');
    const end = nat(s[1], 'slice[1]');
    if (end <= start) throw new PayloadError(`expected start < end, got [${start}, ${end}]`, 'slice');
    job.slice = [start, end];
    const f = finite(o['fidelity'], 'fidelity');
    if (!(f > 0 && f <= 1)) throw new PayloadError(`expected a share in (0, 1], got ${f}`, 'fidelity');
    job.fidelity = f;
  } else if (o['slice'] !== undefined || o['fidelity'] !== undefined) {
    throw new PayloadError('slice and fidelity belong to slice jobs only', o['slice'] !== undefined ? 'slice' : 'fidelity');
  }
  return job;
}

function workerOf(x: unknown): WorkerIdentity {
  const o = obj(x, 'worker');
  return { host: str(o['host'], 'worker.host'), pid: nat(o['pid'], 'worker.pid'), id: str(o['id'], 'worker.id') };
}

function numberList(x: unknown, n: number, field: string, check: (v: unknown, f: string) => number = finite): number[] {
  if (!Array.isArray(x) || x.length !== n) throw new PayloadError(`expected ${n} numbers, got ${show(x)}`, field);
  return x.map((v, i) => check(v, `${field}[${i}]`));
}

function costOf(x: unknown, field: string): Partial<Record<SearchMetric, number>> {
  const o = obj(x, field);
  const out: Partial<Record<SearchMetric, number>> = {};
  for (const [k, v] of Object.entries(o)) out[oneOf(k, Object.keys(SEARCH_METRICS) as SearchMetric[], `${field} key`)] = finite(v, `${field}.${k}`);
  return out;
}

/** A checked `measure` value: every metric the job needs, finite. */
export function checkMeasureValue(x: unknown, job: EvaluationJob): Record<SearchMetric, number> {
  const m = costOf(x, 'value');
  for (const need of job.scorer.needs) if (m[need] === undefined) throw new PayloadError(`the metric ${need} is missing`, 'value');
  return m as Record<SearchMetric, number>;
}

/** A checked `slice` value: the cost metrics and one entry per example of the slice for each per-example field. */
export function checkSliceValue(x: unknown, job: EvaluationJob): SliceMeasurement {
  const o = obj(x, 'value');
  only(o, ['cost', 'correct', 'exact', 'logLikelihood', 'tokens'], 'value');
  const n = job.slice ? job.slice[1] - job.slice[0] : 0;
  const out: { -readonly [K in keyof SliceMeasurement]: SliceMeasurement[K] } = { cost: costOf(o['cost'], 'value.cost') };
  const bit = (v: unknown, f: string): number => {
    if (v !== 0 && v !== 1) throw new PayloadError(`expected 0 or 1, got ${show(v)}`, f);
    return v;
  };
  if (o['correct'] !== undefined) out.correct = numberList(o['correct'], n, 'value.correct', bit);
  if (o['exact'] !== undefined) out.exact = numberList(o['exact'], n, 'value.exact', bit);
  if (o['logLikelihood'] !== undefined) out.logLikelihood = numberList(o['logLikelihood'], n, 'value.logLikelihood');
  if (o['tokens'] !== undefined) out.tokens = numberList(o['tokens'], n, 'value.tokens', nat);
  const needs = new Set(job.scorer.needs);
  if (needs.has('accuracy') && out.correct === undefined) throw new PayloadError('per-example correctness is missing', 'value.correct');
  if (needs.has('exact') && out.exact === undefined) throw new PayloadError('per-example exact matches are missing', 'value.exact');
  if (needs.has('loss') && (out.logLikelihood === undefined || out.tokens === undefined)) throw new PayloadError('per-example log-likelihoods and tokens are missing', 'value.logLikelihood');
  return out;
}

/** A checked `info` value. */
export function checkInfoValue(x: unknown): ScorerInfo {
  const o = obj(x, 'value');
  const validationExamples = nat(o['validationExamples'], 'value.validationExamples');
  if (validationExamples === 0) throw new PayloadError('the split has no examples', 'value.validationExamples');
  return { validationExamples, engine: oneOf(o['engine'], ['tfjs', 'onnx'] as const, 'value.engine') };
}

/** Check a job's return value (the coordinator, before the study sees it); throws {@link PayloadError}. */
export function checkResult(x: unknown): JobResult {
  const o = obj(x, 'result');
  if (o['format'] !== RESULT_FORMAT) throw new PayloadError(`expected ${RESULT_FORMAT}, got ${show(o['format'])}`, 'result.format');
  const worker = workerOf(o['worker']);
  if (o['ok'] === true) return { format: RESULT_FORMAT, ok: true, worker, seconds: finite(o['seconds'], 'result.seconds'), value: o['value'] };
  if (o['ok'] === false) return { format: RESULT_FORMAT, ok: false, worker, message: str(o['message'], 'result.message') };
  throw new PayloadError(`expected true or false, got ${show(o['ok'])}`, 'result.ok');
}

/**
 * The job id of a measurement: derived from the study, the trial and the fidelity only, so that
 * the same measurement always has the same id (a resumed coordinator re-attaches to it, and
 * BullMQ never holds it twice). BullMQ reserves `:` in custom ids.
 */
export function jobId(study: string, kind: JobKind, trial?: number, fidelity?: number): string {
  if (kind === 'info') return `${study}-info`;
  return `${study}-t${trial}-${kind === 'slice' ? `f${fidelity}` : 'full'}`;
}
