/**
 * Compression of the base model: sparsity (Wanda, magnitude), quantization, merging.
 *
 * @module
 */
export {
  countNonZeros,
  mergeAdapters,
  mergedWeightT,
  type MergeOptions,
  type MergeResult,
  type ModuleMergeRecord,
} from './merge.js';
