/** `nls merge`: merge a chosen sub-adapter of a supernet into its base model. */
import type { Argv, CommandModule } from 'yargs';
import { runMerge } from '../../export/run.js';
import { subnetSelectionFromOptions } from '../../export/subnet.js';
import type { FloatDtype } from '../../model/safetensors.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

/** The options that choose a sub-adapter, shared by `nls merge` and `nls export`. */
export interface SubnetChoiceArgs {
  supernet: string;
  subnet?: string;
  pareto?: string;
  trial?: number;
  space?: string;
  config?: string;
  out: string;
  dtype: FloatDtype;
}

/** Add the supernet and sub-adapter choice options to a command. */
export function withSubnetSelectionOptions<T>(y: Argv<T>): Argv<T & SubnetChoiceArgs> {
  return y
    .option('supernet', { type: 'string', demandOption: true, describe: 'supernet folder written by nls train' })
    .option('subnet', { type: 'string', describe: 'the sub-adapter: max, median, min (heuristics) or a configuration key, e.g. 000.101' })
    .option('pareto', { type: 'string', describe: 'take the sub-adapter from this pareto.json (nls search): --trial N, or by default its most accurate front member' })
    .option('trial', { ...numberArg('trial', 'non-negative integer'), describe: 'with --pareto: trial number of the front member' })
    .option('space', { type: 'string', describe: 'with --pareto: the sub-space file the study searched (nls search --space), if any' })
    .option('config', { type: 'string', describe: 'take the sub-adapter from a JSON file: {"config": [...]}, {"key": "..."} or {"ranks": {"layers.0.q_proj": 8, ...}[, "widths": {"0": 528, ...}]}' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
    .option('dtype', { choices: ['F32', 'F16', 'BF16'] as const, default: 'F32' as FloatDtype, describe: 'dtype of the written weights' }) as unknown as Argv<T & SubnetChoiceArgs>;
}

interface MergeArgs extends GlobalOptions, SubnetChoiceArgs {
  sparse?: boolean;
  onnx: boolean;
  'compare-rows': number;
}

export const mergeCommand: CommandModule<GlobalOptions, MergeArgs> = {
  command: 'merge',
  describe: 'merge a sub-adapter of a supernet into the base weights and write the merged HF model folder (a width subnet: the smaller model with per-layer MLP sizes)',
  builder: (y) =>
    withSubnetSelectionOptions(y)
      .option('sparse', { type: 'boolean', describe: "sparsity-aware merge: keep the base's zeros, W + s*(BA) ⊙ (W != 0). The supernet's adapter mode decides (SparsePEFT / QA-SparsePEFT supernets merge so without the flag); a flag that contradicts it is an error" })
      .option('onnx', { type: 'boolean', default: false, describe: 'also write OUT/model.onnx: the merged model (for a width subnet the smaller model) as an ONNX graph, its logits checked against tfjs in merge-report.json' })
      .option('compare-rows', { ...numberArg('compare-rows', 'non-negative integer'), default: 4, describe: 'validation rows on which merged and adapter logits are compared in merge-report.json' }) as unknown as Argv<MergeArgs>,
  handler: async (argv) => {
    const result = await runMerge({
      supernet: argv.supernet,
      choice: subnetSelectionFromOptions(argv),
      ...(argv.sparse !== undefined ? { sparse: argv.sparse } : {}),
      out: argv.out,
      backend: argv.backend,
      compareRows: argv['compare-rows'],
      dtype: argv.dtype,
      onnx: argv.onnx,
      seed: argv.seed,
      progress: progressFor(argv),
    });
    const r = result.report;
    emit(argv, r, () =>
      [
        `merged subnet ${r.key} (ranks ${result.subnet.space.rankPattern(result.subnet.config)}; ${r.source})${r.sparsityAware ? ', sparsity-aware' : ''} into ${argv.out}`,
        `max |logit diff| vs the adapter model: ${r.logits.maxAbsDiff.toExponential(2)} (${r.logits.rows})`,
        ...(r.widths ? [`MLP widths per layer: ${r.widths.intermediateSizes.join(', ')} (nls_intermediate_sizes in config.json)`] : []),
        ...(r.onnx ? [`${r.onnx.file}: ${(r.onnx.bytes / 1e6).toFixed(1)} MB, max |logit diff| vs tfjs ${r.onnx.maxAbsDiff.toExponential(2)}`] : []),
        '',
        formatTable(['module', 'rank', 'scale', 'non-zeros before', 'after'], r.modules.map((m) => [m.key, m.rank, m.scale, m.nonZerosBefore, m.nonZerosAfter])),
      ].join('\n'),
    );
  },
};
