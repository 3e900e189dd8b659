/**
 * The coordinator side of distributed evaluation: a {@link ConfigScorer} whose measurements are
 * BullMQ jobs on the study's own queue, evaluated by `nls worker` processes anywhere that reach
 * the same Redis. The study process stays the only writer of the journal and the only owner of
 * the strategy; this scorer only turns a measurement into a job and a job's return value back into
 * numbers, after checking them.
 *
 * A job's id is derived from (study, trial, fidelity) (src/distributed/job.ts), so a resumed
 * coordinator asking for the same measurement re-attaches to the job it sent before (in flight or
 * finished) instead of sending it again, and a result is taken once. Completion arrives through
 * BullMQ's queue events; a periodic sweep also reads every pending job's state, which catches
 * events missed while Redis was away and re-sends jobs that a Redis without persistence lost.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnectionOptions, Job, Queue, QueueEvents } from 'bullmq';
import type { Redis as RedisClient } from 'ioredis';
import type { EngineInfo, EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
import { type ConfigScorer, scoredSpace, type ScorerSpec, type SearchMetric, type SliceMeasurement, type TrialHint } from '../pipeline/scorer.js';
import { sha256File } from '../run/hash.js';
import type { Config } from '../space/index.js';
import { loadSupernetSpace, supernetSha256 } from '../supernet/artifact.js';
import type { Progress } from '../util/progress.js';
import { connectRedis, parseQueueUrl, type QueueAddress, redisOptions } from './connection.js';
import { checkInfoValue, checkMeasureValue, checkResult, checkSliceValue, type EvaluationJob, type FileRef, type JobKind, type JobScorer, jobId, PayloadError, STUDY_ID } from './job.js';
import { heartbeat, liveWorkers, QUEUE_PREFIX, STUDIES_KEY, studyQueueName } from './registry.js';

/** Options of {@link openQueueScorer}. */
export interface QueueScorerOptions {
  /** `redis://[USER:PASSWORD@]HOST:PORT/DB` or `rediss://...` (TLS). */
  readonly queue: string;
  /** The study's `--engine` as given (`auto` lets each worker choose). */
  readonly engine: EngineRequest;
  /** The study's journal, shown in the registry of running studies. */
  readonly journal: string;
  readonly progress: Progress;
  /** Milliseconds between sweeps of the pending jobs' states (default 2000). */
  readonly sweepMs?: number;
  /** Milliseconds between queue status lines on stderr (default 10000; 0 = none). */
  readonly statusMs?: number;
}

/** A scorer that sends its measurements to a BullMQ queue. */
export interface QueueScorer extends ConfigScorer {
  /** Where the jobs go (the URL without its password). */
  readonly address: string;
  /**
   * Serve study `studyId` (its {@link Study.id}): open its queue, announce it to workers and wait
   * for the first worker to say how many validation examples the split has. Call before the
   * study runs; measurements before it are refused.
   */
  attach(studyId: string): Promise<void>;
  /** Jobs waiting, running, completed and failed on the study's queue, and the live workers. */
  status(): Promise<QueueStatus>;
}

/** A snapshot of a study's queue. */
export interface QueueStatus {
  readonly waiting: number;
  readonly running: number;
  readonly completed: number;
  readonly failed: number;
  readonly workers: readonly { readonly id: string; readonly host: string; readonly pid: number; readonly running: number; readonly done: number }[];
}

/** How many measurements the study may have in flight at once: the queue takes any number. */
const QUEUE_CONCURRENCY = 4096;
/** Finished jobs stay in Redis this long (seconds), for a resumed coordinator to re-attach to. */
const KEEP_FINISHED_SECONDS = 7 * 24 * 3600;

async function fileRef(file: string): Promise<FileRef> {
  return { path: path.resolve(file), sha256: await sha256File(file) };
}

interface Pending {
  readonly job: EvaluationJob;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Open a scorer that evaluates on a queue. The supernet is read here only for its space and
 * SHA-256; the workers load it (by the same path, or their `--path-map`).
 */
export async function openQueueScorer(spec: ScorerSpec, options: QueueScorerOptions): Promise<QueueScorer> {
  const address: QueueAddress = parseQueueUrl(options.queue);
  const progress = options.progress;
  const supernet = path.resolve(spec.supernet);
  const space = await scoredSpace(spec, await loadSupernetSpace(supernet, spec.baseModel !== undefined ? { baseModel: spec.baseModel } : {}));
  const scorer: JobScorer = {
    evaluator: 'supernet',
    supernet: { path: supernet, sha256: await supernetSha256(supernet) },
    needs: [...spec.needs],
    engine: options.engine,
    ...(spec.validationSize !== undefined ? { validationSize: spec.validationSize } : {}),
    ...(spec.spaceFile !== undefined ? { space: await fileRef(spec.spaceFile) } : {}),
    ...(spec.latencyPredictor !== undefined ? { latencyPredictor: await fileRef(spec.latencyPredictor) } : {}),
  };
  const redis: RedisClient = await connectRedis(address);
  const { Queue, QueueEvents, Job } = await import('bullmq');

  let study: string | undefined;
  let queue: Queue | undefined;
  let events: QueueEvents | undefined;
  let beat: { stop(): Promise<void> } | undefined;
  const timers: NodeJS.Timeout[] = [];
  const pending = new Map<string, Pending>();
  let validationExamples = 0;
  let engine: EngineInfo = { name: options.engine === 'auto' ? 'tfjs' : options.engine };
  let redisDown = false;
  let closed = false;

  const settle = (id: string, outcome: { returnvalue: unknown } | { failedReason: string }): void => {
    const p = pending.get(id);
    if (!p) return; // not ours, or already taken: a result that arrives twice is taken once
    pending.delete(id);
    if ('failedReason' in outcome) {
      p.reject(new Error(`the job failed on the queue: ${outcome.failedReason}`));
      return;
    }
    let raw = outcome.returnvalue;
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw) as unknown;
      } catch {
        // left as the string; checkResult says what is wrong with it
      }
    }
    try {
      const result = checkResult(raw);
      const who = `worker ${result.worker.host} (pid ${result.worker.pid})`;
      if (!result.ok) {
        p.reject(new Error(`${result.message} [${who}]`));
        return;
      }
      const value =
        p.job.kind === 'info' ? checkInfoValue(result.value) : p.job.kind === 'slice' ? checkSliceValue(result.value, p.job) : checkMeasureValue(result.value, p.job);
      p.resolve(value);
    } catch (err) {
      const why = err instanceof PayloadError ? err.message : (err as Error).message;
      const host = (raw as { worker?: { host?: unknown } } | undefined)?.worker?.host;
      p.reject(new Error(`the worker${typeof host === 'string' ? ` on ${host}` : ''} returned malformed values (${why})`));
    }
  };

  const add = async (id: string, job: EvaluationJob): Promise<void> => {
    await queue!.add(job.kind, job, { jobId: id, attempts: 1, removeOnComplete: { age: KEEP_FINISHED_SECONDS }, removeOnFail: { age: KEEP_FINISHED_SECONDS } });
  };

  /** Read a pending job's state: take it when finished, send it again when Redis no longer has it. */
  const check = async (id: string): Promise<void> => {
    const p = pending.get(id);
    if (!p || !queue) return;
    const job = (await Job.fromId(queue, id)) as Job | undefined;
    if (job === undefined) {
      progress.log(`job ${id} is no longer on the queue (Redis restarted without persistence?); sending it again`);
      await add(id, p.job);
      return;
    }
    if (job.finishedOn) {
      if (job.returnvalue !== undefined && job.returnvalue !== null) settle(id, { returnvalue: job.returnvalue as unknown });
      else settle(id, { failedReason: job.failedReason || 'no result recorded' });
    }
  };

  const sweep = async (): Promise<void> => {
    try {
      for (const id of [...pending.keys()]) await check(id);
      if (redisDown) progress.log(`reconnected to ${address.display}`);
      redisDown = false;
    } catch (err) {
      if (!redisDown) progress.log(`lost the connection to ${address.display} (${(err as Error).message}); retrying`);
      redisDown = true;
    }
  };

  const request = async (kind: JobKind, config?: Config, hint?: TrialHint, slice?: readonly [number, number]): Promise<unknown> => {
    if (study === undefined || queue === undefined) throw new NlsError('the queue scorer is not attached to a study yet; fix: call attach(study.id) before running the study', { field: 'queue' });
    if (closed) throw new NlsError('the queue scorer is closed', { field: 'queue' });
    if (kind !== 'info' && (hint === undefined || !Number.isSafeInteger(hint.trial) || hint.trial < 0)) {
      throw new NlsError('a distributed measurement needs its trial number (job ids are derived from it); fix: pass the trial hint', { field: 'trial' });
    }
    const fidelity = kind === 'slice' ? hint?.fidelity : undefined;
    if (kind === 'slice' && fidelity === undefined) throw new NlsError('a distributed slice measurement needs the racing stage fidelity', { field: 'fidelity' });
    const job: EvaluationJob = {
      format: 'nls-eval-job/1',
      study,
      kind,
      scorer,
      ...(kind !== 'info' ? { trial: hint!.trial, config: [...config!] } : {}),
      ...(kind === 'slice' ? { slice: [slice![0], slice![1]] as const, fidelity: fidelity! } : {}),
    };
    const id = jobId(study, kind, hint?.trial, fidelity);
    const result = new Promise<unknown>((resolve, reject) => pending.set(id, { job, resolve, reject }));
    // A job with this id may be there already (a resumed coordinator): BullMQ keeps the first;
    // its result comes through the events, or (finished before we listened) the next sweep.
    for (;;) {
      try {
        await add(id, job);
        break;
      } catch (err) {
        if (closed) throw err;
        if (!redisDown) progress.log(`lost the connection to ${address.display} (${(err as Error).message}); retrying`);
        redisDown = true;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    return result;
  };

  const status = async (): Promise<QueueStatus> => {
    if (!queue) return { waiting: 0, running: 0, completed: 0, failed: 0, workers: [] };
    const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
    const workers = (await liveWorkers(redis)).map((w) => ({ id: w.id, host: w.host, pid: w.pid, running: w.running, done: w.done }));
    return { waiting: (c['waiting'] ?? 0) + (c['prioritized'] ?? 0) + (c['delayed'] ?? 0), running: c['active'] ?? 0, completed: c['completed'] ?? 0, failed: c['failed'] ?? 0, workers };
  };

  const statusLine = (s: QueueStatus): string =>
    `queue ${address.display}: ${s.waiting} waiting, ${s.running} running, ${s.completed} done, ${s.failed} failed; ${s.workers.length} worker${s.workers.length === 1 ? '' : 's'} alive${
      s.workers.length > 0 ? ` (${s.workers.map((w) => `${w.host} pid ${w.pid}: ${w.running} running, ${w.done} done`).join('; ')})` : ''
    }`;

  return {
    space,
    address: address.display,
    concurrency: QUEUE_CONCURRENCY,
    get validationExamples() {
      return validationExamples;
    },
    get engine() {
      return engine;
    },
    attach: async (id: string) => {
      if (!STUDY_ID.test(id)) throw new NlsError(`a study id is 16 hex digits, got ${JSON.stringify(id)}`, { field: 'study' });
      if (study !== undefined) throw new NlsError('the queue scorer is attached to a study already', { field: 'study' });
      study = id;
      const connection = redisOptions(address) as ConnectionOptions;
      queue = new Queue(studyQueueName(id), { connection, prefix: QUEUE_PREFIX });
      events = new QueueEvents(studyQueueName(id), { connection, prefix: QUEUE_PREFIX });
      // Errors while Redis is away are reported by the sweep; the clients reconnect by themselves.
      queue.on('error', () => {});
      events.on('error', () => {});
      events.on('completed', ({ jobId: j, returnvalue }) => settle(j, { returnvalue }));
      events.on('failed', ({ jobId: j, failedReason }) => settle(j, { failedReason }));
      await events.waitUntilReady();
      beat = heartbeat(redis, STUDIES_KEY, id, () => ({ id, host: os.hostname(), journal: path.resolve(options.journal) }));
      const sweepTimer = setInterval(() => void sweep(), options.sweepMs ?? 2000);
      sweepTimer.unref();
      timers.push(sweepTimer);
      const first = await status();
      progress.log(statusLine(first));
      if (first.workers.length === 0) progress.log(`no worker is alive on ${address.display} yet; the study waits for one (start one with: nls worker --queue ${address.display.replace('***', 'PASSWORD')})`);
      const statusMs = options.statusMs ?? 10_000;
      if (statusMs > 0) {
        let last = '';
        const statusTimer = setInterval(() => {
          void status().then(
            (s) => {
              const line = statusLine(s);
              if (line !== last) progress.log(line);
              last = line;
            },
            () => {},
          );
        }, statusMs);
        statusTimer.unref();
        timers.push(statusTimer);
      }
      let info;
      try {
        info = checkInfoValue(await request('info'));
      } catch (err) {
        throw new NlsError(`the workers cannot evaluate this study: ${(err as Error).message}`, { field: '--queue', cause: err });
      }
      validationExamples = info.validationExamples;
      engine = { name: info.engine };
    },
    status,
    measure: (config, hint) => request('measure', config, hint) as Promise<Record<SearchMetric, number>>,
    measureSlice: (config, start, end, hint) => request('slice', config, hint, [start, end]) as Promise<SliceMeasurement>,
    close: async () => {
      closed = true;
      for (const t of timers) clearInterval(t);
      await beat?.stop();
      await events?.close();
      await queue?.close();
      redis.disconnect();
    },
  };
}
