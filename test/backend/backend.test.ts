/**
 * The real backends on this machine: auto choice, cpu/wasm numerics, switching, errors, describeBackends.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { NlsError } from '../../src/errors.js';
import {
  BACKEND_NAMES,
  GPU_PACKAGE,
  NODE_PACKAGE,
  defaultProbe,
  describeBackends,
  initBackend,
  parseNvidiaSmiList,
  planAutoBackend,
  withConsoleFilter,
} from '../../src/backend/index.js';
import { createRng } from '../../src/util/rng.js';

const nodeInstalled = defaultProbe.isInstalled(NODE_PACKAGE);
const gpuInstalled = defaultProbe.isInstalled(GPU_PACKAGE);

/** Independent reference: row-major float64 triple loop. */
function naiveMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] ?? 0) * (b[p * n + j] ?? 0);
      out[i * n + j] = s;
    }
  }
  return out;
}

function randomArray(seed: number, size: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: size }, () => rng.next() * 2 - 1);
}

function matMulOnActive(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
  return tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync() as Float32Array).slice();
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs((x[i] ?? NaN) - (y[i] ?? NaN)));
  return d;
}

describe('auto on this machine', () => {
  it('follows the plan; with neither tfjs-node package installed it is wasm', async () => {
    const plan = await planAutoBackend();
    expect(plan.map((c) => c.name)).toEqual(['gpu', 'tensorflow', 'wasm', 'cpu']);
    const info = await initBackend('auto', { quiet: true });
    expect(info.tfjsBackend).toBe(tf.getBackend());
    if (!nodeInstalled && !gpuInstalled) {
      expect(info.name).toBe('wasm');
      expect(info.tfjsBackend).toBe('wasm');
      expect(info.reason).toContain(`${GPU_PACKAGE} not installed`);
      expect(info.reason).toContain(`${NODE_PACKAGE} not installed`);
      expect(info.versions['@tensorflow/tfjs-backend-wasm']).toBe(tf.version_core);
    }
    expect(info.versions['tfjs-core']).toBe(tf.version_core);
    expect(info.versions['node']).toBe(process.versions.node);
  });

  it('reports wasm honestly as single-threaded in Node, whatever was requested', async () => {
    const info = await initBackend('wasm', { threads: 4, quiet: true });
    expect(info.name).toBe('wasm');
    expect(info.threads).toBe(1);
    expect(info.device).toMatch(/single-threaded/);
    expect(info.reason).toMatch(/4 threads requested/);
  });
});

describe('cpu and wasm', () => {
  it('give the same matMul within 1e-5, both matching a naive reference; switching back and forth works', async () => {
    const [m, k, n] = [7, 13, 5];
    const a = randomArray(1, m * k);
    const b = randomArray(2, k * n);
    const ref = naiveMatMul(a, b, m, k, n);

    const cpu1 = await initBackend('cpu', { quiet: true });
    expect(cpu1.tfjsBackend).toBe('cpu');
    const onCpu = matMulOnActive(a, b, m, k, n);

    const wasm = await initBackend('wasm', { quiet: true });
    expect(wasm.tfjsBackend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const onWasm = matMulOnActive(a, b, m, k, n);

    const cpu2 = await initBackend('cpu', { quiet: true });
    expect(cpu2.tfjsBackend).toBe('cpu');
    const onCpuAgain = matMulOnActive(a, b, m, k, n);

    const wasm2 = await initBackend('wasm', { quiet: true });
    expect(wasm2.tfjsBackend).toBe('wasm');
    const onWasmAgain = matMulOnActive(a, b, m, k, n);

    expect(maxAbsDiff(onCpu, onWasm)).toBeLessThan(1e-5);
    expect(maxAbsDiff(onCpu, ref)).toBeLessThan(1e-5);
    expect(maxAbsDiff(onWasm, ref)).toBeLessThan(1e-5);
    expect(Array.from(onCpuAgain)).toEqual(Array.from(onCpu));
    expect(Array.from(onWasmAgain)).toEqual(Array.from(onWasm));
  });

  it('tensors created on one backend are usable after switching', async () => {
    await initBackend('cpu', { quiet: true });
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    await initBackend('wasm', { quiet: true });
    const y = tf.matMul(x, x);
    expect(Array.from(await y.data())).toEqual([7, 10, 15, 22]);
    tf.dispose([x, y]);
  });

  it('switching does not leak tensors', async () => {
    await initBackend('cpu', { quiet: true });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      for (const name of ['cpu', 'wasm'] as const) {
        await initBackend(name, { quiet: true });
        matMulOnActive(randomArray(i, 6), randomArray(i + 10, 6), 2, 3, 2);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('errors', () => {
  afterEach(async () => {
    await initBackend('cpu', { quiet: true });
  });

  it.skipIf(gpuInstalled)("'gpu' without tfjs-node-gpu explains how to install it", async () => {
    const err = await initBackend('gpu').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as NlsError).field).toBe('backend');
    expect((err as Error).message).toContain('npm install @tensorflow/tfjs-node-gpu@4.22.0');
    expect((err as Error).message).toMatch(/CUDA 11\.2 \+ cuDNN 8\.1/);
    expect((err as Error).message).toMatch(/internet access at install time/);
  });

  it.skipIf(nodeInstalled)("'tensorflow' without tfjs-node explains how to install it", async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(/npm install @tensorflow\/tfjs-node@4\.22\.0/);
  });

  it('a failed request leaves the previously active backend in place', async () => {
    await initBackend('wasm', { quiet: true });
    await expect(initBackend('webgpu')).rejects.toThrow(NlsError);
    if (!gpuInstalled) await expect(initBackend('gpu')).rejects.toThrow(NlsError);
    expect(tf.getBackend()).toBe('wasm');
    expect(Array.from(await tf.add(tf.scalar(1), tf.scalar(2)).data())).toEqual([3]);
  });

  it("'webgpu' is reserved and says it is not available yet", async () => {
    await expect(initBackend('webgpu')).rejects.toThrow(/not available yet/);
  });

  it('rejects unknown names and bad thread counts with the field and the fix', async () => {
    const bad = 'metal' as unknown as 'cpu';
    await expect(initBackend(bad)).rejects.toThrow(/backend: unknown backend "metal".*auto, gpu, tensorflow, wasm, cpu, webgpu/);
    await expect(initBackend('cpu', { threads: 0 })).rejects.toThrow(/threads: threads must be a positive integer/);
    await expect(initBackend('cpu', { threads: 1.5 })).rejects.toThrow(NlsError);
  });

  it('concurrent calls are serialised and each resolves to its own backend', async () => {
    const [a, b, c] = await Promise.all([
      initBackend('wasm', { quiet: true }),
      initBackend('cpu', { quiet: true }),
      initBackend('wasm', { quiet: true }),
    ]);
    expect([a.tfjsBackend, b.tfjsBackend, c.tfjsBackend]).toEqual(['wasm', 'cpu', 'wasm']);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('describeBackends', () => {
  it('lists every backend with availability, reason and how to enable', async () => {
    const before = tf.getBackend();
    const rows = await describeBackends();
    expect(rows.map((r) => r.name)).toEqual([...BACKEND_NAMES]);
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by['cpu']?.available).toBe(true);
    expect(by['wasm']?.available).toBe(true);
    expect(by['wasm']?.version).toBe(tf.version_core);
    expect(by['webgpu']?.available).toBe(false);
    expect(by['webgpu']?.howToEnable).toMatch(/not available yet/);
    if (!gpuInstalled) {
      expect(by['gpu']?.available).toBe(false);
      expect(by['gpu']?.howToEnable).toContain('npm install @tensorflow/tfjs-node-gpu@4.22.0');
    }
    if (!nodeInstalled) {
      expect(by['tensorflow']?.available).toBe(false);
      expect(by['tensorflow']?.howToEnable).toContain('npm install @tensorflow/tfjs-node@4.22.0');
    }
    for (const r of rows) {
      expect(r.reason.length).toBeGreaterThan(0);
      // howToEnable is there exactly when the backend is not available.
      expect(r.howToEnable === undefined).toBe(r.available);
    }
    expect(tf.getBackend()).toBe(before);
  });

  it('flags a tfjs-node whose version differs from tfjs', async () => {
    const rows = await describeBackends({
      probe: {
        isInstalled: (p) => p === NODE_PACKAGE || defaultProbe.isInstalled(p),
        packageVersion: (p) => (p === NODE_PACKAGE ? '4.10.0' : defaultProbe.packageVersion(p)),
      },
    });
    const row = rows.find((r) => r.name === 'tensorflow');
    expect(row?.available).toBe(false);
    expect(row?.reason).toMatch(/4\.10\.0.*must match/);
  });
});

describe('helpers', () => {
  it('parses nvidia-smi -L', () => {
    const out = 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1234)\nGPU 1: Tesla T4 (UUID: GPU-abcd)\n';
    expect(parseNvidiaSmiList(out)).toEqual(['NVIDIA A100-SXM4-40GB', 'Tesla T4']);
    expect(parseNvidiaSmiList('No devices were found\n')).toEqual([]);
  });

  it('withConsoleFilter drops known banners when quiet, keeps other output off stdout, and restores console', async () => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const originalLog = console.log;
    const originalWarn = console.warn;
    const captured: string[] = [];
    try {
      await withConsoleFilter({ quiet: true, captured }, async () => {
        console.warn('Hi, looks like you are running TensorFlow.js in Node.js. To speed things up...');
        console.warn('Initialization of backend wasm failed');
        console.warn('Error: boom\n    at somewhere');
        console.log('library chatter');
      });
      expect(console.log).toBe(originalLog);
      expect(console.warn).toBe(originalWarn);
      const out = stdout.mock.calls.map((c) => String(c[0])).join('');
      const err = stderr.mock.calls.map((c) => String(c[0])).join('');
      expect(out).toBe('');
      expect(err).toBe('library chatter\n');
      expect(captured).toHaveLength(4);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  });
});
