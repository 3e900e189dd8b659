/**
 * `nls doctor`: the report's shape on this machine (through the CLI, as a user runs it), and the GPU
 * routes with the environment faked (an NVIDIA GPU with ONNX Runtime's CUDA libraries, a hardware
 * WebGPU adapter, onnxruntime-node failing to load), which this machine cannot show for real.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  BACKEND_NAMES,
  DAWN_PACKAGE,
  DOCTOR_FORMAT,
  WEBGPU_PACKAGE,
  defaultProbe,
  diagnose,
  type BackendProbe,
  type DoctorReport,
  type WebGpuAdapterInfo,
} from '../../src/backend/index.js';
import { nls } from '../helpers/cli.js';

const ROUTES = ['tfjs-node-gpu', 'webgpu-hardware', 'webgpu-software', 'onnxruntime-cuda'];

describe('nls doctor (CLI)', () => {
  it('--json prints one JSON document: backends, WebGPU adapters, NVIDIA GPU, engines, GPU routes with how to enable', async () => {
    const { stdout, stderr, code } = await nls('doctor', '--json');
    expect(code, stderr).toBe(0);
    expect(stdout.endsWith('\n')).toBe(true);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const r = JSON.parse(stdout) as DoctorReport;
    expect(r.format).toBe(DOCTOR_FORMAT);
    expect(r.system.node).toBe(process.versions.node);
    expect(r.backends.map((b) => b.name)).toEqual([...BACKEND_NAMES]);
    expect(r.engines.map((e) => e.name)).toEqual(['tfjs', 'onnxruntime']);
    expect(r.engines[1]?.providers.find((p) => p.name === 'cpu')?.available).toBe(true);
    expect(r.gpuRoutes.map((g) => g.route)).toEqual(ROUTES);
    // Training: the onnx engine loads here, on the CPU provider (no CUDA libraries are installed).
    expect(r.training).toMatchObject({ engine: 'onnx', providers: ['cpu'] });
    for (const g of r.gpuRoutes) expect(g.howToEnable === undefined, g.route).toBe(g.available);
    expect(typeof r.nvidia.present).toBe('boolean');

    // The webgpu row, the probe and the routes tell the same story.
    const webgpuRow = r.backends.find((b) => b.name === 'webgpu')!;
    if (defaultProbe.isInstalled(WEBGPU_PACKAGE) && defaultProbe.isInstalled(DAWN_PACKAGE)) {
      expect(r.webgpu).toBeDefined();
      expect(webgpuRow.available).toBe(r.webgpu?.hardware !== undefined || r.webgpu?.software !== undefined);
      expect(r.gpuRoutes.find((g) => g.route === 'webgpu-software')?.available).toBe(r.webgpu?.software !== undefined);
      expect(r.gpuRoutes.find((g) => g.route === 'webgpu-hardware')?.available).toBe(r.webgpu?.hardware !== undefined);
      if (r.webgpu?.software) expect(r.gpuRoutes.find((g) => g.route === 'webgpu-software')?.device).toContain(r.webgpu.software.device);
    } else {
      expect(webgpuRow.available).toBe(false);
    }
    if (!r.nvidia.present) {
      expect(r.gpuRoutes.find((g) => g.route === 'tfjs-node-gpu')?.available).toBe(false);
      expect(r.gpuRoutes.find((g) => g.route === 'onnxruntime-cuda')?.howToEnable).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
    }
  });

  it('prints a readable report without --json', async () => {
    const { stdout, stderr, code } = await nls('doctor');
    expect(code, stderr).toBe(0);
    for (const heading of ['tfjs backends', 'WebGPU adapters', 'NVIDIA GPU:', 'engines:', 'GPU routes:']) expect(stdout).toContain(heading);
    expect(stdout).toMatch(/onnxruntime-cuda: .*\n {2}to enable: .*cuda12/);
  });
});

describe('diagnose with a faked environment', () => {
  const hardware: WebGpuAdapterInfo = {
    kind: 'hardware',
    route: 'native',
    featureLevel: 'core',
    vendor: 'nvidia',
    architecture: 'ada',
    device: 'NVIDIA L4',
    description: 'Vulkan driver 550',
    isFallbackAdapter: false,
  };
  const probe: Partial<BackendProbe> = {
    isInstalled: (p) => p === WEBGPU_PACKAGE || p === DAWN_PACKAGE || defaultProbe.isInstalled(p),
    packageVersion: (p) => (p === WEBGPU_PACKAGE ? '4.22.0' : defaultProbe.packageVersion(p)),
    detectGpu: async () => ({ present: true, device: 'NVIDIA L4', detail: 'nvidia-smi lists 1 GPU(s): NVIDIA L4' }),
    detectWebGpu: async () => ({ dawnLoaded: true, hardware, detail: 'hardware adapter NVIDIA L4 [Vulkan driver 550] (native)', messages: [] }),
  };
  const ort = {
    listSupportedBackends: () => [
      { name: 'cpu', bundled: true },
      { name: 'webgpu', bundled: true },
      { name: 'cuda', bundled: false },
    ],
    env: { versions: { common: '1.30.0' } },
  };

  it('a GPU machine: hardware WebGPU route ready, ONNX Runtime CUDA ready once its libraries are there', async () => {
    const bin = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-ort-bin-'));
    try {
      const r0 = await diagnose({ probe, loadOnnxRuntime: async () => ort, onnxRuntimeBinDir: bin });
      const routes0 = Object.fromEntries(r0.gpuRoutes.map((g) => [g.route, g]));
      expect(routes0['webgpu-hardware']).toMatchObject({ available: true, device: 'NVIDIA L4 [Vulkan driver 550]' });
      expect(routes0['webgpu-software']?.available).toBe(false);
      expect(routes0['webgpu-software']?.howToEnable).toMatch(/libegl-mesa0 libgl1-mesa-dri/);
      if (process.platform === 'linux' && process.arch === 'x64') {
        expect(routes0['onnxruntime-cuda']?.available).toBe(false);
        expect(routes0['onnxruntime-cuda']?.detail).toMatch(/libonnxruntime_providers_cuda\.so.*missing/);
        await fsp.writeFile(path.join(bin, 'libonnxruntime_providers_cuda.so'), '');
        await fsp.writeFile(path.join(bin, 'libonnxruntime_providers_shared.so'), '');
        const r1 = await diagnose({ probe, loadOnnxRuntime: async () => ort, onnxRuntimeBinDir: bin });
        const cuda = r1.gpuRoutes.find((g) => g.route === 'onnxruntime-cuda');
        expect(cuda).toMatchObject({ available: true, device: 'NVIDIA L4' });
        expect(cuda?.howToEnable).toBeUndefined();
        expect(r1.engines[1]?.providers.map((p) => [p.name, p.available])).toEqual([
          ['cpu', true],
          ['webgpu', true],
          ['cuda', true],
        ]);
      }
    } finally {
      await fsp.rm(bin, { recursive: true, force: true });
    }
  });

  it('onnxruntime-node that fails to load is reported, not thrown', async () => {
    const r = await diagnose({
      probe,
      loadOnnxRuntime: async () => {
        throw new Error('onnxruntime_binding.node: invalid ELF header');
      },
    });
    expect(r.engines[1]).toMatchObject({ name: 'onnxruntime', available: false, providers: [] });
    expect(r.engines[1]?.reason).toMatch(/failed to load \(onnxruntime_binding\.node: invalid ELF header\)/);
    expect(r.gpuRoutes.find((g) => g.route === 'onnxruntime-cuda')?.available).toBe(false);
  });

  it('onnxruntime-node left out by npm (an optional dependency) is reported with how to install it offline', async () => {
    const r = await diagnose({
      probe,
      loadOnnxRuntime: async () => {
        throw Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /p/node_modules/nls/dist/engine/onnx/session.js"), { code: 'ERR_MODULE_NOT_FOUND' });
      },
    });
    expect(r.engines[1]).toMatchObject({ name: 'onnxruntime', available: false });
    expect(r.engines[1]?.reason).toMatch(/not installed \(an optional dependency.*"allowScripts": \{ "onnxruntime-node": false \}.*ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1\.30\.0/);
  });
});
