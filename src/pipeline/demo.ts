/**
 * The demo pipeline behind `nls demo`: the built-in model, data and search space, end to end.
 *
 * Loads the pre-trained demo model (models/demo), trains a weight-sharing supernet of elastic
 * LoRA adapters (search-spaces/demo.json) on the built-in SpamAssassin task, and reports the
 * validation accuracy of its max, median and min subnets next to two baselines: the base model
 * without adapters, and a fixed-rank LoRA (r = r_max) trained for the same steps. The baseline
 * trains in a worker thread while the supernet trains here, so both cores are used.
 *
 * Then it searches the trained supernet with four strategies (heuristic, random, NSGA-II,
 * hill-climbing) for accuracy against adapter parameters, under a parameter budget, with two
 * evaluation workers and one measurement per configuration shared by all strategies.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { DEMO_MODEL_DIR, hasPretrainedDemoModel } from '../model/demo-model.js';
import { NlsError } from '../errors.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../space/index.js';
import { Progress } from '../util/progress.js';
import { type CompareStrategiesResult, type ComparedStrategy, compareStrategies } from './compare-strategies.js';
import { runTrainEvalJob, runTrainEvalJobInWorker, type TrainEvalJob, type TrainEvalResult } from './train-eval-job.js';
import { BUILTIN_SPAM_TASK, runSupernetTraining, type SubnetMetrics } from './train-supernet.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly backend?: BackendRequest;
  readonly seed?: number;
  /** Base model folder (default: the shipped models/demo). */
  readonly modelDir?: string;
  /** Optimizer steps of each training run (default {@link DEMO_STEPS}). */
  readonly steps?: number;
  /** Training / validation examples of the spam task (defaults 480 / 100). */
  readonly trainSize?: number;
  readonly validationSize?: number;
  /** Run the baseline in a worker thread and search with two evaluation workers (default true). */
  readonly parallel?: boolean;
  /** Evaluations of each of the random, NSGA-II and hill-climbing searches (default {@link DEMO_SEARCH_BUDGET}; 0 skips the search). */
  readonly searchBudget?: number;
  /** Keep the supernet and the search journals here (default: a temporary folder, removed at the end). */
  readonly out?: string;
  readonly progress?: Progress;
  readonly json?: boolean;
}

/** One row of the demo's result table. */
export interface DemoRow extends SubnetMetrics {
  /** What the row is, e.g. "NLS supernet, median subnet". */
  readonly description: string;
}

/** What {@link runDemo} returns. */
export interface DemoResult {
  readonly backend: BackendInfo;
  readonly model: string;
  readonly space: { readonly name: string; readonly genes: number; readonly cardinality: string };
  readonly task: { readonly name: string; readonly train: number; readonly validation: number; readonly majorityAccuracy: number };
  readonly steps: number;
  readonly rows: readonly DemoRow[];
  /** The search stage (absent when `searchBudget` is 0). */
  readonly search?: DemoSearch;
  /** Where the supernet and journals were kept (only with `out`). */
  readonly out?: string;
  readonly seconds: number;
}

/** The demo's search stage: each strategy's result and the combined front. */
export interface DemoSearch extends CompareStrategiesResult {
  /** The parameter budget of the `params<=` constraint: half the supernet's adapter parameters. */
  readonly paramsBound: number;
  readonly seconds: number;
}

/**
 * Characters of each email kept (mostly its subject line), so that prompt + label fit in 64 byte
 * tokens: a word-count naive Bayes gets 90% on these 48 characters (94% on 110), and a training
 * step costs half of a 128-token one, which buys the steps the adapters need within the demo's
 * time budget.
 */
const DEMO_MAX_CHARS = 48;
const DEMO_MAX_LENGTH = 64;
/** Default optimizer steps of the demo's training runs. */
export const DEMO_STEPS = 150;
/** Default evaluations of each of the demo's random, NSGA-II and hill-climbing searches. */
export const DEMO_SEARCH_BUDGET = 12;

/** Run the demo pipeline. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const progress = options.progress ?? new Progress();
  const seed = options.seed ?? 0;
  const backendRequest = options.backend ?? 'wasm';
  const backend = await initBackend(backendRequest, { quiet: true });
  const modelDir = options.modelDir ?? DEMO_MODEL_DIR;
  if (options.modelDir === undefined && !hasPretrainedDemoModel()) {
    throw new NlsError('the pre-trained demo model is missing; fix: restore models/demo from the repository, or build it with nls pretrain --out models/demo', {
      file: DEMO_MODEL_DIR,
    });
  }
  const spaceFile = builtinSearchSpacePath('demo');
  const space = await loadAndResolveSearchSpace(spaceFile, { numLayers: 4 });
  const steps = options.steps ?? DEMO_STEPS;
  const trainSize = options.trainSize ?? 480;
  const validationSize = options.validationSize ?? 100;
  progress.log(`backend ${backend.name}; model ${options.modelDir ?? 'models/demo'}; space ${space.name} (${space.cardinality().toLocaleString('en-US')} subnets); task ${BUILTIN_SPAM_TASK} (${trainSize} train / ${validationSize} validation)`);

  const common: Omit<TrainEvalJob, 'rule' | 'evaluate' | 'showProgress'> = {
    backend: backendRequest,
    modelDir,
    data: BUILTIN_SPAM_TASK,
    taskOptions: { seed, trainSize, validationSize, maxChars: DEMO_MAX_CHARS },
    spaceFile,
    steps,
    lr: 2e-3,
    warmupSteps: Math.max(1, Math.round(steps / 10)),
    batchSize: 8,
    maxLength: DEMO_MAX_LENGTH,
    seed,
    ...(options.json ? { json: true } : {}),
  };
  const baselineJob: TrainEvalJob = {
    ...common,
    rule: 'max',
    showProgress: false,
    evaluate: [
      { name: 'base', subnet: 'off' },
      { name: 'lora', subnet: 'max' },
    ],
  };
  const out = options.out ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-demo-')));
  const supernetDir = path.join(out, 'supernet');
  try {
    progress.log(`training a fixed-rank LoRA baseline (r = r_max, ${steps} steps) ${options.parallel === false ? 'first' : 'in a worker thread'} and the NLS supernet (${steps} steps, uniform sampling)`);
    const trainSupernetHere = () =>
      runSupernetTraining({
        model: modelDir,
        data: BUILTIN_SPAM_TASK,
        space: spaceFile,
        out: supernetDir,
        rule: 'uniform',
        steps,
        lr: common.lr,
        warmupSteps: common.warmupSteps,
        batchSize: common.batchSize,
        gradAccum: 1,
        maxLength: common.maxLength,
        weightDecay: 0,
        seed,
        backend: backendRequest,
        checkpointEvery: steps,
        taskOptions: { trainSize, validationSize, maxChars: DEMO_MAX_CHARS },
        progress,
      });
    let baseline: TrainEvalResult;
    let supernet: Awaited<ReturnType<typeof trainSupernetHere>>;
    if (options.parallel === false) {
      baseline = await runTrainEvalJob(baselineJob);
      supernet = await trainSupernetHere();
    } else {
      [baseline, supernet] = await Promise.all([runTrainEvalJobInWorker(baselineJob), trainSupernetHere()]);
    }
    const describe: Record<string, string> = {
      base: 'base model, no adapters',
      lora: `LoRA, fixed rank r_max, ${steps} steps`,
      max: 'NLS supernet: max subnet',
      median: 'NLS supernet: median (heuristic) subnet',
      min: 'NLS supernet: min subnet',
    };
    const rows = [...baseline.metrics, ...supernet.validation].map((m) => ({ ...m, description: describe[m.name] ?? m.name }));

    const searchBudget = options.searchBudget ?? DEMO_SEARCH_BUDGET;
    let search: DemoSearch | undefined;
    if (searchBudget > 0) {
      const started = performance.now();
      const maxParams = supernet.validation.find((m) => m.name === 'max')?.adapterParameters ?? 0;
      const paramsBound = Math.floor(maxParams / 2);
      progress.log(`searching the supernet: accuracy vs adapter parameters, constraint params <= ${paramsBound.toLocaleString('en-US')} (half the supernet's)`);
      const compared = await compareStrategies({
        supernet: supernetDir,
        strategies: demoStrategies(searchBudget, paramsBound),
        objectives: ['accuracy', 'params'],
        constraints: [{ metric: 'params', op: '<=', bound: paramsBound }],
        seed,
        out: path.join(out, 'search'),
        workers: options.parallel === false ? 1 : 2,
        backend: backendRequest,
        progress,
      });
      search = { ...compared, paramsBound, seconds: (performance.now() - started) / 1000 };
    }
    return {
      backend,
      model: options.modelDir ?? 'models/demo',
      space: { name: space.name, genes: space.size, cardinality: space.cardinality().toString() },
      // The task is balanced by construction: the majority class is right half the time.
      task: { name: BUILTIN_SPAM_TASK, train: trainSize, validation: validationSize, majorityAccuracy: Math.ceil(validationSize / 2) / validationSize },
      steps,
      rows,
      ...(search ? { search } : {}),
      ...(options.out !== undefined ? { out } : {}),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (options.out === undefined) await fsp.rm(out, { recursive: true, force: true });
  }
}

/**
 * The demo's four searches: the heuristic sub-adapters, then random, NSGA-II and hill-climbing
 * with `budget` evaluations each. Hill-climbing maximises accuracy under the parameter bound,
 * climbing from the smallest sub-adapter (the median breaks the bound, and steepest ascent would
 * spend the whole budget on the 24 neighbours of its start).
 */
export function demoStrategies(budget: number, paramsBound: number): ComparedStrategy[] {
  return [
    { strategy: 'heuristic', budget: 5 },
    { strategy: 'random', budget },
    { strategy: 'nsga2', budget, options: { populationSize: Math.max(2, Math.min(8, Math.floor(budget / 2))) } },
    // From the smallest sub-adapter (feasible), first improvement: accuracy bought with parameters;
    // restarts because accuracy on 100 emails moves in 1% steps and plateaus are common.
    { strategy: 'hill-climbing', budget, options: { scalarization: 'bounded', bound: paramsBound, start: 'min', mode: 'first', restarts: 3 } },
  ];
}
