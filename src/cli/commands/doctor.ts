/** `nls doctor`: backends, engines and GPU routes on this machine, the device each would use, and how to enable the missing ones. */
import type { CommandModule } from 'yargs';
import { diagnose, webGpuAdapterLabel, type DoctorReport } from '../../backend/index.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions } from '../common.js';

const yesNo = (v: boolean): string => (v ? 'yes' : 'no');

/** The human-readable report. */
export function formatDoctorReport(r: DoctorReport): string {
  const out: string[] = [];
  out.push(`nls doctor: ${r.system.platform}/${r.system.arch}, Node ${r.system.node}, ${r.system.cpus} CPU(s) (${r.system.cpuModel})`);

  out.push('', 'tfjs backends (--backend NAME; + available, - not):');
  for (const b of r.backends) {
    out.push(`  ${b.available ? '+' : '-'} ${b.name}: ${b.reason}`);
    if (b.device !== undefined) out.push(`      device: ${b.device}`);
  }

  out.push('', 'WebGPU adapters (Dawn):');
  if (r.webgpu === undefined) out.push('  not probed: the webgpu packages are not installed');
  else {
    out.push(`  hardware: ${r.webgpu.hardware ? `${webGpuAdapterLabel(r.webgpu.hardware)} (${r.webgpu.hardware.route})` : 'none'}`);
    out.push(
      `  software: ${r.webgpu.software ? `${webGpuAdapterLabel(r.webgpu.software)} (${r.webgpu.software.route}, ${r.webgpu.software.featureLevel} mode; for testing, slow)` : 'none'}`,
    );
    for (const m of r.webgpu.messages) out.push(`  Dawn: ${m}`);
  }
  out.push('', `NVIDIA GPU: ${r.nvidia.present ? (r.nvidia.device ?? 'present') : 'none'} (${r.nvidia.detail})`);

  out.push('', 'engines:');
  for (const e of r.engines) {
    out.push(`  ${e.name} (${e.package}${e.version ? `@${e.version}` : ''}): ${e.reason}`);
    // tfjs's providers are the backends listed above.
    if (e.name !== 'tfjs') for (const p of e.providers) out.push(`    ${p.available ? '+' : '-'} ${p.name}: ${p.detail}`);
  }

  out.push('', `training (nls train / pretrain --engine auto): ${r.training.engine} on ${r.training.providers.join(' > ')}`, `  ${r.training.detail}`);

  out.push('', 'GPU routes:');
  out.push(
    formatTable(
      ['route', 'ready', 'device', 'use'],
      r.gpuRoutes.map((g) => [g.route, yesNo(g.available), g.device ?? '-', g.use]),
    ),
  );
  for (const g of r.gpuRoutes) out.push(`\n${g.route}: ${g.detail}${g.howToEnable ? `\n  to enable: ${g.howToEnable}` : ''}`);
  return out.join('\n');
}

export const doctorCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'doctor',
  describe: 'what this machine can compute with: tfjs backends, WebGPU adapters, NVIDIA GPU, ONNX Runtime providers, GPU routes and how to enable them',
  handler: async (argv) => {
    const report = await diagnose();
    emit(argv, report, () => formatDoctorReport(report));
  },
};
