/**
 * Compression of the base model: sparsity (Wanda, magnitude), quantization, merging, and the
 * importance reordering of MLP channels for elastic widths (`nls reorder`).
 *
 * @module
 */
export {
  SPARSITY_METHODS,
  checkPruneRule,
  magnitudeScores,
  modelSparsity,
  parseNMPattern,
  pruneMatrix,
  resolvePruneRule,
  sparsifyModel,
  sparsityMaskOf,
  sparsityOf,
  wandaScores,
  type ModelSparsity,
  type ModuleSparsity,
  type NMPattern,
  type PruneRule,
  type SparsifyOptions,
  type SparsifyReport,
  type SparsityMethod,
} from './sparsity.js';
export {
  calibrationMask,
  checkCalibrationRows,
  collectInputNorms,
  randomWindows,
  readTextDocuments,
  type CalibrationRows,
  type CollectOptions,
  type InputNorms,
} from './calibration.js';
export {
  runSparsify,
  SPARSITY_REPORT_FILE,
  type EvalSummary,
  type RunSparsifyOptions,
  type SparsityFolderReport,
} from './sparsity-run.js';
export {
  countNonZeros,
  mergeAdapters,
  mergedWeightT,
  type MergeOptions,
  type MergeResult,
  type ModuleMergeRecord,
} from './merge.js';
export {
  FakeQuantizerT,
  QUANT_BITS,
  codeRange,
  dequantizeMatrix,
  fakeQuantizeT,
  groupsPerRow,
  packInt4,
  quantizationError,
  quantizedByteSize,
  quantizeMatrix,
  quantizeModel,
  quantizeWithParams,
  roundHalfEven,
  unpackInt4,
  validateQuantizedMatrix,
  validateQuantSpec,
  type LayerQuantizationReport,
  type ModelQuantizationReport,
  type QuantizationError,
  type QuantizedMatrix,
  type QuantizeModelOptions,
  type QuantSpec,
} from './quantize.js';
export {
  NLS_QUANT_FORMAT_VERSION,
  NLS_QUANT_METHOD,
  dequantizeCheckpoint,
  quantizationConfigJson,
  quantizedTensorNames,
  quantizedTensors,
  splitNlsQuantizationConfig,
  type NlsQuantizationConfigJson,
} from './quantize-format.js';
export { saveQuantizedModelFolder } from './quantize-folder.js';
export { QUANTIZATION_REPORT_FILE, runQuantize, type PerplexityMetrics, type QuantizeRunOptions, type QuantizeRunResult } from './quantize-run.js';
export {
  importanceOrder,
  mlpChannelImportance,
  permuteMlpChannels,
  reorderMlpChannels,
  type LayerReordering,
  type MlpReordering,
  type ReorderOptions,
} from './reorder.js';
export {
  readReordering,
  REORDER_REPORT_FILE,
  REORDER_REPORT_FORMAT,
  REORDERED_CONFIG_KEY,
  runReorder,
  type ReorderReport,
  type RunReorderOptions,
} from './reorder-run.js';
