/** `nls replicate`: the Shears / SQFT / LoNAS findings on the built-in tasks, with statistics over seeds (docs/results.md). */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { formatResults, REPLICATE_BUDGETS, runReplicate } from '../../pipeline/replicate.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';

interface ReplicateArgs extends GlobalOptions {
  out: string;
  budget: keyof typeof REPLICATE_BUDGETS;
  model: string;
  engine: EngineRequest;
}

export const replicateCommand: CommandModule<GlobalOptions, ReplicateArgs> = {
  command: 'replicate',
  describe: "reproduce the NLS papers' findings (LoRA vs the supernet's max, median and min subnets, NSGA-II and LINAS under parameter budgets, sparse bases and merging) on the built-in tasks over several seeds; resumable (run it again with the same --out)",
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'study folder: bases/, cells/TASK/BASE/seed-S/, results.json, results.md (nls report renders it)' })
      .option('budget', {
        choices: Object.keys(REPLICATE_BUDGETS) as (keyof typeof REPLICATE_BUDGETS)[],
        default: 'small' as const,
        describe: 'smoke: one task, 20 steps, minutes; small: three tasks, 3 seeds, 200 steps; full: 5 seeds, 300 steps, plus the int4 SQFT row (hours)',
      })
      .option('model', { type: 'string', default: 'demo', describe: 'dense base model folder, or "demo" for the shipped demo model' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: 'training and evaluation engine (auto: onnx when onnxruntime-node loads here)' }),
  handler: async (argv) => {
    const result = await runReplicate({
      out: argv.out,
      budget: argv.budget,
      ...(argv.model !== 'demo' ? { model: argv.model } : {}),
      engine: argv.engine,
      progress: progressFor(argv),
    });
    emit(argv, result, () => formatResults(result));
  },
};
