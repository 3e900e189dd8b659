/**
 * Selecting and activating a TensorFlow.js backend: `auto` ordering, loading the optional native
 * packages, locating the wasm binaries, and honest reporting of what is actually in use.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { NlsError } from '../errors.js';
import { withConsoleFilter } from './console-filter.js';
import { chunkAddN, guardDeviceErrors, guardSyncReads } from './webgpu-guards.js';
import { defaultProbe } from './probe.js';
import { BACKEND_REQUESTS } from './types.js';
import type { BackendInfo, BackendName, BackendProbe, BackendRequest, GpuProbeResult, WebGpuAdapterInfo, WebGpuDetection } from './types.js';
import {
  DAWN_PACKAGE,
  MESA_PACKAGES,
  WEBGPU_PACKAGE,
  installNavigatorGpu,
  installedWebGpu,
  isDawnModule,
  webGpuAdapterLabel,
  webGpuDeviceString,
  webGpuRoute,
} from './webgpu.js';

/** npm package of the CUDA build of libtensorflow for Node (registers tfjs backend 'tensorflow'). */
export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
/** npm package of the CPU build of libtensorflow for Node (registers tfjs backend 'tensorflow'). */
export const NODE_PACKAGE = '@tensorflow/tfjs-node';
/** npm package of the WebAssembly backend (a regular dependency of nls). */
export const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
/** The pinned `@tensorflow/tfjs`, which provides the cpu backend. */
export const TFJS_PACKAGE = '@tensorflow/tfjs';

/** The wasm binaries shipped in `@tensorflow/tfjs-backend-wasm/dist/`. Node uses the plain or SIMD one. */
export const WASM_BINARIES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
] as const;

/**
 * Which WebGPU adapter a `'webgpu'` request may use: `any` (a hardware adapter when there is one, else
 * a software one), only `hardware`, or only `software` (e.g. to test the software path on a GPU machine).
 * `auto` always uses `hardware`.
 */
export type WebGpuAdapterRequest = 'any' | 'hardware' | 'software';

/** Accepted values of {@link WebGpuAdapterRequest}. */
export const WEBGPU_ADAPTER_REQUESTS: readonly WebGpuAdapterRequest[] = ['any', 'hardware', 'software'];

/** Environment variable read for a `'webgpu'` request when {@link InitBackendOptions.webgpuAdapter} is not given. */
export const WEBGPU_ADAPTER_ENV = 'NLS_WEBGPU_ADAPTER';

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /**
   * Threads to compute with. Honoured where the backend allows it: wasm is single-threaded in Node
   * (see docs/backends.md), cpu is single-threaded JavaScript, and libtensorflow reads
   * `TF_NUM_INTRAOP_THREADS` only when it is loaded. `BackendInfo.threads` reports what is actually used.
   */
  threads?: number;
  /** Drop TensorFlow.js's console banners instead of forwarding them to stderr. Stdout is never used. */
  quiet?: boolean;
  /** Environment checks; replace them to test the `auto` ordering. Defaults to {@link defaultProbe}. */
  probe?: Partial<BackendProbe>;
  /**
   * For `'webgpu'`: which adapter it may use (default: env `NLS_WEBGPU_ADAPTER`, else `any`). Ignored by
   * `'auto'`, which only takes a hardware adapter.
   */
  webgpuAdapter?: WebGpuAdapterRequest;
}

/** One step of the `auto` ordering: can this backend be tried here, and why (not). */
export interface AutoCandidate {
  /** Backend name. */
  name: BackendName;
  /** Whether `auto` will try to initialise it (a viable candidate can still fail to load). */
  viable: boolean;
  /** Why it is (not) viable. */
  why: string;
}

/** The version tfjs-node(-gpu) must have: the same as our pinned tfjs, so that they share one tfjs-core. */
export const TFJS_VERSION: string = tf.version_core;

/** How to make each backend available, for errors and `nls doctor`. */
export function installHint(name: BackendName): string {
  switch (name) {
    case 'gpu':
      return (
        `npm install ${GPU_PACKAGE}@${TFJS_VERSION} (Linux x64 with an NVIDIA GPU; needs CUDA 11.2 + cuDNN 8.1, ` +
        `and internet access at install time because its install script downloads libtensorflow). ` +
        `The version must equal ${TFJS_PACKAGE} (${TFJS_VERSION}) so both share one tfjs-core.`
      );
    case 'tensorflow':
      return (
        `npm install ${NODE_PACKAGE}@${TFJS_VERSION} (needs internet access at install time because its install ` +
        `script downloads libtensorflow). The version must equal ${TFJS_PACKAGE} (${TFJS_VERSION}) so both share one tfjs-core.`
      );
    case 'wasm':
      return `npm install ${WASM_PACKAGE}@${TFJS_VERSION} (a regular dependency of nls: reinstall nls's dependencies).`;
    case 'cpu':
      return `npm install ${TFJS_PACKAGE}@${TFJS_VERSION} (a regular dependency of nls: reinstall nls's dependencies).`;
    case 'webgpu':
      return (
        `npm install ${DAWN_PACKAGE} ${WEBGPU_PACKAGE}@${TFJS_VERSION} (optional dependencies of nls, installed by a plain ` +
        `npm ci; Dawn ships prebuilt in the npm package, nothing is downloaded), then give Dawn an adapter: a GPU with ` +
        `its Vulkan driver (Linux: libvulkan1 and the vendor's Vulkan driver), Metal (macOS) or D3D12 (Windows); ` +
        `or, for testing only, Mesa's slow software adapter (Debian/Ubuntu: apt-get install ${MESA_PACKAGES.join(' ')}). ` +
        `See docs/gpu.md.`
      );
  }
}

/** How to get a WebGPU adapter of the wanted kind, given what the probe found. */
export function webgpuAdapterHint(found: WebGpuDetection | undefined, want: WebGpuAdapterRequest): string {
  if (found !== undefined && !found.dawnLoaded) {
    return `reinstall the ${DAWN_PACKAGE} package (its prebuilt Dawn covers linux x64/arm64, macOS and Windows x64/arm64). ${installHint('webgpu')}`;
  }
  const hardware =
    `use a machine with a GPU and its Vulkan driver (Linux: apt-get install libvulkan1 plus the vendor's driver, ` +
    `e.g. NVIDIA's, or mesa-vulkan-drivers for AMD/Intel), Metal (macOS) or D3D12 (Windows); check with 'nls doctor'`;
  const software = `install Mesa's EGL and software OpenGL (Debian/Ubuntu: apt-get install ${MESA_PACKAGES.join(' ')})`;
  if (want === 'hardware') return `${hardware}. See docs/gpu.md.`;
  if (want === 'software') return `${software}. See docs/gpu.md.`;
  return `${hardware}; or, for testing only (slow), ${software}. See docs/gpu.md.`;
}

/** Whether this runtime can run WebAssembly (lib ES2022 has no `WebAssembly` value type, hence the cast). */
export function hasWebAssemblyRuntime(): boolean {
  return typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object';
}

function probeWith(overrides: Partial<BackendProbe> | undefined): BackendProbe {
  return { ...defaultProbe, ...overrides };
}

/**
 * The `auto` order with each candidate's viability: gpu (tfjs-node-gpu installed *and* a GPU visible)
 * > webgpu (its packages installed *and* a hardware adapter found; never a software one) > tensorflow
 * (tfjs-node installed) > wasm > cpu (always). Nothing is loaded here; `nvidia-smi` is run only when
 * tfjs-node-gpu is installed, the WebGPU probe (a child process) only when the webgpu packages are.
 */
export async function planAutoBackend(probe?: Partial<BackendProbe>): Promise<AutoCandidate[]> {
  const p = probeWith(probe);
  const plan: AutoCandidate[] = [];

  if (p.isInstalled(GPU_PACKAGE)) {
    const gpu = await p.detectGpu();
    plan.push({
      name: 'gpu',
      viable: gpu.present,
      why: gpu.present ? `${GPU_PACKAGE} installed, ${gpu.detail}` : `${GPU_PACKAGE} installed but ${gpu.detail}`,
    });
  } else {
    plan.push({ name: 'gpu', viable: false, why: `${GPU_PACKAGE} not installed` });
  }

  plan.push(await planWebGpu(p));

  const node = p.isInstalled(NODE_PACKAGE);
  plan.push({ name: 'tensorflow', viable: node, why: node ? `${NODE_PACKAGE} installed` : `${NODE_PACKAGE} not installed` });

  const wasmInstalled = p.isInstalled(WASM_PACKAGE);
  const hasWebAssembly = hasWebAssemblyRuntime();
  plan.push({
    name: 'wasm',
    viable: wasmInstalled && hasWebAssembly,
    why: !wasmInstalled ? `${WASM_PACKAGE} not installed` : hasWebAssembly ? `${WASM_PACKAGE} installed` : 'this runtime has no WebAssembly',
  });

  plan.push({ name: 'cpu', viable: true, why: 'pure JavaScript, always available' });
  return plan;
}

async function planWebGpu(p: BackendProbe): Promise<AutoCandidate> {
  const missing = [WEBGPU_PACKAGE, DAWN_PACKAGE].filter((pkg) => !p.isInstalled(pkg));
  if (missing.length > 0) return { name: 'webgpu', viable: false, why: `${missing.join(' and ')} not installed` };
  const active = installedWebGpu()?.lastAdapter();
  if (active !== undefined) {
    // This process already chose its WebGPU adapter; another one cannot be had without a new process.
    return active.kind === 'hardware'
      ? { name: 'webgpu', viable: true, why: `hardware adapter ${webGpuAdapterLabel(active)} in use` }
      : { name: 'webgpu', viable: false, why: `this process uses the software adapter ${webGpuAdapterLabel(active)}; auto never picks it` };
  }
  const found = await p.detectWebGpu();
  if (found.hardware !== undefined) return { name: 'webgpu', viable: true, why: found.detail };
  if (found.software !== undefined) {
    return {
      name: 'webgpu',
      viable: false,
      why: `only a software adapter (${webGpuAdapterLabel(found.software)}), which auto never picks; --backend webgpu uses it`,
    };
  }
  return { name: 'webgpu', viable: false, why: found.detail };
}

/** Which of tfjs-node / tfjs-node-gpu this process has loaded: both register 'tensorflow', only one can. */
let loadedNodePackage: string | undefined;
/** The libtensorflow package loaded in this process, if any (for `describeBackends`). */
export function loadedNativePackage(): string | undefined {
  return loadedNodePackage;
}

/** `setWasmPaths` must run before the wasm backend's first initialisation, and only then. */
let wasmPathsConfigured = false;

interface Activated {
  name: BackendName;
  versions: Record<string, string>;
  device?: string;
  threads?: number;
  adapter?: WebGpuAdapterInfo;
  /** What happened, for `BackendInfo.reason`. */
  detail: string;
}

interface InitContext {
  probe: BackendProbe;
  threads: number | undefined;
  quiet: boolean;
  /** Console messages captured during initialisation (to quote init errors). */
  captured: string[];
  /** In `auto`, a GPU package that loads without finding a GPU is still the best CPU engine. */
  requireGpu: boolean;
  /** Which WebGPU adapter a 'webgpu' initialisation may use (`hardware` in `auto`). */
  webgpuAdapter: WebGpuAdapterRequest;
}

function baseVersions(): Record<string, string> {
  return { 'tfjs-core': tf.version_core, [TFJS_PACKAGE]: tf.version.tfjs, node: process.versions.node };
}

/** Text of the last init failure the engine printed ("Initialization of backend X failed" + stack). */
function initFailureText(captured: readonly string[]): string {
  const i = captured.findIndex((t) => /^Initialization of backend \S+ failed/.test(t));
  if (i < 0) return 'no error message was printed';
  const detail = captured[i + 1]?.split('\n')[0];
  return detail === undefined ? (captured[i] ?? '') : detail;
}

async function activate(nlsName: BackendName, tfName: string, ctx: InitContext, fix = installHint(nlsName)): Promise<void> {
  const before = ctx.captured.length;
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
  } catch (cause) {
    throw new NlsError(`'${nlsName}' could not be selected: ${String(cause)}. Fix: ${fix}`, {
      field: 'backend',
      cause,
    });
  }
  if (!ok) {
    throw new NlsError(`'${nlsName}' failed to initialise (${initFailureText(ctx.captured.slice(before))}). Fix: ${fix}`, { field: 'backend' });
  }
}

async function initCpu(ctx: InitContext): Promise<Activated> {
  await activate('cpu', 'cpu', ctx);
  // The cpu backend prints its "install our node backend" banner on its first stored tensor. Store one
  // now, inside the console filter, so the banner cannot surface later in the middle of nls's output.
  tf.scalar(0).dispose();
  const threadNote = ctx.threads !== undefined && ctx.threads > 1 ? `; ${ctx.threads} threads requested, but the cpu backend is single-threaded JavaScript` : '';
  return {
    name: 'cpu',
    versions: { ...baseVersions(), 'tfjs-backend-cpu': tf.version['tfjs-backend-cpu'] },
    device: 'JavaScript (single-threaded)',
    threads: 1,
    detail: `pure-JavaScript cpu backend${threadNote}`,
  };
}

interface WasmModule {
  setWasmPaths(prefix: string): void;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
  version_wasm: string;
}

function isWasmModule(m: unknown): m is WasmModule {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return typeof r['setWasmPaths'] === 'function' && typeof r['setThreadsCount'] === 'function' && typeof r['getThreadsCount'] === 'function';
}

/** Directory holding the installed wasm binaries, with a trailing separator as `setWasmPaths` expects. */
export function wasmBinaryDir(): string {
  const pkgJson = createRequire(import.meta.url).resolve(`${WASM_PACKAGE}/package.json`);
  return join(dirname(pkgJson), 'dist') + sep;
}

async function initWasm(ctx: InitContext): Promise<Activated> {
  if (!ctx.probe.isInstalled(WASM_PACKAGE)) {
    throw new NlsError(`'wasm' is not available: ${WASM_PACKAGE} is not installed. Fix: ${installHint('wasm')}`, { field: 'backend' });
  }
  let mod: unknown;
  try {
    mod = await ctx.probe.importModule(WASM_PACKAGE);
  } catch (cause) {
    throw new NlsError(`'wasm' could not be loaded (${String(cause)}). Fix: ${installHint('wasm')}`, { field: 'backend', cause });
  }
  if (!isWasmModule(mod)) {
    throw new NlsError(`'wasm': ${WASM_PACKAGE} does not export setWasmPaths/getThreadsCount. Fix: ${installHint('wasm')}`, {
      field: 'backend',
    });
  }

  if (!wasmPathsConfigured) {
    // By default the Emscripten loader looks next to the JS bundle, which breaks under bundlers and
    // some loaders; point it at the installed package explicitly. Local files: works offline.
    const dir = wasmBinaryDir();
    const missing = WASM_BINARIES.slice(0, 2).filter((f) => !existsSync(dir + f));
    if (missing.length > 0) {
      throw new NlsError(`'wasm': ${missing.join(', ')} missing from ${dir}. Fix: ${installHint('wasm')}`, { field: 'backend' });
    }
    try {
      mod.setWasmPaths(dir);
      if (ctx.threads !== undefined) mod.setThreadsCount(ctx.threads);
    } catch (cause) {
      throw new NlsError(`'wasm' cannot be configured: ${String(cause)}. Restart the process.`, { field: 'backend', cause });
    }
    wasmPathsConfigured = true;
  }

  await activate('wasm', 'wasm', ctx);

  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const multithread = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const threads = mod.getThreadsCount();
  const kind = `${simd ? 'SIMD' : 'no SIMD'}, ${threads === 1 ? 'single-threaded' : `${threads} threads`}`;
  let threadNote = '';
  if (ctx.threads !== undefined && ctx.threads !== threads) {
    threadNote = multithread
      ? `; ${ctx.threads} threads requested, ${threads} in use (the thread count is fixed at the backend's first initialisation)`
      : `; ${ctx.threads} threads requested, but tfjs-backend-wasm runs single-threaded in Node.js ` +
        `(its threaded build needs SharedArrayBuffer workers started from blob: URLs, which Node does not support)`;
  }
  return {
    name: 'wasm',
    versions: { ...baseVersions(), [WASM_PACKAGE]: mod.version_wasm },
    device: `wasm (${kind})`,
    threads,
    detail: `XNNPACK wasm backend, ${kind}${threadNote}`,
  };
}

function isUsingGpuDevice(): boolean {
  const b: unknown = tf.backend();
  return typeof b === 'object' && b !== null && 'isUsingGpuDevice' in b && b.isUsingGpuDevice === true;
}

async function initNode(kind: 'gpu' | 'tensorflow', ctx: InitContext): Promise<Activated> {
  let pkg = kind === 'gpu' ? GPU_PACKAGE : NODE_PACKAGE;
  let servedBy = '';
  if (loadedNodePackage !== undefined && loadedNodePackage !== pkg) {
    if (kind === 'tensorflow' && loadedNodePackage === GPU_PACKAGE) {
      // The already-loaded GPU build provides the same 'tensorflow' backend; use it.
      pkg = GPU_PACKAGE;
      servedBy = ` (served by ${GPU_PACKAGE}, already loaded in this process: it registers the same 'tensorflow' backend)`;
    } else {
      throw new NlsError(
        `'${kind}' needs ${pkg}, but ${loadedNodePackage} is already loaded in this process and both register ` +
          `the tfjs backend 'tensorflow'. Fix: start a new process with --backend ${kind}.`,
        { field: 'backend' },
      );
    }
  }

  let gpuProbe: GpuProbeResult | undefined;
  if (loadedNodePackage === undefined) {
    if (!ctx.probe.isInstalled(pkg)) {
      throw new NlsError(`'${kind}' is not available: ${pkg} is not installed. Fix: ${installHint(kind)}`, { field: 'backend' });
    }
    if (kind === 'gpu') {
      // Loading the CUDA build where there is no GPU prints errors or aborts; look before loading.
      gpuProbe = await ctx.probe.detectGpu();
      if (!gpuProbe.present) {
        throw new NlsError(
          `'gpu' is not available: ${gpuProbe.detail}. Fix: run on a machine with an NVIDIA GPU and driver ` +
            `(CUDA 11.2 + cuDNN 8.1), or choose --backend tensorflow, wasm or cpu.`,
          { field: 'backend' },
        );
      }
    }
    if (ctx.quiet && process.env['TF_CPP_MIN_LOG_LEVEL'] === undefined) {
      // libtensorflow logs from C++ straight to fd 2 (not through console); level 2 keeps errors only.
      process.env['TF_CPP_MIN_LOG_LEVEL'] = '2';
    }
    if (ctx.threads !== undefined && process.env['TF_NUM_INTRAOP_THREADS'] === undefined) {
      // TensorFlow reads its intra-op pool size from the environment when the runtime starts.
      process.env['TF_NUM_INTRAOP_THREADS'] = String(ctx.threads);
    }
    try {
      await ctx.probe.importModule(pkg);
    } catch (cause) {
      throw new NlsError(
        `'${kind}': ${pkg} is installed but failed to load (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}). ` +
          `Fix: reinstall it with internet access: ${installHint(kind)}`,
        { field: 'backend', cause },
      );
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      throw new NlsError(
        `'${kind}': ${pkg} loaded but registered no 'tensorflow' backend with this process's tfjs-core ` +
          `(${tf.version_core}); it most likely brought its own copy of tfjs-core. Fix: ${installHint(kind)}`,
        { field: 'backend' },
      );
    }
    loadedNodePackage = pkg;
  }

  await activate(kind, 'tensorflow', ctx);

  const onGpu = isUsingGpuDevice();
  const version = ctx.probe.packageVersion(pkg);
  const versions = { ...baseVersions(), ...(version === undefined ? {} : { [pkg]: version }) };
  const threadNote =
    ctx.threads !== undefined ? `; TF_NUM_INTRAOP_THREADS=${process.env['TF_NUM_INTRAOP_THREADS'] ?? ''} (read when libtensorflow starts)` : '';

  if (onGpu) {
    gpuProbe ??= await ctx.probe.detectGpu();
    return {
      name: 'gpu',
      versions,
      device: `${gpuProbe.device ?? 'NVIDIA GPU'} (CUDA)`,
      detail: `libtensorflow with CUDA via ${pkg}${servedBy}${threadNote}`,
    };
  }
  if (kind === 'gpu' && ctx.requireGpu) {
    throw new NlsError(
      `'gpu': ${GPU_PACKAGE} loaded, but TensorFlow found no usable CUDA device (check CUDA 11.2 + cuDNN 8.1 ` +
        `libraries on LD_LIBRARY_PATH and the driver). Fix: ${installHint('gpu')}; or choose --backend tensorflow.`,
      { field: 'backend' },
    );
  }
  return {
    name: 'tensorflow',
    versions,
    device: 'CPU (libtensorflow)',
    detail:
      pkg === GPU_PACKAGE && servedBy === ''
        ? `libtensorflow via ${GPU_PACKAGE}, which loaded but found no usable CUDA device, so it computes on the CPU${threadNote}`
        : `libtensorflow (CPU) via ${pkg}${servedBy}${threadNote}`,
  };
}

function adapterAllowed(kind: WebGpuAdapterInfo['kind'], want: WebGpuAdapterRequest): boolean {
  return want === 'any' || want === kind;
}

async function initWebgpu(ctx: InitContext): Promise<Activated> {
  const want = ctx.webgpuAdapter;
  const missing = [WEBGPU_PACKAGE, DAWN_PACKAGE].filter((pkg) => !ctx.probe.isInstalled(pkg));
  if (missing.length > 0) {
    throw new NlsError(`'webgpu' is not available: ${missing.join(' and ')} not installed. Fix: ${installHint('webgpu')}`, { field: 'backend' });
  }
  const wgVersion = ctx.probe.packageVersion(WEBGPU_PACKAGE);
  if (wgVersion !== undefined && wgVersion !== TFJS_VERSION) {
    throw new NlsError(
      `'webgpu': ${WEBGPU_PACKAGE}@${wgVersion} is installed but ${TFJS_PACKAGE} is ${TFJS_VERSION}; they must match to share one tfjs-core. ` +
        `Fix: ${installHint('webgpu')}`,
      { field: 'backend' },
    );
  }

  let setup = installedWebGpu();
  let chosen: WebGpuAdapterInfo | undefined;
  if (setup === undefined) {
    const found = await ctx.probe.detectWebGpu();
    chosen = want === 'software' ? found.software : want === 'hardware' ? found.hardware : (found.hardware ?? found.software);
    if (chosen === undefined) {
      const what = want === 'any' ? 'no WebGPU adapter' : `no ${want} WebGPU adapter`;
      throw new NlsError(`'webgpu' is not available: ${what} (${found.detail}). Fix: ${webgpuAdapterHint(found, want)}`, { field: 'backend' });
    }
    let dawn: unknown;
    try {
      dawn = await ctx.probe.importModule(DAWN_PACKAGE);
    } catch (cause) {
      throw new NlsError(`'webgpu': ${DAWN_PACKAGE} failed to load (${String(cause)}). Fix: ${installHint('webgpu')}`, { field: 'backend', cause });
    }
    if (!isDawnModule(dawn)) {
      throw new NlsError(`'webgpu': ${DAWN_PACKAGE} does not export create/globals. Fix: ${installHint('webgpu')}`, { field: 'backend' });
    }
    // navigator.gpu must exist before tfjs-backend-webgpu is imported: it registers its backend only then.
    setup = installNavigatorGpu(dawn, webGpuRoute(chosen.route));
  } else {
    const inUse = setup.lastAdapter();
    if (inUse !== undefined && !adapterAllowed(inUse.kind, want)) {
      throw new NlsError(
        `'webgpu': this process already uses the ${inUse.kind} adapter ${webGpuAdapterLabel(inUse)}, and a WebGPU adapter ` +
          `cannot be swapped within a process. Fix: start a new process (with ${WEBGPU_ADAPTER_ENV}=${want}).`,
        { field: 'backend' },
      );
    }
  }

  if (tf.findBackendFactory('webgpu') == null) {
    try {
      await ctx.probe.importModule(WEBGPU_PACKAGE);
    } catch (cause) {
      throw new NlsError(`'webgpu': ${WEBGPU_PACKAGE} failed to load (${String(cause)}). Fix: ${installHint('webgpu')}`, { field: 'backend', cause });
    }
    if (tf.findBackendFactory('webgpu') == null) {
      throw new NlsError(
        `'webgpu': ${WEBGPU_PACKAGE} loaded but registered no 'webgpu' backend with this process's tfjs-core (${tf.version_core}): ` +
          `either it was imported before nls installed navigator.gpu (it registers only if navigator.gpu exists at import), ` +
          `or it brought its own tfjs-core. Fix: let initBackend load it (do not import it yourself), and ${installHint('webgpu')}`,
        { field: 'backend' },
      );
    }
  }

  // tfjs-backend-webgpu 4.22 in Node: sum many tensors correctly, never compute silently wrong, explain dataSync.
  chunkAddN();
  await activate('webgpu', 'webgpu', ctx, webgpuAdapterHint(undefined, want));
  guardDeviceErrors();
  guardSyncReads();
  const adapter = setup.lastAdapter() ?? chosen;
  if (adapter !== undefined && !adapterAllowed(adapter.kind, want)) {
    throw new NlsError(
      `'webgpu': Dawn gave the ${adapter.kind} adapter ${webGpuAdapterLabel(adapter)}, but a ${want} one was required. Fix: ${webgpuAdapterHint(undefined, want)}`,
      { field: 'backend' },
    );
  }
  const versions: Record<string, string> = { ...baseVersions() };
  for (const pkg of [WEBGPU_PACKAGE, DAWN_PACKAGE]) {
    const v = ctx.probe.packageVersion(pkg);
    if (v !== undefined) versions[pkg] = v;
  }
  const kindNote =
    adapter === undefined
      ? 'adapter unknown'
      : adapter.kind === 'software'
        ? `software adapter (${adapter.device || adapter.description}): for testing, slow (a few GFLOP/s); a GPU's hardware adapter is what this backend is for`
        : `hardware adapter ${webGpuAdapterLabel(adapter)}`;
  return {
    name: 'webgpu',
    versions,
    ...(adapter === undefined ? {} : { device: webGpuDeviceString(adapter), adapter }),
    detail: `tfjs-backend-webgpu on Dawn via ${setup.route.name === 'native' ? 'its native backend' : `${setup.route.name} (compatibility mode)`}, ${kindNote}`,
  };
}

async function initNamed(name: BackendName, ctx: InitContext): Promise<Activated> {
  switch (name) {
    case 'gpu':
    case 'tensorflow':
      return initNode(name, ctx);
    case 'webgpu':
      return initWebgpu(ctx);
    case 'wasm':
      return initWasm(ctx);
    case 'cpu':
      return initCpu(ctx);
  }
}

function toInfo(a: Activated, reason: string): BackendInfo {
  return {
    name: a.name,
    tfjsBackend: tf.getBackend(),
    versions: a.versions,
    ...(a.device === undefined ? {} : { device: a.device }),
    ...(a.threads === undefined ? {} : { threads: a.threads }),
    ...(a.adapter === undefined ? {} : { adapter: a.adapter }),
    reason,
  };
}

async function initAuto(ctx: InitContext): Promise<BackendInfo> {
  const plan = await planAutoBackend(ctx.probe);
  const notes: string[] = [];
  for (const candidate of plan) {
    if (!candidate.viable) {
      notes.push(`${candidate.name} skipped (${candidate.why})`);
      continue;
    }
    try {
      const a = await initNamed(candidate.name, ctx);
      return toInfo(a, `auto: ${[...notes, `chose ${a.name}: ${a.detail}`].join('; ')}`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      notes.push(`${candidate.name} failed (${message})`);
    }
  }
  // cpu is always viable and only fails if tfjs itself is broken.
  throw new NlsError(`no backend could be initialised: ${notes.join('; ')}. Fix: reinstall nls's dependencies.`, { field: 'backend' });
}

/** The adapter a 'webgpu' request may use: the option, else env NLS_WEBGPU_ADAPTER, else any. */
function webgpuAdapterOf(opts: InitBackendOptions): WebGpuAdapterRequest {
  const v: unknown = opts.webgpuAdapter ?? process.env[WEBGPU_ADAPTER_ENV] ?? 'any';
  if (typeof v !== 'string' || !(WEBGPU_ADAPTER_REQUESTS as readonly string[]).includes(v)) {
    const field = opts.webgpuAdapter === undefined ? WEBGPU_ADAPTER_ENV : 'webgpuAdapter';
    throw new NlsError(`unknown WebGPU adapter ${JSON.stringify(v)}. Fix: use one of ${WEBGPU_ADAPTER_REQUESTS.join(', ')}.`, { field });
  }
  return v as WebGpuAdapterRequest;
}

function validate(request: unknown, threads: unknown): asserts request is BackendRequest {
  if (typeof request !== 'string' || !(BACKEND_REQUESTS as readonly string[]).includes(request)) {
    throw new NlsError(`unknown backend ${JSON.stringify(request)}. Fix: use one of ${BACKEND_REQUESTS.join(', ')}.`, { field: 'backend' });
  }
  if (threads !== undefined && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1)) {
    throw new NlsError(`threads must be a positive integer, got ${JSON.stringify(threads)}. Fix: pass e.g. --threads 4 or omit it.`, {
      field: 'threads',
    });
  }
}

async function doInit(request: BackendRequest, opts: InitBackendOptions): Promise<BackendInfo> {
  validate(request, opts.threads);
  const captured: string[] = [];
  const ctx: InitContext = {
    probe: probeWith(opts.probe),
    threads: opts.threads,
    quiet: opts.quiet ?? false,
    captured,
    requireGpu: request === 'gpu',
    webgpuAdapter: request === 'webgpu' ? webgpuAdapterOf(opts) : 'hardware',
  };
  // tfjs types getBackend() as string, but it is null until a backend has been initialised.
  const previous = tf.getBackend() as string | null;
  return withConsoleFilter({ quiet: ctx.quiet, captured }, async () => {
    try {
      if (request === 'auto') return await initAuto(ctx);
      const a = await initNamed(request, ctx);
      return toInfo(a, `requested '${request}': ${a.detail}`);
    } catch (err) {
      // A failed setBackend leaves the engine pointing at a backend with no instance; put back what
      // was active so a caller that catches the error can carry on.
      if (previous !== null && tf.getBackend() !== previous) await tf.setBackend(previous);
      throw err;
    }
  });
}

/** Backend switching is process-global: serialise calls so two inits never interleave. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Activate a TensorFlow.js backend and report what is in use.
 *
 * `'auto'` tries, in order: `gpu` (tfjs-node-gpu installed and a GPU visible) > `webgpu` (a hardware
 * WebGPU adapter; never the software one) > `tensorflow` (tfjs-node installed) > `wasm` > `cpu`, falling
 * through on any failure; `BackendInfo.reason` says what was skipped and why. A named backend that is
 * unavailable throws {@link NlsError} with install instructions; on failure the previously active
 * backend is restored. `'webgpu'` uses a hardware adapter when there is one, else the software one
 * (noted in `reason`; see {@link InitBackendOptions.webgpuAdapter}); its adapter is fixed for the
 * process once chosen. TensorFlow.js's console banners are kept off stdout (dropped when `quiet`, else
 * sent to stderr). Calls are serialised; switching backends any number of times in one process is
 * supported.
 */
export function initBackend(request: BackendRequest, opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const run = queue.then(() => doInit(request, opts));
  queue = run.catch(() => undefined);
  return run;
}
