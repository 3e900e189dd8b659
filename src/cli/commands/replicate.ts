/** `nls replicate`: the Shears / SQFT / LoNAS findings on the built-in tasks, with statistics over seeds (docs/results.md). */
import type { CommandModule } from 'yargs';
import { BUILTIN_TASKS, type BuiltinTaskName, isBuiltinTask } from '../../data/tasks.js';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { formatResults, REPLICATE_BUDGETS, runReplicate } from '../../pipeline/replicate.js';
import { numberArg } from '../args.js';
import { UsageError } from '../exit.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';

interface ReplicateArgs extends GlobalOptions {
  out: string;
  budget: keyof typeof REPLICATE_BUDGETS;
  model: string;
  engine: EngineRequest;
  tasks?: BuiltinTaskName[];
  seeds?: number;
}

/** `--tasks a,b`: built-in task names; anything else is a usage error before any work. */
function parseTasks(value: unknown): BuiltinTaskName[] {
  if (typeof value !== 'string') throw new UsageError('--tasks is given more than once, or without a value');
  const tasks = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of tasks) {
    if (!isBuiltinTask(t)) throw new UsageError(`--tasks: unknown task ${JSON.stringify(t)}; choose from ${BUILTIN_TASKS.join(', ')}`);
  }
  if (tasks.length === 0) throw new UsageError(`--tasks: no task given; name one or more of ${BUILTIN_TASKS.join(', ')}`);
  return tasks as BuiltinTaskName[];
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
        describe: 'smoke: one task, 20 steps, minutes; small: three tasks, 3 seeds, 200 steps; full: spam and arith, 5 seeds, 300 steps (arith 1200), plus the int4 SQFT and LoNAS rows (many hours)',
      })
      .option('tasks', { requiresArg: true, coerce: parseTasks, describe: `comma-separated tasks to run instead of the budget's (${BUILTIN_TASKS.join(', ')})` })
      .option('seeds', { ...numberArg('seeds', 'positive integer'), describe: "seeds per task and base (default: the budget's)" })
      .option('model', { type: 'string', default: 'demo', describe: 'dense base model folder, or "demo" for the shipped demo model' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: 'training and evaluation engine (auto: onnx when onnxruntime-node loads here)' }),
  handler: async (argv) => {
    const preset = REPLICATE_BUDGETS[argv.budget];
    const tasks = argv.tasks ?? preset.tasks;
    const budget = { ...preset, tasks, widthTasks: preset.widthTasks.filter((t) => tasks.includes(t)), ...(argv.seeds !== undefined ? { seeds: argv.seeds } : {}) };
    const result = await runReplicate({
      out: argv.out,
      budget,
      ...(argv.model !== 'demo' ? { model: argv.model } : {}),
      engine: argv.engine,
      progress: progressFor(argv),
    });
    emit(argv, result, () => formatResults(result));
  },
};
