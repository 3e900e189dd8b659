import { existsSync, promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../util/fs.js';
/**
 * An HF model folder (config.json + model.safetensors or shards [+ tokenizer.json]) as a
 * LlamaModel and its tokenizer.
 */
import * as path from 'node:path';
import { dequantizeCheckpoint, splitNlsQuantizationConfig } from '../compress/quantize-format.js';
import type { QuantizedMatrix, QuantSpec } from '../compress/quantize.js';
import { NlsError } from '../errors.js';
import { type LlamaConfig, parseHfConfig, readJsonFile, validateCheckpointTensors, writeHfConfig } from './hf-config.js';
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
  /**
   * Present when config.json has an nls-rtn `quantization_config` (see docs/formats.md): the
   * quantized matrices (HF layout) by module key `layers.{i}.{module}`. The model's linear
   * weights then hold their dequantized values.
   */
  readonly quantization?: FolderQuantization;
}

/** The quantized linears of a loaded model folder. */
export interface FolderQuantization {
  readonly spec: QuantSpec;
  readonly matrices: ReadonlyMap<string, QuantizedMatrix>;
}

/** config.json of a model folder, parsed, and nls's own quantization settings when it has them. */
async function readConfigOf(dir: string): Promise<{ config: LlamaConfig; quantized: ReturnType<typeof splitNlsQuantizationConfig> }> {
  const configFile = path.join(dir, 'config.json');
  const rawConfig = await readJsonFile(configFile, 'a model folder needs the config.json of its transformers model');
  // Only nls's own quantization is taken out before parsing; parseHfConfig still refuses others.
  const quantized = splitNlsQuantizationConfig(rawConfig, configFile);
  return { config: parseHfConfig(quantized ? quantized.config : rawConfig, configFile), quantized };
}

/**
 * The architecture of a model folder from its config.json alone (no weights read), for float
 * folders and folders quantized by nls (`nls quantize`) alike.
 */
export async function readModelConfig(dir: string): Promise<LlamaConfig> {
  return (await readConfigOf(dir)).config;
}

/**
 * Load a model folder: config.json (validated: LLaMA family only), the safetensors checkpoint
 * (single file or sharded; F32, F16 or BF16; every tensor checked against the config) and the
 * tokenizer. A folder quantized by nls (`quantization_config.quant_method: "nls-rtn"`) loads
 * with its quantized linears dequantized into the float model and listed in `quantization`.
 */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const { config, quantized } = await readConfigOf(dir);
  const records = await loadCheckpoint(dir);
  const file = path.join(dir, 'model.safetensors');
  const matrices = quantized ? dequantizeCheckpoint(config, quantized.spec, records, file) : undefined;
  const tensors = requireFloatTensors(records, file);
  validateCheckpointTensors(config, tensors, file);
  const tokenizer = await loadTokenizer(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new NlsError(`tokenizer produces ${tokenizer.vocabSize} ids but vocab_size is ${config.vocabSize}; the tokenizer does not belong to this model`, {
      file: path.join(dir, 'config.json'),
      field: 'vocab_size',
    });
  }
  return {
    dir,
    config,
    model: LlamaModel.fromHf(config, tensors, file),
    tokenizer,
    ...(quantized && matrices ? { quantization: { spec: quantized.spec, matrices } } : {}),
  };
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
  /** Extra keys for config.json (e.g. `nls_mlp_reordered`); never override the architecture keys. */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
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
    ...(options.byteTokenizer || options.extraConfig ? { extra: { ...(options.extraConfig ?? {}), ...(options.byteTokenizer ? { nls_tokenizer: 'bytes' } : {}) } } : {}),
  });
}

/** Files of a model folder that belong to its tokenizer (copied next to a derived model). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'generation_config.json'] as const;

/**
 * Copy the tokenizer files of model folder `from` into `to` (those that exist), atomically each.
 * Returns the names copied.
 */
export async function copyTokenizerFiles(from: string, to: string): Promise<string[]> {
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const src = path.join(from, name);
    if (!existsSync(src)) continue;
    await writeFileAtomic(path.join(to, name), await fsp.readFile(src));
    copied.push(name);
  }
  return copied;
}
