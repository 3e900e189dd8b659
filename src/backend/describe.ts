/**
 * What every backend needs and whether this machine has it, without changing the active backend
 * (used by `nls backends` and `nls doctor`). Native packages are checked by resolution only: loading
 * them would register and possibly activate the 'tensorflow' backend as a side effect. WebGPU adapters
 * are looked for by a child process (see webgpu.ts). `initBackend` does the real load.
 */
import { existsSync } from 'node:fs';

import {
  GPU_PACKAGE,
  NODE_PACKAGE,
  TFJS_PACKAGE,
  TFJS_VERSION,
  WASM_BINARIES,
  WASM_PACKAGE,
  hasWebAssemblyRuntime,
  installHint,
  loadedNativePackage,
  wasmBinaryDir,
  webgpuAdapterHint,
} from './init.js';
import { defaultProbe } from './probe.js';
import type { BackendAvailability, BackendName, BackendProbe } from './types.js';
import { DAWN_PACKAGE, WEBGPU_PACKAGE, installedWebGpu, webGpuAdapterLabel, webGpuDeviceString } from './webgpu.js';

/** Options of {@link describeBackends}. */
export interface DescribeBackendsOptions {
  /** Environment checks; defaults to the real probe. */
  probe?: Partial<BackendProbe>;
}

function row(
  name: BackendName,
  pkg: string,
  version: string | undefined,
  available: boolean,
  reason: string,
  extra: Pick<BackendAvailability, 'device' | 'adapter' | 'howToEnable'> = {},
): BackendAvailability {
  return {
    name,
    available,
    package: pkg,
    ...(version === undefined ? {} : { version }),
    reason,
    ...(extra.device === undefined ? {} : { device: extra.device }),
    ...(extra.adapter === undefined ? {} : { adapter: extra.adapter }),
    ...(available ? {} : { howToEnable: extra.howToEnable ?? installHint(name) }),
  };
}

/** The webgpu row: packages, version, and the adapter `--backend webgpu` would use. */
async function webgpuRow(p: BackendProbe): Promise<BackendAvailability> {
  const missing = [WEBGPU_PACKAGE, DAWN_PACKAGE].filter((pkg) => !p.isInstalled(pkg));
  const version = p.packageVersion(WEBGPU_PACKAGE);
  if (missing.length > 0) return row('webgpu', WEBGPU_PACKAGE, version, false, `${missing.join(' and ')} not installed`);
  if (version !== undefined && version !== TFJS_VERSION) {
    return row(
      'webgpu',
      WEBGPU_PACKAGE,
      version,
      false,
      `${WEBGPU_PACKAGE}@${version} is installed but ${TFJS_PACKAGE} is ${TFJS_VERSION}; they must match to share one tfjs-core`,
    );
  }
  const pkgs = `${WEBGPU_PACKAGE}@${version ?? '?'} and ${DAWN_PACKAGE}@${p.packageVersion(DAWN_PACKAGE) ?? '?'}`;
  const inUse = installedWebGpu()?.lastAdapter();
  if (inUse !== undefined) {
    return row('webgpu', WEBGPU_PACKAGE, version, true, `${pkgs}; in use in this process: ${inUse.kind} adapter ${webGpuAdapterLabel(inUse)}`, {
      device: webGpuDeviceString(inUse),
      adapter: inUse,
    });
  }
  const found = await p.detectWebGpu();
  const adapter = found.hardware ?? found.software;
  if (adapter === undefined) {
    return row('webgpu', WEBGPU_PACKAGE, version, false, `${pkgs} installed, but ${found.detail}`, { howToEnable: webgpuAdapterHint(found, 'any') });
  }
  const reason =
    adapter.kind === 'hardware'
      ? `${pkgs}; ${found.detail}`
      : `${pkgs}; ${found.detail}: --backend webgpu uses it, for testing only (slow); auto never picks it`;
  return row('webgpu', WEBGPU_PACKAGE, version, true, reason, { device: webGpuDeviceString(adapter), adapter });
}

/** Check an installed native package: present, and at the exact tfjs version (one shared tfjs-core). */
function nativePackageState(p: BackendProbe, pkg: string): { ok: boolean; version: string | undefined; reason: string } {
  if (!p.isInstalled(pkg)) return { ok: false, version: undefined, reason: `${pkg} is not installed` };
  const version = p.packageVersion(pkg);
  if (version !== undefined && version !== TFJS_VERSION) {
    return {
      ok: false,
      version,
      reason: `${pkg}@${version} is installed but ${TFJS_PACKAGE} is ${TFJS_VERSION}; they must match to share one tfjs-core`,
    };
  }
  return { ok: true, version, reason: `${pkg}@${version ?? '?'} is installed (loaded on first use)` };
}

/**
 * One row per backend in {@link BACKEND_NAMES} order: available or not, why, and how to enable it.
 * Does not load native packages or change the active backend; runs `nvidia-smi` only when
 * tfjs-node-gpu is installed, and the WebGPU probe (a child process) only when the webgpu packages are.
 * `webgpu` counts as available with a software adapter too (the row's `adapter.kind` says which).
 */
export async function describeBackends(opts: DescribeBackendsOptions = {}): Promise<BackendAvailability[]> {
  const p: BackendProbe = { ...defaultProbe, ...opts.probe };
  const loaded = loadedNativePackage();
  const rows: BackendAvailability[] = [];

  // gpu
  {
    const s = nativePackageState(p, GPU_PACKAGE);
    if (!s.ok) rows.push(row('gpu', GPU_PACKAGE, s.version, false, s.reason));
    else if (loaded === NODE_PACKAGE) {
      rows.push(row('gpu', GPU_PACKAGE, s.version, false, `${NODE_PACKAGE} is already loaded in this process; start a new one`));
    } else {
      const gpu = await p.detectGpu();
      rows.push(
        row('gpu', GPU_PACKAGE, s.version, gpu.present, gpu.present ? `${s.reason}; ${gpu.detail}` : `${s.reason}, but ${gpu.detail}`, {
          ...(gpu.device === undefined ? {} : { device: `${gpu.device} (CUDA)` }),
        }),
      );
    }
  }

  rows.push(await webgpuRow(p));

  // tensorflow
  {
    const s = nativePackageState(p, NODE_PACKAGE);
    if (loaded === GPU_PACKAGE) {
      rows.push(row('tensorflow', GPU_PACKAGE, p.packageVersion(GPU_PACKAGE), true, `served by ${GPU_PACKAGE}, already loaded in this process`));
    } else rows.push(row('tensorflow', NODE_PACKAGE, s.version, s.ok, s.reason));
  }

  // wasm
  {
    const version = p.packageVersion(WASM_PACKAGE);
    if (!p.isInstalled(WASM_PACKAGE)) rows.push(row('wasm', WASM_PACKAGE, version, false, `${WASM_PACKAGE} is not installed`));
    else if (!hasWebAssemblyRuntime()) rows.push(row('wasm', WASM_PACKAGE, version, false, 'this runtime has no WebAssembly'));
    else {
      let dir: string | undefined;
      try {
        dir = wasmBinaryDir();
      } catch {
        dir = undefined;
      }
      const missing = dir === undefined ? ['package.json'] : WASM_BINARIES.slice(0, 2).filter((f) => !existsSync(dir + f));
      rows.push(
        missing.length === 0
          ? row('wasm', WASM_PACKAGE, version, true, `binaries in ${dir ?? '?'}; single-threaded SIMD in Node.js`)
          : row('wasm', WASM_PACKAGE, version, false, `${missing.join(', ')} missing from ${dir ?? WASM_PACKAGE}`),
      );
    }
  }

  rows.push(row('cpu', TFJS_PACKAGE, TFJS_VERSION, true, 'pure JavaScript, always available (slowest)'));
  return rows;
}
