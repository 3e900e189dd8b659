/**
 * Worker-thread side of the session host (session-host.ts): owns onnxruntime sessions and runs
 * them on request, so that a long `session.run` (which blocks its thread) never blocks the main
 * thread's event loop. Feed buffers are transferred here and back with the outputs.
 */
import { parentPort } from 'node:worker_threads';
import type { HostRequest, HostResponse, HostedTensor } from './session-host.js';
import { createOrtSession, loadOrt, type OrtSession } from './session.js';

const port = parentPort!;
const sessions = new Map<number, OrtSession>();
let nextSession = 1;

function transfersOf(tensors: Record<string, HostedTensor>): ArrayBuffer[] {
  return Object.values(tensors).map((t) => t.data.buffer as ArrayBuffer);
}

async function handle(msg: HostRequest): Promise<{ response: HostResponse; transfer: ArrayBuffer[] }> {
  switch (msg.kind) {
    case 'create': {
      const session = await createOrtSession(msg.model, msg.options);
      const id = nextSession++;
      sessions.set(id, session);
      return { response: { id: msg.id, ok: true, session: id, inputNames: [...session.inputNames], outputNames: [...session.outputNames] }, transfer: [] };
    }
    case 'run': {
      const session = sessions.get(msg.session);
      if (!session) throw new Error(`no session ${msg.session}`);
      const ort = await loadOrt();
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, [...t.dims]);
      const out = msg.fetch ? await session.run(feeds, [...msg.fetch]) : await session.run(feeds);
      const outputs: Record<string, HostedTensor> = {};
      for (const [name, t] of Object.entries(out)) {
        outputs[name] = { type: t.type as HostedTensor['type'], dims: [...t.dims], data: t.data as HostedTensor['data'] };
      }
      return { response: { id: msg.id, ok: true, outputs, feeds: msg.feeds }, transfer: [...transfersOf(outputs), ...transfersOf(msg.feeds)] };
    }
    case 'release': {
      await sessions.get(msg.session)?.release();
      sessions.delete(msg.session);
      return { response: { id: msg.id, ok: true }, transfer: [] };
    }
  }
}

port.on('message', (msg: HostRequest) => {
  handle(msg).then(
    ({ response, transfer }) => port.postMessage(response, transfer),
    (err: unknown) => {
      // The feeds go back even on failure, so the caller keeps its buffers.
      const feeds = msg.kind === 'run' ? msg.feeds : undefined;
      port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err), ...(feeds ? { feeds } : {}) } satisfies HostResponse, feeds ? transfersOf(feeds) : []);
    },
  );
});
