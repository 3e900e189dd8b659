/**
 * nls: Neural Low-rank adapter Search on TensorFlow.js.
 *
 * Elastic LoRA adapters on LLaMA-family models, the search spaces that describe them, and the
 * machinery to load models, choose compute backends and run subnets. See README.md and docs/.
 *
 * @packageDocumentation
 */

// Errors and utilities
export { NlsError } from './errors.js';
export { createRng, restoreRng, childSeed, normalArray, uniformArray, type Rng, type RngState } from './util/rng.js';
export { writeFileAtomic } from './util/fs.js';
export { Progress, formatDuration, type ProgressOptions } from './util/progress.js';
export { formatTable } from './util/table.js';
export { NLS_VERSION, PACKAGE_ROOT, packagePath } from './package-info.js';

// Backends
export * from './backend/index.js';
/**
 * TensorFlow.js, the same instance nls computes with: build inputs for `LlamaModel.forward`
 * (`tf.tensor2d([ids], undefined, 'int32')`), read and dispose outputs, `tf.tidy`. Use this one
 * rather than importing `@tensorflow/tfjs` yourself, so tensors and backends are shared.
 */
export * as tf from '@tensorflow/tfjs';

// Fast-path ops
export { matmul, linear, linearFrozen, bmm, embedding } from './ops/linalg.js';

// Model
export { LlamaModel, hfLinearName, randomHfTensors, type DecoderLayer, type HfTensor } from './model/llama.js';
export {
  LinearSlot,
  LINEAR_MODULES,
  INFERENCE,
  type ForwardContext,
  type LinearHook,
  type LinearModuleName,
} from './model/linear.js';
export { tokenCrossEntropy } from './model/loss.js';
export * from './model/hf-config.js';
export * from './model/safetensors.js';
export * from './model/tokenizer.js';
export { loadModelFolder, saveModelFolder, type FolderQuantization, type ModelFolder, type SaveModelOptions } from './model/model-folder.js';
export { DEMO_MODEL_CONFIG, DEMO_MODEL_DIR, DEMO_MODEL_NAME, hasPretrainedDemoModel, demoModelOrRandom, modelFolderOf } from './model/demo-model.js';
/** Models with per-layer MLP widths (LoNAS mode B): the smaller model a width configuration exports. */
export { configWithWidths, intermediateSizesOf, sliceMlpHfTensors } from './model/widths.js';

// Adapters
export { ElasticLoraAdapter, type ElasticLoraSpec } from './adapters/elastic-lora.js';
export { AdapterSet, type HasLinearSlots } from './adapters/adapter-set.js';

// Search spaces
export * from './space/index.js';

// Search: contract, study, strategies, Pareto tools, plugins
export * from './search/index.js';

// Pipelines
export { DEMO_RESULT_FILE, demoStrategies, runDemo, type DemoOptions, type DemoResult, type DemoRow, type DemoSearch } from './pipeline/demo.js';
export * from './pipeline/train-supernet.js';
export { runTrainEvalJob, runTrainEvalJobInWorker, type TrainEvalJob, type TrainEvalResult, type SubnetChoice } from './pipeline/train-eval-job.js';
export { pretrainDemoModel, type PretrainDemoOptions, type PretrainDemoResult } from './pipeline/pretrain-demo.js';
/** Randomly initialised model folders of any LLaMA size (`nls init-model`). */
export {
  initModelFolder,
  initModelConfig,
  initModelCommandLine,
  parameterBreakdown,
  INIT_MODEL_DEFAULTS,
  type InitModelArchitecture,
  type InitModelOptions,
  type InitModelResult,
  type ParameterBreakdown,
} from './pipeline/init-model.js';

// Data
export * from './data/index.js';

// Compression: sparsity (Wanda, magnitude)
export * from './compress/index.js';

// Sub-adapter extraction and export (PEFT adapter folders, merged model folders)
export * from './export/index.js';

// Training
export { AdamW, HostAdamW, clipByGlobalNorm, type AdamWOptions, type AdamWSlotState } from './train/adamw.js';
/** Training engines (docs/training.md): the loop's tfjs and onnx back ends. */
export { createTfjsTrainingEngine, type TfjsEngineSpec, type TrainingEngine, type TrainingEngineName, type ParameterSnapshot } from './train/engine.js';
export { createTrainingEngine, resolveTrainingEngine, type EngineChoice, type TrainingEngineSpec } from './train/engines.js';
export { cosineWithWarmup, type CosineScheduleOptions } from './train/schedule.js';
export type { TokenBatch, BatchSource } from './train/batch.js';
export { saveCheckpointDir, loadLatestCheckpoint, hasCheckpoint, type CheckpointContents } from './train/checkpoint.js';
export {
  runTrainingLoop,
  batchTensors,
  TrainingDivergedError,
  type TrainingTask,
  type TrainingPass,
  type TrainLoopOptions,
  type TrainLoopResult,
  type StepRecord,
} from './train/loop.js';
export { pretrain, type PretrainOptions } from './train/pretrain.js';

// Supernet
export { SAMPLING_RULES, configsForStep, type SamplingRuleName } from './supernet/sampling.js';
export { trainSupernet, configStatistics, adapterVariables, type ConfigStatistics, type SupernetTrainOptions, type SupernetTrainResult } from './supernet/trainer.js';
export * from './supernet/artifact.js';
export { adapterModeName, adapterModeOf, applyAdapterMode, describeAdapterMode, PLAIN_ADAPTERS, refuseWidthsWithConstrainedAdapters, type AdapterMode, type AdapterModeName } from './supernet/adapter-mode.js';

// Evaluation
export { evaluateLoss, type LossMetrics } from './evaluate/loss.js';
export { scoreRows, scoreRowsMany, type RowScores } from './evaluate/scoring.js';
export * from './predict/index.js';
export { createSupernetScorer, openSupernetScorer, startScorerPool, type ConfigScorer, type ScorerSpec, type SupernetScorer, type TrialHint } from './pipeline/scorer.js';
// Distributed evaluation: BullMQ job queues on Redis (docs/distributed.md).
export {
  openQueueScorer,
  type QueueScorer,
  type QueueScorerOptions,
  type QueueStatus,
} from './distributed/coordinator.js';
export { runEvaluationWorker, parsePathMapping, mapPath, type EvaluationWorkerOptions, type WorkerSummary, type PathMapping } from './distributed/worker.js';
export { parseQueueUrl, type QueueAddress } from './distributed/connection.js';
export {
  checkJob,
  checkResult,
  jobId,
  JOB_FORMAT,
  RESULT_FORMAT,
  PayloadError,
  type EvaluationJob,
  type JobKind,
  type JobResult,
  type JobScorer,
  type FileRef,
  type WorkerIdentity,
  type ScorerInfo,
} from './distributed/job.js';
export { supernetSha256 } from './supernet/artifact.js';
export {
  runSearch,
  metricObjective,
  constraintName,
  parseConstraint,
  parseObjectives,
  resolveStrategy,
  searchSettings,
  trainingStatisticsOf,
  SEARCH_DEFAULTS,
  SEARCH_METRICS,
  type SearchMetric,
  type MetricConstraint,
  type SearchRunOptions,
  type SearchRunResult,
  type SearchSettings,
} from './pipeline/search.js';
export { compareStrategies, type ComparedStrategy, type ComparedTrial, type CompareStrategiesOptions, type CompareStrategiesResult, type StrategyOutcome } from './pipeline/compare-strategies.js';
export {
  choiceMetrics,
  evaluateChoices,
  evaluateChoicesMany,
  prepareChoices,
  sliceChoices,
  type ChoiceEvalOptions,
  type ChoiceMetrics,
  type ChoicePerExample,
  type PreparedChoices,
} from './evaluate/choice.js';
export { greedyGenerate, type GenerateOptions, type Generation } from './evaluate/generate.js';
export { evaluateExactMatch, extractAnswer, normalizeAnswer, type ExactMatchMetrics, type ExactMatchNormalize, type ExactMatchOptions } from './evaluate/exact-match.js';

// Evaluation engines (docs/engines.md): tfjs or ONNX Runtime behind one contract; the ONNX export
// of the LLaMA decoder (merged and unmerged forms) and its protobuf encoder.
/** The evaluation-engine contract, the engine names, and `--engine` resolution. */
export {
  ENGINE_NAMES,
  ENGINE_REQUESTS,
  isEngineRequest,
  resolveEngine,
  type EngineInfo,
  type EngineName,
  type EngineRequest,
  type EvaluationEngine,
  type OnnxForm,
} from './engine/index.js';
/** The engines: tfjs (the model's own forward pass) and ONNX Runtime. */
export { createOnnxEngine, createTfjsEngine, ONNX_ROWS_PER_RUN, type OnnxEngineOptions, type TfjsEngineOptions } from './engine/index.js';
/**
 * Training on ONNX Runtime (docs/training.md): the training form of the LLaMA graph with its
 * derived gradients, reverse-mode differentiation of ONNX graphs, the operator registry
 * (shape rules and vector-Jacobian products by operator name), sessions on a worker thread.
 */
export {
  addGradients,
  buildLlamaGraph,
  buildLlamaTrainingGraph,
  createOnnxTrainingEngine,
  dropoutMaskInputName,
  fillDropoutMask,
  gradientOutputName,
  inferValueTypes,
  OrtSessionHost,
  opDefinition,
  parameterInputName,
  rankMaskInputName,
  registeredOps,
  registerOp,
  widthMaskInputName,
  type GradientRequest,
  type HostedTensor,
  type LlamaTrainingForm,
  type OpDefinition,
  type TrainingGraph,
  type TrainingGraphOptions,
  type ValueType,
} from './engine/index.js';
/** The ONNX export: LLaMA graph, weights and adapter feeds, sessions, graph builder and protobuf encoder. */
export {
  adapterFactorsOf,
  adapterFeed,
  adapterInputNames,
  createOrtSession,
  defaultThreads,
  encodeModel,
  exportLlamaOnnx,
  GraphBuilder,
  llamaWeightsOf,
  loadOrt,
  mergedWeightsOf,
  sliceLlamaWeights,
  widthInputName,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  onnxAvailability,
  OnnxDataType,
  ortSessionOptions,
  type AdapterFactors,
  type AdapterFeed,
  type AdapterPath,
  type AdapterSlot,
  type FakeQuantGrid,
  type LlamaExportOptions,
  type LlamaGraphOutput,
  type LlamaWeights,
  type OnnxAvailability,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxSessionOptions,
  type OnnxTensor,
  type OnnxValueInfo,
} from './engine/index.js';
/** What evaluators accept besides a tfjs model: an engine's row scoring and next-token logits. */
export { type RowScorer } from './evaluate/scoring.js';
export { type DecodingSession, type NextTokenModel } from './evaluate/generate.js';

// Run folders: manifests and reproduction
export * from './run/index.js';

// Utilities for plugins and tools
export { startWorker } from './util/worker.js';

// Run reports (`nls report`): report.md and a self-contained report.html of a run folder
/**
 * Reports of run folders (docs/reports.md): {@link writeReport} reads a run folder (`nls demo`,
 * `nls search` or `nls train` output) with {@link collectReport} and writes `report.md`,
 * `report.html` (inline CSS and SVG, no scripts, no external resources) and `report/<plot>.svg`;
 * {@link renderReport} renders the same in memory. `reportSvg` holds the deterministic SVG
 * primitives the plots are drawn with (scales, nice ticks, axes, markers, lines, heatmaps, legends).
 */
export {
  writeReport,
  renderReport,
  collectReport,
  readDemoResult,
  readTrainingLog,
  readValidation,
  analyseSearch,
  buildPlots,
  paretoPlot,
  progressionPlot,
  ranksPlot,
  lossPlot,
  buildDocument,
  renderMarkdown,
  renderHtml,
  svg as reportSvg,
  HV_REFERENCE,
  PLOT_IDS,
  SECTION_IDS,
  REPORT_MARKDOWN_FILE,
  REPORT_HTML_FILE,
  REPORT_FIGURES_DIR,
  type ReportOptions,
  type WriteReportResult,
  type RenderedReport,
  type CollectOptions as ReportCollectOptions,
  type ReportData,
  type ReportLayout,
  type ReportStudy,
  type ReportSupernet,
  type TrainingLogRecord,
  type ValidationSubnet,
  type PredictorReport,
  type PredictorValidationRow,
  type DemoResultData,
  type DemoRowData,
  type ReportHeuristic,
  type SearchAnalysis,
  type AxisChoice,
  type PlotTrial,
  type FrontMember,
  type ChosenSubnet,
  type ProgressPoint,
  type StudyProgression,
  type StudySummary,
  type Plot,
  type PlotId,
  type ReportDocument,
  type Section as ReportSection,
  type SectionId as ReportSectionId,
  type Block as ReportBlock,
  type MarkdownOptions,
} from './report/index.js';
