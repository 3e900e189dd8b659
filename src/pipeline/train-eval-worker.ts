/** Worker-thread entry: runs the TrainEvalJob in workerData and posts its result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runTrainEvalJob, type TrainEvalJob } from './train-eval-job.js';

try {
  parentPort!.postMessage({ ok: true, result: await runTrainEvalJob(workerData as TrainEvalJob) });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
