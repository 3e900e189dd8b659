/**
 * Choosing, extracting and exporting a sub-adapter of a trained supernet: `resolveSubnet`,
 * `extractSubAdapter`, the PEFT adapter folder (`savePeftAdapter`) and the `nls merge` /
 * `nls export` flows. See docs/formats.md, "PEFT adapter export".
 *
 * @module
 */
export {
  HEURISTIC_SUBNETS,
  TOKENIZER_FILES,
  copyTokenizerFiles,
  extractSubAdapter,
  parseSubnetSelection,
  resolveSubnet,
  subnetSelectionFromOptions,
  type HeuristicSubnet,
  type ResolvedSubnet,
  type SubAdapter,
  type SubAdapterModule,
  type SubnetSelection,
  type SubnetSelectionOptions,
} from './subnet.js';
export {
  PEFT_CONFIG_FILE,
  PEFT_NLS_FORMAT,
  PEFT_WEIGHTS_FILE,
  peftAdapterConfig,
  peftAdapterTensors,
  peftAlpha,
  peftModulePath,
  peftPatternKey,
  peftTargetModules,
  peftTensorNames,
  refuseConstrainedPeftExport,
  savePeftAdapter,
  type PeftAdapterConfig,
  type PeftExportOptions,
  type PeftNlsRecord,
} from './peft.js';
export {
  MERGE_REPORT_FILE,
  MERGE_REPORT_FORMAT,
  MERGED_ONNX_FILE,
  SLICED_BASE_DIR,
  mergeSparsityOf,
  runExport,
  runMerge,
  saveMergedModelFolder,
  slicedBaseModel,
  type ExportRunOptions,
  type ExportRunResult,
  type MergeReport,
  type MergeRunOptions,
  type MergeRunResult,
} from './run.js';
