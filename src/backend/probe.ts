/**
 * The real environment checks behind backend selection: is a package installed, which version, is there
 * a GPU, load a package. Everything here is side-effect free except {@link BackendProbe.importModule}.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import type { BackendProbe, GpuProbeResult } from './types.js';
import { detectWebGpu } from './webgpu.js';

/** Resolve packages from nls's own location, as `import()` in this module would. */
const require = createRequire(import.meta.url);

/** How long `nvidia-smi` may take before we treat the GPU as absent (a hung driver must not hang nls). */
const NVIDIA_SMI_TIMEOUT_MS = 5_000;

function isInstalled(pkg: string): boolean {
  // Resolving `pkg/package.json` does not execute the package, so an installed-but-broken native
  // module (tfjs-node without its libtensorflow) still counts as installed; loading it is a later step.
  for (const spec of [`${pkg}/package.json`, pkg]) {
    try {
      require.resolve(spec);
      return true;
    } catch {
      // try the next form: a package whose `exports` hides package.json still resolves by name
    }
  }
  return false;
}

function packageVersion(pkg: string): string | undefined {
  try {
    const json: unknown = require(`${pkg}/package.json`);
    if (typeof json === 'object' && json !== null && 'version' in json && typeof json.version === 'string') {
      return json.version;
    }
  } catch {
    // not installed, or its exports hide package.json: the version is simply unknown
  }
  return undefined;
}

/** Parse `nvidia-smi -L` output (`GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-...)`) into GPU names. */
export function parseNvidiaSmiList(stdout: string): string[] {
  const names: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^GPU \d+:\s*(.+?)\s*(?:\(UUID:.*\))?\s*$/.exec(line.trim());
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

async function detectGpu(): Promise<GpuProbeResult> {
  // CUDA honours CUDA_VISIBLE_DEVICES; an empty value or -1 hides every GPU from TensorFlow.
  const visible = process.env['CUDA_VISIBLE_DEVICES'];
  if (visible !== undefined && (visible.trim() === '' || visible.trim() === '-1')) {
    return { present: false, detail: `CUDA_VISIBLE_DEVICES=${JSON.stringify(visible)} hides all GPUs` };
  }
  // Ask the driver's tool rather than loading CUDA here: loading libtensorflow-gpu on a machine without
  // CUDA prints errors or aborts, which is exactly what this check exists to avoid.
  const smi = await new Promise<{ ok: boolean; stdout: string; error?: string }>((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: NVIDIA_SMI_TIMEOUT_MS, windowsHide: true }, (err, stdout) => {
      if (err) resolve({ ok: false, stdout: String(stdout ?? ''), error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'nvidia-smi not found' : err.message });
      else resolve({ ok: true, stdout: String(stdout) });
    });
  });
  if (smi.ok) {
    const gpus = parseNvidiaSmiList(smi.stdout);
    if (gpus.length > 0) {
      return { present: true, device: gpus[0], detail: `nvidia-smi lists ${gpus.length} GPU(s): ${gpus.join(', ')}` };
    }
    return { present: false, detail: 'nvidia-smi lists no GPU' };
  }
  // Containers sometimes expose the device node without the tool.
  if (process.platform === 'linux' && existsSync('/dev/nvidia0')) {
    return { present: true, detail: `/dev/nvidia0 exists (${smi.error ?? 'nvidia-smi failed'})` };
  }
  return { present: false, detail: `no NVIDIA GPU found (${smi.error ?? 'nvidia-smi failed'}, no /dev/nvidia0)` };
}

async function importModule(pkg: string): Promise<unknown> {
  // The specifier lives in a variable so that tsc does not demand type declarations for the optional
  // packages (@tensorflow/tfjs-node, -gpu, webgpu, @tensorflow/tfjs-backend-webgpu), which may be absent.
  const specifier: string = pkg;
  return (await import(specifier)) as unknown;
}

/**
 * The real probe: resolves packages from nls's install location, runs `nvidia-smi`, asks Dawn for WebGPU
 * adapters in a child process (once per process), loads with `import()`.
 */
export const defaultProbe: BackendProbe = { isInstalled, packageVersion, detectGpu, detectWebGpu, importModule };
