/** Worker-thread entry of the supernet scorer pool: loads a supernet, then scores configurations on request. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../space/index.js';
import { createSupernetScorer, type ScorerSpec } from './scorer.js';

const port = parentPort!;
try {
  const scorer = await createSupernetScorer(workerData as ScorerSpec);
  port.on('message', (msg: { id: number; config: Config }) => {
    scorer.measure(msg.config).then(
      (metrics) => port.postMessage({ id: msg.id, ok: true, metrics }),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
