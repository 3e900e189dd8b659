/** `nls export`: write a chosen sub-adapter of a supernet as a Hugging Face PEFT LoRA adapter folder. */
import type { Argv, CommandModule } from 'yargs';
import { runExport } from '../../export/run.js';
import { subnetSelectionFromOptions } from '../../export/subnet.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { type SubnetChoiceArgs, withSubnetSelectionOptions } from './merge.js';

interface ExportArgs extends GlobalOptions, SubnetChoiceArgs {
  merged: boolean;
  sparse?: boolean;
  'base-model-name'?: string;
  'nls-field': boolean;
}

export const exportCommand: CommandModule<GlobalOptions, ExportArgs> = {
  command: 'export',
  describe: 'write a sub-adapter of a supernet as a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)',
  builder: (y) =>
    withSubnetSelectionOptions(y)
      .option('merged', { type: 'boolean', default: false, describe: 'also write the merged model folder to OUT/merged' })
      .option('sparse', { type: 'boolean', describe: "with --merged: sparsity-aware merge (keep the base's zeros); the supernet's adapter mode decides, so the flag is only a check (--no-sparse on a SparsePEFT supernet, --sparse on a plain one are errors)" })
      .option('base-model-name', { type: 'string', describe: "base_model_name_or_path to record (default: the supernet's base model folder), e.g. a hub id" })
      .option('nls-field', { type: 'boolean', default: true, describe: 'record the supernet and configuration in an "nls" field of adapter_config.json (--no-nls-field for PEFT < 0.14, which refuses unknown keys)' }) as unknown as Argv<ExportArgs>,
  handler: async (argv) => {
    const result = await runExport({
      supernet: argv.supernet,
      choice: subnetSelectionFromOptions(argv),
      out: argv.out,
      backend: argv.backend,
      merged: argv.merged,
      ...(argv.sparse !== undefined ? { sparse: argv.sparse } : {}),
      ...(argv['base-model-name'] !== undefined ? { baseModelNameOrPath: argv['base-model-name'] } : {}),
      plainConfig: !argv['nls-field'],
      dtype: argv.dtype,
      seed: argv.seed,
      progress: progressFor(argv),
    });
    const c = result.adapterConfig;
    emit(argv, { key: result.subnet.key, source: result.subnet.source, adapterConfig: c, mergeReport: result.mergeReport, slicedBase: result.slicedBase }, () =>
      [
        c
          ? `exported subnet ${result.subnet.key} (ranks ${result.subnet.space.rankPattern(result.subnet.config)}; ${result.subnet.source}) to ${argv.out}: ${Object.keys(c.rank_pattern).length} modules, target_modules ${JSON.stringify(c.target_modules.length > 7 ? [...c.target_modules.slice(0, 3), '...'] : c.target_modules)}`
          : `subnet ${result.subnet.key} (ranks ${result.subnet.space.rankPattern(result.subnet.config)}; ${result.subnet.source}): no PEFT adapter written, the supernet's ${result.mergeReport?.adapterMode ?? ''} adapters mask their delta by the base's zeros, which a LoRA adapter cannot express`,
        ...(result.mergeReport ? [`merged model in ${argv.out}/merged (max |logit diff| vs the adapter model ${result.mergeReport.logits.maxAbsDiff.toExponential(2)})`] : []),
        ...(result.slicedBase ? [`the subnet narrows MLP widths: its base (the supernet's base cut to the widths, unmerged) is in ${result.slicedBase}`] : []),
      ].join('\n'),
    );
  },
};
