/**
 * Names and result shapes shared by the backend selector, the probe and `describeBackends`.
 *
 * Kept free of tfjs imports so the CLI can parse `--backend` without loading TensorFlow.js.
 */

/**
 * Every backend name nls knows, in `auto` preference order.
 *
 * - `gpu`: `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA); registers the tfjs backend `'tensorflow'`.
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` on Dawn (the `webgpu` npm package): a hardware adapter
 *   (Vulkan, Metal, D3D12), or when asked for by name and there is none, a software one (Mesa llvmpipe).
 *   `auto` only ever takes a hardware adapter.
 * - `tensorflow`: `@tensorflow/tfjs-node` (libtensorflow, CPU).
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; single-threaded in Node).
 * - `cpu`: the pure-JavaScript backend bundled with `@tensorflow/tfjs`.
 */
export const BACKEND_NAMES = ['gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** A concrete backend nls can be asked for. See {@link BACKEND_NAMES}. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** What a user may ask for: a concrete backend, or `'auto'` for the best available one. */
export type BackendRequest = BackendName | 'auto';

/** All accepted values of a backend request, for option parsing and error messages. */
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', ...BACKEND_NAMES];

/** The backend that {@link initBackend} activated, and why. */
export interface BackendInfo {
  /** nls's name for the backend. */
  name: BackendName;
  /** The active tfjs backend, exactly as `tf.getBackend()` reports it (`'tensorflow'` for gpu). */
  tfjsBackend: string;
  /** Versions of the pieces in use: `tfjs-core`, `@tensorflow/tfjs`, the backend package, `node`. */
  versions: Record<string, string>;
  /** Human-readable device, e.g. `'NVIDIA A100 (CUDA)'`, `'wasm SIMD, single-threaded'`. */
  device?: string;
  /** Threads the backend actually computes with, when known (not what was requested). */
  threads?: number;
  /** For `webgpu`: the adapter in use (hardware or software) as WebGPU describes it. */
  adapter?: WebGpuAdapterInfo;
  /** Why this backend was chosen (for `auto`: what was skipped and why). */
  reason: string;
}

/** One row of {@link describeBackends}: can this backend be used here, and if not, how to enable it. */
export interface BackendAvailability {
  /** nls's name for the backend. */
  name: BackendName;
  /** True when {@link initBackend} with this name is expected to succeed. */
  available: boolean;
  /** The npm package that provides it (`@tensorflow/tfjs` for cpu). */
  package: string;
  /** Installed version of that package, when it is installed. */
  version?: string;
  /** Why it is (un)available. */
  reason: string;
  /** The device it would compute on, when known (an NVIDIA GPU's name, a WebGPU adapter). */
  device?: string;
  /** For `webgpu`: the adapter `--backend webgpu` would use. */
  adapter?: WebGpuAdapterInfo;
  /** What to do to make it available; absent when it already is. */
  howToEnable?: string;
}

/** Result of looking for an NVIDIA GPU without loading CUDA. */
export interface GpuProbeResult {
  /** True when at least one usable GPU is visible to this process. */
  present: boolean;
  /** Name of the first GPU, when known (from `nvidia-smi -L`). */
  device?: string;
  /** How the answer was reached, for reasons and `nls doctor`. */
  detail: string;
}

/**
 * The environment checks the selector depends on, injectable so that the `auto` ordering can be tested
 * on machines that lack tfjs-node or a GPU. {@link defaultProbe} is the real implementation.
 */
export interface BackendProbe {
  /** Whether `pkg` resolves from nls's location, without executing it. */
  isInstalled(pkg: string): boolean;
  /** Installed version of `pkg` (from its package.json), or undefined when it is not installed. */
  packageVersion(pkg: string): string | undefined;
  /** Look for an NVIDIA GPU (e.g. `nvidia-smi -L`), without loading CUDA into this process. */
  detectGpu(): Promise<GpuProbeResult>;
  /**
   * Look for WebGPU adapters through Dawn (the `webgpu` package), without loading Dawn into this
   * process: the real probe asks a child process. Called only when the webgpu packages are installed.
   */
  detectWebGpu(): Promise<WebGpuDetection>;
  /** Load `pkg` for its side effects (backend registration) and return its namespace. */
  importModule(pkg: string): Promise<unknown>;
}

/** Whether a WebGPU adapter is a real GPU or a CPU rasteriser (Mesa llvmpipe/lavapipe, SwiftShader, WARP). */
export type WebGpuAdapterKind = 'hardware' | 'software';

/**
 * How nls asks Dawn for an adapter: `native` is Dawn's default backend for the platform (Vulkan on
 * Linux, Metal on macOS, D3D12 on Windows) at WebGPU's core feature level; `opengles` and `opengl` are
 * Dawn's OpenGL backends over EGL (Linux), which only offer the `compatibility` feature level and are
 * how Mesa's software rasteriser becomes an adapter on a machine without a GPU.
 */
export type WebGpuRouteName = 'native' | 'opengles' | 'opengl';

/** One WebGPU adapter found through Dawn. */
export interface WebGpuAdapterInfo {
  /** Hardware or software, judged from the fields below (see `classifyWebGpuAdapter`). */
  kind: WebGpuAdapterKind;
  /** The Dawn backend it came from. */
  route: WebGpuRouteName;
  /** WebGPU feature level requested for it. */
  featureLevel: 'core' | 'compatibility';
  /** `GPUAdapterInfo.vendor` (often empty on OpenGL). */
  vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  architecture: string;
  /** `GPUAdapterInfo.device`, e.g. `llvmpipe-llvm-15-0-6-256-bits-`. */
  device: string;
  /** `GPUAdapterInfo.description`, e.g. `OpenGL version OpenGL ES 3.2 Mesa 22.3.6`. */
  description: string;
  /** `GPUAdapterInfo.isFallbackAdapter`. */
  isFallbackAdapter: boolean;
}

/** What a WebGPU probe found: the best hardware and software adapters, and why others are missing. */
export interface WebGpuDetection {
  /** True when Dawn loaded and could be asked at all. */
  dawnLoaded: boolean;
  /** The hardware adapter `--backend webgpu` and `auto` would use, if any. */
  hardware?: WebGpuAdapterInfo;
  /** A software adapter, if any: used by `--backend webgpu` only when there is no hardware one. */
  software?: WebGpuAdapterInfo;
  /** One line: what was found, or why nothing was. */
  detail: string;
  /** Dawn's own warnings and errors from the probe, e.g. "Couldn't load Vulkan: libvulkan.so.1: ...". */
  messages: string[];
}
