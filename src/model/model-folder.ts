/**
 * An HF model folder (config.json + model.safetensors or shards [+ tokenizer.json]) as a
 * LlamaModel and its tokenizer.
 */
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { type LlamaConfig, readHfConfig, validateCheckpointTensors, writeHfConfig } from './hf-config.js';
import { type HfTensor, LlamaModel } from './llama.js';
import { type FloatDtype, loadCheckpoint, requireFloatTensors, saveCheckpoint } from './safetensors.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

/** A loaded model folder. */
export interface ModelFolder {
  /** The folder it was loaded from. */
  readonly dir: string;
  readonly config: LlamaConfig;
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
}

/**
 * Load a model folder: config.json (validated: LLaMA family only), the safetensors checkpoint
 * (single file or sharded; F32, F16 or BF16; every tensor checked against the config) and the
 * tokenizer.
 */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const config = await readHfConfig(dir);
  const records = await loadCheckpoint(dir);
  const file = path.join(dir, 'model.safetensors');
  const tensors = requireFloatTensors(records, file);
  validateCheckpointTensors(config, tensors, file);
  const tokenizer = await loadTokenizer(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new NlsError(`tokenizer produces ${tokenizer.vocabSize} ids but vocab_size is ${config.vocabSize}; the tokenizer does not belong to this model`, {
      file: path.join(dir, 'config.json'),
      field: 'vocab_size',
    });
  }
  return { dir, config, model: LlamaModel.fromHf(config, tensors, file), tokenizer };
}

/** Options of {@link saveModelFolder}. */
export interface SaveModelOptions {
  /** dtype of the saved weights (default F32). */
  readonly dtype?: FloatDtype;
  /** Record the built-in byte tokenizer in config.json (`"nls_tokenizer": "bytes"`). */
  readonly byteTokenizer?: boolean;
  /** Shard above this many bytes. */
  readonly maxShardBytes?: number;
  /** Extra string metadata for the safetensors header. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

/** Save `model` as an HF model folder that transformers' LlamaForCausalLM can load. */
export async function saveModelFolder(dir: string, model: LlamaModel, options: SaveModelOptions = {}): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const tensors: Map<string, HfTensor> = await model.toHf();
  await saveCheckpoint(dir, tensors, {
    dtype,
    metadata: { format: 'pt', ...(options.metadata ?? {}) },
    ...(options.maxShardBytes !== undefined ? { maxShardBytes: options.maxShardBytes } : {}),
  });
  await writeHfConfig(dir, model.config, {
    torchDtype: TORCH_DTYPE[dtype],
    ...(options.byteTokenizer ? { extra: { nls_tokenizer: 'bytes' } } : {}),
  });
}
