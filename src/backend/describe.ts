/**
 * What every backend needs and whether this machine has it, without changing the active backend
 * (used by `nls doctor`). Native packages are checked by resolution only: loading them would register
 * and possibly activate the 'tensorflow' backend as a side effect. `initBackend` does the real load.
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
} from './init.js';
import { defaultProbe } from './probe.js';
import type { BackendAvailability, BackendName, BackendProbe } from './types.js';

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
): BackendAvailability {
  return {
    name,
    available,
    package: pkg,
    ...(version === undefined ? {} : { version }),
    reason,
    ...(available ? {} : { howToEnable: installHint(name) }),
  };
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
 * tfjs-node-gpu is installed.
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
      rows.push(row('gpu', GPU_PACKAGE, s.version, gpu.present, gpu.present ? `${s.reason}; ${gpu.detail}` : `${s.reason}, but ${gpu.detail}`));
    }
  }

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
  rows.push(row('webgpu', '@tensorflow/tfjs-backend-webgpu', undefined, false, 'reserved for a later nls release'));
  return rows;
}
