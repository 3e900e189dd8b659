/**
 * Fixes and safety nets for `@tensorflow/tfjs-backend-webgpu` 4.22 in Node.js, installed by
 * `initBackend('webgpu')` on each WebGPU backend instance. Each one was found by running nls's
 * training and evaluation on the webgpu backend (test/backend/webgpu.test.ts):
 *
 * - **AddN over many tensors computes nothing.** tfjs's AddN kernel binds every input as a storage
 *   buffer in one shader; WebGPU's default limit is 8 storage buffers per shader stage (tfjs does not
 *   raise it). With more inputs the pipeline is invalid, the result stays zero, and the only sign is a
 *   validation error. nls's gradient clipping sums one square norm per adapter variable (dozens) with
 *   `tf.addN`. {@link chunkAddN} splits such sums into chunks that fit, as tfjs's own Concat kernel does.
 * - **Errors are silent, and printed to stdout.** WebGPU reports validation errors and out-of-memory as
 *   `uncapturederror` events on the device; Dawn prints unhandled ones from C++ to *stdout*, which
 *   would corrupt nls's machine-readable output, while the tensor simply holds wrong values.
 *   {@link guardDeviceErrors} handles the event (so nothing is printed) and makes the next read of
 *   any tensor throw an {@link NlsError} quoting the error.
 * - **Synchronous reads need a browser.** `dataSync()` goes through OffscreenCanvas, which Node.js
 *   lacks, and so does tfjs's move of a tensor to another backend after a switch (it reads synchronously);
 *   {@link guardSyncReads} turns "OffscreenCanvas is not defined" into an error naming the fix.
 */
import * as tf from '@tensorflow/tfjs';

import { NlsError } from '../errors.js';

/** Backend instances already guarded, per guard. */
const guarded = { errors: new WeakSet<object>(), reads: new WeakSet<object>() };

/** The parts of tfjs-backend-webgpu's WebGPUBackend the guards touch. */
interface WebGpuBackendLike {
  device?: {
    limits?: { maxStorageBuffersPerShaderStage?: number };
    addEventListener?(type: string, listener: (ev: { error?: { message?: unknown }; preventDefault(): void }) => void): void;
  };
  read?(dataId: object): Promise<unknown>;
  readSync?(dataId: object): unknown;
  disposeData?(dataId: object, force?: boolean): boolean;
}

function activeWebGpuBackend(): WebGpuBackendLike {
  return tf.backend() as unknown as WebGpuBackendLike;
}

/** The kernel functions {@link chunkAddN} installed (to install once). */
const chunkedKernels = new WeakSet<tf.KernelFunc>();

/** At least 2: one chunk must make progress. One buffer is the output. */
function inputsPerShader(backend: WebGpuBackendLike): number {
  return Math.max(2, (backend.device?.limits?.maxStorageBuffersPerShaderStage ?? 8) - 1);
}

/**
 * Replace the webgpu AddN kernel with one that sums at most `maxStorageBuffersPerShaderStage - 1`
 * inputs per shader (then sums the partial sums the same way). Exact same arithmetic per element, only
 * the grouping of the additions changes. Idempotent.
 */
export function chunkAddN(): void {
  const kernel = tf.getKernel('AddN', 'webgpu');
  if (kernel === undefined || chunkedKernels.has(kernel.kernelFunc)) return;
  const original = kernel.kernelFunc;
  const chunked: tf.KernelFunc = (params) => {
    const inputs = params.inputs as unknown as tf.TensorInfo[];
    const backend = params.backend as unknown as WebGpuBackendLike;
    const max = inputsPerShader(backend);
    if (!Array.isArray(inputs) || inputs.length <= max) return original(params);
    const partial: tf.TensorInfo[] = [];
    for (let i = 0; i < inputs.length; i += max) {
      partial.push(original({ ...params, inputs: inputs.slice(i, i + max) as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo);
    }
    const out = chunked({ ...params, inputs: partial as unknown as tf.NamedTensorInfoMap });
    for (const p of partial) backend.disposeData?.(p.dataId);
    return out;
  };
  chunkedKernels.add(chunked);
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ ...kernel, kernelFunc: chunked });
}

/**
 * Handle the device's `uncapturederror` events (Dawn would print them to stdout) and make the next
 * `read` (what `tensor.data()` uses) throw an {@link NlsError} quoting them: a tensor computed by an
 * invalid pipeline holds wrong values, and nls must not report them as results. Idempotent.
 */
export function guardDeviceErrors(): void {
  const b = activeWebGpuBackend();
  const device = b.device;
  const read = b.read;
  if (device?.addEventListener === undefined || typeof read !== 'function' || guarded.errors.has(b)) return;
  const pending: string[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    ev.preventDefault();
    const message = String(ev.error?.message ?? 'unknown WebGPU error').split('\n')[0] ?? '';
    if (pending.length < 20) pending.push(message);
  });
  b.read = async function guardedRead(this: unknown, dataId: object): Promise<unknown> {
    const values = await read.call(this, dataId);
    if (pending.length > 0) {
      const messages = pending.splice(0);
      throw new NlsError(
        `WebGPU reported ${messages.length} error(s) while computing, so results on the webgpu backend are invalid: ` +
          `${messages.join(' | ')}. Fix: run with --backend wasm, and report this with 'nls doctor --json' output ` +
          `(a tfjs-backend-webgpu kernel exceeding a device limit, or the device running out of memory).`,
        { field: 'backend' },
      );
    }
    return values;
  };
  guarded.errors.add(b);
}

/**
 * tfjs-backend-webgpu reads GPU data synchronously (`dataSync`, `arraySync`) through OffscreenCanvas,
 * which exists in browsers only; in Node.js that fails with "OffscreenCanvas is not defined". Replace
 * that error with one that names the fix. (nls itself reads with `await data()`.) Idempotent.
 */
export function guardSyncReads(): void {
  const b = activeWebGpuBackend();
  const original = b.readSync;
  if (typeof original !== 'function' || guarded.reads.has(b) || 'OffscreenCanvas' in globalThis) return;
  b.readSync = function readSync(this: unknown, dataId: object): unknown {
    try {
      return original.call(this, dataId);
    } catch (err) {
      if (err instanceof ReferenceError && /OffscreenCanvas/.test(err.message)) {
        throw new NlsError(
          `a synchronous read of a tensor that lives on the webgpu backend (dataSync/arraySync/bufferSync, or using it ` +
            `after switching to another backend, which tfjs does by reading it synchronously): tfjs-backend-webgpu implements ` +
            `that only in browsers (OffscreenCanvas). Fix: read with 'await tensor.data()' (or array()) instead; before ` +
            `switching backends, 'await data()' the webgpu tensors you still need (that caches their values).`,
          { field: 'backend', cause: err },
        );
      }
      throw err;
    }
  };
  guarded.reads.add(b);
}
