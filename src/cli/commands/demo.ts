/** `nls demo`: the whole pipeline on the built-in model and data. */
import type { CommandModule } from 'yargs';
import { runDemo } from '../../pipeline/demo.js';
import { formatDuration } from '../../util/progress.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';

interface DemoArgs extends GlobalOptions {
  model?: string;
  steps: number;
  'train-size': number;
  'validation-size': number;
  parallel: boolean;
}

export const demoCommand: CommandModule<GlobalOptions, DemoArgs> = {
  command: 'demo',
  describe: 'run the pipeline end to end on the built-in demo model, data and search space',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'base model folder (default: the shipped models/demo)' })
      .option('steps', { type: 'number', default: 60, describe: 'optimizer steps of the supernet and of the LoRA baseline' })
      .option('train-size', { type: 'number', default: 480, describe: 'training examples of the spam task' })
      .option('validation-size', { type: 'number', default: 100, describe: 'validation examples of the spam task' })
      .option('parallel', { type: 'boolean', default: true, describe: 'train the baseline in a worker thread (uses the second core)' }),
  handler: async (argv) => {
    const result = await runDemo({
      backend: argv.backend,
      seed: argv.seed,
      ...(argv.model !== undefined ? { modelDir: argv.model } : {}),
      steps: argv.steps,
      trainSize: argv['train-size'],
      validationSize: argv['validation-size'],
      parallel: argv.parallel,
      progress: progressFor(argv),
      json: argv.json,
    });
    emit(argv, result, () =>
      [
        `Spam classification (SpamAssassin), ${result.task.validation} validation emails; majority class: ${(result.task.majorityAccuracy * 100).toFixed(1)}%`,
        `Search space ${result.space.name}: ${BigInt(result.space.cardinality).toLocaleString('en-US')} subnets; backend ${result.backend.name}; ${formatDuration(result.seconds)}`,
        '',
        formatTable(
          ['model', 'config key', 'adapter params', 'val loss', 'accuracy'],
          result.rows.map((r) => [r.description, r.key || '-', r.adapterParameters, r.loss, r.accuracy === undefined ? '-' : `${(r.accuracy * 100).toFixed(1)}%`]),
        ),
      ].join('\n'),
    );
  },
};
