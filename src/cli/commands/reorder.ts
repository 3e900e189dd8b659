/** `nls reorder`: reorder every layer's MLP channels by importance before training elastic widths (LoNAS mode B). */
import type { CommandModule } from 'yargs';
import { runReorder } from '../../compress/reorder-run.js';
import type { FloatDtype } from '../../model/safetensors.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface ReorderArgs extends GlobalOptions {
  model: string;
  calib?: string;
  samples: number;
  seqlen: number;
  dtype?: FloatDtype;
  out: string;
}

export const reorderCommand: CommandModule<GlobalOptions, ReorderArgs> = {
  command: 'reorder',
  describe: 'reorder each layer\'s MLP channels by importance (||X_c|| x sum |W_down[:, c]| on calibration text), so elastic widths keep the most important channels; the logits do not change',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'base model folder (config.json + model.safetensors [+ tokenizer.json]), or "demo" for the shipped demo model' })
      .option('calib', { type: 'string', describe: 'calibration text: a .txt file, or .jsonl with a "text" field per line (default: the built-in Brown corpus, training documents)' })
      .option('samples', { ...numberArg('samples', 'positive integer'), default: 64, describe: 'calibration windows, drawn at random offsets (seeded by --seed)' })
      .option('seqlen', { ...numberArg('seqlen', 'positive integer'), default: 128, describe: 'tokens per calibration window' })
      .option('dtype', { choices: ['F32', 'F16', 'BF16'] as const, describe: "dtype of the saved weights (default: the input's torch_dtype; a permutation loses nothing)" })
      .option('out', { type: 'string', demandOption: true, describe: 'output model folder (HF format + reorder-report.json; config.json records nls_mlp_reordered)' }),
  handler: async (argv) => {
    const report = await runReorder({
      model: argv.model,
      out: argv.out,
      ...(argv.calib !== undefined ? { calib: argv.calib } : {}),
      samples: argv.samples,
      seqlen: argv.seqlen,
      ...(argv.dtype !== undefined ? { dtype: argv.dtype } : {}),
      seed: argv.seed,
      backend: argv.backend,
      progress: progressFor(argv),
    });
    emit(argv, report, () =>
      [
        formatTable(
          ['layer', 'channels', 'moved', 'importance (first, median, last)'],
          report.layers.map((l) => [
            l.layer,
            l.order.length,
            l.moved,
            `${l.importance[0]!.toPrecision(4)}, ${l.importance[Math.floor(l.importance.length / 2)]!.toPrecision(4)}, ${l.importance.at(-1)!.toPrecision(4)}`,
          ]),
        ),
        '',
        `${report.method} on ${report.tokens} calibration tokens of ${report.calibration}, ${report.seconds.toFixed(1)}s`,
        `logits before vs after: max |diff| ${report.logits.maxAbsDiff.toExponential(2)} over ${report.logits.positions} positions`,
        `saved to ${argv.out} (report: ${argv.out}/reorder-report.json)`,
      ].join('\n'),
    );
  },
};
