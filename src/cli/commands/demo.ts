/** `nls demo`: the whole pipeline on the built-in model and data. */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { modelFolderOf } from '../../model/demo-model.js';
import { DEMO_SEARCH_BUDGET, DEMO_SPARSITY, DEMO_STEPS, DEMO_TASK, type DemoSection, type DemoTask, demoSearchSpace, runDemo } from '../../pipeline/demo.js';
import { demoClosingText, demoTextPrinter } from '../demo-output.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface DemoArgs extends GlobalOptions {
  model?: string;
  steps: number;
  task: DemoTask;
  'train-size': number;
  'validation-size': number;
  'test-size': number;
  parallel: boolean;
  'search-budget': number;
  sparsity: number;
  engine: EngineRequest;
  out?: string;
}

export const demoCommand: CommandModule<GlobalOptions, DemoArgs> = {
  command: 'demo',
  describe: 'run the pipeline end to end on the built-in demo model, data and search space',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'base model folder (default: the shipped models/demo)' })
      .option('steps', { ...numberArg('steps', 'positive integer'), default: DEMO_STEPS, describe: 'optimizer steps of the supernet and of the LoRA baseline' })
      .option('task', { choices: ['spam', 'brown-cloze'] as const, default: DEMO_TASK, describe: 'the built-in task (docs/data.md): spam classification, or brown-cloze (a blanked word of a held-out sentence, 4 candidates)' })
      .option('train-size', { ...numberArg('train-size', 'positive integer'), default: 2000, describe: 'training examples of the task' })
      .option('validation-size', { ...numberArg('validation-size', 'positive integer'), default: 500, describe: 'validation examples (what the search selects on)' })
      .option('test-size', { ...numberArg('test-size', 'positive integer'), default: 500, describe: 'test examples (what the results are reported on)' })
      .option('parallel', { type: 'boolean', default: true, describe: 'train the baseline in a worker thread and search with two evaluation workers (uses the second core)' })
      .option('search-budget', { ...numberArg('search-budget', 'non-negative integer'), default: DEMO_SEARCH_BUDGET, describe: 'evaluations of each of the random, NSGA-II and hill-climbing searches (0 skips the search)' })
      .option('sparsity', { ...numberArg('sparsity', 'fraction'), default: DEMO_SPARSITY, describe: 'Wanda sparsity of the base model; adapters are then sparsity-aware (SparsePEFT) and the chosen subnet is merged and exported (0: dense base, plain adapters)' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: 'engine of the training runs and of the search stage: onnx (ONNX Runtime), tfjs (the --backend), or auto (onnx when it loads here)' })
      .option('out', { type: 'string', describe: 'keep the trained supernet and the search journals in this folder (default: a temporary folder, removed)' }),
  handler: async (argv) => {
    const progress = progressFor(argv);
    const space = await demoSearchSpace();
    // Text: each result is printed when its stage ends (stdout; a progress bar on stderr steps
    // aside). --json: one document at the end.
    const print = argv.json ? undefined : demoTextPrinter({ ranks: { of: (key) => space.rankPattern(key), legend: space.rankPatternLegend() } });
    const result = await runDemo({
      backend: argv.backend,
      seed: argv.seed,
      ...(argv.model !== undefined ? { modelDir: modelFolderOf(argv.model) } : {}),
      steps: argv.steps,
      task: argv.task,
      trainSize: argv['train-size'],
      validationSize: argv['validation-size'],
      testSize: argv['test-size'],
      parallel: argv.parallel,
      searchBudget: argv['search-budget'],
      sparsity: argv.sparsity,
      engine: argv.engine,
      ...(argv.out !== undefined ? { out: argv.out } : {}),
      progress,
      json: argv.json,
      ...(print ? { onSection: (section: DemoSection) => progress.output(print(section)) } : {}),
    });
    if (argv.json) emit(argv, result, () => '');
    else progress.output(demoClosingText(result));
  },
};
