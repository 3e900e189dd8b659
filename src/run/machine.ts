/**
 * The machine a computation ran on, as far as it decides floating-point bits: the CPU
 * architecture, its model name, and the instruction-set extensions that native float kernels
 * (onnxruntime's MLAS, tfjs-node's TensorFlow) choose their code by. The wasm backend computes
 * the same bits on every CPU; native kernels can round differently on a CPU with other
 * extensions (e.g. AVX-512 against AVX2), so a run on the onnx engine reproduces bit for bit only
 * on a machine with the same signature (docs/reproducibility.md, "Across machines").
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** What identifies a machine's floating-point behaviour. */
export interface MachineSignature {
  /** `process.arch`, e.g. `x64`, `arm64`. */
  readonly arch: string;
  /** The CPU model name as the OS reports it (VMs often report only the family, e.g. `AMD EPYC`). */
  readonly cpu: string;
  /** Instruction-set extensions that native kernels dispatch on, sorted; absent where the OS does not say (not Linux). */
  readonly features?: readonly string[];
}

/**
 * Extensions that change which float kernels run. x86: the SSE/AVX generations, FMA, F16C,
 * AVX-512 subsets, VNNI/BF16 and AMX; arm64: Advanced SIMD, half/dot-product/int8 matrix and
 * BF16 extensions, SVE.
 */
const KERNEL_FEATURES: ReadonlySet<string> = new Set([
  'sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c',
  'avx512f', 'avx512dq', 'avx512bw', 'avx512vl', 'avx512cd', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8',
  'asimd', 'fphp', 'asimdhp', 'asimddp', 'i8mm', 'bf16', 'sve', 'sve2',
]);

/**
 * The kernel-relevant extensions listed in `/proc/cpuinfo` text (the first processor's `flags`
 * line on x86, `Features` on arm64), sorted; an empty list when the text lists none.
 */
export function parseCpuFeatures(cpuinfo: string): string[] {
  const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo);
  if (!line) return [];
  return [...new Set(line[1]!.trim().split(/\s+/).filter((f) => KERNEL_FEATURES.has(f)))].sort();
}

let cached: MachineSignature | undefined;

/** This process's machine (read once). */
export function currentMachine(): MachineSignature {
  if (cached) return cached;
  let features: string[] | undefined;
  if (process.platform === 'linux') {
    try {
      features = parseCpuFeatures(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      features = undefined;
    }
  }
  cached = { arch: process.arch, cpu: os.cpus()[0]?.model.trim() ?? 'unknown', ...(features !== undefined ? { features } : {}) };
  return cached;
}

/**
 * Whether two signatures can be expected to compute the same native float bits: same
 * architecture, CPU model and extensions. Unknown extensions (absent on either side) compare as
 * equal: nothing says they differ.
 */
export function sameMachine(a: MachineSignature, b: MachineSignature): boolean {
  return machineDifferences(a, b).length === 0;
}

/** One line: `x64 AMD EPYC (avx2 fma)`. */
export function describeMachine(m: MachineSignature): string {
  const features = m.features === undefined ? 'extensions unknown' : m.features.length > 0 ? m.features.join(' ') : 'no listed extensions';
  return `${m.arch} ${m.cpu} (${features})`;
}

/**
 * How `b` differs from `a` in words (empty when {@link sameMachine}): the architecture, the
 * model, and the extensions only one of them has.
 */
export function machineDifferences(a: MachineSignature, b: MachineSignature): string[] {
  const out: string[] = [];
  if (a.arch !== b.arch) out.push(`architecture ${a.arch} -> ${b.arch}`);
  if (a.cpu !== b.cpu) out.push(`CPU ${a.cpu} -> ${b.cpu}`);
  if (a.features !== undefined && b.features !== undefined) {
    const gone = a.features.filter((f) => !b.features!.includes(f));
    const added = b.features.filter((f) => !a.features!.includes(f));
    if (gone.length > 0) out.push(`without ${gone.join(' ')}`);
    if (added.length > 0) out.push(`with ${added.join(' ')}`);
  }
  return out;
}
