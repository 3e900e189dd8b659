/**
 * `nls doctor`: what this machine can compute with, on which device, and how to enable the rest.
 *
 * One report: the tfjs backends ({@link describeBackends}), the WebGPU adapters Dawn finds (hardware
 * and software), the NVIDIA GPU if any, the two engines (tfjs, and ONNX Runtime with its execution
 * providers), and the four GPU routes (tfjs-node-gpu, webgpu on a hardware adapter, webgpu on the
 * software adapter, ONNX Runtime's CUDA provider) with what each needs. Nothing here changes the
 * active tfjs backend; onnxruntime-node is loaded (it has no global side effects), Dawn is not (the
 * WebGPU probe runs in a child process).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { dirname, join } from 'node:path';

import { loadOrt, ortInstallHint } from '../engine/onnx/session.js';
import { describeBackends } from './describe.js';
import { GPU_PACKAGE, TFJS_PACKAGE, TFJS_VERSION, installHint, webgpuAdapterHint } from './init.js';
import { defaultProbe } from './probe.js';
import type { BackendAvailability, BackendProbe, GpuProbeResult, WebGpuAdapterInfo, WebGpuDetection } from './types.js';
import { DAWN_PACKAGE, MESA_PACKAGES, WEBGPU_PACKAGE, webGpuAdapterLabel } from './webgpu.js';

/** npm package of ONNX Runtime for Node.js (a dependency of nls; its CUDA provider is an optional download). */
export const ORT_PACKAGE = 'onnxruntime-node';

/** Format tag of {@link DoctorReport}, for `nls doctor --json` consumers. */
export const DOCTOR_FORMAT = 'nls-doctor/1';

/** One compute provider of an engine: a tfjs backend, or an ONNX Runtime execution provider. */
export interface ProviderReport {
  /** Backend or execution-provider name (`wasm`, `webgpu`, `cpu`, `cuda`, ...). */
  name: string;
  /** Usable here. */
  available: boolean;
  /** ONNX Runtime: whether the provider's binaries ship inside the npm package. */
  bundled?: boolean;
  /** Why (not), and on which device. */
  detail: string;
}

/** One evaluation/training engine. */
export interface EngineReport {
  /** `tfjs` (training and evaluation) or `onnxruntime` (evaluation, `createOnnxEngine`). */
  name: 'tfjs' | 'onnxruntime';
  /** Its npm package. */
  package: string;
  /** Installed version. */
  version?: string;
  /** Whether it loads here. */
  available: boolean;
  /** One line about it. */
  reason: string;
  /** Its backends / execution providers. */
  providers: ProviderReport[];
}

/** The GPU routes nls knows. */
export type GpuRouteName = 'tfjs-node-gpu' | 'webgpu-hardware' | 'webgpu-software' | 'onnxruntime-cuda';

/** One way of computing on a GPU (or, for `webgpu-software`, of testing the GPU code path without one). */
export interface GpuRouteReport {
  route: GpuRouteName;
  /** The engine it belongs to. */
  engine: 'tfjs' | 'onnxruntime';
  /** Ready to use on this machine. */
  available: boolean;
  /** The device it would use, when known. */
  device?: string;
  /** How to select it. */
  use: string;
  /** What was found. */
  detail: string;
  /** What to install or set up; absent when available. */
  howToEnable?: string;
}

/** Everything `nls doctor` reports. */
export interface DoctorReport {
  format: typeof DOCTOR_FORMAT;
  system: { platform: string; arch: string; node: string; cpus: number; cpuModel: string };
  /** The tfjs backends, as `nls backends` lists them. */
  backends: BackendAvailability[];
  /** The WebGPU probe's findings; absent when the webgpu packages are not installed. */
  webgpu?: WebGpuDetection;
  /** NVIDIA GPU, looked for with `nvidia-smi -L` (whether or not a CUDA package is installed). */
  nvidia: GpuProbeResult;
  engines: EngineReport[];
  gpuRoutes: GpuRouteReport[];
  /** What `nls train` / `nls pretrain` with `--engine auto` would train on here. */
  training: TrainingReport;
}

/** The engine and compute provider training would use (`--engine auto`). */
export interface TrainingReport {
  readonly engine: 'onnx' | 'tfjs';
  /** onnx: the execution providers in order (the first one that initialises runs the graph); tfjs: the backend. */
  readonly providers: readonly string[];
  readonly detail: string;
}

/** The part of the onnxruntime-node module the doctor uses. */
interface OrtLike {
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
  env?: { versions?: { common?: string } };
}

/** Options of {@link diagnose}: every environment check is replaceable, for tests. */
export interface DiagnoseOptions {
  /** tfjs backend checks, as for `describeBackends`. */
  probe?: Partial<BackendProbe>;
  /** Load onnxruntime-node (default: the engine's loader). */
  loadOnnxRuntime?: () => Promise<unknown>;
  /** Directory holding onnxruntime-node's native libraries (default: found from its package). */
  onnxRuntimeBinDir?: string;
}

/** The CUDA provider's libraries onnxruntime-node downloads at install time, per platform (empty: no CUDA build). */
function cudaProviderFiles(platform: NodeJS.Platform, arch: string): string[] {
  if (platform === 'linux' && arch === 'x64') return ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];
  if (platform === 'win32' && arch === 'x64') return ['onnxruntime_providers_cuda.dll', 'onnxruntime_providers_shared.dll'];
  return [];
}

function ortBinDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve(`${ORT_PACKAGE}/package.json`);
    return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

/**
 * Whether onnxruntime-node lists a CUDA provider and its libraries are installed next to the
 * binding (the CUDA build: `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`).
 * Cheap (no GPU probe): the onnx training engine tries CUDA first when this holds.
 */
export async function cudaProviderInstalled(): Promise<boolean> {
  try {
    const m = (await loadOrt()) as unknown as OrtLike & { default?: OrtLike };
    const ort = m.listSupportedBackends ? m : (m.default ?? m);
    if (!(ort.listSupportedBackends?.() ?? []).some((b) => b.name === 'cuda')) return false;
    const files = cudaProviderFiles(process.platform, process.arch);
    const dir = ortBinDir();
    return files.length > 0 && dir !== undefined && files.every((f) => existsSync(join(dir, f)));
  } catch {
    return false;
  }
}

/** How to get ONNX Runtime's CUDA provider (onnxruntime-node 1.30: CUDA 12 builds only). */
export function onnxCudaHint(): string {
  return (
    `on Linux x64 or Windows x64 with an NVIDIA GPU, CUDA 12.x and cuDNN 9: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/${ORT_PACKAGE}/script/install.js ` +
    `(needs internet access: its install script downloads Microsoft.ML.OnnxRuntime.Gpu from NuGet; run directly, because ` +
    `npm does not run it: nls's package.json denies it in allowScripts so that a plain npm ci stays offline, and npm 12 ` +
    `skips unreviewed install scripts), then pass providers: ['cuda', 'cpu'] to createOnnxEngine. See docs/gpu.md.`
  );
}

async function onnxRuntimeReport(
  opts: DiagnoseOptions,
  nvidia: GpuProbeResult,
  webgpu: WebGpuDetection | undefined,
  version: string | undefined,
): Promise<EngineReport> {
  let ort: OrtLike;
  try {
    const m = (await (opts.loadOnnxRuntime ?? loadOrt)()) as OrtLike & { default?: OrtLike };
    ort = m.listSupportedBackends ? m : (m.default ?? m);
  } catch (err) {
    return {
      name: 'onnxruntime',
      package: ORT_PACKAGE,
      ...(version === undefined ? {} : { version }),
      available: false,
      reason:
        (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${ORT_PACKAGE}'`)
          ? `${ORT_PACKAGE} is not installed (an optional dependency, left out when its install script failed); ${ortInstallHint()}`
          : `${ORT_PACKAGE} failed to load (${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}); reinstall nls's dependencies`,
      providers: [],
    };
  }
  const listed = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  const binDir = opts.onnxRuntimeBinDir ?? ortBinDir();
  const providers: ProviderReport[] = listed.map(({ name, bundled }) => {
    if (name === 'cpu') return { name, bundled, available: true, detail: 'always available' };
    if (name === 'cuda' || name === 'tensorrt') {
      const files = name === 'cuda' ? cudaProviderFiles(process.platform, process.arch) : [];
      const missing = binDir === undefined ? files : files.filter((f) => !existsSync(join(binDir, f)));
      if (name === 'tensorrt') {
        return { name, bundled, available: false, detail: 'listed by the binding; needs TensorRT on top of the CUDA provider (not set up or tested by nls)' };
      }
      if (files.length === 0) return { name, bundled, available: false, detail: `no CUDA build of ${ORT_PACKAGE} for ${process.platform}/${process.arch}` };
      if (missing.length > 0) return { name, bundled, available: false, detail: `its libraries are not installed (${missing.join(', ')} missing)` };
      return {
        name,
        bundled,
        available: nvidia.present,
        detail: nvidia.present ? `libraries installed; ${nvidia.detail}` : `libraries installed, but ${nvidia.detail}`,
      };
    }
    if (name === 'webgpu') {
      // ORT brings its own Dawn; nls's probe of the same machine is the best guess at what it finds.
      const hw = webgpu?.hardware;
      return {
        name,
        bundled,
        available: bundled && hw !== undefined,
        detail: !bundled
          ? 'not bundled'
          : hw !== undefined
            ? `bundled (its own Dawn); a hardware WebGPU adapter is present (${webGpuAdapterLabel(hw)}); not used or tested by nls`
            : 'bundled (its own Dawn), but it needs a hardware WebGPU adapter and none was found; not used or tested by nls',
      };
    }
    return { name, bundled, available: bundled, detail: bundled ? 'bundled; not used by nls' : 'listed, not bundled' };
  });
  const v = ort.env?.versions?.common ?? version;
  return {
    name: 'onnxruntime',
    package: ORT_PACKAGE,
    ...(v === undefined ? {} : { version: v }),
    available: true,
    reason: `loads here; execution providers: ${providers.filter((p) => p.available).map((p) => p.name).join(', ') || 'none'}`,
    providers,
  };
}

function routeOf(r: Omit<GpuRouteReport, 'howToEnable'>, howToEnable: string): GpuRouteReport {
  return r.available ? r : { ...r, howToEnable };
}

function adapterDevice(a: WebGpuAdapterInfo | undefined): { device?: string } {
  return a === undefined ? {} : { device: webGpuAdapterLabel(a) };
}

/**
 * Gather the doctor's report. Takes about a second: `nvidia-smi` (5 s timeout), the WebGPU probe (a
 * child process, when the webgpu packages are installed), loading onnxruntime-node.
 */
export async function diagnose(opts: DiagnoseOptions = {}): Promise<DoctorReport> {
  const p: BackendProbe = { ...defaultProbe, ...opts.probe };
  const [backends, nvidia] = await Promise.all([describeBackends({ probe: p }), p.detectGpu()]);
  const webgpuInstalled = p.isInstalled(WEBGPU_PACKAGE) && p.isInstalled(DAWN_PACKAGE);
  const webgpu = webgpuInstalled ? await p.detectWebGpu() : undefined;
  const by = new Map(backends.map((b) => [b.name, b]));

  const tfjs: EngineReport = {
    name: 'tfjs',
    package: TFJS_PACKAGE,
    version: TFJS_VERSION,
    available: true,
    reason: `backends available here: ${backends.filter((b) => b.available).map((b) => b.name).join(', ')}`,
    providers: backends.map((b) => ({ name: b.name, available: b.available, detail: b.device ?? b.reason })),
  };
  const onnx = await onnxRuntimeReport(opts, nvidia, webgpu, p.packageVersion(ORT_PACKAGE));

  const gpuRow = by.get('gpu');
  const cuda = onnx.providers.find((x) => x.name === 'cuda');
  const gpuRoutes: GpuRouteReport[] = [
    routeOf(
      {
        route: 'tfjs-node-gpu',
        engine: 'tfjs',
        available: gpuRow?.available ?? false,
        ...(gpuRow?.device === undefined ? {} : { device: gpuRow.device }),
        use: '--backend gpu (auto prefers it)',
        detail: gpuRow?.reason ?? 'unknown',
      },
      p.isInstalled(GPU_PACKAGE)
        ? `run on a machine with an NVIDIA GPU, its driver, CUDA 11.2 and cuDNN 8.1 (libtensorflow 2.x's CUDA); ${nvidia.detail}`
        : installHint('gpu'),
    ),
    routeOf(
      {
        route: 'webgpu-hardware',
        engine: 'tfjs',
        available: webgpu?.hardware !== undefined,
        ...adapterDevice(webgpu?.hardware),
        use: '--backend webgpu (auto prefers it after gpu)',
        detail: webgpu === undefined ? `${WEBGPU_PACKAGE} and ${DAWN_PACKAGE} not both installed` : webgpu.detail,
      },
      webgpuInstalled ? webgpuAdapterHint(webgpu, 'hardware') : installHint('webgpu'),
    ),
    routeOf(
      {
        route: 'webgpu-software',
        engine: 'tfjs',
        available: webgpu?.software !== undefined,
        ...adapterDevice(webgpu?.software),
        use: '--backend webgpu when there is no hardware adapter, or NLS_WEBGPU_ADAPTER=software; for testing (slow), never chosen by auto',
        detail:
          webgpu === undefined
            ? `${WEBGPU_PACKAGE} and ${DAWN_PACKAGE} not both installed`
            : webgpu.software
              ? `software adapter ${webGpuAdapterLabel(webgpu.software)} (${webgpu.software.route}, ${webgpu.software.featureLevel})`
              : `no software adapter: ${webgpu.detail}`,
      },
      webgpuInstalled
        ? `Linux: apt-get install ${MESA_PACKAGES.join(' ')} (Mesa's EGL and llvmpipe; nls sets EGL_PLATFORM=surfaceless, no display needed)`
        : installHint('webgpu'),
    ),
    routeOf(
      {
        route: 'onnxruntime-cuda',
        engine: 'onnxruntime',
        available: cuda?.available ?? false,
        ...(cuda?.available && nvidia.device !== undefined ? { device: nvidia.device } : {}),
        use: "createOnnxEngine(model, adapters, { providers: ['cuda', 'cpu'] })",
        detail: cuda === undefined ? (onnx.available ? 'the binding lists no cuda provider' : onnx.reason) : cuda.detail,
      },
      onnxCudaHint(),
    ),
  ];

  const training: TrainingReport = onnx.available
    ? {
        engine: 'onnx',
        providers: cuda?.available ? ['cuda', 'cpu'] : ['cpu'],
        detail: cuda?.available
          ? `the training graph on ONNX Runtime's CUDA provider (${nvidia.device ?? 'NVIDIA GPU'}), operators it lacks on the CPU; untested by nls`
          : `the training graph on ONNX Runtime's CPU provider, ${os.availableParallelism()} intra-op threads (--threads)${cuda === undefined ? '' : `; CUDA: ${cuda.detail}`}`,
      }
    : { engine: 'tfjs', providers: ['wasm'], detail: `onnxruntime-node does not load (${onnx.reason}); training runs on tfjs with --backend (default wasm)` };

  const cpus = os.cpus();
  return {
    format: DOCTOR_FORMAT,
    system: { platform: process.platform, arch: process.arch, node: process.versions.node, cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown' },
    backends,
    ...(webgpu === undefined ? {} : { webgpu }),
    nvidia,
    engines: [tfjs, onnx],
    gpuRoutes,
    training,
  };
}
