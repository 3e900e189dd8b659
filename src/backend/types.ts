/**
 * Names and result shapes shared by the backend selector, the probe and `describeBackends`.
 *
 * Kept free of tfjs imports so the CLI can parse `--backend` without loading TensorFlow.js.
 */

/**
 * Every backend name nls knows, in `auto` preference order ('webgpu' last: reserved, not yet usable).
 *
 * - `gpu`: `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA); registers the tfjs backend `'tensorflow'`.
 * - `tensorflow`: `@tensorflow/tfjs-node` (libtensorflow, CPU).
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; single-threaded in Node).
 * - `cpu`: the pure-JavaScript backend bundled with `@tensorflow/tfjs`.
 * - `webgpu`: reserved for a later release; selecting it raises an explanatory error.
 */
export const BACKEND_NAMES = ['gpu', 'tensorflow', 'wasm', 'cpu', 'webgpu'] as const;

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
  /** Load `pkg` for its side effects (backend registration) and return its namespace. */
  importModule(pkg: string): Promise<unknown>;
}
