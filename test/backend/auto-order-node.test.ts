/**
 * The `auto` ordering and tfjs-node loading, with the environment checks injected: this machine has
 * neither tfjs-node nor a GPU, so "installed" and "importable" are faked. (tfjs-node state is
 * process-global; the GPU variants live in auto-order-gpu.test.ts, which runs in its own process.)
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';

import { NlsError } from '../../src/errors.js';
import { GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE, defaultProbe, initBackend, planAutoBackend } from '../../src/backend/index.js';
import type { BackendProbe, GpuProbeResult } from '../../src/backend/index.js';
import { registerFakeTensorflowBackend } from './fixtures/fake-tensorflow.js';

const NO_GPU: GpuProbeResult = { present: false, detail: 'nvidia-smi not found' };
const A_GPU: GpuProbeResult = { present: true, device: 'Fake GPU', detail: 'nvidia-smi lists 1 GPU(s): Fake GPU' };

function fakeProbe(installed: string[], gpu: GpuProbeResult, importModule?: BackendProbe['importModule']): Partial<BackendProbe> & {
  detectGpu: ReturnType<typeof vi.fn>;
} {
  return {
    isInstalled: (p) => installed.includes(p),
    packageVersion: (p) => (installed.includes(p) ? '4.22.0' : undefined),
    detectGpu: vi.fn(async () => gpu),
    importModule: importModule ?? ((p) => defaultProbe.importModule(p)),
  };
}

describe('planAutoBackend ordering', () => {
  const cases: Array<{ label: string; installed: string[]; gpu: GpuProbeResult; first: string }> = [
    { label: 'tfjs-node-gpu and a GPU', installed: [GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE], gpu: A_GPU, first: 'gpu' },
    { label: 'tfjs-node-gpu without a GPU, tfjs-node', installed: [GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE], gpu: NO_GPU, first: 'tensorflow' },
    { label: 'tfjs-node only', installed: [NODE_PACKAGE, WASM_PACKAGE], gpu: A_GPU, first: 'tensorflow' },
    { label: 'tfjs-node-gpu without a GPU, no tfjs-node', installed: [GPU_PACKAGE, WASM_PACKAGE], gpu: NO_GPU, first: 'wasm' },
    { label: 'neither native package', installed: [WASM_PACKAGE], gpu: A_GPU, first: 'wasm' },
    { label: 'not even wasm', installed: [], gpu: NO_GPU, first: 'cpu' },
  ];
  for (const c of cases) {
    it(`${c.label} -> ${c.first}`, async () => {
      const probe = fakeProbe(c.installed, c.gpu);
      const plan = await planAutoBackend(probe);
      expect(plan.map((p) => p.name)).toEqual(['gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
      expect(plan.find((p) => p.viable)?.name).toBe(c.first);
      expect(plan.at(-1)?.viable).toBe(true);
      // nvidia-smi is only consulted when the GPU package could use its answer.
      expect(probe.detectGpu).toHaveBeenCalledTimes(c.installed.includes(GPU_PACKAGE) ? 1 : 0);
    });
  }

  it('explains a GPU package without a GPU', async () => {
    const plan = await planAutoBackend(fakeProbe([GPU_PACKAGE], NO_GPU));
    expect(plan[0]?.why).toBe(`${GPU_PACKAGE} installed but nvidia-smi not found`);
  });
});

describe('initBackend with a faked tfjs-node', () => {
  it('auto falls through to wasm when tfjs-node is installed but fails to load', async () => {
    const probe = fakeProbe([NODE_PACKAGE, WASM_PACKAGE], NO_GPU, async (p) => {
      if (p === NODE_PACKAGE) throw new Error('libtensorflow.so.2: cannot open shared object file');
      return defaultProbe.importModule(p);
    });
    const info = await initBackend('auto', { quiet: true, probe });
    expect(info.name).toBe('wasm');
    expect(info.reason).toMatch(/gpu skipped .*tensorflow failed .*libtensorflow\.so\.2.*chose wasm/);
  });

  it("a named 'tensorflow' that fails to load throws with the install command, backend unchanged", async () => {
    await initBackend('cpu', { quiet: true });
    const probe = fakeProbe([NODE_PACKAGE], NO_GPU, async () => {
      throw new Error('boom');
    });
    const err = await initBackend('tensorflow', { probe }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as Error).message).toMatch(/installed but failed to load \(boom\).*npm install @tensorflow\/tfjs-node@4\.22\.0/);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('detects a tfjs-node that registered its backend in another tfjs-core', async () => {
    const probe = fakeProbe([NODE_PACKAGE], NO_GPU, async () => ({}));
    await expect(initBackend('tensorflow', { probe })).rejects.toThrow(/registered no 'tensorflow' backend/);
  });

  it("auto picks 'tensorflow' when tfjs-node loads, and it computes", async () => {
    const importModule = vi.fn(async (p: string) => {
      if (p === NODE_PACKAGE) {
        registerFakeTensorflowBackend(false);
        return {};
      }
      return defaultProbe.importModule(p);
    });
    const probe = fakeProbe([GPU_PACKAGE, NODE_PACKAGE, WASM_PACKAGE], NO_GPU, importModule);
    const info = await initBackend('auto', { quiet: true, probe });
    expect(info.name).toBe('tensorflow');
    expect(info.tfjsBackend).toBe('tensorflow');
    expect(info.device).toBe('CPU (libtensorflow)');
    expect(info.versions[NODE_PACKAGE]).toBe('4.22.0');
    expect(info.reason).toMatch(/^auto: gpu skipped \(.*nvidia-smi not found\); webgpu skipped \(.*not installed\); chose tensorflow/);
    expect(importModule).toHaveBeenCalledWith(NODE_PACKAGE);
    expect(importModule).not.toHaveBeenCalledWith(GPU_PACKAGE);
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(await y.data())).toEqual([11]);

    // Loaded once per process: a second request does not import again, and switching away and back works.
    await initBackend('wasm', { quiet: true });
    const again = await initBackend('tensorflow', { quiet: true, probe });
    expect(again.tfjsBackend).toBe('tensorflow');
    expect(importModule.mock.calls.filter((c) => c[0] === NODE_PACKAGE)).toHaveLength(1);
  });

  it("'gpu' cannot be loaded next to an already loaded tfjs-node", async () => {
    const probe = fakeProbe([GPU_PACKAGE, NODE_PACKAGE], A_GPU, async () => {
      throw new Error('must not be imported');
    });
    await expect(initBackend('gpu', { probe })).rejects.toThrow(/already loaded in this process.*start a new process/);
  });
});
