/**
 * onnxruntime-node: loading it (lazily, so nls works where its native binary cannot load),
 * session options that matter on a CPU (docs/engines.md) and running a session.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { NlsError } from '../../errors.js';
import { packagePath } from '../../package-info.js';

/** The onnxruntime-node module. */
export type OrtModule = typeof Ort;
/** An onnxruntime inference session. */
export type OrtSession = Ort.InferenceSession;
/** An onnxruntime tensor. */
export type OrtTensor = Ort.Tensor;

let ortModule: Promise<OrtModule> | undefined;

/** Import onnxruntime-node once; rejects (with the loader's message) when its native binding cannot load here. */
export function loadOrt(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-node').then((m) => ((m as unknown as { default?: OrtModule }).default ?? m) as OrtModule);
  return ortModule;
}

/** Whether the onnx engine can run here, and why not. */
export interface OnnxAvailability {
  readonly available: boolean;
  /** onnxruntime-node's version when it loaded. */
  readonly version?: string;
  /** Execution providers the binding lists (e.g. cpu, cuda when its libraries are installed). */
  readonly providers?: readonly string[];
  /** Why it is not available. */
  readonly reason?: string;
  /** True when onnxruntime-node is not installed at all (rather than failing to load). */
  readonly missing?: boolean;
}

/**
 * How to install onnxruntime-node where it is missing. It is an optional dependency of nls: npm
 * leaves it out when its install script fails, as it does on Linux x64 with no network (the
 * script downloads CUDA libraries nls does not need; docs/install.md).
 */
export function ortInstallHint(): string {
  let version = '';
  try {
    const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
    version = pkg.optionalDependencies?.['onnxruntime-node'] ?? '';
  } catch {
    // the hint without a version
  }
  const spec = `onnxruntime-node${version ? `@${version}` : ''}`;
  return (
    `install it without its CUDA download: deny its install script in your project's package.json ` +
    `("allowScripts": { "onnxruntime-node": false }, npm 11.19 or later) and run npm install again, or ` +
    `run ONNXRUNTIME_NODE_INSTALL=skip npm install ${spec} (docs/install.md)`
  );
}

let availability: Promise<OnnxAvailability> | undefined;

/** Check once whether onnxruntime-node loads and runs a trivial graph on this machine. */
export function onnxAvailability(): Promise<OnnxAvailability> {
  availability ??= (async (): Promise<OnnxAvailability> => {
    try {
      const ort = await loadOrt();
      const listed = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.() ?? [];
      return { available: true, version: ort.env.versions.common, providers: listed.map((b) => b.name) };
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes("'onnxruntime-node'");
      return { available: false, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err), ...(missing ? { missing } : {}) };
    }
  })();
  return availability;
}

/** Session options nls sets (docs/engines.md, "Session options"). */
export interface OnnxSessionOptions {
  /** Intra-op threads (default: the cores Node sees, `os.availableParallelism()`). */
  readonly threads?: number;
  /**
   * Let idle intra-op threads spin between operators instead of sleeping (default true): with
   * many small operators, waking a sleeping thread costs more than the operator (measured 2-thread
   * median for 512-sized ops: 3.6 ms sleeping, 0.9 ms spinning). Spinning burns the other core
   * while the session is idle between runs only briefly.
   */
  readonly spinning?: boolean;
  /** Execution providers in order of preference (default `['cpu']`; `cuda` needs ORT's CUDA libraries, docs/engines.md). */
  readonly providers?: readonly string[];
  /** Write the model as onnxruntime optimized it here (for inspection). */
  readonly optimizedModelFile?: string;
  /**
   * Plan one memory block for all of a run's values (default true). Training graphs turn it
   * off: the planned block of forward and backward values was 120 MB larger than allocating
   * each value from the arena, and no faster (demo training step, docs/training.md).
   */
  readonly memoryPattern?: boolean;
}

/** The intra-op threads a session gets by default: every core this process may use. */
export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism());
}

/** The onnxruntime session options for {@link OnnxSessionOptions}. */
export function ortSessionOptions(options: OnnxSessionOptions = {}): Ort.InferenceSession.SessionOptions {
  const threads = options.threads ?? defaultThreads();
  if (!Number.isSafeInteger(threads) || threads < 1) throw new NlsError(`must be a positive integer, got ${threads}`, { field: 'threads' });
  return {
    executionProviders: [...(options.providers ?? ['cpu'])],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // The arena keeps freed blocks for the next run, and the memory pattern plans one block for
    // all activations of a given input shape: large allocations are reused, not fresh pages.
    enableCpuMemArena: true,
    enableMemPattern: options.memoryPattern !== false,
    logSeverityLevel: 3,
    ...(options.optimizedModelFile ? { optimizedModelFilePath: options.optimizedModelFile } : {}),
    // The Node binding takes config entries as flat string keys (onnxruntime_session_options_config_keys.h).
    extra: { 'session.intra_op.allow_spinning': options.spinning === false ? '0' : '1', 'session.inter_op.allow_spinning': '0' },
  };
}

/** Create a session from serialized model bytes. */
export async function createOrtSession(model: Uint8Array, options: OnnxSessionOptions = {}): Promise<OrtSession> {
  const ort = await loadOrt();
  try {
    return await ort.InferenceSession.create(model, ortSessionOptions(options));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new NlsError(`onnxruntime could not create a session: ${message}`, { field: 'engine' });
  }
}
