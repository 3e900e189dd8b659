/** Worker-thread entry of the supernet scorer pool: loads a supernet, then scores configurations on request. */
import { parentPort, workerData } from 'node:worker_threads';
import { createSupernetScorer, type ScorerRequest, type ScorerSpec } from './scorer.js';

const port = parentPort!;
try {
  const scorer = await createSupernetScorer(workerData as ScorerSpec);
  port.on('message', (msg: ScorerRequest) => {
    const work: Promise<unknown> = msg.slice ? scorer.measureSlice(msg.config, msg.slice[0], msg.slice[1]) : scorer.measure(msg.config);
    work.then(
      (result) => port.postMessage({ id: msg.id, ok: true, result }),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  port.postMessage({ ready: true, validationExamples: scorer.validationExamples, engine: scorer.engine });
} catch (err) {
  port.postMessage({ ready: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
