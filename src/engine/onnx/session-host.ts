/**
 * onnxruntime sessions hosted on a worker thread. `InferenceSession.run` in onnxruntime-node
 * runs synchronously on the calling thread; a training step can take seconds, and on the main
 * thread that would freeze progress output, timers and signal handling for as long. Here the
 * main thread posts feeds (their buffers transferred, not copied, and handed back with the
 * outputs) and awaits the result while its event loop stays free.
 */
import type { Worker } from 'node:worker_threads';
import { NlsError } from '../../errors.js';
import { startWorker } from '../../util/worker.js';
import type { OnnxSessionOptions } from './session.js';

/** A tensor crossing the thread boundary. */
export interface HostedTensor {
  readonly type: 'float32' | 'int32' | 'int64' | 'float64';
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array | Float64Array;
}

/** Requests to the worker. */
export type HostRequest =
  | { readonly id: number; readonly kind: 'create'; readonly model: Uint8Array; readonly options: OnnxSessionOptions }
  | { readonly id: number; readonly kind: 'run'; readonly session: number; readonly feeds: Record<string, HostedTensor>; readonly fetch?: readonly string[] }
  | { readonly id: number; readonly kind: 'release'; readonly session: number };

/** Responses from the worker. */
export type HostResponse =
  | {
      readonly id: number;
      readonly ok: true;
      readonly session?: number;
      readonly inputNames?: readonly string[];
      readonly outputNames?: readonly string[];
      readonly outputs?: Record<string, HostedTensor>;
      readonly feeds?: Record<string, HostedTensor>;
    }
  | { readonly id: number; readonly ok: false; readonly error: string; readonly feeds?: Record<string, HostedTensor> };

/** A request before it gets its id. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The result of {@link OrtSessionHost.run}: outputs, and the feeds (their buffers returned). */
export interface HostedRun {
  readonly outputs: Record<string, HostedTensor>;
  readonly feeds: Record<string, HostedTensor>;
}

/** A worker thread owning onnxruntime sessions. */
export class OrtSessionHost {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: HostResponse & { ok: true }) => void; reject: (e: Error) => void; feeds?: (f: Record<string, HostedTensor>) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: HostResponse) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg);
      else p.reject(new NlsError(msg.error, { field: 'engine' }));
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => {
      if (this.pending.size > 0) fail(new NlsError(`the onnxruntime worker thread exited (code ${code}) during a request`, { field: 'engine' }));
    });
  }

  /** Start a host (one worker thread). */
  static start(): OrtSessionHost {
    return new OrtSessionHost(startWorker(new URL(import.meta.url.endsWith('.ts') ? './session-worker.ts' : './session-worker.js', import.meta.url)));
  }

  private request(msg: WithoutId<HostRequest>, transfer: ArrayBuffer[] = []): Promise<HostResponse & { ok: true }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Create a session from model bytes (transferred: `model` is unusable afterwards); resolves to its id. */
  async create(model: Uint8Array, options: OnnxSessionOptions): Promise<number> {
    const own = model.byteOffset === 0 && model.byteLength === model.buffer.byteLength ? model : model.slice();
    const r = await this.request({ kind: 'create', model: own, options }, [own.buffer as ArrayBuffer]);
    return r.session!;
  }

  /**
   * Run session `session`. The feeds' buffers are transferred to the worker and come back in the
   * result's `feeds` (the arrays passed in are detached meanwhile); `fetch` limits the outputs.
   */
  async run(session: number, feeds: Record<string, HostedTensor>, fetch?: readonly string[]): Promise<HostedRun> {
    const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
    const r = await this.request({ kind: 'run', session, feeds, ...(fetch ? { fetch } : {}) }, transfer);
    return { outputs: r.outputs!, feeds: r.feeds! };
  }

  /** Release a session. */
  async release(session: number): Promise<void> {
    await this.request({ kind: 'release', session });
  }

  /** Stop the worker (releasing every session). */
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
