/** `nls reproduce`: re-run a run folder from its manifest and compare the outputs. */
import * as os from 'node:os';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { NlsError } from '../../errors.js';
import { DEFAULT_TOLERANCE, type Tolerance, type ToleranceSpec } from '../../run/compare.js';
import { machineNote, REPRODUCE_EXIT, reproduceRun } from '../../run/reproduce.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { CommandExit } from '../exit.js';
import { givenExplicitly } from '../recorded.js';
import { numberArg } from '../args.js';

interface ReproduceArgs extends GlobalOptions {
  run: string;
  out?: string;
  input: string[];
  atol: number;
  rtol: number;
  tolerance: string[];
}

/** `NAME=VALUE` pairs to a record, naming the option in errors. */
function pairs(values: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new NlsError(`${JSON.stringify(v)}: write NAME=VALUE`, { field: `--${option}` });
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function toleranceSpec(argv: ReproduceArgs): ToleranceSpec {
  const metrics: Record<string, Tolerance> = { ...DEFAULT_TOLERANCE.metrics };
  for (const [name, value] of Object.entries(pairs(argv.tolerance, 'tolerance'))) {
    const abs = Number(value);
    if (!Number.isFinite(abs) || abs < 0) throw new NlsError(`${name}=${value}: the tolerance must be a number >= 0`, { field: '--tolerance' });
    metrics[name] = { abs, rel: 0 };
  }
  return { default: { abs: argv.atol, rel: argv.rtol }, metrics };
}

export const reproduceCommand: CommandModule<GlobalOptions, ReproduceArgs> = {
  command: 'reproduce <run>',
  describe: 're-run a run folder from its manifest.json and compare the outputs (exit 0: identical; 3: within tolerance; 4: different)',
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'run folder holding manifest.json' })
      .option('out', { type: 'string', describe: 'folder for the reproduction (default: a new folder in the temp directory)' })
      .option('input', { type: 'string', array: true, default: [], describe: 'NAME=PATH: where an input moved to, e.g. supernet=/data/run1/supernet (names as in the manifest)' })
      .option('atol', { ...numberArg('atol', 'non-negative number'), default: DEFAULT_TOLERANCE.default.abs, describe: 'absolute tolerance of numbers that differ (another backend)' })
      .option('rtol', { ...numberArg('rtol', 'non-negative number'), default: DEFAULT_TOLERANCE.default.rel, describe: 'relative tolerance of numbers that differ' })
      .option('tolerance', { type: 'string', array: true, default: [], describe: 'METRIC=ABS: absolute tolerance of one metric, e.g. accuracy=0.02 (the default for accuracy)' }) as never,
  handler: async (argv) => {
    // --backend is a global option with a default; only an explicit one changes the recorded backend.
    const explicitBackend = givenExplicitly('backend');
    const out = argv.out ?? path.join(os.tmpdir(), `nls-reproduce-${path.basename(path.resolve(argv.run))}-${process.pid}-${Date.now()}`);
    const result = await reproduceRun({
      runDir: argv.run,
      out,
      ...(explicitBackend ? { backend: argv.backend } : {}),
      inputs: pairs(argv.input, 'input'),
      tolerance: toleranceSpec(argv),
      quiet: argv.quiet || argv.json,
      progress: progressFor(argv),
    });
    const c = result.comparison;
    const differences = result.environmentDifferences;
    const note = machineNote(c.verdict, differences);
    emit(argv, { verdict: c.verdict, out: result.out, recordedBackend: result.recordedBackend, backend: result.backend, environmentDifferences: differences, ...(note !== undefined ? { note } : {}), files: c.files, metrics: c.metrics }, () =>
      [
        `reproduced nls ${result.manifest.command} (recorded on ${result.recordedBackend ?? '?'}, re-run on ${result.backend ?? '?'}) into ${result.out}`,
        `inputs: ${result.inputs.map((f) => `${f.input.name} (${f.via})`).join(', ') || 'none'}`,
        `environment: ${differences.length === 0 ? 'as recorded' : `differs from the recorded one: ${differences.join('; ')}`}`,
        '',
        formatTable(['output', 'verdict', 'first difference beyond tolerance'], c.files.map((f) => [f.path, f.verdict, f.detail ?? ''])),
        ...(c.metrics.length > 0
          ? [
              '',
              'numbers that differ:',
              formatTable(
                ['metric', 'compared', 'differ', 'max |diff|', 'mean |diff|', 'tolerance', 'within'],
                c.metrics.map((m) => [m.metric, m.compared, m.differing, m.maxAbsDiff.toExponential(2), m.meanAbsDiff.toExponential(2), `${m.tolerance.abs} + ${m.tolerance.rel}·|x|`, m.within ? 'yes' : 'no']),
              ),
            ]
          : []),
        '',
        `verdict: ${c.verdict}`,
        ...(note !== undefined ? [`note: ${note}`] : []),
      ].join('\n'),
    );
    const code = c.verdict === 'identical' ? REPRODUCE_EXIT.identical : c.verdict === 'within-tolerance' ? REPRODUCE_EXIT.withinTolerance : REPRODUCE_EXIT.differs;
    if (code !== 0) throw new CommandExit(code);
  },
};
