/**
 * TensorFlow.js backend selection for nls.
 *
 * - {@link initBackend}: activate `'auto'` or a named backend and report what is in use.
 * - {@link describeBackends}: availability of every backend and how to enable it (`nls doctor`).
 * - {@link planAutoBackend}: the `auto` ordering (gpu > tensorflow > wasm > cpu) without loading anything.
 *
 * The optional native packages (`@tensorflow/tfjs-node`, `@tensorflow/tfjs-node-gpu`) are only ever
 * loaded with a dynamic `import()` whose specifier is a variable, so nls builds and runs without them.
 * See docs/backends.md.
 *
 * @packageDocumentation
 */
export { BACKEND_NAMES, BACKEND_REQUESTS } from './types.js';
export type { BackendAvailability, BackendInfo, BackendName, BackendProbe, BackendRequest, GpuProbeResult } from './types.js';
export {
  GPU_PACKAGE,
  NODE_PACKAGE,
  TFJS_PACKAGE,
  TFJS_VERSION,
  WASM_BINARIES,
  WASM_PACKAGE,
  initBackend,
  installHint,
  planAutoBackend,
  wasmBinaryDir,
} from './init.js';
export type { AutoCandidate, InitBackendOptions } from './init.js';
export { describeBackends } from './describe.js';
export type { DescribeBackendsOptions } from './describe.js';
export { defaultProbe, parseNvidiaSmiList } from './probe.js';
export { KNOWN_TFJS_NOISE, withConsoleFilter } from './console-filter.js';
export type { ConsoleFilterOptions } from './console-filter.js';
