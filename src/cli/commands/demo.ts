/** `nls demo`: the whole pipeline on the built-in model and data. */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { modelFolderOf } from '../../model/demo-model.js';
import { DEMO_SEARCH_BUDGET, DEMO_SPARSITY, DEMO_STEPS, demoSearchSpace, runDemo } from '../../pipeline/demo.js';
import { formatDuration } from '../../util/progress.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface DemoArgs extends GlobalOptions {
  model?: string;
  steps: number;
  'train-size': number;
  'validation-size': number;
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
      .option('train-size', { ...numberArg('train-size', 'positive integer'), default: 480, describe: 'training examples of the spam task' })
      .option('validation-size', { ...numberArg('validation-size', 'positive integer'), default: 100, describe: 'validation examples of the spam task' })
      .option('parallel', { type: 'boolean', default: true, describe: 'train the baseline in a worker thread and search with two evaluation workers (uses the second core)' })
      .option('search-budget', { ...numberArg('search-budget', 'non-negative integer'), default: DEMO_SEARCH_BUDGET, describe: 'evaluations of each of the random, NSGA-II and hill-climbing searches (0 skips the search)' })
      .option('sparsity', { ...numberArg('sparsity', 'fraction'), default: DEMO_SPARSITY, describe: 'Wanda sparsity of the base model; adapters are then sparsity-aware (SparsePEFT) and the chosen subnet is merged and exported (0: dense base, plain adapters)' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: 'engine of the training runs and of the search stage: onnx (ONNX Runtime), tfjs (the --backend), or auto (onnx when it loads here)' })
      .option('out', { type: 'string', describe: 'keep the trained supernet and the search journals in this folder (default: a temporary folder, removed)' }),
  handler: async (argv) => {
    const result = await runDemo({
      backend: argv.backend,
      seed: argv.seed,
      ...(argv.model !== undefined ? { modelDir: modelFolderOf(argv.model) } : {}),
      steps: argv.steps,
      trainSize: argv['train-size'],
      validationSize: argv['validation-size'],
      parallel: argv.parallel,
      searchBudget: argv['search-budget'],
      sparsity: argv.sparsity,
      engine: argv.engine,
      ...(argv.out !== undefined ? { out: argv.out } : {}),
      progress: progressFor(argv),
      json: argv.json,
    });
    const space = await demoSearchSpace();
    /** The ranks of a configuration key, next to it in the tables (`-` for none). */
    const ranks = (key: string | undefined): string => (key ? space.rankPattern(key) : '-');
    const ranksHeader = `ranks (${space.rankPatternLegend()})`;
    emit(argv, result, () => {
      const pct = (x: number | undefined) => (x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
      const sp = result.sparsify;
      const lines = [
        `Spam classification (SpamAssassin), ${result.task.validation} validation emails; majority class: ${pct(result.task.majorityAccuracy)}`,
        `Search space ${result.space.name}: ${BigInt(result.space.cardinality).toLocaleString('en-US')} subnets; backend ${result.backend.name}; ${formatDuration(result.seconds)}`,
        ...(sp
          ? [
              `Base model pruned by ${sp.method} to ${pct(sp.overall.sparsity)} sparsity (${sp.samples} x ${sp.seqlen} calibration tokens): perplexity ${sp.perplexity.before.toFixed(3)} -> ${sp.perplexity.after.toFixed(3)} on ${sp.evaluation.tokens} held-out Brown tokens`,
            ]
          : []),
        '',
        formatTable(
          ['model', 'config key', ranksHeader, 'adapter params', 'val loss', 'accuracy'],
          result.rows.map((r) => [r.description, r.key || '-', ranks(r.key), r.adapterParameters, r.loss, pct(r.accuracy)]),
        ),
      ];
      const s = result.search;
      if (s) {
        lines.push(
          '',
          `Search: accuracy vs adapter parameters, feasible when params <= ${s.paramsBound.toLocaleString('en-US')}; ${s.measured} subnets measured in ${formatDuration(s.seconds)} (engine ${s.engine.name})`,
          '',
          formatTable(
            ['strategy', 'evaluations', 'new', 'best feasible: accuracy', 'params', 'config key', 'ranks'],
            s.strategies.map((o) => [o.label, o.evaluations, o.newlyMeasured, pct(o.best?.metrics.accuracy), o.best?.metrics.params ?? '-', o.best?.key ?? '-', ranks(o.best?.key)]),
          ),
          '',
          'Pareto front over all strategies (feasible subnets):',
          formatTable(
            ['accuracy', 'adapter params', 'config key', ranksHeader, 'found by'],
            s.front.map((m) => [pct(m.metrics.accuracy), m.metrics.params ?? '-', m.key, ranks(m.key), m.foundBy.join(', ')]),
          ),
        );
      }
      const m = result.merge;
      if (m) {
        lines.push(
          '',
          `Merged subnet ${m.key} (ranks ${ranks(m.key)}, accuracy ${pct(m.accuracy)}, ${m.params.toLocaleString('en-US')} adapter params) into the sparse base: non-zeros ${m.nonZerosBefore.toLocaleString('en-US')} before, ${m.nonZerosAfter.toLocaleString('en-US')} after, ${m.newNonZeros} pruned weights filled in (sparsity kept); max |logit diff| vs base + adapter ${m.maxLogitDiff.toExponential(1)}`,
          ...(result.out ? [`merged model: ${m.mergedDir} (no PEFT adapter: PEFT cannot express the SparsePEFT masked delta; docs/formats.md)`] : []),
        );
      }
      if (result.out) lines.push('', `supernet and search journals: ${result.out}`);
      return lines.join('\n');
    });
  },
};
