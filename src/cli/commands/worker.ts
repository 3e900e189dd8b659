/** `nls worker`: evaluate the candidates of searches run with `nls search --queue` (docs/distributed.md). */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { parsePathMapping, runEvaluationWorker } from '../../distributed/worker.js';
import { numberArg } from '../args.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';

interface WorkerArgs extends GlobalOptions {
  queue: string;
  concurrency: number;
  engine: EngineRequest;
  threads?: number;
  'path-map': string[];
  'lock-duration': number;
  study: string[];
  'max-jobs'?: number;
  'job-delay-ms'?: number;
}

export const workerCommand: CommandModule<GlobalOptions, WorkerArgs> = {
  command: 'worker',
  describe: 'evaluate candidates for searches run with nls search --queue on the same Redis (BullMQ jobs); runs until stopped (Ctrl-C or SIGTERM finish the running jobs first)',
  builder: (y) =>
    y
      .option('queue', { type: 'string', demandOption: true, describe: 'redis://[USER:PASSWORD@]HOST:PORT/DB, or rediss:// for TLS (NLS_REDIS_CA: a PEM file of the CA to trust)' })
      .option('concurrency', { ...numberArg('concurrency', 'positive integer'), default: 1, describe: 'jobs evaluated at once, each in its own scorer thread with its own supernet copy' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: "engine for studies that ran with --engine auto (a study that names onnx or tfjs gets that engine)" })
      .option('threads', { ...numberArg('threads', 'positive integer'), describe: 'onnx: intra-op threads per scorer thread (default: the cores divided among --concurrency)' })
      .option('path-map', { type: 'string', array: true, default: [], describe: 'FROM=TO (repeatable): read paths the study names under FROM from TO on this machine (a copy of the supernet; its SHA-256 is checked)' })
      .option('lock-duration', { ...numberArg('lock-duration', 'positive integer'), default: 30_000, describe: "milliseconds a job stays locked without renewal: a killed worker's job goes to another worker after about this long" })
      .option('study', { type: 'string', array: true, default: [], describe: 'serve only these study ids (default: every running study on the queue)' })
      .option('max-jobs', { ...numberArg('max-jobs', 'positive integer'), describe: 'stop after this many jobs (default: run until stopped)' })
      // Fault-injection tests kill a worker in the middle of a job; not for users.
      .option('job-delay-ms', { ...numberArg('job-delay-ms', 'positive integer'), hidden: true }),
  handler: async (argv) => {
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const summary = await runEvaluationWorker({
        queue: argv.queue,
        concurrency: argv.concurrency,
        engine: argv.engine,
        backend: argv.backend,
        ...(argv.threads !== undefined ? { threads: argv.threads } : {}),
        pathMap: argv['path-map'].map(parsePathMapping),
        lockDuration: argv['lock-duration'],
        ...(argv.study.length > 0 ? { studies: argv.study } : {}),
        ...(argv['max-jobs'] !== undefined ? { maxJobs: argv['max-jobs'] } : {}),
        ...(argv['job-delay-ms'] !== undefined ? { jobDelayMs: argv['job-delay-ms'] } : {}),
        signal: controller.signal,
        progress: progressFor(argv),
      });
      emit(argv, summary, () => `worker ${summary.identity.id}: ${summary.completed} jobs done, ${summary.failed} failed`);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
