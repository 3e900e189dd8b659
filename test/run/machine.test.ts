/** The machine signature: which CPU extensions decide native float bits, and how two machines differ. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { environmentDifferences, runEnvironment, type RunEnvironment } from '../../src/run/environment.js';
import { currentMachine, describeMachine, machineDifferences, type MachineSignature, parseCpuFeatures, sameMachine } from '../../src/run/machine.js';

// Abridged /proc/cpuinfo of two processors of an x86 VM, and of an arm64 machine.
const X86 = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme de pse sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand avx2 bmi2 avx512f avx512dq avx512bw avx512vl avx512_bf16 sha_ni
bugs\t\t: sysret_ss_attrs

processor\t: 1
flags\t\t: fpu sse sse2
`;
const ARM = `processor\t: 0
BogoMIPS\t: 48.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm bf16
CPU implementer\t: 0x41
`;

describe('parseCpuFeatures', () => {
  it("keeps the first processor's kernel-relevant extensions, sorted", () => {
    expect(parseCpuFeatures(X86)).toEqual(['avx', 'avx2', 'avx512_bf16', 'avx512bw', 'avx512dq', 'avx512f', 'avx512vl', 'f16c', 'fma', 'sse4_1', 'sse4_2']);
    expect(parseCpuFeatures(ARM)).toEqual(['asimd', 'asimddp', 'asimdhp', 'bf16', 'fphp', 'i8mm']);
  });

  it('is empty for text without a flags line', () => {
    expect(parseCpuFeatures('')).toEqual([]);
    expect(parseCpuFeatures('processor : 0\nmodel name : x\n')).toEqual([]);
  });
});

describe('machine signatures', () => {
  const zen3: MachineSignature = { arch: 'x64', cpu: 'AMD EPYC', features: ['avx', 'avx2', 'fma'] };
  const zen4: MachineSignature = { arch: 'x64', cpu: 'AMD EPYC', features: ['avx', 'avx2', 'avx512f', 'fma'] };

  it('tells machines apart by extensions, model and architecture, and says how', () => {
    expect(sameMachine(zen3, zen3)).toBe(true);
    expect(sameMachine(zen3, zen4)).toBe(false);
    expect(machineDifferences(zen4, zen3)).toEqual(['without avx512f']);
    expect(machineDifferences(zen3, { arch: 'arm64', cpu: 'Neoverse', features: ['asimd'] })).toEqual(['architecture x64 -> arm64', 'CPU AMD EPYC -> Neoverse', 'without avx avx2 fma', 'with asimd']);
    // Unknown extensions (not Linux) are no evidence of a difference.
    const { features: _, ...unknown } = zen4;
    expect(sameMachine(zen3, unknown)).toBe(true);
    expect(describeMachine(zen3)).toBe('x64 AMD EPYC (avx avx2 fma)');
    expect(describeMachine(unknown)).toBe('x64 AMD EPYC (extensions unknown)');
  });

  it('property: sameMachine is reflexive and symmetric, and holds exactly when no difference is named', () => {
    const pool = ['avx', 'avx2', 'fma', 'avx512f', 'asimd'];
    const signature = fc.record({
      arch: fc.constantFrom('x64', 'arm64'),
      cpu: fc.constantFrom('AMD EPYC', 'Intel Xeon'),
      features: fc.subarray(pool).map((f) => [...f].sort()),
    });
    fc.assert(
      fc.property(signature, signature, (a, b) => {
        expect(sameMachine(a, a)).toBe(true);
        expect(sameMachine(a, b)).toBe(sameMachine(b, a));
        expect(sameMachine(a, b)).toBe(machineDifferences(a, b).length === 0);
      }),
    );
  });

  it('this process has a signature, recorded in the run environment', () => {
    const m = currentMachine();
    expect(m.arch).toBe(process.arch);
    if (process.platform === 'linux') expect(Array.isArray(m.features)).toBe(true);
    expect(runEnvironment().cpus.features).toEqual(m.features);
  });
});

describe('environmentDifferences', () => {
  const base: RunEnvironment = {
    nls: { version: '0.1.0', git: { commit: 'a'.repeat(40), dirty: false } },
    node: '20.11.0',
    platform: 'linux',
    arch: 'x64',
    cpus: { count: 2, model: 'AMD EPYC', features: ['avx2', 'avx512f', 'fma'] },
    backend: { name: 'wasm', tfjsBackend: 'wasm', versions: { '@tensorflow/tfjs': '4.22.0', 'onnxruntime-node': '1.30.0' } },
  };

  it('is empty for the same environment and names each difference', () => {
    expect(environmentDifferences(base, base)).toEqual([]);
    const other: RunEnvironment = {
      ...base,
      nls: { version: '0.1.0', git: { commit: 'b'.repeat(40), dirty: true } },
      node: '22.1.0',
      cpus: { count: 64, model: 'AMD EPYC', features: ['avx2', 'fma'] },
      backend: { name: 'wasm', tfjsBackend: 'wasm', versions: { '@tensorflow/tfjs': '4.22.0', 'onnxruntime-node': '1.31.0' } },
    };
    expect(environmentDifferences(base, other)).toEqual(['nls aaaaaaaaaaaa -> bbbbbbbbbbbb (dirty)', 'Node 20.11.0 -> 22.1.0', 'machine: without avx512f', 'onnxruntime-node 1.30.0 -> 1.31.0']);
  });

  it('a manifest from before features were recorded compares by model only', () => {
    const old: RunEnvironment = { ...base, cpus: { count: 2, model: 'AMD EPYC' } };
    expect(environmentDifferences(old, base)).toEqual([]);
    expect(environmentDifferences({ ...old, cpus: { count: 2, model: 'Intel Xeon' } }, base)).toEqual(['machine: CPU Intel Xeon -> AMD EPYC']);
  });
});
