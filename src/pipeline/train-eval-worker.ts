/**
 * Worker-thread entry: runs the TrainEvalJob in workerData, its progress lines written straight to
 * stderr (`workerProgressStream`: the parent is busy), and posts its result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Progress } from '../util/progress.js';
import { runTrainEvalJob, type TrainEvalJob, workerProgressStream } from './train-eval-job.js';

const job = workerData as TrainEvalJob;
// Plain or JSON lines as the parent prints them; never a bar of its own (the parent may draw one).
const progress = new Progress({ quiet: !job.showProgress, json: job.json ?? false, stream: workerProgressStream(job.progressBar ?? false), bar: false });
try {
  parentPort!.postMessage({ ok: true, result: await runTrainEvalJob(job, progress) });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
