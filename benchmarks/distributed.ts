/**
 * Distributed evaluation (docs/distributed.md): one run on a throwaway redis-server.
 *
 * 1. Throughput: candidates/s of `nls search` with local evaluation threads (1 and 2) and with
 *    1 and 2 `nls worker` processes on this machine, the same study settings, side by side.
 * 2. Coordinator overhead: milliseconds per trial from the study's first job to its last result
 *    recorded, with simulated workers that answer at once (a zero-cost evaluator), 1, 8 and 32 of
 *    them, batch size = workers. Target <= 5 ms per trial.
 *
 *   npx tsx benchmarks/distributed.ts --supernet DIR [--engine tfjs] [--budget 16] [--validation-size 100] [--overhead-trials 256]
 *       [--parts throughput,overhead]
 *
 * DIR is a supernet folder from `nls train` (e.g. a cell of `nls replicate`). Needs redis-server
 * (apt-get install redis-server). Prints a table and one JSON line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { checkJob, RESULT_FORMAT } from '../src/distributed/job.js';
import { liveStudies, QUEUE_PREFIX, studyQueueName } from '../src/distributed/registry.js';
import { runSearch, type SearchMetric } from '../src/pipeline/search.js';
import { readJournal } from '../src/search/journal.js';
import { Progress } from '../src/util/progress.js';
import { formatTable } from '../src/util/table.js';
import { removeRedis, startRedis } from '../test/helpers/redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

// Child mode: N simulated workers on one Redis, answering every job at once with fixed values.
if (process.argv.includes('--simulated-workers')) {
  const url = new URL(arg('queue'));
  const n = Number(arg('simulated-workers'));
  const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
  const client = new Redis(connection);
  let study: string | undefined;
  while (study === undefined) {
    study = (await liveStudies(client))[0]?.id;
    if (study === undefined) await new Promise((r) => setTimeout(r, 20));
  }
  const worker = { host: os.hostname(), pid: process.pid, id: `sim:${process.pid}` };
  const workers = Array.from(
    { length: n },
    (_, k) =>
      new Worker(
        studyQueueName(study!),
        async (job: Job) => {
          const j = checkJob(job.data);
          const value = j.kind === 'info' ? { validationExamples: 100, engine: 'tfjs' } : { flops: 5000 - ((j.trial ?? 0) % 97), params: 1000 + (j.trial ?? 0) };
          return { format: RESULT_FORMAT, ok: true, worker: { ...worker, id: `${worker.id}:${k}` }, seconds: 0, value };
        },
        { connection, prefix: QUEUE_PREFIX, concurrency: 1 },
      ),
  );
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await Promise.all(workers.map((w) => w.close()));
  client.disconnect();
  process.exit(0);
}

const supernet = path.resolve(arg('supernet'));
const engine = arg('engine', 'tfjs') as 'tfjs' | 'onnx';
const budget = Number(arg('budget', '16'));
const validationSize = Number(arg('validation-size', '100'));
const overheadTrials = Number(arg('overhead-trials', '256'));
const quiet = new Progress({ quiet: true });
const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-bench-distributed-'));
const redis = await startRedis();

/** Seconds from the first trial's start to the last trial's end, and the trials, from a journal. */
async function loopSeconds(out: string): Promise<{ seconds: number; trials: number }> {
  const { trials } = await readJournal(path.join(out, 'trials.jsonl'));
  const starts = trials.map((t) => Date.parse(t.time!.start));
  const ends = trials.map((t) => Date.parse(t.time!.end));
  return { seconds: (Math.max(...ends) - Math.min(...starts)) / 1000, trials: trials.length };
}

let run = 0;
async function study(options: { workers?: number; queue?: string; budget: number; batchSize: number; validationSize?: number; objectives?: SearchMetric[] }): Promise<{ seconds: number; trials: number }> {
  const out = path.join(scratch, `study-${run++}`);
  await runSearch({ supernet, out, engine, strategy: 'random', seed: run, objectives: ['accuracy', 'params'], progress: quiet, ...options });
  return loopSeconds(out);
}

function nlsWorker(...args: string[]): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'worker', '--queue', redis.url, '--engine', engine, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const ready = new Promise<void>((resolve) => child.stderr!.on('data', (d: Buffer) => ((err += d.toString()), /serving redis:/.test(err) && resolve())));
  return { child, ready };
}
async function stop(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM'))))));
}

const parts = arg('parts', 'throughput,overhead').split(',');
const rows: { mode: string; candidatesPerSecond: number }[] = [];
const overhead: { workers: number; msPerTrial: number; trials: number }[] = [];
try {
  // 1. Throughput, alternating local and remote settings; each warmed by a short study first.
  const common = { budget, batchSize: 8, validationSize };
  for (const n of parts.includes('throughput') ? [1, 2] : []) {
    await study({ ...common, budget: 2, workers: n });
    const r = await study({ ...common, workers: n });
    rows.push({ mode: `local, ${n} thread${n > 1 ? 's' : ''}`, candidatesPerSecond: r.trials / r.seconds });
    const procs = Array.from({ length: n }, () => nlsWorker('--threads', String(Math.max(1, Math.floor(os.availableParallelism() / n)))));
    await Promise.all(procs.map((p) => p.ready));
    await study({ ...common, budget: 2 * n, queue: redis.url });
    const q = await study({ ...common, queue: redis.url });
    rows.push({ mode: `queue, ${n} nls worker process${n > 1 ? 'es' : ''}`, candidatesPerSecond: q.trials / q.seconds });
    await stop(procs.map((p) => p.child));
  }
  if (rows.length > 0) console.log(formatTable(['evaluation', 'candidates/s'], rows.map((r) => [r.mode, r.candidatesPerSecond.toFixed(3)])));

  // 2. Coordinator overhead with simulated zero-cost workers; analytic objectives (flops, params),
  // so the study ends without measuring its choice on the test split.
  for (const n of parts.includes('overhead') ? [1, 8, 32] : []) {
    const sim = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--simulated-workers', String(n), '--queue', redis.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = await study({ budget: overheadTrials, batchSize: n, queue: redis.url, objectives: ['flops', 'params'] });
    overhead.push({ workers: n, msPerTrial: (1000 * r.seconds) / r.trials, trials: r.trials });
    await stop([sim]);
  }
  if (overhead.length > 0) console.log(formatTable(['simulated workers', 'batch size', 'trials', 'ms per trial'], overhead.map((o) => [o.workers, o.workers, o.trials, o.msPerTrial.toFixed(2)])));
  console.log(
    JSON.stringify({ benchmark: 'distributed', supernet, engine, budget, validationSize, cpus: os.availableParallelism(), throughput: rows, overhead, overheadTargetMs: 5 }),
  );
} finally {
  await removeRedis(redis);
  await fsp.rm(scratch, { recursive: true, force: true });
}
