/**
 * One self-contained "train adapters, then evaluate subnets" job, described by plain data so it
 * can run in this thread or in a worker thread (its own tfjs backend: the second core).
 */
import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { initBackend, type BackendRequest } from '../backend/index.js';
import { rowBatchSource } from '../data/source.js';
import type { SamplingRuleName } from '../supernet/sampling.js';
import { trainSupernet } from '../supernet/trainer.js';
import { Progress } from '../util/progress.js';
import { startWorker } from '../util/worker.js';
import { encodeRows, evaluateSubnets, openSupernetRun, prepareValidation, type SubnetMetrics, type TaskDataOptions } from './train-supernet.js';
import type { AdapterMode } from '../supernet/adapter-mode.js';
import type { EngineRequest } from '../engine/types.js';
import { createOnnxEngine } from '../engine/onnx/engine.js';

/** Which configuration a named subnet is: a heuristic of the space, or `off` (no adapters). */
export type SubnetChoice = 'max' | 'median' | 'min' | 'off';

/** A training-and-evaluation job, as plain data. */
export interface TrainEvalJob {
  readonly backend: BackendRequest;
  readonly modelDir: string;
  readonly data: string;
  readonly taskOptions: TaskDataOptions;
  readonly spaceFile: string;
  readonly rule: SamplingRuleName;
  readonly steps: number;
  readonly lr: number;
  readonly warmupSteps: number;
  readonly batchSize: number;
  readonly maxLength: number;
  readonly seed: number;
  /** Subnets evaluated after training, in order, by display name. */
  readonly evaluate: readonly { readonly name: string; readonly subnet: SubnetChoice }[];
  /** Sparsity- / quantization-aware adapters (default plain LoRA). */
  readonly adapterMode?: AdapterMode;
  /** Training engine (default tfjs). */
  readonly engine?: EngineRequest;
  /** Show training progress on stderr. */
  readonly showProgress: boolean;
  readonly json?: boolean;
  /** In a worker: the parent draws a progress bar on stderr (the job's lines erase its line first). */
  readonly progressBar?: boolean;
}

/** What a job returns. */
export interface TrainEvalResult {
  /** The subnets on the validation split. */
  readonly metrics: readonly SubnetMetrics[];
  /** The same on the test split, when the task has one. */
  readonly test?: readonly SubnetMetrics[];
  readonly trainSeconds: number;
  readonly finalLoss: number;
}

/**
 * Run a job in this thread, reporting to `progress` (default: stderr, quiet unless
 * `job.showProgress`).
 */
export async function runTrainEvalJob(job: TrainEvalJob, reporter?: Progress): Promise<TrainEvalResult> {
  await initBackend(job.backend, { quiet: true });
  const run = await openSupernetRun({
    model: job.modelDir,
    data: job.data,
    taskOptions: job.taskOptions,
    space: job.spaceFile,
    seed: job.seed,
    ...(job.adapterMode ? { adapterMode: job.adapterMode } : {}),
  });
  const { task, model, tokenizer, space, adapters } = run;
  try {
    const rows = encodeRows(task.train, tokenizer, job.maxLength);
    const progress = reporter ?? new Progress({ quiet: !job.showProgress, json: job.json ?? false });
    const training = await trainSupernet(model, adapters, space, rowBatchSource(rows, { batchSize: job.batchSize, seed: job.seed }), {
      ...(job.engine ? { engine: job.engine } : {}),
      rule: job.rule,
      steps: job.steps,
      lr: job.lr,
      warmupSteps: job.warmupSteps,
      weightDecay: 0,
      seed: job.seed,
      progress,
    });
    const configs = { max: space.maxConfig(), median: space.medianConfig(), min: space.minConfig(), off: undefined };
    const subnets = job.evaluate.map((e) => ({ name: e.name, config: configs[e.subnet] }));
    // Trained on ONNX Runtime: evaluated there too (an engine made now reads the trained weights).
    const engine = training.engine === 'onnx' ? await createOnnxEngine(model, adapters) : undefined;
    try {
      const metrics = await evaluateSubnets(model, adapters, space, prepareValidation(task, tokenizer, job.maxLength), subnets, progress, engine);
      const test = task.test && task.test.length > 0 ? await evaluateSubnets(model, adapters, space, prepareValidation(task, tokenizer, job.maxLength, 'test'), subnets, progress, engine) : undefined;
      const tail = training.records.slice(-20);
      return { metrics, ...(test ? { test } : {}), trainSeconds: training.seconds, finalLoss: tail.reduce((s, r) => s + r.loss, 0) / Math.max(1, tail.length) };
    } finally {
      await engine?.dispose();
    }
  } finally {
    run.dispose();
  }
}

/**
 * The stream a job in a worker thread reports its progress to: straight to file descriptor 2
 * (`write`, default `fs.writeSync(2, ...)`), not through the parent's `process.stderr`, which
 * only forwards a worker's output when the parent's event loop is free, and the parent is busy
 * training the supernet (tfjs computes on its thread). Each line is written whole. Beside a
 * parent's progress bar (`bar`) a line first erases the bar's line; the parent draws its bar
 * again at its next update.
 */
export function workerProgressStream(bar: boolean, write: (text: string) => void = (text) => writeSync(2, text)): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const lines = String(chunk).split('\n').filter((l) => l !== '');
      if (lines.length > 0) write(lines.map((l) => `${bar ? '\r\x1b[2K' : ''}${l}\n`).join(''));
      callback();
    },
  });
}

/**
 * Run a job in a worker thread (its own tfjs backend, so it uses another core). With
 * `job.showProgress` its progress lines go straight to stderr ({@link workerProgressStream}).
 */
export function runTrainEvalJobInWorker(job: TrainEvalJob): Promise<TrainEvalResult> {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const worker = startWorker(new URL(`./train-eval-worker.${ext}`, import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    worker.once('message', (msg: { ok: true; result: TrainEvalResult } | { ok: false; error: string }) => {
      void worker.terminate();
      if (msg.ok) resolve(msg.result);
      else reject(new Error(`worker job failed: ${msg.error}`));
    });
    worker.once('error', reject);
  });
}
