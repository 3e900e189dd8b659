/**
 * TensorFlow.js backend selection for nls.
 *
 * - {@link initBackend}: activate `'auto'` or a named backend and report what is in use.
 * - {@link describeBackends}: availability of every backend and how to enable it (`nls doctor`).
 * - {@link planAutoBackend}: the `auto` ordering (gpu > webgpu > tensorflow > wasm > cpu) without loading anything.
 * - {@link diagnose}: everything `nls doctor` prints (backends, WebGPU adapters, NVIDIA GPU, engines, GPU routes).
 *
 * The optional packages (`@tensorflow/tfjs-node`, `@tensorflow/tfjs-node-gpu`, `webgpu`,
 * `@tensorflow/tfjs-backend-webgpu`) are only ever loaded with a dynamic `import()` whose specifier is a
 * variable, so nls builds and runs without them. See docs/backends.md and docs/gpu.md.
 *
 * @packageDocumentation
 */
export { BACKEND_NAMES, BACKEND_REQUESTS } from './types.js';
export type {
  BackendAvailability,
  BackendInfo,
  BackendName,
  BackendProbe,
  BackendRequest,
  GpuProbeResult,
  WebGpuAdapterInfo,
  WebGpuAdapterKind,
  WebGpuDetection,
  WebGpuRouteName,
} from './types.js';
export {
  GPU_PACKAGE,
  NODE_PACKAGE,
  TFJS_PACKAGE,
  TFJS_VERSION,
  WASM_BINARIES,
  WASM_PACKAGE,
  WEBGPU_ADAPTER_ENV,
  WEBGPU_ADAPTER_REQUESTS,
  initBackend,
  installHint,
  planAutoBackend,
  wasmBinaryDir,
  webgpuAdapterHint,
} from './init.js';
export type { AutoCandidate, InitBackendOptions, WebGpuAdapterRequest } from './init.js';
export {
  DAWN_PACKAGE,
  MESA_PACKAGES,
  WEBGPU_PACKAGE,
  WEBGPU_ROUTES,
  classifyWebGpuAdapter,
  detectWebGpu,
  probeWebGpuInChild,
  webGpuAdapterLabel,
  webGpuDeviceString,
} from './webgpu.js';
export type { RawAdapterInfo, WebGpuRoute } from './webgpu.js';
export { describeBackends } from './describe.js';
export { DOCTOR_FORMAT, ORT_PACKAGE, diagnose, onnxCudaHint } from './doctor.js';
export type { DiagnoseOptions, DoctorReport, EngineReport, GpuRouteName, GpuRouteReport, ProviderReport } from './doctor.js';
export type { DescribeBackendsOptions } from './describe.js';
export { defaultProbe, parseNvidiaSmiList } from './probe.js';
export { KNOWN_TFJS_NOISE, withConsoleFilter } from './console-filter.js';
export type { ConsoleFilterOptions } from './console-filter.js';
