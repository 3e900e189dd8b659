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
 *
 * With `sparsity` > 0 (the default, 50%) it is the Shears / SQFT pipeline: the demo model is
 * first Wanda-sparsified, both the supernet (SparsePEFT adapters, masked by the base's
 * non-zeros) and the LoRA baseline train on the sparse base, and after the search the best
 * feasible subnet is merged into the sparse base (checked: not one new non-zero). The merged model
 * is the export: a SparsePEFT adapter's masked delta is not a PEFT LoRA adapter (docs/formats.md).
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { DEMO_MODEL_DIR, hasPretrainedDemoModel } from '../model/demo-model.js';
import type { EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
import type { QuantSpec } from '../compress/quantize.js';
import { type QuantizeRunResult, runQuantize } from '../compress/quantize-run.js';
import { runSparsify, type SparsityFolderReport } from '../compress/sparsity-run.js';
import { type MergeReport, runMerge } from '../export/run.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace, type SearchSpace } from '../space/index.js';
import { type AdapterMode, PLAIN_ADAPTERS } from '../supernet/adapter-mode.js';
import { writeFileAtomic } from '../util/fs.js';
import { Progress } from '../util/progress.js';
import { type CompareStrategiesResult, type ComparedStrategy, compareStrategies, type StrategyOutcome } from './compare-strategies.js';
import { runTrainEvalJob, runTrainEvalJobInWorker, type TrainEvalJob, type TrainEvalResult } from './train-eval-job.js';
import { resolveTrainingEngine } from '../train/engines.js';
import { loadTaskData, runSupernetTraining, type SubnetMetrics, type TaskDataOptions } from './train-supernet.js';
import type { ReferencePoint } from '../data/tasks.js';
import { createSupernetScorer } from './scorer.js';
import { evaluateModelOnTask } from './evaluate-model.js';
import { resolveEngine } from '../engine/select.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly backend?: BackendRequest;
  /**
   * Engine of the training runs and of the search stage's evaluations (default `auto`: onnx when
   * onnxruntime-node loads here; docs/training.md, docs/engines.md).
   */
  readonly engine?: EngineRequest;
  readonly seed?: number;
  /** Base model folder (default: the shipped models/demo). */
  readonly modelDir?: string;
  /** Optimizer steps of each training run (default {@link DEMO_STEPS}). */
  readonly steps?: number;
  /** The built-in task (default {@link DEMO_TASK}): `spam` or `brown-cloze` (scored by candidate log-likelihood). */
  readonly task?: DemoTask;
  /** Training / validation / test examples of the task (defaults 2000 / 500 / 500). */
  readonly trainSize?: number;
  readonly validationSize?: number;
  readonly testSize?: number;
  /**
   * Use both cores (default true): on the tfjs engine the LoRA baseline trains in a worker thread
   * beside the supernet (wasm uses one core each); the onnx engine trains them one after the
   * other, each on every core. The search uses two evaluation workers.
   */
  readonly parallel?: boolean;
  /** Evaluations of each of the random, NSGA-II and hill-climbing searches (default {@link DEMO_SEARCH_BUDGET}; 0 skips the search). */
  readonly searchBudget?: number;
  /**
   * Wanda sparsity of the base model before adapters are trained (default {@link DEMO_SPARSITY});
   * 0 trains plain adapters on the dense demo model and skips merge and export.
   */
  readonly sparsity?: number;
  /**
   * Quantize the (sparse) base too, and train quantization-aware adapters (QA-SparsePEFT, SQFT);
   * the merge then re-quantizes on the base's grid. Default: a float base.
   */
  readonly quantization?: QuantSpec;
  /** Keep the supernet and the search journals here (default: a temporary folder, removed at the end). */
  readonly out?: string;
  readonly progress?: Progress;
  readonly json?: boolean;
  /**
   * Called with each part of the result as soon as it is known, before the next stage starts
   * (the CLI prints it then, instead of everything at the end). The parts, in order: `setup`,
   * `sparsify` (sparse runs), `rows` (the baselines, then the supernet's subnets; in parallel
   * mode in the order they finish), `strategy` (each search strategy), `search` (the combined
   * front), `merge`.
   */
  readonly onSection?: (section: DemoSection) => void;
}

/** A part of the demo's result, handed to {@link DemoOptions.onSection} when it is ready. */
export type DemoSection =
  | {
      readonly kind: 'setup';
      readonly backend: BackendInfo;
      readonly space: DemoResult['space'];
      /** Width of a configuration key of the space. */
      readonly keyWidth: number;
      readonly task: DemoResult['task'];
      readonly steps: number;
      /** The descriptions of every result row to come, and the labels of every search strategy (for column widths). */
      readonly rowDescriptions: readonly string[];
      readonly strategies: readonly string[];
    }
  | { readonly kind: 'sparsify'; readonly sparsify: NonNullable<DemoResult['sparsify']> }
  | { readonly kind: 'rows'; readonly stage: 'baselines' | 'supernet'; readonly rows: readonly DemoRow[] }
  | { readonly kind: 'strategy'; readonly outcome: StrategyOutcome; readonly paramsBound: number }
  | { readonly kind: 'search'; readonly search: DemoSearch }
  | { readonly kind: 'merge'; readonly merge: DemoMerge };

/** One row of the demo's result table. */
export interface DemoRow extends SubnetMetrics {
  /** What the row is, e.g. "NLS supernet, median subnet". */
  readonly description: string;
  /** Accuracy on the test split (`accuracy` is on validation). */
  readonly test?: number;
}

/** The demo's tasks: the built-in tasks scored by candidate log-likelihood. */
export type DemoTask = 'spam' | 'brown-cloze';

/** What {@link runDemo} returns. */
export interface DemoResult {
  readonly backend: BackendInfo;
  readonly model: string;
  readonly space: { readonly name: string; readonly genes: number; readonly cardinality: string };
  readonly task: {
    readonly name: string;
    readonly train: number;
    readonly validation: number;
    readonly test: number;
    /** The majority class's (spam) or chance's (cloze) validation accuracy. */
    readonly majorityAccuracy: number;
    /** Reference points that need no model, on validation and test. */
    readonly references: readonly ReferencePoint[];
  };
  readonly steps: number;
  readonly rows: readonly DemoRow[];
  /** The search stage (absent when `searchBudget` is 0). */
  readonly search?: DemoSearch;
  /** The sparsification of the base (absent when `sparsity` is 0). */
  readonly sparsify?: Pick<SparsityFolderReport, 'method' | 'sparsity' | 'samples' | 'seqlen' | 'perplexity' | 'overall' | 'evaluation' | 'seconds'>;
  /** The quantization of the base (only with `quantization`). */
  readonly quantize?: Pick<QuantizeRunResult, 'spec' | 'meanRelativeError' | 'evaluation'>;
  /** The chosen subnet merged into the sparse base (sparse runs with a search). */
  readonly merge?: DemoMerge;
  /** Where the supernet and journals were kept (only with `out`). */
  readonly out?: string;
  readonly seconds: number;
}

/** The demo's search stage: each strategy's result and the combined front. */
export interface DemoSearch extends CompareStrategiesResult {
  /** The parameter budget of the `params<=` constraint: half the supernet's adapter parameters. */
  readonly paramsBound: number;
  readonly seconds: number;
  /** Test accuracy of each strategy's best feasible subnet and of the front's most accurate one, by configuration key (selected on validation, reported on test). */
  readonly test: Readonly<Record<string, number>>;
}

/**
 * The demo's last stage: the chosen subnet merged into the sparse base. No PEFT adapter is
 * exported: PEFT would apply the SparsePEFT delta unmasked, a different model (docs/formats.md).
 */
export interface DemoMerge {
  /** The configuration merged: the most accurate feasible subnet of the combined front. */
  readonly key: string;
  /** Its validation accuracy (what it was chosen on). */
  readonly accuracy: number;
  /** The merged model's test accuracy. */
  readonly test: number;
  readonly params: number;
  /**
   * Non-zeros of the adapted modules before and after the merge (equal on a float base; on a
   * quantized base re-quantizing may round a few more weights to zero).
   */
  readonly nonZerosBefore: number;
  readonly nonZerosAfter: number;
  /** Weights that were zero before the merge and are not after it: 0 (the sparsity is kept). */
  readonly newNonZeros: number;
  /** Largest |logit difference| between the merged model and base + adapter, on validation rows. */
  readonly maxLogitDiff: number;
  /** The merged HF model folder (under `out`; removed with a temporary one). */
  readonly mergedDir: string;
}

/** The demo's search space (search-spaces/demo.json on the demo model's 4 layers), e.g. to print a result's rank patterns. */
export async function demoSearchSpace(): Promise<SearchSpace> {
  return loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: 4 });
}

/** The demo's result (a {@link DemoResult}) in its `out` folder. */
export const DEMO_RESULT_FILE = 'demo-result.json';

/** Default Wanda sparsity of the demo's base model (Shears' 50%). */
export const DEMO_SPARSITY = 0.5;
/**
 * Learning rate of every demo training run. On the 8000-step base model, 400 steps at 2e-3 train
 * the sparse supernet as well as the dense one (4e-3 was no better; docs/benchmarks.md).
 */
export const DEMO_LR = 2e-3;

/** The demo's default task (docs/benchmarks.md says why). */
export const DEMO_TASK: DemoTask = 'spam';

/**
 * Per task: tokens per example and (spam) characters kept per e-mail; longer prompts are cut
 * from the left, so the end of the text and the answer stay.
 */
const DEMO_TASK_SETTINGS: Readonly<Record<DemoTask, { readonly maxLength: number; readonly maxChars?: number }>> = {
  spam: { maxLength: 128, maxChars: 120 },
  'brown-cloze': { maxLength: 160 },
};
/** Default optimizer steps of the demo's training runs. */
export const DEMO_STEPS = 400;
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
  const space = await demoSearchSpace();
  const steps = options.steps ?? DEMO_STEPS;
  const taskName = options.task ?? DEMO_TASK;
  const settings = DEMO_TASK_SETTINGS[taskName];
  if (!settings) throw new NlsError(`the demo runs the tasks ${Object.keys(DEMO_TASK_SETTINGS).join(', ')}, not ${JSON.stringify(taskName)}`, { field: '--task' });
  const trainSize = options.trainSize ?? 2000;
  const validationSize = options.validationSize ?? 500;
  const testSize = options.testSize ?? 500;
  const taskOptions = { seed, trainSize, validationSize, testSize, ...(settings.maxChars !== undefined ? { maxChars: settings.maxChars } : {}) };
  const taskData = await loadTaskData(taskName, taskOptions);
  const references = taskData.references ?? [];
  const majority = references.find((r) => r.name === 'majority' || r.name === 'chance');
  const taskInfo: DemoResult['task'] = { name: taskName, train: taskData.train.length, validation: taskData.validation.length, test: taskData.test?.length ?? 0, majorityAccuracy: majority?.validation ?? NaN, references };
  progress.log(`backend ${backend.name}; model ${options.modelDir ?? 'models/demo'}; space ${space.name} (${space.cardinality().toLocaleString('en-US')} subnets); task ${taskName} (${taskInfo.train} train / ${taskInfo.validation} validation / ${taskInfo.test} test)`);

  const out = options.out ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-demo-')));
  const supernetDir = path.join(out, 'supernet');
  try {
    const sparsity = options.sparsity ?? DEMO_SPARSITY;
    let sparsify: DemoResult['sparsify'];
    let baseDir = modelDir;
    const sparse = sparsity > 0 ? `${(sparsity * 100).toFixed(0)}%-sparse ` : '';
    const nls = options.quantization ? 'NLS supernet (QA-SparsePEFT)' : sparsity > 0 ? 'NLS supernet (SparsePEFT)' : 'NLS supernet';
    const describe: Record<string, string> = {
      base: `${sparse}base model, no adapters`,
      lora: `LoRA, fixed rank r_max, ${steps} steps`,
      max: `${nls}: max subnet`,
      median: `${nls}: median (heuristic) subnet`,
      min: `${nls}: min subnet`,
    };
    const searchBudget = options.searchBudget ?? DEMO_SEARCH_BUDGET;
    const section = (s: DemoSection) => options.onSection?.(s);
    section({
      kind: 'setup',
      backend,
      space: { name: space.name, genes: space.size, cardinality: space.cardinality().toString() },
      keyWidth: space.key(space.maxConfig()).length,
      task: taskInfo,
      steps,
      rowDescriptions: Object.values(describe),
      strategies: searchBudget > 0 ? demoStrategies(searchBudget, 0).map((s) => s.label ?? s.strategy) : [],
    });
    if (sparsity > 0) {
      progress.log(`pruning the base model: Wanda, ${(sparsity * 100).toFixed(0)}% of every decoder linear's weights per output row`);
      // A small calibration set is enough for a 4-layer model and keeps the stage to seconds.
      const report = await runSparsify({
        model: modelDir,
        out: path.join(out, 'sparse-model'),
        method: 'wanda',
        sparsity,
        samples: 32,
        seqlen: 64,
        evalTokens: 4096,
        seed,
        backend: backendRequest,
        progress,
      });
      sparsify = { method: report.method, sparsity: report.sparsity, samples: report.samples, seqlen: report.seqlen, perplexity: report.perplexity, overall: report.overall, evaluation: report.evaluation, seconds: report.seconds };
      section({ kind: 'sparsify', sparsify });
      baseDir = path.join(out, 'sparse-model');
    }
    let quantize: DemoResult['quantize'];
    if (options.quantization) {
      const q = options.quantization;
      progress.log(`quantizing the base model: int${q.bits}, groups of ${q.groupSize}, ${q.symmetric ? 'symmetric' : 'asymmetric'} (zeros stay zeros)`);
      const report = await runQuantize({ model: baseDir, out: path.join(out, 'quantized-model'), spec: q, evalTokens: 4096, backend: backendRequest, progress });
      quantize = { spec: report.spec, meanRelativeError: report.meanRelativeError, evaluation: report.evaluation };
      baseDir = path.join(out, 'quantized-model');
    }
    const adapterMode: AdapterMode = options.quantization ? { sparse: true, quantAware: true } : sparsity > 0 ? { sparse: true, quantAware: false } : PLAIN_ADAPTERS;

    const trainingEngine = await resolveTrainingEngine(options.engine ?? 'auto');
    const common: Omit<TrainEvalJob, 'rule' | 'evaluate' | 'showProgress'> = {
      backend: backendRequest,
      engine: trainingEngine,
      modelDir: baseDir,
      data: taskName,
      taskOptions,
      spaceFile,
      steps,
      lr: DEMO_LR,
      warmupSteps: Math.max(1, Math.round(steps / 10)),
      batchSize: 8,
      maxLength: settings.maxLength,
      seed,
      ...(options.json ? { json: true } : {}),
    };
    const baselineJob: TrainEvalJob = {
      ...common,
      rule: 'max',
      showProgress: !progress.quiet,
      ...(progress.bar ? { progressBar: true } : {}),
      evaluate: [
        { name: 'base', subnet: 'off' },
        { name: 'lora', subnet: 'max' },
      ],
    };
    // onnx sessions use every core themselves: the two runs go one after the other.
    const sequential = options.parallel === false || trainingEngine === 'onnx';
    progress.log(
      `training a fixed-rank LoRA baseline (r = r_max, ${steps} steps) ${sequential ? 'first' : 'in a worker thread'} and the NLS supernet (${steps} steps, uniform sampling) on the ${trainingEngine} engine`,
    );
    const trainSupernetHere = () =>
      runSupernetTraining({
        model: baseDir,
        data: taskName,
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
        taskOptions,
        adapterMode,
        engine: trainingEngine,
        progress,
      });
    const described = (metrics: readonly SubnetMetrics[], test?: readonly SubnetMetrics[]): DemoRow[] =>
      metrics.map((m) => {
        const t = test?.find((x) => x.name === m.name)?.accuracy;
        return { ...m, description: describe[m.name] ?? m.name, ...(t !== undefined ? { test: t } : {}) };
      });
    // Each run's rows are handed on as soon as it has evaluated them.
    const baselineDone = (b: TrainEvalResult) => (section({ kind: 'rows', stage: 'baselines', rows: described(b.metrics, b.test) }), b);
    const supernetDone = (s: Awaited<ReturnType<typeof trainSupernetHere>>) => (section({ kind: 'rows', stage: 'supernet', rows: described(s.validation, s.test) }), s);
    let baseline: TrainEvalResult;
    let supernet: Awaited<ReturnType<typeof trainSupernetHere>>;
    if (sequential) {
      baseline = baselineDone(await runTrainEvalJob(baselineJob, progress));
      supernet = supernetDone(await trainSupernetHere());
    } else {
      // The baseline's worker prints its own progress lines beside the supernet's.
      [baseline, supernet] = await Promise.all([runTrainEvalJobInWorker(baselineJob).then(baselineDone), trainSupernetHere().then(supernetDone)]);
    }
    const rows = [...described(baseline.metrics, baseline.test), ...described(supernet.validation, supernet.test)];

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
        ...(options.engine ? { engine: options.engine } : {}),
        progress,
        onStrategy: (outcome) => section({ kind: 'strategy', outcome, paramsBound }),
      });
      // Selected on validation, reported on test: every strategy's best and the front's most accurate.
      const chosen = new Map<string, readonly number[]>();
      for (const o of compared.strategies) if (o.best) chosen.set(o.best.key, space.parseKey(o.best.key));
      const top = mostAccurate(compared.front);
      if (top) chosen.set(top.key, space.parseKey(top.key));
      progress.log(`measuring the ${chosen.size} chosen subnets on the test split`);
      const test = await testAccuracies(supernetDir, [...chosen.values()], backendRequest, options.engine);
      search = { ...compared, paramsBound, seconds: (performance.now() - started) / 1000, test: Object.fromEntries([...chosen.keys()].map((k, i) => [k, test[i]!])) };
      section({ kind: 'search', search });
    }
    const merge = (sparsity > 0 || options.quantization) && search ? await mergeAndExport(supernetDir, out, search, space, backendRequest, seed, progress, { task: taskName, taskOptions, maxLength: settings.maxLength, ...(options.engine ? { engine: options.engine } : {}) }) : undefined;
    if (merge) section({ kind: 'merge', merge });
    const result: DemoResult = {
      backend,
      model: options.modelDir ?? 'models/demo',
      space: { name: space.name, genes: space.size, cardinality: space.cardinality().toString() },
      task: taskInfo,
      steps,
      rows,
      ...(search ? { search } : {}),
      ...(sparsify ? { sparsify } : {}),
      ...(quantize ? { quantize } : {}),
      ...(merge ? { merge } : {}),
      ...(options.out !== undefined ? { out } : {}),
      seconds: (performance.now() - started) / 1000,
    };
    // The result table next to the artifacts, for `nls report` and for comparing runs.
    if (options.out !== undefined) await writeFileAtomic(path.join(out, DEMO_RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    if (options.out === undefined) await fsp.rm(out, { recursive: true, force: true });
  }
}

/**
 * Merge the most accurate feasible subnet of the combined front into the sparse base (the
 * supernet's SparsePEFT mode makes the merge sparsity-aware) and check that it added no non-zero.
 */
async function mergeAndExport(
  supernetDir: string,
  out: string,
  search: DemoSearch,
  space: SearchSpace,
  backend: BackendRequest,
  seed: number,
  progress: Progress,
  task: { readonly task: DemoTask; readonly taskOptions: TaskDataOptions; readonly maxLength: number; readonly engine?: EngineRequest },
): Promise<DemoMerge> {
  const best = mostAccurate(search.front);
  if (!best) throw new NlsError('the search found no feasible subnet to merge', { field: 'search' });
  const choice = { kind: 'key', key: best.key } as const;
  const mergedDir = path.join(out, 'merged');
  progress.log(`merging subnet ${best.key} (ranks ${space.rankPattern(best.key)}) into the sparse base (SparsePEFT merge)`);
  const { report } = await runMerge({ supernet: supernetDir, choice, out: mergedDir, backend, seed, progress });
  const total = (r: MergeReport, field: 'nonZerosBefore' | 'nonZerosAfter' | 'newNonZeros'): number => r.modules.reduce((a, m) => a + m[field], 0);
  const before = total(report, 'nonZerosBefore');
  const after = total(report, 'nonZerosAfter');
  const created = total(report, 'newNonZeros');
  if (created !== 0) throw new NlsError(`the merge filled in ${created} pruned weights (${before} non-zeros before, ${after} after)`, { file: mergedDir });
  progress.log('measuring the merged model on the test split');
  const test = await evaluateModelOnTask(mergedDir, task.task, task.taskOptions, 'test', task.maxLength, task.engine ? { engine: task.engine } : {});
  return {
    key: best.key,
    accuracy: best.metrics.accuracy ?? Number.NaN,
    test,
    params: best.metrics.params ?? Number.NaN,
    nonZerosBefore: before,
    nonZerosAfter: after,
    newNonZeros: created,
    maxLogitDiff: report.logits.maxAbsDiff,
    mergedDir,
  };
}

/** The front's most accurate member (fewer parameters on ties). */
function mostAccurate<T extends { readonly metrics: Readonly<Record<string, number | undefined>> }>(front: readonly T[]): T | undefined {
  return [...front].sort((a, b) => (b.metrics['accuracy'] ?? 0) - (a.metrics['accuracy'] ?? 0) || (a.metrics['params'] ?? 0) - (b.metrics['params'] ?? 0))[0];
}

/** Test accuracy of configurations of a supernet (its task's test split). */
async function testAccuracies(supernetDir: string, configs: readonly (readonly number[])[], backend: BackendRequest, engine: EngineRequest | undefined): Promise<number[]> {
  const scorer = await createSupernetScorer({ supernet: supernetDir, backend, needs: ['accuracy'], split: 'test', engine: await resolveEngine(engine ?? 'auto') });
  try {
    const out: number[] = [];
    for (const c of configs) out.push((await scorer.measure([...c])).accuracy ?? NaN);
    return out;
  } finally {
    await scorer.dispose();
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
