/**
 * `nls replicate`: the Shears / SQFT / LoNAS findings, reproduced on the built-in tasks with
 * statistics over seeds (docs/results.md). One run folder holds the whole study:
 *
 *     OUT/bases/sparse50/          the Wanda-pruned base (50%), made once
 *     OUT/bases/sparse50-int4/     the same, int4-quantized (SQFT's row)
 *     OUT/cells/TASK/BASE/seed-S/  lora/ supernet/ search-nsga2/ search-linas/ merge/ widths/ ...
 *                                  result.json when the cell is complete
 *     OUT/results.json             every cell, the summary table and the findings
 *     OUT/results.md               the same as tables
 *
 * A cell is (task, base, seed): LoRA at r_max and the NLS supernet trained for the same steps,
 * the max / median / min subnets, NSGA-II and LINAS searches on validation for accuracy vs
 * adapter parameters, the best feasible subnets under 50% and 75% of the max's parameters,
 * every chosen subnet measured on test; on a sparse base the chosen subnet merged (sparsity and
 * test accuracy before and after); on the dense base, optionally, an elastic-width supernet
 * searched for FLOPs with the chosen subnet's merged model timed on the onnx engine (LoNAS).
 * The task splits are fixed (task seed 0) so every seed is measured on the same test set, which
 * makes the comparisons across seeds paired.
 *
 * Resumable at cell granularity: a cell with its result.json is not run again, and a cell's
 * finished steps (a supernet folder with supernet.json, a search with pareto.json) are reused.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { runQuantize } from '../compress/quantize-run.js';
import { runSparsify } from '../compress/sparsity-run.js';
import { BUILTIN_TASKS, type BuiltinTaskName, loadBuiltinTask, type ReferencePoint } from '../data/tasks.js';
import type { EngineRequest } from '../engine/types.js';
import { meanInterval, type MeanInterval, pairedTest, type PairedTest } from '../evaluate/statistics.js';
import { NlsError } from '../errors.js';
import { runMerge } from '../export/run.js';
import { DEMO_MODEL_DIR } from '../model/demo-model.js';
import type { TrialRecord } from '../search/journal.js';
import { PLAIN_ADAPTERS } from '../supernet/adapter-mode.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatDuration, Progress } from '../util/progress.js';
import { partialNote } from '../report/results.js';
import { createSupernetScorer, type SearchMetric } from './scorer.js';
import { evaluateModelOnTask } from './evaluate-model.js';
import { runSearch } from './search.js';
import { encodeRows, loadTaskData, runSupernetTraining, type SubnetMetrics, type SupernetRunOptions } from './train-supernet.js';

/** Names of the study's bases. */
export const REPLICATE_BASES = ['dense', 'sparse50', 'sparse50-int4'] as const;
/** A base of the study. */
export type ReplicateBase = (typeof REPLICATE_BASES)[number];

/** How much the study does (`--budget`). */
export interface ReplicateBudget {
  readonly tasks: readonly BuiltinTaskName[];
  /** Bases with the full set of rows (dense and the 50%-sparse base). */
  readonly bases: readonly ('dense' | 'sparse50')[];
  readonly seeds: number;
  /** Optimizer steps of every training run (LoRA and supernet alike). */
  readonly steps: number;
  /**
   * Steps of the tasks that need more than `steps` to be learned at all (LoRA and supernet
   * alike; see {@link stepsOf}). `full`: arith, which no adapter learns in 300 steps
   * (docs/results.md, "Study design").
   */
  readonly taskSteps?: Readonly<Partial<Record<BuiltinTaskName, number>>>;
  readonly batchSize: number;
  readonly maxLength: number;
  /** Evaluations of each search. */
  readonly searchBudget: number;
  readonly validationSize: number;
  readonly testSize: number;
  readonly trainSize: number;
  /** The SQFT row on the int4-quantized sparse base too (a QA-SparsePEFT supernet per cell). */
  readonly int4: boolean;
  /** The LoNAS row (elastic widths) on these tasks, dense base. */
  readonly widthTasks: readonly BuiltinTaskName[];
}

/** The presets of `--budget`. */
export const REPLICATE_BUDGETS: Readonly<Record<'smoke' | 'small' | 'full', ReplicateBudget>> = {
  // Minutes: the whole machinery on one task, for tests and a first look.
  smoke: { tasks: ['spam'], bases: ['dense', 'sparse50'], seeds: 2, steps: 20, batchSize: 8, maxLength: 96, searchBudget: 6, validationSize: 60, testSize: 60, trainSize: 200, int4: false, widthTasks: [] },
  small: { tasks: [...BUILTIN_TASKS], bases: ['dense', 'sparse50'], seeds: 3, steps: 200, batchSize: 16, maxLength: 160, searchBudget: 24, validationSize: 500, testSize: 500, trainSize: 2000, int4: false, widthTasks: [] },
  // brown-cloze is left out: no adapter gets above chance at this scale (docs/results.md, "Study design"); --tasks adds it.
  full: { tasks: ['spam', 'arith'], bases: ['dense', 'sparse50'], seeds: 5, steps: 300, taskSteps: { arith: 1200 }, batchSize: 16, maxLength: 160, searchBudget: 40, validationSize: 500, testSize: 500, trainSize: 2000, int4: true, widthTasks: ['spam'] },
};

/** Options of {@link runReplicate}. */
export interface ReplicateOptions {
  readonly out: string;
  readonly budget: keyof typeof REPLICATE_BUDGETS | ReplicateBudget;
  /** Base model (default: the shipped demo model). */
  readonly model?: string;
  readonly engine?: EngineRequest;
  readonly progress?: Progress;
}

/** Accuracy of one subnet on validation and test, with its adapter parameters. */
export interface MeasuredSubnet {
  readonly key: string;
  readonly params: number;
  readonly validation: number;
  readonly test: number;
}

/** One (task, base, seed) cell. */
export interface CellResult {
  readonly task: BuiltinTaskName;
  readonly base: ReplicateBase;
  readonly seed: number;
  /** The base model without adapters. */
  readonly baseModel: MeasuredSubnet;
  /** LoRA at r_max (absent on the int4 base, which has only the SQFT row). */
  readonly lora?: MeasuredSubnet;
  readonly max: MeasuredSubnet;
  readonly median: MeasuredSubnet;
  readonly min: MeasuredSubnet;
  /** The best feasible subnet each search found under each share of the max's parameters. */
  readonly searched: readonly (MeasuredSubnet & { readonly strategy: string; readonly share: number })[];
  /** The SQFT row: the chosen subnet merged into the (sparse) base. */
  readonly merge?: { readonly key: string; readonly nonZerosBefore: number; readonly nonZerosAfter: number; readonly newNonZeros: number; readonly unmergedTest: number; readonly mergedTest: number };
  /** The LoNAS row (dense base, widthTasks): an elastic-width supernet searched for FLOPs. */
  readonly widths?: WidthsResult;
}

/**
 * The LoNAS row of a cell: in an elastic-width supernet (search-spaces/demo-widths.json, MLP
 * channels reordered by importance), the subnet with the fewest FLOPs whose validation accuracy
 * is within {@link WIDTH_TOLERANCE} of the width supernet's max subnet, merged into the smaller
 * model it deploys and timed against the merged max subnet on the onnx engine.
 */
export interface WidthsResult {
  readonly key: string;
  /** Its FLOPs per token as a share of the max subnet's. */
  readonly flopsShare: number;
  readonly max: MeasuredSubnet;
  readonly chosen: MeasuredSubnet;
  /** Median forward latency of the merged models (ms per run of the test rows' first batch). */
  readonly maxLatencyMs: number;
  readonly chosenLatencyMs: number;
  /** maxLatencyMs / chosenLatencyMs. */
  readonly speedup: number;
}

/** How far below the width supernet's max subnet (validation accuracy) the LoNAS choice may be. */
export const WIDTH_TOLERANCE = 0.02;

/**
 * Learning rates: SparsePEFT masks half of each update, so the sparse bases get a larger one (the
 * 400-step base model needed it; on the shipped 8000-step model 2e-3 and 4e-3 were equal within
 * noise, docs/benchmarks.md). Fixed, so that studies stay comparable.
 */
const LEARNING_RATE: Record<ReplicateBase, number> = { dense: 2e-3, sparse50: 4e-3, 'sparse50-int4': 4e-3 };
/** The shares of the max's adapter parameters the searches are constrained to. */
export const SEARCH_SHARES = [0.5, 0.75] as const;
const STRATEGIES = ['nsga2', 'linas'] as const;

/** Settings every cell is computed with: a study folder keeps them for all its cells. */
const CELL_SETTINGS = ['steps', 'batchSize', 'maxLength', 'searchBudget', 'validationSize', 'testSize', 'trainSize'] as const;

/**
 * The differences between the cell settings a study folder was started with and `budget`, as
 * `name: recorded -> given` lines (tasks, bases and seeds may grow: they only add cells).
 */
export function budgetDifferences(recorded: ReplicateBudget, budget: ReplicateBudget): string[] {
  const out = CELL_SETTINGS.filter((k) => recorded[k] !== budget[k]).map((k) => `${k}: ${recorded[k]} -> ${budget[k]}`);
  // Per-task steps matter only for tasks both run, and only where steps alone did not already differ.
  if (recorded.steps === budget.steps) {
    for (const task of budget.tasks.filter((t) => recorded.tasks.includes(t))) {
      if (stepsOf(recorded, task) !== stepsOf(budget, task)) out.push(`steps of ${task}: ${stepsOf(recorded, task)} -> ${stepsOf(budget, task)}`);
    }
  }
  return out;
}

/** The optimizer steps of `task`'s training runs under `budget`: its `taskSteps` entry, else `steps`. */
export function stepsOf(budget: ReplicateBudget, task: BuiltinTaskName): number {
  return budget.taskSteps?.[task] ?? budget.steps;
}

/** Record the study's budget in `study.json`, or refuse one whose cells would differ from the folder's. */
async function checkStudyBudget(out: string, budget: ReplicateBudget): Promise<void> {
  const file = path.join(out, 'study.json');
  if (existsSync(file)) {
    const recorded = (JSON.parse(await fsp.readFile(file, 'utf8')) as { budget: ReplicateBudget }).budget;
    const diffs = budgetDifferences(recorded, budget);
    if (diffs.length > 0) {
      throw new NlsError(`its cells were computed with other settings (${diffs.join('; ')}); fix: run the same --budget on this folder, or start the new budget in another --out`, { file, field: 'budget' });
    }
  }
  await writeFileAtomic(file, `${JSON.stringify({ format: 'nls-replicate-study/1', budget }, null, 2)}\n`);
}

function budgetOf(b: ReplicateOptions['budget']): ReplicateBudget {
  if (typeof b !== 'string') return b;
  const preset = REPLICATE_BUDGETS[b];
  if (!preset) throw new NlsError(`unknown budget ${JSON.stringify(b)}; fix: use ${Object.keys(REPLICATE_BUDGETS).join(', ')}`, { field: '--budget' });
  return preset;
}

/** The trial with the highest validation accuracy among `trials` whose params are at most `bound` (fewer params on ties). */
function bestUnder(trials: readonly TrialRecord[], bound: number): TrialRecord | undefined {
  let best: TrialRecord | undefined;
  for (const t of trials) {
    if (t.state !== 'complete' || !t.values) continue;
    const [accuracy, params] = t.values as [number, number];
    if (params > bound) continue;
    if (!best || accuracy > best.values![0]! || (accuracy === best.values![0]! && params < best.values![1]!)) best = t;
  }
  return best;
}

/** Run (or resume) the study. */
export async function runReplicate(options: ReplicateOptions): Promise<ReplicateResult> {
  const progress = options.progress ?? new Progress();
  const budget = budgetOf(options.budget);
  const out = path.resolve(options.out);
  const dense = path.resolve(options.model ?? DEMO_MODEL_DIR);
  const engine = options.engine ?? 'auto';
  const taskSeed = 0;
  await fsp.mkdir(out, { recursive: true });
  await checkStudyBudget(out, budget);

  // Bases, made once.
  const baseDirs: Record<ReplicateBase, string> = { dense, sparse50: path.join(out, 'bases', 'sparse50'), 'sparse50-int4': path.join(out, 'bases', 'sparse50-int4') };
  if (budget.bases.includes('sparse50') && !existsSync(path.join(baseDirs.sparse50, 'config.json'))) {
    progress.log('pruning the base to 50% with Wanda (once for the study)');
    await runSparsify({ model: dense, out: baseDirs.sparse50, method: 'wanda', sparsity: 0.5, samples: 64, seqlen: 128, evalTokens: 4096, seed: 0, backend: 'wasm', progress });
  }
  if (budget.int4 && !existsSync(path.join(baseDirs['sparse50-int4'], 'config.json'))) {
    progress.log('quantizing the sparse base to int4 (groups of 32; once for the study)');
    await runQuantize({ model: baseDirs.sparse50, out: baseDirs['sparse50-int4'], spec: { bits: 4, groupSize: 32, symmetric: true }, evalTokens: 4096, backend: 'wasm', progress });
  }

  const references: Record<string, readonly ReferencePoint[]> = {};
  for (const task of budget.tasks) {
    references[task] = (await loadBuiltinTask(task, { seed: taskSeed, validationSize: budget.validationSize, testSize: budget.testSize, trainSize: budget.trainSize })).references;
  }

  const plan = replicatePlan(budget);
  const cells: CellResult[] = [];
  /** results.json and results.md of the cells done so far (partial until the last cell). */
  const writeResults = async (): Promise<ReplicateResult> => {
    const result = summarize(budget, references, cells, plan.length);
    await writeFileAtomic(path.join(out, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFileAtomic(path.join(out, 'results.md'), formatResults(result));
    return result;
  };
  // Wall time of the cells this process ran, for the study's ETA (cells of other runs are not timed).
  const ranHere: number[] = [];
  const cellDir = (cell: ReplicateCell) => path.join(out, 'cells', cell.task, cell.base, `seed-${cell.seed}`);
  for (const [i, cell] of plan.entries()) {
    const dir = cellDir(cell);
    const done = path.join(dir, 'result.json');
    if (existsSync(done)) {
      cells.push(JSON.parse(await fsp.readFile(done, 'utf8')) as CellResult);
      continue;
    }
    progress.log(`cell ${i + 1}/${plan.length}: ${cell.task}, ${cell.base} base, seed ${cell.seed}`);
    const started = performance.now();
    const result = await runCell({ ...cell, dir, baseDir: baseDirs[cell.base], budget, taskSeed, engine, progress });
    await writeFileAtomic(done, `${JSON.stringify(result, null, 2)}\n`);
    cells.push(result);
    ranHere.push((performance.now() - started) / 1000);
    const left = plan.slice(i + 1).filter((c) => !existsSync(path.join(cellDir(c), 'result.json'))).length;
    progress.log(`cell ${i + 1}/${plan.length} done in ${formatDuration(ranHere.at(-1)!)}; ${studyPace(ranHere, left)}`);
    if (cells.length < plan.length) await writeResults();
  }
  return writeResults();
}

/**
 * How far the study has to go: cells left and, at the mean pace of the cells this process ran,
 * about how long (a rough guide: arith cells take longer than spam cells).
 */
export function studyPace(secondsPerCell: readonly number[], cellsLeft: number): string {
  if (cellsLeft === 0) return 'no cells left';
  const mean = secondsPerCell.reduce((a, b) => a + b, 0) / secondsPerCell.length;
  const eta = secondsPerCell.length > 0 ? `, about ${formatDuration(mean * cellsLeft)} at the mean pace of the ${secondsPerCell.length} cell${secondsPerCell.length === 1 ? '' : 's'} run here` : '';
  return `${cellsLeft} cell${cellsLeft === 1 ? '' : 's'} left${eta}`;
}

/** A cell of the study: one task, base and seed. */
export interface ReplicateCell {
  readonly task: BuiltinTaskName;
  readonly base: ReplicateBase;
  readonly seed: number;
}

/**
 * The cells of `budget` in the order they run: seed by seed (every task and base gets seed s
 * before any gets s + 1), so a study stopped part-way has every row at the same number of seeds,
 * or one fewer, and its partial results compare like with like.
 */
export function replicatePlan(budget: ReplicateBudget): ReplicateCell[] {
  const plan: ReplicateCell[] = [];
  for (let seed = 0; seed < budget.seeds; seed++) {
    for (const task of budget.tasks) {
      for (const base of [...budget.bases, ...(budget.int4 ? (['sparse50-int4'] as const) : [])]) plan.push({ task, base, seed });
    }
  }
  return plan;
}

interface CellRun {
  readonly task: BuiltinTaskName;
  readonly base: ReplicateBase;
  readonly seed: number;
  readonly dir: string;
  readonly baseDir: string;
  readonly budget: ReplicateBudget;
  readonly taskSeed: number;
  readonly engine: EngineRequest;
  readonly progress: Progress;
}

/**
 * The settings every training run of a cell shares: the budget's batch, length and task, warmup
 * over the first tenth of `steps`, one checkpoint at the end, resumed when one is there.
 */
function cellTraining(c: CellRun, out: string, steps: number): Omit<SupernetRunOptions, 'space' | 'rule' | 'lr'> {
  return {
    model: c.baseDir,
    data: c.task,
    out,
    steps,
    warmupSteps: Math.max(1, Math.round(steps / 10)),
    batchSize: c.budget.batchSize,
    gradAccum: 1,
    maxLength: c.budget.maxLength,
    weightDecay: 0,
    seed: c.seed,
    engine: c.engine,
    // A study runs for most of a day and is stopped and resumed: losing at most 100 steps of a training.
    checkpointEvery: Math.min(steps, 100),
    resume: existsSync(path.join(out, 'checkpoints', 'latest.json')),
    taskOptions: taskOptionsOf(c),
    progress: c.progress,
  };
}

/** What a cell reads from a training run: the heuristic subnets on validation and test. */
type TrainedRun = { readonly validation: readonly SubnetMetrics[]; readonly test?: readonly SubnetMetrics[] };

/**
 * A finished training run of a cell, read back rather than resumed: its supernet.json (written
 * last, so the folder is complete) records `steps` steps and its validation.json has both splits.
 * Resuming would evaluate the three heuristic subnets on both splits again (minutes per run, each
 * time a study is resumed) to the numbers already there.
 */
async function finishedRun(out: string, steps: number): Promise<TrainedRun | undefined> {
  const manifestFile = path.join(out, 'supernet.json');
  const validationFile = path.join(out, 'validation.json');
  if (!existsSync(manifestFile) || !existsSync(validationFile)) return undefined;
  const manifest = JSON.parse(await fsp.readFile(manifestFile, 'utf8')) as { training?: { steps?: unknown } };
  const v = JSON.parse(await fsp.readFile(validationFile, 'utf8')) as { subnets?: SubnetMetrics[]; test?: SubnetMetrics[] };
  return manifest.training?.steps === steps && Array.isArray(v.subnets) && Array.isArray(v.test) ? { validation: v.subnets, test: v.test } : undefined;
}

/** Train (or reuse) a supernet of the cell: `rule` max = LoRA, uniform = NLS. */
async function trainCell(c: CellRun, rule: 'max' | 'uniform', out: string): Promise<TrainedRun> {
  const steps = stepsOf(c.budget, c.task);
  const finished = await finishedRun(out, steps);
  if (finished) return finished;
  const sparse = c.base !== 'dense';
  const adapterMode = c.base === 'sparse50-int4' ? { sparse: true, quantAware: true } : sparse ? { sparse: true, quantAware: false } : PLAIN_ADAPTERS;
  return runSupernetTraining({ ...cellTraining(c, out, steps), space: 'demo', rule, lr: LEARNING_RATE[c.base], adapterMode });
}

/** Accuracy metric of a task in the search and the scorer. */
function accuracyMetric(task: BuiltinTaskName): SearchMetric {
  return task === 'arith' ? 'exact' : 'accuracy';
}

async function runCell(c: CellRun): Promise<CellResult> {
  const metric = accuracyMetric(c.task);
  const supernetDir = path.join(c.dir, 'supernet');
  const supernet = await trainCell(c, 'uniform', supernetDir);
  const lora = c.base === 'sparse50-int4' ? undefined : await trainCell(c, 'max', path.join(c.dir, 'lora'));
  const measured = (name: string, from: typeof supernet): MeasuredSubnet => {
    const m = from.validation.find((x) => x.name === name)!;
    const t = from.test?.find((x) => x.name === name);
    return { key: m.key, params: m.adapterParameters, validation: m.accuracy ?? NaN, test: t?.accuracy ?? NaN };
  };
  const maxParams = measured('max', supernet).params;

  // Searches on validation, chosen subnets measured on test.
  const searched: CellResult['searched'][number][] = [];
  const testScorer = await createSupernetScorer({ supernet: supernetDir, backend: 'wasm', needs: [metric], split: 'test', engine: 'onnx' });
  try {
    for (const strategy of STRATEGIES) {
      const r = await runSearch({
        supernet: supernetDir,
        strategy,
        objectives: [metric, 'params'],
        budget: c.budget.searchBudget,
        seed: c.seed,
        out: path.join(c.dir, `search-${strategy}`),
        resume: existsSync(path.join(c.dir, `search-${strategy}`, 'trials.jsonl')),
        engine: c.engine,
        progress: c.progress,
      });
      for (const share of SEARCH_SHARES) {
        const best = bestUnder(r.study.trials, share * maxParams);
        if (!best) continue;
        const test = (await testScorer.measure(best.config))[metric] ?? NaN;
        searched.push({ strategy, share, key: best.key, params: best.values![1]!, validation: best.values![0]!, test });
      }
    }
  } finally {
    await testScorer.dispose();
  }

  // SQFT: the subnet NSGA-II chose at half the parameters, merged into the sparse base.
  let merge: CellResult['merge'];
  const chosen = searched.find((s) => s.strategy === 'nsga2' && s.share === 0.5);
  if (c.base !== 'dense' && chosen) {
    const mergeDir = path.join(c.dir, 'merge');
    const r = await runMerge({ supernet: supernetDir, choice: { kind: 'key', key: chosen.key }, out: mergeDir, backend: 'wasm', progress: c.progress });
    const mergedTest = await evaluateModelOnTask(mergeDir, c.task, taskOptionsOf(c), 'test', c.budget.maxLength, { engine: c.engine });
    const sum = (f: (m: (typeof r.report.modules)[number]) => number) => r.report.modules.reduce((s, m) => s + f(m), 0);
    merge = { key: chosen.key, nonZerosBefore: sum((m) => m.nonZerosBefore), nonZerosAfter: sum((m) => m.nonZerosAfter), newNonZeros: sum((m) => m.newNonZeros), unmergedTest: chosen.test, mergedTest };
  }
  const widths = c.base === 'dense' && c.budget.widthTasks.includes(c.task) ? await widthsRow(c, metric) : undefined;
  return {
    task: c.task,
    base: c.base,
    seed: c.seed,
    ...(widths ? { widths } : {}),
    baseModel: {
      key: '',
      params: 0,
      validation: await evaluateModelOnTask(c.baseDir, c.task, taskOptionsOf(c), 'validation', c.budget.maxLength, { engine: c.engine }),
      test: await evaluateModelOnTask(c.baseDir, c.task, taskOptionsOf(c), 'test', c.budget.maxLength, { engine: c.engine }),
    },
    ...(lora ? { lora: measured('max', lora) } : {}),
    max: measured('max', supernet),
    median: measured('median', supernet),
    min: measured('min', supernet),
    searched,
    ...(merge ? { merge } : {}),
  };
}

/** The LoNAS row of a cell (see {@link WidthsResult}). */
async function widthsRow(c: CellRun, metric: SearchMetric): Promise<WidthsResult | undefined> {
  const supernetDir = path.join(c.dir, 'widths-supernet');
  // Width supernets share adapters across five widths per layer: they need twice the steps (docs/widths.md).
  const steps = 2 * stepsOf(c.budget, c.task);
  const trained =
    (await finishedRun(supernetDir, steps)) ??
    (await runSupernetTraining({ ...cellTraining(c, supernetDir, steps), space: 'demo-widths', rule: 'uniform', lr: LEARNING_RATE.dense, reorderWidths: true }));
  const searchDir = path.join(c.dir, 'widths-search');
  const r = await runSearch({
    supernet: supernetDir,
    strategy: 'nsga2',
    objectives: [metric, 'flops'],
    budget: c.budget.searchBudget,
    seed: c.seed,
    out: searchDir,
    resume: existsSync(path.join(searchDir, 'trials.jsonl')),
    engine: c.engine,
    progress: c.progress,
  });
  const maxVal = trained.validation.find((m) => m.name === 'max')!;
  const maxTest = trained.test?.find((m) => m.name === 'max')?.accuracy ?? NaN;
  const complete = r.study.trials.filter((t) => t.state === 'complete' && t.values);
  // NSGA-II seeds the heuristic subnets, so the max subnet is a trial; its FLOPs are the largest in the space.
  const maxFlops = complete.find((t) => t.key === maxVal.key)?.values![1] ?? Math.max(...complete.map((t) => t.values![1]!));
  const eligible = complete.filter((t) => t.values![0]! >= (maxVal.accuracy ?? 0) - WIDTH_TOLERANCE).sort((a, b) => a.values![1]! - b.values![1]! || b.values![0]! - a.values![0]!);
  const chosen = eligible[0];
  if (!chosen) return undefined;
  const testScorer = await createSupernetScorer({ supernet: supernetDir, backend: 'wasm', needs: [metric], split: 'test', engine: 'onnx' });
  let chosenTest: number;
  try {
    chosenTest = (await testScorer.measure(chosen.config))[metric] ?? NaN;
  } finally {
    await testScorer.dispose();
  }
  // Both subnets merged into the models they deploy, timed side by side on the onnx engine.
  const maxDir = path.join(c.dir, 'widths-merge-max');
  const chosenDir = path.join(c.dir, 'widths-merge-chosen');
  if (!existsSync(path.join(maxDir, 'config.json'))) await runMerge({ supernet: supernetDir, choice: { kind: 'heuristic', name: 'max' }, out: maxDir, backend: 'wasm', progress: c.progress });
  if (!existsSync(path.join(chosenDir, 'config.json'))) await runMerge({ supernet: supernetDir, choice: { kind: 'key', key: chosen.key }, out: chosenDir, backend: 'wasm', progress: c.progress });
  const [maxLatencyMs = NaN, chosenLatencyMs = NaN] = await mergedLatencies([maxDir, chosenDir], c);
  return {
    key: chosen.key,
    flopsShare: chosen.values![1]! / maxFlops,
    max: { key: maxVal.key, params: maxVal.adapterParameters, validation: maxVal.accuracy ?? NaN, test: maxTest },
    // Every trial records its adapter parameters as an attribute (the scorer's costs).
    chosen: { key: chosen.key, params: typeof chosen.attrs?.['params'] === 'number' ? chosen.attrs['params'] : NaN, validation: chosen.values![0]!, test: chosenTest },
    maxLatencyMs,
    chosenLatencyMs,
    speedup: maxLatencyMs / chosenLatencyMs,
  };
}

/** Median latency (ms) of each merged model folder scoring the same rows on the onnx engine, timed round robin. */
async function mergedLatencies(dirs: readonly string[], c: CellRun): Promise<number[]> {
  const { measureRoundRobin } = await import('../predict/measure.js');
  const { loadModelFolder } = await import('../model/model-folder.js');
  const { createOnnxEngine } = await import('../engine/onnx/engine.js');
  const task = await loadTaskData(c.task, taskOptionsOf(c));
  const engines = [];
  try {
    for (const dir of dirs) {
      const folder = await loadModelFolder(dir);
      engines.push({ engine: await createOnnxEngine(folder.model, undefined, { form: 'merged' }), rows: encodeRows(task.test!.slice(0, 64), folder.tokenizer, c.budget.maxLength), dispose: () => folder.model.dispose() });
    }
    const runs = engines.map((e) => async () => void (await e.engine.scoreRows(e.rows)));
    return (await measureRoundRobin(runs, { warmup: 2, repeats: 15 })).map((m) => m.medianMs);
  } finally {
    for (const e of engines) {
      await e.engine.dispose();
      e.dispose();
    }
  }
}

/** The cell's task options: the fixed task seed and the budget's sizes. */
function taskOptionsOf(c: CellRun) {
  return { seed: c.taskSeed, validationSize: c.budget.validationSize, testSize: c.budget.testSize, trainSize: c.budget.trainSize };
}

// ---------------------------------------------------------------------------------------------
// Summary and findings.

/** A row of the summary table: one kind of subnet on one (task, base), over seeds. */
export interface SummaryRow {
  readonly task: BuiltinTaskName;
  readonly base: ReplicateBase;
  readonly row: string;
  readonly params: number;
  readonly test: MeanInterval;
  readonly validation: MeanInterval;
}

/** A finding of the papers and whether it held here. */
export interface Finding {
  readonly id: number;
  readonly statement: string;
  /** Per (task, base) where it was tested. */
  readonly checks: readonly { readonly task: BuiltinTaskName; readonly base: ReplicateBase; readonly holds: boolean; readonly evidence: string; readonly test?: PairedTest }[];
}

/** What {@link runReplicate} writes to results.json. */
export interface ReplicateResult {
  readonly format: 'nls-replicate/1';
  readonly budget: ReplicateBudget;
  readonly references: Readonly<Record<string, readonly ReferencePoint[]>>;
  readonly cells: readonly CellResult[];
  readonly summary: readonly SummaryRow[];
  readonly findings: readonly Finding[];
  /**
   * Cells done and planned: a study writes its results after every cell, partial until the last
   * one. Absent in results written before 2026-12-08 (which were always complete).
   */
  readonly progress?: { readonly done: number; readonly planned: number };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ci = (m: MeanInterval) => (Number.isFinite(m.halfWidth) ? `${pct(m.mean)} ± ${(100 * m.halfWidth).toFixed(1)}` : pct(m.mean));

/** Rows of one group of cells (task, base) by name: their per-seed measurements, in seed order. */
function rowsOf(cells: readonly CellResult[]): Map<string, MeasuredSubnet[]> {
  const rows = new Map<string, MeasuredSubnet[]>();
  const add = (name: string, m: MeasuredSubnet | undefined) => {
    if (!m) return;
    const list = rows.get(name) ?? [];
    list.push(m);
    rows.set(name, list);
  };
  for (const cell of [...cells].sort((a, b) => a.seed - b.seed)) {
    add('base model', cell.baseModel);
    add('LoRA (r_max)', cell.lora);
    add('supernet max', cell.max);
    add('supernet median (heuristic)', cell.median);
    add('supernet min', cell.min);
    for (const s of cell.searched) add(`${s.strategy === 'nsga2' ? 'NSGA-II' : 'LINAS'} at ≤ ${s.share * 100}% params`, s);
    const chosen = cell.searched.find((s) => s.strategy === 'nsga2' && s.share === 0.5);
    if (cell.merge) add('merged into the base (NSGA-II at 50%)', { key: cell.merge.key, params: chosen?.params ?? 0, validation: NaN, test: cell.merge.mergedTest });
  }
  return rows;
}

/** The summary table and the five findings from the cells. */
export function summarize(budget: ReplicateBudget, references: Readonly<Record<string, readonly ReferencePoint[]>>, done: readonly CellResult[], planned = done.length): ReplicateResult {
  // Canonical order (task, base, seed), whatever order the cells ran in.
  const rank = (c: CellResult) => [budget.tasks.indexOf(c.task), REPLICATE_BASES.indexOf(c.base), c.seed];
  const cells = [...done].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
  });
  const summary: SummaryRow[] = [];
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) groups.set(`${c.task}|${c.base}`, [...(groups.get(`${c.task}|${c.base}`) ?? []), c]);
  for (const [key, group] of groups) {
    const [task, base] = key.split('|') as [BuiltinTaskName, ReplicateBase];
    for (const [row, ms] of rowsOf(group)) {
      summary.push({ task, base, row, params: ms.reduce((s, m) => s + m.params, 0) / ms.length, test: meanInterval(ms.map((m) => m.test)), validation: meanInterval(ms.map((m) => m.validation)) });
    }
  }
  const findings: Finding[] = [
    { id: 1, statement: "the supernet's max subnet is within the confidence interval of LoRA at r_max", checks: [] },
    { id: 2, statement: 'the heuristic median subnet keeps >= 95% of the max subnet\'s accuracy at lower cost', checks: [] },
    { id: 3, statement: 'search finds subnets at <= 50% of the adapter parameters that match or beat the heuristic', checks: [] },
    { id: 4, statement: 'on the sparse base, NLS recovers most of the accuracy that pruning lost', checks: [] },
    { id: 5, statement: 'merging into the sparse base changes neither sparsity nor accuracy', checks: [] },
  ];
  const push = (id: number, check: Finding['checks'][number]) => (findings[id - 1]!.checks as Finding['checks'][number][]).push(check);
  for (const [key, group] of groups) {
    const [task, base] = key.split('|') as [BuiltinTaskName, ReplicateBase];
    const rows = rowsOf(group);
    const test = (row: string) => (rows.get(row) ?? []).map((m) => m.test);
    const lora = test('LoRA (r_max)');
    const max = test('supernet max');
    const median = test('supernet median (heuristic)');
    // A paired test and an interval need two seeds: with one, a finding is not tested yet.
    if (lora.length === max.length && lora.length >= 2) {
      const loraCi = meanInterval(lora);
      const t = pairedTest(lora, max);
      const m = meanInterval(max).mean;
      push(1, { task, base, holds: m >= loraCi.low && m <= loraCi.high, evidence: `max ${pct(m)} vs LoRA ${ci(loraCi)}; paired difference ${ci(t.difference)}, p = ${t.p.toFixed(3)}`, test: t });
    }
    if (max.length >= 2 && median.length === max.length) {
      const ratio = meanInterval(median).mean / meanInterval(max).mean;
      const pm = (rows.get('supernet median (heuristic)') ?? [])[0]?.params ?? 0;
      const px = (rows.get('supernet max') ?? [])[0]?.params ?? 0;
      const t = pairedTest(max, median);
      push(2, { task, base, holds: ratio >= 0.95 && pm < px, evidence: `median / max = ${ratio.toFixed(3)} at ${pm.toLocaleString('en-US')} / ${px.toLocaleString('en-US')} params; paired difference ${ci(t.difference)}`, test: t });
      const searchedHalf = test('NSGA-II at ≤ 50% params');
      if (searchedHalf.length === median.length) {
        const s = pairedTest(median, searchedHalf);
        push(3, { task, base, holds: s.difference.mean >= 0 || s.difference.high >= 0, evidence: `NSGA-II at ≤ 50% params ${ci(meanInterval(searchedHalf))} vs median ${ci(meanInterval(median))}; paired difference ${ci(s.difference)}, p = ${s.p.toFixed(3)}`, test: s });
      }
    }
    if (base === 'sparse50') {
      // Paired by seed, over the seeds both bases have.
      const dense = cells.filter((c) => c.task === task && c.base === 'dense' && group.some((s) => s.seed === c.seed));
      const sparse = group.filter((s) => dense.some((c) => c.seed === s.seed));
      if (dense.length >= 2) {
        const denseMax = meanInterval(dense.map((c) => c.max.test)).mean;
        const sparseBase = meanInterval(sparse.map((c) => c.baseModel.test)).mean;
        const sparseMax = meanInterval(sparse.map((c) => c.max.test)).mean;
        const lost = denseMax - sparseBase;
        const recovered = lost > 0 ? (sparseMax - sparseBase) / lost : NaN;
        push(4, {
          task,
          base,
          holds: lost <= 0 || recovered >= 0.5,
          evidence: `sparse base ${pct(sparseBase)}, sparse NLS max ${pct(sparseMax)}, dense NLS max ${pct(denseMax)}: ${Number.isFinite(recovered) ? `${(100 * recovered).toFixed(0)}% of the gap closed` : 'pruning lost nothing here'}`,
          test: pairedTest(dense.map((c) => c.max.test), sparse.map((c) => c.max.test)),
        });
      }
    }
    const merges = group.map((c) => c.merge).filter((m): m is NonNullable<CellResult['merge']> => m !== undefined);
    if (merges.length > 0) {
      // Sparsity is kept when no pruned weight is filled in. On a quantized base, re-quantizing the
      // merged weights can round some kept weights to zero: more zeros, reported, not a loss.
      const filled = merges.reduce((s, m) => s + m.newNonZeros, 0);
      const zeroed = merges.reduce((s, m) => s + Math.max(0, m.nonZerosBefore + m.newNonZeros - m.nonZerosAfter), 0);
      const change = merges.map((m) => m.mergedTest - m.unmergedTest);
      const worst = Math.max(...change.map(Math.abs));
      const zeros = `${filled === 0 ? 'no pruned weight filled in' : `${filled.toLocaleString('en-US')} PRUNED WEIGHTS FILLED IN`}${zeroed > 0 ? `, ${zeroed.toLocaleString('en-US')} weights rounded to zero by re-quantization` : ''}`;
      push(5, { task, base, holds: filled === 0 && worst <= 0.01, evidence: `${merges.length} merge${merges.length === 1 ? '' : 's'}: ${zeros}; test accuracy change ${change.map((d) => `${(100 * d).toFixed(1)}`).join(', ')} points` });
    }
  }
  return { format: 'nls-replicate/1', budget, references, cells, summary, findings, progress: { done: cells.length, planned } };
}

/** results.md: the summary per task and base, references, and the findings. */
export function formatResults(r: ReplicateResult): string {
  const longer = r.budget.tasks.filter((t) => stepsOf(r.budget, t) !== r.budget.steps).map((t) => `${t} ${stepsOf(r.budget, t)}`);
  const steps = `${r.budget.steps} steps${longer.length > 0 ? ` (${longer.join(', ')})` : ''}`;
  const lines = ['# nls replicate: results', '', `Budget: ${r.budget.seeds} seeds, ${steps}, ${r.budget.searchBudget} evaluations per search, ${r.budget.testSize} test examples.`, ''];
  const partial = partialNote(r);
  if (partial) lines.push(`**${partial}**`, '');
  for (const task of r.budget.tasks) {
    lines.push(`## ${task}`, '', '| base | subnet | adapter params | test accuracy (mean ± 95% CI) | validation |', '| --- | --- | --- | --- | --- |');
    for (const ref of r.references[task] ?? []) lines.push(`| - | ${ref.name} (no model: ${ref.description}) | 0 | ${pct(ref.test)} | ${pct(ref.validation)} |`);
    for (const s of r.summary.filter((x) => x.task === task)) lines.push(`| ${s.base} | ${s.row} | ${Math.round(s.params).toLocaleString('en-US')} | ${ci(s.test)} | ${Number.isFinite(s.validation.mean) ? ci(s.validation) : '-'} |`);
    lines.push('');
  }
  const widthCells = r.cells.filter((c) => c.widths);
  if (widthCells.length > 0) {
    lines.push('## LoNAS row: elastic MLP widths', '', `The fastest subnet of an elastic-width supernet within ${WIDTH_TOLERANCE * 100} points of its max subnet on validation, merged and timed against the merged max subnet on the onnx engine.`, '');
    lines.push('| task | seeds | FLOPs share | measured speedup | max test accuracy | chosen test accuracy |', '| --- | --- | --- | --- | --- | --- |');
    for (const task of r.budget.widthTasks) {
      const ws = widthCells.filter((c) => c.task === task).map((c) => c.widths!);
      if (ws.length === 0) continue;
      const mi = (xs: number[]) => meanInterval(xs);
      lines.push(`| ${task} | ${ws.length} | ${ci(mi(ws.map((w) => w.flopsShare)))} | ${mi(ws.map((w) => w.speedup)).mean.toFixed(2)}x (${ws.map((w) => w.speedup.toFixed(2)).join(', ')}) | ${ci(mi(ws.map((w) => w.max.test)))} | ${ci(mi(ws.map((w) => w.chosen.test)))} |`);
    }
    lines.push('');
  }
  lines.push('## Findings', '');
  for (const f of r.findings) {
    const held = f.checks.filter((c) => c.holds).length;
    lines.push(`${f.id}. **${f.statement}**: ${f.checks.length === 0 ? 'not tested' : `held in ${held} of ${f.checks.length}`}`);
    for (const c of f.checks) lines.push(`   - ${c.task}, ${c.base}: ${c.holds ? 'holds' : 'does not hold'} (${c.evidence})`);
  }
  return `${lines.join('\n')}\n`;
}
