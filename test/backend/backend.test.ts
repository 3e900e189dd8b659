/**
 * The real backends on this machine: auto choice, cpu/wasm numerics, switching, errors, describeBackends.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { NlsError } from '../../src/errors.js';
import {
  BACKEND_NAMES,
  DAWN_PACKAGE,
  GPU_PACKAGE,
  NODE_PACKAGE,
  WEBGPU_PACKAGE,
  defaultProbe,
  describeBackends,
  initBackend,
  parseNvidiaSmiList,
  planAutoBackend,
  withConsoleFilter,
} from '../../src/backend/index.js';
import type { BackendProbe, WebGpuAdapterInfo, WebGpuDetection } from '../../src/backend/index.js';
import { createRng } from '../../src/util/rng.js';

const nodeInstalled = defaultProbe.isInstalled(NODE_PACKAGE);
const gpuInstalled = defaultProbe.isInstalled(GPU_PACKAGE);
const webgpuInstalled = defaultProbe.isInstalled(WEBGPU_PACKAGE) && defaultProbe.isInstalled(DAWN_PACKAGE);
/** A hardware WebGPU adapter makes auto choose webgpu. */
const webgpuHardware = webgpuInstalled && (await defaultProbe.detectWebGpu()).hardware !== undefined;

const LLVMPIPE: WebGpuAdapterInfo = {
  kind: 'software',
  route: 'opengles',
  featureLevel: 'compatibility',
  vendor: '',
  architecture: '',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6',
  isFallbackAdapter: false,
};
const NO_ADAPTER: WebGpuDetection = { dawnLoaded: true, detail: "no adapter (native: no adapter; Couldn't load Vulkan)", messages: [] };

/** The real probe, except that both webgpu packages count as installed and the adapters are `found`. */
function webgpuProbe(found: WebGpuDetection): Partial<BackendProbe> {
  return {
    isInstalled: (p) => p === WEBGPU_PACKAGE || p === DAWN_PACKAGE || defaultProbe.isInstalled(p),
    packageVersion: (p) => (p === WEBGPU_PACKAGE ? tf.version_core : defaultProbe.packageVersion(p)),
    detectWebGpu: async () => found,
  };
}

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
    expect(plan.map((c) => c.name)).toEqual(['gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
    const info = await initBackend('auto', { quiet: true });
    expect(info.tfjsBackend).toBe(tf.getBackend());
    if (!nodeInstalled && !gpuInstalled && !webgpuHardware) {
      expect(info.name).toBe('wasm');
      expect(info.tfjsBackend).toBe('wasm');
      expect(info.reason).toContain(`${GPU_PACKAGE} not installed`);
      expect(info.reason).toContain(`${NODE_PACKAGE} not installed`);
      expect(info.reason).toMatch(/webgpu skipped/);
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
    await expect(initBackend('webgpu', { probe: webgpuProbe(NO_ADAPTER) })).rejects.toThrow(NlsError);
    if (!gpuInstalled) await expect(initBackend('gpu')).rejects.toThrow(NlsError);
    expect(tf.getBackend()).toBe('wasm');
    expect(Array.from(await tf.add(tf.scalar(1), tf.scalar(2)).data())).toEqual([3]);
  });

  it("'webgpu' without its packages says how to install them", async () => {
    const probe: Partial<BackendProbe> = { isInstalled: (p) => p !== DAWN_PACKAGE && defaultProbe.isInstalled(p) };
    await expect(initBackend('webgpu', { probe })).rejects.toThrow(/'webgpu' is not available: webgpu not installed\. Fix: npm install webgpu @tensorflow\/tfjs-backend-webgpu@4\.22\.0/);
  });

  it("'webgpu' without an adapter says how to get one (GPU drivers, or Mesa for the software adapter)", async () => {
    const err = await initBackend('webgpu', { probe: webgpuProbe(NO_ADAPTER) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NlsError);
    expect((err as Error).message).toMatch(/'webgpu' is not available: no WebGPU adapter \(no adapter .*Vulkan.*\)\. Fix: .*Vulkan driver.*libegl-mesa0 libgl1-mesa-dri/);
  });

  it("'webgpu' limited to a hardware adapter refuses the software one, and a bad NLS_WEBGPU_ADAPTER is named", async () => {
    const probe = webgpuProbe({ dawnLoaded: true, software: LLVMPIPE, detail: 'software adapter llvmpipe', messages: [] });
    await expect(initBackend('webgpu', { probe, webgpuAdapter: 'hardware' })).rejects.toThrow(/no hardware WebGPU adapter .*Fix: use a machine with a GPU/);
    const saved = process.env['NLS_WEBGPU_ADAPTER'];
    process.env['NLS_WEBGPU_ADAPTER'] = 'fastest';
    try {
      await expect(initBackend('webgpu', { probe })).rejects.toThrow(/NLS_WEBGPU_ADAPTER: unknown WebGPU adapter "fastest".*any, hardware, software/);
    } finally {
      if (saved === undefined) delete process.env['NLS_WEBGPU_ADAPTER'];
      else process.env['NLS_WEBGPU_ADAPTER'] = saved;
    }
  });

  it("'webgpu' with a tfjs-backend-webgpu version other than tfjs is refused (two tfjs-cores)", async () => {
    const probe = { ...webgpuProbe(NO_ADAPTER), packageVersion: (p: string) => (p === WEBGPU_PACKAGE ? '4.10.0' : defaultProbe.packageVersion(p)) };
    await expect(initBackend('webgpu', { probe })).rejects.toThrow(/tfjs-backend-webgpu@4\.10\.0 is installed but @tensorflow\/tfjs is 4\.22\.0/);
  });

  it('rejects unknown names and bad thread counts with the field and the fix', async () => {
    const bad = 'metal' as unknown as 'cpu';
    await expect(initBackend(bad)).rejects.toThrow(/backend: unknown backend "metal".*auto, gpu, webgpu, tensorflow, wasm, cpu/);
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
    if (!webgpuInstalled) expect(by['webgpu']?.howToEnable).toMatch(/npm install webgpu/);
    // webgpu is available exactly when an adapter was found, and then the row names it.
    expect(by['webgpu']?.available).toBe(by['webgpu']?.adapter !== undefined);
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

  it('webgpu rows: a software adapter is available but never for auto; no adapter says how to get one; hardware names it', async () => {
    const [soft] = (await describeBackends({ probe: webgpuProbe({ dawnLoaded: true, software: LLVMPIPE, detail: 'software adapter llvmpipe', messages: [] }) })).filter(
      (r) => r.name === 'webgpu',
    );
    expect(soft).toMatchObject({ available: true, adapter: { kind: 'software' } });
    expect(soft?.reason).toMatch(/for testing only \(slow\); auto never picks it/);
    expect(soft?.device).toMatch(/^llvmpipe.*software adapter: for testing, slow/);

    const [none] = (await describeBackends({ probe: webgpuProbe(NO_ADAPTER) })).filter((r) => r.name === 'webgpu');
    expect(none?.available).toBe(false);
    expect(none?.howToEnable).toMatch(/Vulkan driver.*libegl-mesa0 libgl1-mesa-dri/);

    const gpu: WebGpuAdapterInfo = { ...LLVMPIPE, kind: 'hardware', route: 'native', featureLevel: 'core', vendor: 'nvidia', device: 'NVIDIA L4', description: 'Vulkan 1.3' };
    const [hard] = (await describeBackends({ probe: webgpuProbe({ dawnLoaded: true, hardware: gpu, detail: 'hardware adapter NVIDIA L4', messages: [] }) })).filter(
      (r) => r.name === 'webgpu',
    );
    expect(hard).toMatchObject({ available: true, adapter: { kind: 'hardware', device: 'NVIDIA L4' } });
    expect(hard?.device).toMatch(/NVIDIA L4 \[Vulkan 1\.3\] \(WebGPU; hardware adapter\)/);
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
