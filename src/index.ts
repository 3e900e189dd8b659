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

// Fast-path ops
export { matmul, linear, bmm, embedding } from './ops/linalg.js';

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
export { loadModelFolder, saveModelFolder, type ModelFolder, type SaveModelOptions } from './model/model-folder.js';
export { DEMO_MODEL_CONFIG, DEMO_MODEL_DIR, hasPretrainedDemoModel, loadDemoModel } from './model/demo-model.js';

// Adapters
export { ElasticLoraAdapter, type ElasticLoraSpec } from './adapters/elastic-lora.js';
export { AdapterSet, type HasLinearSlots } from './adapters/adapter-set.js';

// Search spaces
export * from './space/index.js';

// Pipelines
export { runDemo, type DemoOptions, type DemoResult, type DemoSubnetResult } from './pipeline/demo.js';
