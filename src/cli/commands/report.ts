/** `nls report RUN_DIR`: write report.md and a self-contained report.html for a run folder. */
import type { CommandModule } from 'yargs';
import { writeReport } from '../../report/index.js';
import { emit, type GlobalOptions } from '../common.js';

interface ReportArgs extends GlobalOptions {
  run: string;
  out?: string;
  supernet?: string;
}

export const reportCommand: CommandModule<GlobalOptions, ReportArgs> = {
  command: 'report <run>',
  describe: 'write report.md and a self-contained report.html (settings, Pareto front, progression, rank patterns, training curve) for a run folder',
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run folder: the --out folder of nls demo, nls search or nls train' })
      .option('out', { type: 'string', describe: 'folder for report.md, report.html and report/*.svg (default: the run folder)' })
      .option('supernet', { type: 'string', describe: "the run's supernet folder, when its manifest does not name it or it has moved" }) as never,
  handler: async (argv) => {
    const result = await writeReport(argv.run, {
      ...(argv.out !== undefined ? { out: argv.out } : {}),
      ...(argv.supernet !== undefined ? { supernet: argv.supernet } : {}),
    });
    if (!argv.quiet && !argv.json) for (const w of result.warnings) process.stderr.write(`nls report: note: ${w}\n`);
    emit(argv, result, () => `wrote ${result.markdown}\nwrote ${result.html}`);
  },
};
