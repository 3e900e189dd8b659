/** `nls demo`: the whole pipeline on the built-in model and data. */
import type { CommandModule } from 'yargs';
import { runDemo } from '../../pipeline/demo.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';

export const demoCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'demo',
  describe: 'run the pipeline end to end on the built-in demo model and search space',
  handler: async (argv) => {
    const result = await runDemo({ backend: argv.backend, seed: argv.seed, progress: progressFor(argv) });
    emit(argv, result, () =>
      [
        `Demo model: ${result.model.parameters.toLocaleString('en-US')} parameters, ${result.model.layers} layers${result.model.pretrained ? '' : ' (untrained)'}; backend ${result.backend.name}`,
        `Search space ${result.space.name}: ${result.space.genes} genes, ${BigInt(result.space.cardinality).toLocaleString('en-US')} subnets`,
        '',
        formatTable(
          ['subnet', 'config key', 'adapter params', 'loss (nats/byte)'],
          result.subnets.map((s) => [s.name, s.key || '-', s.adapterParameters, s.loss]),
        ),
      ].join('\n'),
    );
  },
};
