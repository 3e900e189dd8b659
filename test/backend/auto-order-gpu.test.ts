/**
 * The gpu path with a faked tfjs-node-gpu (this machine has no GPU). Process-global state: the steps
 * below run in order and build on each other.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';

import { NlsError } from '../../src/errors.js';
import { GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE, defaultProbe, initBackend } from '../../src/backend/index.js';
import type { BackendProbe, GpuProbeResult } from '../../src/backend/index.js';
import { registerFakeTensorflowBackend } from './fixtures/fake-tensorflow.js';

const NO_GPU: GpuProbeResult = { present: false, detail: 'nvidia-smi lists no GPU' };
const A_GPU: GpuProbeResult = { present: true, device: 'Fake GPU', detail: 'nvidia-smi lists 1 GPU(s): Fake GPU' };

let fake: { setOnGpu(v: boolean): void } | undefined;
const importModule = vi.fn(async (p: string) => {
  if (p === GPU_PACKAGE) {
    fake = registerFakeTensorflowBackend(false);
    return {};
  }
  if (p === NODE_PACKAGE) throw new Error('tfjs-node must not be imported next to tfjs-node-gpu');
  return defaultProbe.importModule(p);
});

function probe(gpu: GpuProbeResult, installed = [GPU_PACKAGE, WASM_PACKAGE]): Partial<BackendProbe> {
  return {
    isInstalled: (p) => installed.includes(p),
    packageVersion: (p) => (installed.includes(p) ? '4.22.0' : undefined),
    detectGpu: async () => gpu,
    importModule,
  };
}

describe('gpu backend (faked tfjs-node-gpu)', () => {
  it("'gpu' without a visible GPU refuses before loading CUDA", async () => {
    await initBackend('wasm', { quiet: true });
    const err = await initBackend('gpu', { probe: probe(NO_GPU) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as Error).message).toMatch(/'gpu' is not available: nvidia-smi lists no GPU/);
    expect(importModule).not.toHaveBeenCalled();
    expect(tf.getBackend()).toBe('wasm');
  });

  it("'gpu' whose TensorFlow finds no CUDA device throws, and the previous backend is restored", async () => {
    const err = await initBackend('gpu', { quiet: true, probe: probe(A_GPU) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as Error).message).toMatch(/no usable CUDA device.*CUDA 11\.2 \+ cuDNN 8\.1/);
    expect(importModule).toHaveBeenCalledWith(GPU_PACKAGE);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('auto still prefers the loaded libtensorflow (on CPU) over wasm, and says so', async () => {
    const info = await initBackend('auto', { quiet: true, probe: probe(A_GPU) });
    expect(info.name).toBe('tensorflow');
    expect(info.tfjsBackend).toBe('tensorflow');
    expect(info.reason).toMatch(/chose tensorflow: .*found no usable CUDA device/);
  });

  it("'gpu' with a CUDA device reports it", async () => {
    fake?.setOnGpu(true);
    await initBackend('cpu', { quiet: true });
    const info = await initBackend('gpu', { quiet: true, probe: probe(A_GPU) });
    expect(info).toMatchObject({ name: 'gpu', tfjsBackend: 'tensorflow', device: 'Fake GPU (CUDA)' });
    expect(info.versions[GPU_PACKAGE]).toBe('4.22.0');
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);
    expect(importModule.mock.calls.filter((c) => c[0] === GPU_PACKAGE)).toHaveLength(1);
  });

  it("auto with a GPU picks 'gpu'", async () => {
    const info = await initBackend('auto', { quiet: true, probe: probe(A_GPU) });
    expect(info.name).toBe('gpu');
    expect(info.reason).toMatch(/^auto: chose gpu: libtensorflow with CUDA/);
  });

  it("'tensorflow' is served by the already loaded tfjs-node-gpu", async () => {
    const info = await initBackend('tensorflow', { quiet: true, probe: probe(A_GPU, [GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE]) });
    expect(info.tfjsBackend).toBe('tensorflow');
    expect(info.reason).toMatch(/served by @tensorflow\/tfjs-node-gpu, already loaded/);
    expect(importModule).not.toHaveBeenCalledWith(NODE_PACKAGE);
  });
});
