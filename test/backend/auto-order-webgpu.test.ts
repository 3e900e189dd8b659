/**
 * Where webgpu sits in the `auto` order (after gpu, before tensorflow; hardware adapters only), with
 * the WebGPU probe faked: this machine has no GPU. The last test loads Dawn in this process (a real
 * failure path), so this file runs in its own process like every test file.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';

import {
  DAWN_PACKAGE,
  GPU_PACKAGE,
  NODE_PACKAGE,
  WASM_PACKAGE,
  WEBGPU_PACKAGE,
  classifyWebGpuAdapter,
  defaultProbe,
  initBackend,
  planAutoBackend,
  webGpuAdapterLabel,
} from '../../src/backend/index.js';
import type { BackendProbe, GpuProbeResult, WebGpuAdapterInfo, WebGpuDetection } from '../../src/backend/index.js';
import { dawnMessages, summariseProbe } from '../../src/backend/webgpu.js';

const NO_GPU: GpuProbeResult = { present: false, detail: 'nvidia-smi not found' };
const A_GPU: GpuProbeResult = { present: true, device: 'Fake GPU', detail: 'nvidia-smi lists 1 GPU(s): Fake GPU' };

const RADEON: WebGpuAdapterInfo = {
  kind: 'hardware',
  route: 'native',
  featureLevel: 'core',
  vendor: 'amd',
  architecture: 'rdna-3',
  device: 'AMD Radeon RX 7600',
  description: 'Vulkan driver radv',
  isFallbackAdapter: false,
};
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
const HARDWARE: WebGpuDetection = { dawnLoaded: true, hardware: RADEON, software: LLVMPIPE, detail: 'hardware adapter AMD Radeon RX 7600', messages: [] };
const SOFTWARE: WebGpuDetection = { dawnLoaded: true, software: LLVMPIPE, detail: 'no hardware adapter; software adapter llvmpipe', messages: [] };
const NONE: WebGpuDetection = { dawnLoaded: true, detail: 'no adapter', messages: [] };

const ALL_WEBGPU = [WEBGPU_PACKAGE, DAWN_PACKAGE];

function fakeProbe(installed: string[], gpu: GpuProbeResult, webgpu: WebGpuDetection): Partial<BackendProbe> & {
  detectWebGpu: ReturnType<typeof vi.fn>;
} {
  return {
    isInstalled: (p) => installed.includes(p),
    packageVersion: (p) => (installed.includes(p) ? tf.version_core : undefined),
    detectGpu: async () => gpu,
    detectWebGpu: vi.fn(async () => webgpu),
    importModule: (p) => defaultProbe.importModule(p),
  };
}

describe('planAutoBackend with webgpu', () => {
  const cases: Array<{ label: string; installed: string[]; gpu: GpuProbeResult; webgpu: WebGpuDetection; first: string }> = [
    { label: 'tfjs-node-gpu with a GPU beats a hardware WebGPU adapter', installed: [GPU_PACKAGE, ...ALL_WEBGPU, WASM_PACKAGE], gpu: A_GPU, webgpu: HARDWARE, first: 'gpu' },
    { label: 'a hardware WebGPU adapter beats tfjs-node', installed: [...ALL_WEBGPU, NODE_PACKAGE, WASM_PACKAGE], gpu: NO_GPU, webgpu: HARDWARE, first: 'webgpu' },
    { label: 'a software adapter only: tfjs-node', installed: [...ALL_WEBGPU, NODE_PACKAGE, WASM_PACKAGE], gpu: NO_GPU, webgpu: SOFTWARE, first: 'tensorflow' },
    { label: 'a software adapter only: wasm', installed: [...ALL_WEBGPU, WASM_PACKAGE], gpu: NO_GPU, webgpu: SOFTWARE, first: 'wasm' },
    { label: 'no adapter: wasm', installed: [...ALL_WEBGPU, WASM_PACKAGE], gpu: NO_GPU, webgpu: NONE, first: 'wasm' },
    { label: 'webgpu without Dawn: wasm', installed: [WEBGPU_PACKAGE, WASM_PACKAGE], gpu: NO_GPU, webgpu: HARDWARE, first: 'wasm' },
  ];
  for (const c of cases) {
    it(`${c.label} -> ${c.first}`, async () => {
      const probe = fakeProbe(c.installed, c.gpu, c.webgpu);
      const plan = await planAutoBackend(probe);
      expect(plan.map((p) => p.name)).toEqual(['gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
      expect(plan.find((p) => p.viable)?.name).toBe(c.first);
      // The WebGPU probe (a child process) runs only when both packages are there.
      expect(probe.detectWebGpu).toHaveBeenCalledTimes(ALL_WEBGPU.every((p) => c.installed.includes(p)) ? 1 : 0);
    });
  }

  it('explains why a software adapter is skipped', async () => {
    const plan = await planAutoBackend(fakeProbe([...ALL_WEBGPU], NO_GPU, SOFTWARE));
    expect(plan[1]?.why).toMatch(/only a software adapter \(llvmpipe.*\), which auto never picks; --backend webgpu uses it/);
  });
});

describe('adapter classification and probe output', () => {
  it('software: llvmpipe, lavapipe, SwiftShader, WARP, fallback adapters; hardware otherwise', () => {
    const base = { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false };
    expect(classifyWebGpuAdapter({ ...base, device: 'llvmpipe-llvm-15-0-6-256-bits-' })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, description: 'llvmpipe (LLVM 15.0.6, 256 bits)', vendor: 'mesa' })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, device: 'lavapipe' })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, vendor: 'google', device: 'SwiftShader Device (Subzero)' })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, description: 'Microsoft Basic Render Driver' })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, device: 'Whatever', isFallbackAdapter: true })).toBe('software');
    expect(classifyWebGpuAdapter({ ...base, vendor: 'nvidia', device: 'NVIDIA GeForce RTX 4090' })).toBe('hardware');
    expect(classifyWebGpuAdapter({ ...base, vendor: 'intel', architecture: 'gen-12lp', device: 'Intel(R) UHD Graphics 770' })).toBe('hardware');
    expect(webGpuAdapterLabel(LLVMPIPE)).toBe('llvmpipe-llvm-15-0-6-256-bits- [OpenGL version OpenGL ES 3.2 Mesa 22.3.6]');
  });

  it('summarises what the child found, first hardware and first software adapter, with Dawn messages', () => {
    const info = (device: string) => ({ vendor: '', architecture: '', device, description: '', isFallbackAdapter: false });
    const messages = dawnMessages(
      "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file\n    at operator() (/x/BackendVk.cpp:368)\n\nWarning: maxDynamic reduced\n",
    );
    expect(messages).toEqual(["Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file", 'Warning: maxDynamic reduced']);
    const d = summariseProbe(
      {
        attempts: [
          { route: 'native', found: false },
          { route: 'opengles', found: true, info: info('llvmpipe-llvm-15') },
          { route: 'opengl', found: true, info: info('llvmpipe-llvm-15') },
        ],
      },
      messages,
    );
    expect(d.hardware).toBeUndefined();
    expect(d.software).toMatchObject({ kind: 'software', route: 'opengles', featureLevel: 'compatibility' });
    expect(d.detail).toMatch(/^no hardware adapter \(native: no adapter; Couldn't load Vulkan: libvulkan\.so\.1.*\); software adapter llvmpipe-llvm-15 \(opengles\)$/);
    expect(summariseProbe({ loadError: 'dawn.node: invalid ELF header', attempts: [] }, []).detail).toMatch(/webgpu failed to load \(dawn\.node/);
  });
});

describe('initBackend auto when the WebGPU adapter fails in this process', () => {
  it('falls through to the next backend and says why', async () => {
    // The probe claims a hardware adapter, but Dawn in this process finds none (no GPU here): the
    // backend registers, its initialisation fails, and auto moves on to wasm.
    const probe = fakeProbe([...ALL_WEBGPU, WASM_PACKAGE], NO_GPU, HARDWARE);
    const info = await initBackend('auto', { quiet: true, probe });
    expect(info.name).toBe('wasm');
    expect(info.reason).toMatch(/webgpu failed \(backend: 'webgpu' failed to initialise \(.*Dawn found no WebGPU adapter through its native backend.*\)\. Fix: use a machine with a GPU/);
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.add(tf.scalar(1), tf.scalar(2));
    expect(Array.from(await y.data())).toEqual([3]);
  });
});
