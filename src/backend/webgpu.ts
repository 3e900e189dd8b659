/**
 * WebGPU in Node.js for TensorFlow.js: finding an adapter through Dawn (the `webgpu` npm package, which
 * ships Dawn prebuilt) and installing `navigator.gpu` so that `@tensorflow/tfjs-backend-webgpu` can use it.
 *
 * What has to be true, measured with webgpu 0.6.2, tfjs-backend-webgpu 4.22.0 and Node 20:
 * - tfjs-backend-webgpu registers its backend *when its module is first imported*, and only if
 *   `globalThis.navigator.gpu` exists then. Node 20 has no `navigator` at all, so `navigator.gpu` must be
 *   installed before that import, or the backend never registers in this process.
 * - Dawn's default backend on Linux is Vulkan; without `libvulkan.so.1` (or without a Vulkan driver) it
 *   finds no adapter. Dawn's OpenGL ES backend over EGL finds Mesa's software rasteriser (llvmpipe) with
 *   `EGL_PLATFORM=surfaceless` (no display needed), but only at WebGPU's `compatibility` feature level.
 * - tfjs asks `navigator.gpu.requestAdapter({ powerPreference })` itself, without a feature level, which
 *   the OpenGL backend answers with null; so the `navigator.gpu` nls installs adds the feature level of
 *   the chosen route to every request.
 * - Dawn prints its warnings ("Couldn't load Vulkan", "maxDynamicUniformBuffersPerPipelineLayout
 *   artificially reduced") from C++ to file descriptor 2, never to stdout. They cannot be filtered from
 *   JavaScript, which is one reason the adapter probe runs in a child process.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

import type { WebGpuAdapterInfo, WebGpuAdapterKind, WebGpuDetection, WebGpuRouteName } from './types.js';

/** npm package of TensorFlow.js's WebGPU backend (optional dependency of nls). */
export const WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';
/** npm package that provides WebGPU to Node.js: Dawn, prebuilt for linux/macOS/Windows (optional dependency). */
export const DAWN_PACKAGE = 'webgpu';
/** The Debian/Ubuntu packages that give Dawn a software adapter (Mesa's EGL and llvmpipe). */
export const MESA_PACKAGES = ['libegl-mesa0', 'libgl1-mesa-dri'] as const;

/** One way of asking Dawn for an adapter. */
export interface WebGpuRoute {
  readonly name: WebGpuRouteName;
  /** Options for Dawn's `create()`, e.g. `backend=opengles`. */
  readonly dawnOptions: readonly string[];
  /** WebGPU feature level to request: the OpenGL backends only offer `compatibility`. */
  readonly featureLevel: 'core' | 'compatibility';
  /** Environment the route needs (set only where unset). */
  readonly env: Readonly<Record<string, string>>;
  /** Platforms where the route is tried. */
  readonly platforms: readonly NodeJS.Platform[];
}

/**
 * The routes, in the order they are tried. `native` first: a real GPU through Vulkan/Metal/D3D12 is
 * what everyone wants. The OpenGL routes exist for machines without one (CI): Mesa's llvmpipe.
 */
export const WEBGPU_ROUTES: readonly WebGpuRoute[] = [
  { name: 'native', dawnOptions: [], featureLevel: 'core', env: {}, platforms: ['linux', 'darwin', 'win32'] },
  { name: 'opengles', dawnOptions: ['backend=opengles'], featureLevel: 'compatibility', env: { EGL_PLATFORM: 'surfaceless' }, platforms: ['linux'] },
  { name: 'opengl', dawnOptions: ['backend=opengl'], featureLevel: 'compatibility', env: { EGL_PLATFORM: 'surfaceless' }, platforms: ['linux'] },
];

/** The route of a name. */
export function webGpuRoute(name: WebGpuRouteName): WebGpuRoute {
  const r = WEBGPU_ROUTES.find((x) => x.name === name);
  if (r === undefined) throw new Error(`unknown WebGPU route ${name}`);
  return r;
}

/** Names of CPU rasterisers as they appear in adapter info (device, description, vendor, architecture). */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|software rasterizer|microsoft basic render|\bwarp\b/i;

/** The raw fields of a `GPUAdapterInfo`, as the probe reports them. */
export interface RawAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/**
 * Hardware or software: a fallback adapter, or one whose info names a CPU rasteriser (Mesa llvmpipe /
 * lavapipe / softpipe, SwiftShader, Microsoft Basic Render Driver / WARP), is software.
 */
export function classifyWebGpuAdapter(info: RawAdapterInfo): WebGpuAdapterKind {
  if (info.isFallbackAdapter) return 'software';
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return SOFTWARE_ADAPTER.test(text) ? 'software' : 'hardware';
}

/** A short name for an adapter, e.g. `llvmpipe-llvm-15-0-6-256-bits- [OpenGL version OpenGL ES 3.2 Mesa 22.3.6]`. */
export function webGpuAdapterLabel(a: WebGpuAdapterInfo): string {
  const name = a.device || [a.vendor, a.architecture].filter((s) => s !== '').join(' ') || 'unnamed adapter';
  return a.description !== '' && a.description !== name ? `${name} [${a.description}]` : name;
}

/** The device string nls reports for an adapter (BackendInfo.device). */
export function webGpuDeviceString(a: WebGpuAdapterInfo): string {
  const via = a.route === 'native' ? 'WebGPU' : `WebGPU over ${a.route === 'opengles' ? 'OpenGL ES' : 'OpenGL'}, compatibility mode`;
  return `${webGpuAdapterLabel(a)} (${via}; ${a.kind === 'software' ? 'software adapter: for testing, slow' : 'hardware adapter'})`;
}

/** What the child process prints for each route it tried. */
interface ProbeAttempt {
  route: WebGpuRouteName;
  found: boolean;
  error?: string;
  info?: RawAdapterInfo;
}

interface ProbeOutput {
  loadError?: string;
  attempts: ProbeAttempt[];
}

/**
 * The probe run in a child process: load Dawn, try each route, print one JSON line. Plain JavaScript
 * (ESM) so that it runs under `node -e` whether nls runs from src/ (tsx) or dist/.
 */
const PROBE_SCRIPT = `
const [dawnUrl, routesJson] = process.argv.slice(1);
const out = { attempts: [] };
let create;
try {
  ({ create } = await import(dawnUrl));
} catch (e) {
  out.loadError = String((e && e.message) || e).split('\\n')[0];
}
if (create) {
  for (const r of JSON.parse(routesJson)) {
    try {
      const gpu = create(r.dawnOptions);
      const options = r.featureLevel === 'core' ? { powerPreference: 'high-performance' } : { powerPreference: 'high-performance', featureLevel: r.featureLevel };
      const a = await gpu.requestAdapter(options);
      if (!a) { out.attempts.push({ route: r.name, found: false }); continue; }
      const i = a.info || {};
      out.attempts.push({ route: r.name, found: true, info: {
        vendor: String(i.vendor ?? ''), architecture: String(i.architecture ?? ''), device: String(i.device ?? ''),
        description: String(i.description ?? ''), isFallbackAdapter: Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter ?? false) } });
    } catch (e) {
      out.attempts.push({ route: r.name, found: false, error: String((e && e.message) || e).split('\\n')[0] });
    }
  }
}
process.stdout.write(JSON.stringify(out) + '\\n');
`;

/** How long the probe may take: a hung driver must not hang nls. Generous: software GL starts slowly on a loaded machine. */
const PROBE_TIMEOUT_MS = 30_000;

/** Dawn's warnings and errors in the probe's stderr, one line each, without the C++ source locations. */
export function dawnMessages(stderr: string): string[] {
  const out: string[] = [];
  for (const line of stderr.split(/\r?\n/)) {
    const t = line.trim();
    if (t === '' || /^at operator\(\)|^at \S+ \(/.test(t)) continue;
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** Turn the child's report into a detection: the first hardware and first software adapter found. */
export function summariseProbe(output: ProbeOutput, messages: string[]): WebGpuDetection {
  if (output.loadError !== undefined) {
    return { dawnLoaded: false, detail: `${DAWN_PACKAGE} failed to load (${output.loadError})`, messages };
  }
  let hardware: WebGpuAdapterInfo | undefined;
  let software: WebGpuAdapterInfo | undefined;
  const notes: string[] = [];
  for (const a of output.attempts) {
    if (!a.found || a.info === undefined) {
      notes.push(`${a.route}: ${a.error ?? 'no adapter'}`);
      continue;
    }
    const route = webGpuRoute(a.route);
    const info: WebGpuAdapterInfo = { kind: classifyWebGpuAdapter(a.info), route: a.route, featureLevel: route.featureLevel, ...a.info };
    if (info.kind === 'hardware') hardware ??= info;
    else software ??= info;
  }
  const vulkan = messages.find((m) => /Couldn't load Vulkan/i.test(m))?.replace(/^Warning:\s*/, '');
  let detail: string;
  if (hardware !== undefined) detail = `hardware adapter ${webGpuAdapterLabel(hardware)} (${hardware.route})`;
  else if (software !== undefined) {
    detail = `no hardware adapter (${notes.join('; ') || 'only software adapters'}${vulkan ? `; ${vulkan}` : ''}); software adapter ${webGpuAdapterLabel(software)} (${software.route})`;
  } else detail = `no adapter (${notes.join('; ') || 'no route applies to this platform'}${vulkan ? `; ${vulkan}` : ''})`;
  return { dawnLoaded: true, ...(hardware ? { hardware } : {}), ...(software ? { software } : {}), detail, messages };
}

function isProbeOutput(v: unknown): v is ProbeOutput {
  return typeof v === 'object' && v !== null && Array.isArray((v as { attempts?: unknown }).attempts);
}

/** Resolve Dawn's entry file from nls's location, as a file URL for the child's `import()`. */
function dawnEntryUrl(): string | undefined {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve(DAWN_PACKAGE)).href;
  } catch {
    return undefined;
  }
}

/**
 * Ask Dawn for adapters in a child process (`node -e`): a broken GPU driver can crash or hang the
 * process that loads it, and Dawn writes warnings straight to file descriptor 2; neither should reach
 * nls. Takes ~0.2-0.5 s. Does not change this process.
 */
export async function probeWebGpuInChild(): Promise<WebGpuDetection> {
  const url = dawnEntryUrl();
  if (url === undefined) return { dawnLoaded: false, detail: `${DAWN_PACKAGE} is not installed`, messages: [] };
  const routes = WEBGPU_ROUTES.filter((r) => r.platforms.includes(process.platform));
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A developer's NODE_OPTIONS (--import tsx, inspectors) would only slow the probe down.
  delete env['NODE_OPTIONS'];
  for (const r of routes) for (const [k, v] of Object.entries(r.env)) env[k] ??= v;
  const r = await new Promise<{ stdout: string; stderr: string; error?: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', PROBE_SCRIPT, url, JSON.stringify(routes)],
      { timeout: PROBE_TIMEOUT_MS, env, windowsHide: true, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string }) | null;
        const error =
          e === null
            ? undefined
            : e.killed
              ? `the probe timed out after ${PROBE_TIMEOUT_MS / 1000} s`
              : e.signal
                ? `the probe was killed by ${e.signal} (a crashing GPU driver?)`
                : `the probe failed: ${e.message.split('\n')[0] ?? ''}`;
        resolve({ stdout: String(stdout), stderr: String(stderr), ...(error ? { error } : {}) });
      },
    );
  });
  const messages = dawnMessages(r.stderr);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  if (!isProbeOutput(parsed)) {
    return { dawnLoaded: false, detail: r.error ?? `the WebGPU probe printed no result (${messages[0] ?? 'no message'})`, messages };
  }
  return summariseProbe(parsed, messages);
}

let cached: Promise<WebGpuDetection> | undefined;

/** {@link probeWebGpuInChild}, once per process: adapters do not come and go while nls runs. */
export function detectWebGpu(): Promise<WebGpuDetection> {
  cached ??= probeWebGpuInChild();
  return cached;
}

// ---------------------------------------------------------------------------------------------
// In-process setup: Dawn loaded here, navigator.gpu installed for tfjs-backend-webgpu.

/** The parts of a WebGPU adapter nls reads. */
interface AdapterLike {
  readonly info?: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', unknown>> & { isFallbackAdapter?: unknown };
  readonly isFallbackAdapter?: unknown;
}

/** The parts of Dawn's `GPU` object nls uses. */
interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
  getPreferredCanvasFormat?(): string;
  readonly wgslLanguageFeatures?: unknown;
}

/** The `webgpu` package's exports. */
export interface DawnModule {
  create(options: string[]): unknown;
  globals: object;
}

/** Whether a loaded module looks like the `webgpu` package. */
export function isDawnModule(m: unknown): m is DawnModule {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return typeof r['create'] === 'function' && typeof r['globals'] === 'object' && r['globals'] !== null;
}

/** The raw fields of an adapter's info. */
export function rawAdapterInfo(a: AdapterLike): RawAdapterInfo {
  const i = a.info ?? {};
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    vendor: s(i.vendor),
    architecture: s(i.architecture),
    device: s(i.device),
    description: s(i.description),
    isFallbackAdapter: Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter ?? false),
  };
}

/** What {@link installNavigatorGpu} set up; one per process. */
export interface InstalledWebGpu {
  /** The route navigator.gpu serves. */
  readonly route: WebGpuRoute;
  /** The adapter most recently handed to tfjs, as nls describes it. */
  lastAdapter(): WebGpuAdapterInfo | undefined;
}

let installed: InstalledWebGpu | undefined;

/** The WebGPU route installed in this process, if any. */
export function installedWebGpu(): InstalledWebGpu | undefined {
  return installed;
}

/**
 * Install `globalThis.navigator.gpu` (and the WebGPU constants such as `GPUBufferUsage`) from Dawn,
 * serving `route`: every `requestAdapter` gets the route's feature level, because tfjs-backend-webgpu
 * does not ask for one. Must run before `@tensorflow/tfjs-backend-webgpu` is first imported. Once per
 * process: Dawn instances live as long as navigator.gpu refers to them.
 */
export function installNavigatorGpu(dawn: DawnModule, route: WebGpuRoute): InstalledWebGpu {
  if (installed !== undefined) return installed;
  for (const [k, v] of Object.entries(route.env)) process.env[k] ??= v;
  const g = globalThis as Record<string, unknown>;
  // Only the constants that are missing: never replace a runtime's own definitions.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
  const gpu = dawn.create([...route.dawnOptions]) as GpuLike;
  let last: WebGpuAdapterInfo | undefined;
  const wrapper = {
    async requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike> {
      const adapter = await gpu.requestAdapter({ ...(options ?? {}), ...(route.featureLevel === 'core' ? {} : { featureLevel: route.featureLevel }) });
      // tfjs dereferences the adapter without checking; say what happened instead of a TypeError.
      if (adapter === null) throw new Error(`Dawn found no WebGPU adapter through its ${route.name} backend in this process`);
      const raw = rawAdapterInfo(adapter);
      last = { kind: classifyWebGpuAdapter(raw), route: route.name, featureLevel: route.featureLevel, ...raw };
      return adapter;
    },
    getPreferredCanvasFormat: (): string => gpu.getPreferredCanvasFormat?.() ?? 'rgba8unorm',
    get wgslLanguageFeatures(): unknown {
      return gpu.wgslLanguageFeatures;
    },
  };
  if (typeof g['navigator'] !== 'object' || g['navigator'] === null) {
    // Node 20 has no navigator; later versions have one without gpu.
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true, enumerable: false });
  }
  Object.defineProperty(g['navigator'], 'gpu', { value: wrapper, configurable: true, writable: true, enumerable: true });
  installed = { route, lastAdapter: () => last };
  return installed;
}
