/**
 * The worker side of distributed evaluation (`nls worker`): serves the queues of every running
 * study on one Redis, evaluating each job with the built-in supernet scorer. It checks every job
 * (src/distributed/job.ts), checks the supernet's SHA-256 against the job's before loading it,
 * keeps loaded supernets for the next jobs, and evaluates in worker threads so that its event loop
 * stays free to renew BullMQ's job locks (a killed worker's jobs are then handed to another
 * worker by BullMQ's stalled-job check, after `lockDuration`).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnectionOptions, Job, Worker } from 'bullmq';
import type { BackendRequest } from '../backend/index.js';
import { resolveEngine } from '../engine/select.js';
import type { EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
import { type ScorerSpec, type SliceMeasurement, startScorerPool } from '../pipeline/scorer.js';
import { sha256File } from '../run/hash.js';
import { supernetSha256 } from '../supernet/artifact.js';
import type { Progress } from '../util/progress.js';
import { connectRedis, parseQueueUrl, redisOptions } from './connection.js';
import { checkJob, type EvaluationJob, type FileRef, type JobResult, RESULT_FORMAT, type WorkerIdentity } from './job.js';
import { heartbeat, liveStudies, QUEUE_PREFIX, studyQueueName, WORKERS_KEY } from './registry.js';

/** A `--path-map FROM=TO`: paths in jobs that start with `from` are read from `to` here. */
export interface PathMapping {
  readonly from: string;
  readonly to: string;
}

/** Parse `FROM=TO` (both absolute). */
export function parsePathMapping(text: string): PathMapping {
  const eq = text.indexOf('=');
  const from = eq > 0 ? text.slice(0, eq) : '';
  const to = eq > 0 ? text.slice(eq + 1) : '';
  if (!path.isAbsolute(from) || !path.isAbsolute(to)) {
    throw new NlsError(`cannot read path mapping ${JSON.stringify(text)}; fix: write FROM=TO with two absolute folders, e.g. /shared/runs=/data/runs`, { field: '--path-map' });
  }
  return { from: path.resolve(from), to: path.resolve(to) };
}

/** The path on this machine of a path named in a job (the first mapping whose `from` contains it). */
export function mapPath(p: string, mappings: readonly PathMapping[]): string {
  for (const m of mappings) {
    if (p === m.from) return m.to;
    if (p.startsWith(m.from + path.sep)) return path.join(m.to, p.slice(m.from.length + 1));
  }
  return p;
}

/** Options of {@link runEvaluationWorker}. */
export interface EvaluationWorkerOptions {
  /** `redis://[USER:PASSWORD@]HOST:PORT/DB` or `rediss://...`. */
  readonly queue: string;
  /** Jobs evaluated at once (default 1); one scorer thread each. */
  readonly concurrency?: number;
  /** Engine for jobs whose study asked for `auto` (default `auto`: onnx when it loads here). */
  readonly engine?: EngineRequest;
  /** tfjs backend of the scorer threads (default wasm). */
  readonly backend?: BackendRequest;
  /** onnx: intra-op threads per scorer thread (default: the cores divided among them). */
  readonly threads?: number;
  readonly pathMap?: readonly PathMapping[];
  /** BullMQ job lock (ms, default 30000): a job of a worker that stopped renewing it is handed to another worker after about this long. */
  readonly lockDuration?: number;
  /** Serve only these studies (ids); default every running study. */
  readonly studies?: readonly string[];
  /** Wait this long (ms) before evaluating each job: fault-injection tests kill a worker mid-job with it. */
  readonly jobDelayMs?: number;
  /** Stop after this many jobs (for tests and benchmarks; default: run until `signal`). */
  readonly maxJobs?: number;
  readonly signal?: AbortSignal;
  readonly progress: Progress;
}

/** What {@link runEvaluationWorker} did. */
export interface WorkerSummary {
  readonly identity: WorkerIdentity;
  readonly completed: number;
  readonly failed: number;
}

interface LoadedScorer {
  readonly pool: Awaited<ReturnType<typeof startScorerPool>>;
  lastUsed: number;
  running: number;
}

/** Most supernet scorers kept loaded at once (each holds `concurrency` model copies). */
const MAX_LOADED = 2;
/** Milliseconds between looks at the registry of running studies. */
const DISCOVERY_MS = 1000;

/** A counting semaphore: `concurrency` jobs at once across every study served. */
function semaphore(n: number): () => Promise<() => void> {
  let free = n;
  const waiting: (() => void)[] = [];
  return async () => {
    if (free > 0) free--;
    else await new Promise<void>((r) => waiting.push(r));
    return () => {
      const next = waiting.shift();
      if (next) next();
      else free++;
    };
  };
}

/**
 * Serve evaluation jobs until `options.signal` aborts (or `maxJobs` were done). Resolves with the
 * counts after closing every queue cleanly (running jobs finish first).
 */
export async function runEvaluationWorker(options: EvaluationWorkerOptions): Promise<WorkerSummary> {
  const address = parseQueueUrl(options.queue);
  const progress = options.progress;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new NlsError(`must be a positive integer, got ${concurrency}`, { field: '--concurrency' });
  const lockDuration = options.lockDuration ?? 30_000;
  if (!Number.isSafeInteger(lockDuration) || lockDuration < 1000) throw new NlsError(`must be at least 1000 ms, got ${lockDuration}`, { field: '--lock-duration' });
  const identity: WorkerIdentity = { host: os.hostname(), pid: process.pid, id: `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}` };
  const redis = await connectRedis(address);
  const { Worker: BullWorker } = await import('bullmq');
  const connection = redisOptions(address) as ConnectionOptions;
  const acquire = semaphore(concurrency);
  const loaded = new Map<string, Promise<LoadedScorer>>();
  const served = new Map<string, Worker>();
  let completed = 0;
  let failed = 0;
  let running = 0;
  let stopping = false;
  const beat = heartbeat(redis, WORKERS_KEY, identity.id, () => ({ ...identity, concurrency, done: completed + failed, running }));
  progress.log(`worker ${identity.id} serving ${address.display} (${concurrency} at once, engine ${options.engine ?? 'auto'} for studies that leave it to the worker)`);

  const checkFile = async (ref: FileRef, what: string, hash: (p: string) => Promise<string>): Promise<string> => {
    const local = mapPath(ref.path, options.pathMap ?? []);
    let sha: string;
    try {
      sha = await hash(local);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${local}${local !== ref.path ? ` (mapped from ${ref.path})` : ''} on ${identity.host}: ${(err as Error).message}; fix: put a copy there, or map its folder with --path-map FROM=TO`);
    }
    if (sha !== ref.sha256) {
      throw new Error(
        `the ${what} ${local}${local !== ref.path ? ` (mapped from ${ref.path})` : ''} on ${identity.host} has SHA-256 ${sha.slice(0, 12)}…, the study expects ${ref.sha256.slice(0, 12)}…; refusing to evaluate another ${what}; fix: copy the study's ${what} to this machine again`,
      );
    }
    return local;
  };

  /** The scorer for a job's settings: loaded once (after the SHA-256 checks) and kept. */
  const scorerFor = async (job: EvaluationJob): Promise<LoadedScorer> => {
    const engine = await resolveEngine(job.scorer.engine === 'auto' ? (options.engine ?? 'auto') : job.scorer.engine);
    const key = JSON.stringify({ ...job.scorer, engine });
    let entry = loaded.get(key);
    if (entry === undefined) {
      entry = (async () => {
        const supernet = await checkFile(job.scorer.supernet, 'supernet', supernetSha256);
        const spaceFile = job.scorer.space ? await checkFile(job.scorer.space, 'search-space file', sha256File) : undefined;
        const latencyPredictor = job.scorer.latencyPredictor ? await checkFile(job.scorer.latencyPredictor, 'latency predictor', sha256File) : undefined;
        const base = await mappedBase(supernet, options.pathMap ?? []);
        const spec: ScorerSpec = {
          supernet,
          backend: options.backend ?? 'wasm',
          engine,
          needs: job.scorer.needs,
          ...(job.scorer.validationSize !== undefined ? { validationSize: job.scorer.validationSize } : {}),
          ...(spaceFile !== undefined ? { spaceFile } : {}),
          ...(latencyPredictor !== undefined ? { latencyPredictor } : {}),
          ...(base !== undefined ? { baseModel: base } : {}),
          ...(engine === 'onnx' ? { threads: options.threads ?? Math.max(1, Math.floor(os.availableParallelism() / concurrency)) } : {}),
        };
        progress.log(`loading supernet ${supernet} (${engine}) for study ${job.study}`);
        const pool = await startScorerPool(spec, concurrency);
        return { pool, lastUsed: Date.now(), running: 0 };
      })();
      loaded.set(key, entry);
      // A failed load is not kept: the next job tries again (the copy may have been fixed).
      entry.catch(() => loaded.delete(key));
      // Keep at most MAX_LOADED: close the least recently used idle ones.
      if (loaded.size > MAX_LOADED) {
        const idle: [string, LoadedScorer][] = [];
        for (const [k, p] of loaded) {
          if (k === key) continue;
          const s = await p.catch(() => undefined);
          if (s && s.running === 0) idle.push([k, s]);
        }
        idle.sort((a, b) => a[1].lastUsed - b[1].lastUsed);
        for (const [k, s] of idle.slice(0, loaded.size - MAX_LOADED)) {
          loaded.delete(k);
          await s.pool.close();
        }
      }
    }
    return entry;
  };

  const evaluate = async (job: EvaluationJob): Promise<unknown> => {
    const s = await scorerFor(job);
    s.running++;
    s.lastUsed = Date.now();
    try {
      if (job.kind === 'info') return { validationExamples: s.pool.validationExamples, engine: s.pool.engine.name };
      if (job.kind === 'slice') return (await s.pool.measureSlice(job.config!, job.slice![0], job.slice![1])) satisfies SliceMeasurement;
      return await s.pool.measure(job.config!);
    } finally {
      s.running--;
    }
  };

  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  const processor = async (job: Job, queueStudy: string): Promise<JobResult> => {
    try {
      return await handleJob(job, queueStudy);
    } finally {
      if (options.maxJobs !== undefined && completed + failed >= options.maxJobs) finish();
    }
  };
  const handleJob = async (job: Job, queueStudy: string): Promise<JobResult> => {
    // A malformed job fails as a BullMQ failure (its reason says which field); never evaluated.
    let payload: EvaluationJob;
    try {
      payload = checkJob(job.data);
    } catch (err) {
      failed++;
      throw new Error(`malformed job ${job.id ?? ''} refused by ${identity.host}: ${(err as Error).message}`);
    }
    if (payload.study !== queueStudy) {
      failed++;
      throw new Error(`job ${job.id ?? ''} names study ${payload.study} but sits on the queue of study ${queueStudy}; refused`);
    }
    const release = await acquire();
    running++;
    const start = performance.now();
    progress.log(`job ${job.id ?? ''}: ${payload.kind}${payload.trial !== undefined ? ` trial ${payload.trial}` : ''} of study ${payload.study}`);
    try {
      if (options.jobDelayMs) await new Promise((r) => setTimeout(r, options.jobDelayMs));
      const value = await evaluate(payload);
      completed++;
      return { format: RESULT_FORMAT, ok: true, worker: identity, seconds: (performance.now() - start) / 1000, value };
    } catch (err) {
      failed++;
      const message = err instanceof Error ? err.message : String(err);
      progress.log(`job ${job.id ?? ''} failed: ${message}`);
      return { format: RESULT_FORMAT, ok: false, worker: identity, message };
    } finally {
      running--;
      release();
    }
  };

  const serve = (studyId: string): void => {
    const w = new BullWorker(studyQueueName(studyId), (job: Job) => processor(job, studyId), {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 1,
      name: identity.id,
    });
    // Connection errors while Redis restarts are expected; BullMQ reconnects.
    w.on('error', () => {});
    served.set(studyId, w);
    progress.log(`serving study ${studyId}`);
  };

  const discover = async (): Promise<void> => {
    if (stopping) return;
    const live = (await liveStudies(redis)).map((s) => s.id).filter((id) => options.studies === undefined || options.studies.includes(id));
    for (const id of live) if (!served.has(id)) serve(id);
    for (const [id, w] of served) {
      if (!live.includes(id)) {
        served.delete(id);
        progress.log(`study ${id} has ended (or its coordinator is gone); leaving its queue`);
        await w.close();
      }
    }
  };
  await discover();
  const timer = setInterval(() => void discover().catch(() => {}), DISCOVERY_MS);
  timer.unref();

  const aborted = new Promise<void>((resolve) => {
    if (options.signal?.aborted) resolve();
    options.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await Promise.race([aborted, finished]);
  stopping = true;
  clearInterval(timer);
  progress.log(`worker ${identity.id} stopping: ${completed} jobs done, ${failed} failed`);
  await Promise.all([...served.values()].map((w) => w.close()));
  for (const p of loaded.values()) await (await p.catch(() => undefined))?.pool.close();
  await beat.stop();
  redis.disconnect();
  return { identity, completed, failed };
}

/** The base model folder to load when supernet.json names an absolute path that a mapping moves; undefined otherwise. */
async function mappedBase(supernetDir: string, mappings: readonly PathMapping[]): Promise<string | undefined> {
  if (mappings.length === 0) return undefined;
  const manifest = JSON.parse(await readFile(path.join(supernetDir, 'supernet.json'), 'utf8')) as { baseModel?: unknown };
  if (typeof manifest.baseModel !== 'string' || !path.isAbsolute(manifest.baseModel)) return undefined;
  const mapped = mapPath(manifest.baseModel, mappings);
  return mapped !== manifest.baseModel ? mapped : undefined;
}
