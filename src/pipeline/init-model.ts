/**
 * A randomly initialised LLaMA-family model folder of any size (the `nls init-model` command):
 * for sizing a training run, timing a step, or starting a pre-training, without a checkpoint to
 * download. The folder is an ordinary HF model folder (config.json + model.safetensors, the
 * built-in byte tokenizer) that every nls command and transformers' LlamaForCausalLM load.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendRequest, initBackend } from '../backend/index.js';
import { NlsError } from '../errors.js';
import type { LlamaConfig } from '../model/hf-config.js';
import { LlamaModel } from '../model/llama.js';
import { saveModelFolder } from '../model/model-folder.js';
import { BYTE_TOKENIZER_VOCAB } from '../model/tokenizer.js';
import { NLS_VERSION } from '../package-info.js';
import { isRunLockFile } from '../run/lock.js';
import { writeFileAtomic } from '../util/fs.js';
import { Progress } from '../util/progress.js';

/** The architecture of a model to initialise; sizes the options leave out take the defaults listed. */
export interface InitModelArchitecture {
  /** `hidden_size`. */
  readonly hiddenSize: number;
  /** `num_hidden_layers`. */
  readonly numHiddenLayers: number;
  /** `num_attention_heads`. */
  readonly numAttentionHeads: number;
  /** `num_key_value_heads` (default: `numAttentionHeads`, i.e. no grouped-query attention). */
  readonly numKeyValueHeads?: number;
  /** `head_dim` (default `hiddenSize / numAttentionHeads`). */
  readonly headDim?: number;
  /** `intermediate_size` of the SwiGLU MLP. */
  readonly intermediateSize: number;
  /** `vocab_size` (default 320: the byte tokenizer's 259 ids rounded up to a multiple of 64, as the demo model). */
  readonly vocabSize?: number;
  /** `max_position_embeddings` (default 512). */
  readonly maxPositionEmbeddings?: number;
  /** `tie_word_embeddings` (default true). */
  readonly tieWordEmbeddings?: boolean;
}

/** Options of {@link initModelFolder}. */
export interface InitModelOptions extends InitModelArchitecture {
  /** Output model folder: must not exist, or be empty. */
  readonly out: string;
  /** Seed of the weights (default 0): the same seed gives the same bytes. */
  readonly seed?: number;
  /** tfjs backend that builds the weights (default wasm); the weights are the same on every backend. */
  readonly backend?: BackendRequest;
  readonly progress?: Progress;
}

/** Parameters of a model by part; `total` is their sum (a tied LM head counts once, in `embedding`). */
export interface ParameterBreakdown {
  readonly embedding: number;
  /** q/k/v/o projections of all layers. */
  readonly attention: number;
  /** gate/up/down projections of all layers. */
  readonly mlp: number;
  /** RMSNorm weights (two per layer and the final one). */
  readonly norms: number;
  /** The untied LM head (0 when tied). */
  readonly lmHead: number;
  readonly total: number;
}

/** What {@link initModelFolder} reports. */
export interface InitModelResult {
  /** The folder written. */
  readonly out: string;
  readonly config: LlamaConfig;
  readonly seed: number;
  /** Parameter count (equal to `LlamaModel.parameterCount()` of the written model). */
  readonly parameters: number;
  readonly breakdown: ParameterBreakdown;
  /** Size of model.safetensors in bytes (F32). */
  readonly bytes: number;
  /** The command line that writes the same folder (without `--out`). */
  readonly command: string;
}

/** Defaults of the optional sizes, shared by the library and the CLI's help. */
export const INIT_MODEL_DEFAULTS = { vocabSize: 320, maxPositionEmbeddings: 512, tieWordEmbeddings: true, seed: 0 } as const;

/**
 * The validated LLaMA config for an architecture (RMSNorm eps 1e-5, RoPE theta 10000, the byte
 * tokenizer's pad/bos/eos ids 256/257/258, as the demo model).
 *
 * @param nameOf - the name of an option in error messages (the CLI passes its flag names).
 * @throws NlsError naming the option, for a size that is not a positive integer, query heads not
 *   divisible by key/value heads, an odd head dimension (RoPE rotates pairs), a hidden size not
 *   divisible by the heads when no head dimension is given, or a vocabulary smaller than the byte
 *   tokenizer's.
 */
export function initModelConfig(arch: InitModelArchitecture, nameOf: (option: keyof InitModelArchitecture) => string = (o) => o): LlamaConfig {
  const fail = (option: keyof InitModelArchitecture, message: string): never => {
    throw new NlsError(message, { field: nameOf(option) });
  };
  const positive = (option: keyof InitModelArchitecture, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(option, `must be a positive integer, got ${String(value)}`);
    return value as number;
  };
  const hiddenSize = positive('hiddenSize', arch.hiddenSize);
  const numHiddenLayers = positive('numHiddenLayers', arch.numHiddenLayers);
  const numAttentionHeads = positive('numAttentionHeads', arch.numAttentionHeads);
  const numKeyValueHeads = positive('numKeyValueHeads', arch.numKeyValueHeads ?? numAttentionHeads);
  const intermediateSize = positive('intermediateSize', arch.intermediateSize);
  const vocabSize = positive('vocabSize', arch.vocabSize ?? INIT_MODEL_DEFAULTS.vocabSize);
  const maxPositionEmbeddings = positive('maxPositionEmbeddings', arch.maxPositionEmbeddings ?? INIT_MODEL_DEFAULTS.maxPositionEmbeddings);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    fail('numKeyValueHeads', `${numAttentionHeads} attention heads are not divisible by ${numKeyValueHeads} key/value heads; grouped-query attention needs a whole number of query heads per key/value head`);
  }
  let headDim: number;
  if (arch.headDim === undefined) {
    if (hiddenSize % numAttentionHeads !== 0) {
      fail('numAttentionHeads', `hidden size ${hiddenSize} is not divisible by ${numAttentionHeads} heads; change one of them, or give the head dimension explicitly`);
    }
    headDim = hiddenSize / numAttentionHeads;
  } else {
    headDim = positive('headDim', arch.headDim);
  }
  if (headDim % 2 !== 0) {
    fail(arch.headDim === undefined ? 'numAttentionHeads' : 'headDim', `head dimension ${headDim} is odd, but RoPE rotates pairs of dimensions; it must be even`);
  }
  if (vocabSize < BYTE_TOKENIZER_VOCAB) {
    fail('vocabSize', `must be at least ${BYTE_TOKENIZER_VOCAB}, the byte tokenizer's ids (256 bytes + pad, bos, eos), got ${vocabSize}`);
  }
  return {
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize,
    tieWordEmbeddings: arch.tieWordEmbeddings ?? INIT_MODEL_DEFAULTS.tieWordEmbeddings,
    maxPositionEmbeddings,
    bosTokenId: 257,
    eosTokenIds: [258],
    padTokenId: 256,
  };
}

/** Parameters of a model of config `c` by part, computed from the shapes alone (no weights built). */
export function parameterBreakdown(c: LlamaConfig): ParameterBreakdown {
  const embedding = c.vocabSize * c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  // q and o are hidden x q; k and v are hidden x kv.
  const attention = c.numHiddenLayers * c.hiddenSize * (2 * q + 2 * kv);
  let mlp = 0;
  for (let l = 0; l < c.numHiddenLayers; l++) mlp += 3 * c.hiddenSize * (c.intermediateSizes?.[l] ?? c.intermediateSize);
  const norms = (2 * c.numHiddenLayers + 1) * c.hiddenSize;
  const lmHead = c.tieWordEmbeddings ? 0 : embedding;
  return { embedding, attention, mlp, norms, lmHead, total: embedding + attention + mlp + norms + lmHead };
}

/** The `nls init-model` command line for a config and seed, without `--out` (which differs between copies). */
export function initModelCommandLine(c: LlamaConfig, seed: number): string {
  return [
    'nls init-model',
    `--hidden ${c.hiddenSize}`,
    `--layers ${c.numHiddenLayers}`,
    `--heads ${c.numAttentionHeads}`,
    `--kv-heads ${c.numKeyValueHeads}`,
    `--head-dim ${c.headDim}`,
    `--intermediate ${c.intermediateSize}`,
    `--vocab ${c.vocabSize}`,
    `--max-positions ${c.maxPositionEmbeddings}`,
    ...(c.tieWordEmbeddings ? [] : ['--untied']),
    `--seed ${seed}`,
  ].join(' ');
}

/**
 * Refuse an `out` that exists and is not an empty folder, before any work is done.
 * @throws NlsError naming the folder.
 */
async function checkOutFree(out: string): Promise<void> {
  if (!existsSync(out)) return;
  const stat = await fsp.stat(out);
  if (!stat.isDirectory()) throw new NlsError('exists and is not a folder; fix: give a new folder as --out', { file: out, field: 'out' });
  // The lock of the command writing it (src/run/lock.ts) is not content.
  const entries = (await fsp.readdir(out)).filter((e) => !isRunLockFile(e));
  if (entries.length > 0) {
    throw new NlsError(`is not empty (${entries.length} entries, e.g. ${entries.slice(0, 3).join(', ')}); fix: give a new or empty folder as --out, or remove this one`, { file: out, field: 'out' });
  }
}

/**
 * Initialise a model of the given architecture with random weights (`LlamaModel.random`: HF's
 * N(0, 0.02) scheme, unit norms) and write it to `options.out` as an HF model folder: F32
 * model.safetensors, config.json with the byte tokenizer, and a MODEL_CARD.md that says the
 * weights are random, gives the parameter count and the command that writes the same folder.
 *
 * The folder is written next to `out` under a temporary name and renamed into place, so `out`
 * either does not exist or is complete (when `out` already exists holding the lock of the
 * command that writes it, as under `nls init-model`, the files are moved into it one by one, and
 * the manifest the CLI writes after them says that the folder is complete). The weights depend only on the architecture and the seed:
 * the same options write the same bytes.
 *
 * @throws NlsError for an invalid architecture (see {@link initModelConfig}) or an `out` that
 *   exists and is not an empty folder.
 */
export async function initModelFolder(options: InitModelOptions): Promise<InitModelResult> {
  const progress = options.progress ?? new Progress();
  const seed = options.seed ?? INIT_MODEL_DEFAULTS.seed;
  if (!Number.isSafeInteger(seed)) throw new NlsError(`must be an integer, got ${String(seed)}`, { field: 'seed' });
  const config = initModelConfig(options);
  const out = path.resolve(options.out);
  await checkOutFree(out);
  const breakdown = parameterBreakdown(config);
  const command = initModelCommandLine(config, seed);
  await initBackend(options.backend ?? 'wasm', { quiet: true });
  progress.log(`initialising ${breakdown.total.toLocaleString('en-US')} parameters (seed ${seed})`);

  const model = LlamaModel.random(config, seed);
  // Same file system as `out`, so the final rename cannot cross devices; *.tmp is git-ignored.
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const parameters = model.parameterCount();
    if (parameters !== breakdown.total) throw new Error(`parameter count ${parameters} differs from the shapes' ${breakdown.total}`);
    await saveModelFolder(tmp, model, { dtype: 'F32', byteTokenizer: true, metadata: { nls_version: NLS_VERSION, nls_init_seed: String(seed) } });
    const bytes = (await fsp.stat(path.join(tmp, 'model.safetensors'))).size;
    await writeFileAtomic(path.join(tmp, 'MODEL_CARD.md'), modelCard(config, breakdown, seed, command));
    // An empty `out` (e.g. made by `nls reproduce`) gives way to the finished folder; one that
    // holds the lock of the command writing it receives the files instead, and keeps the lock.
    await checkOutFree(out);
    if (existsSync(out) && (await fsp.readdir(out)).length > 0) {
      for (const entry of await fsp.readdir(tmp)) await fsp.rename(path.join(tmp, entry), path.join(out, entry));
    } else {
      if (existsSync(out)) await fsp.rmdir(out);
      await fsp.rename(tmp, out);
    }
    progress.log(`wrote ${out} (${(bytes / 1e6).toFixed(1)} MB of F32 weights)`);
    return { out, config, seed, parameters, breakdown, bytes, command };
  } finally {
    model.dispose();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

function modelCard(c: LlamaConfig, p: ParameterBreakdown, seed: number, command: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `# Randomly initialised model

**The weights are random**: this model has not been trained and predicts nothing. It is for
sizing and timing training runs, and as the starting point of a pre-training.

| | |
| --- | --- |
| architecture | LlamaForCausalLM: ${c.numHiddenLayers} layers, hidden ${c.hiddenSize}, ${c.numAttentionHeads} query / ${c.numKeyValueHeads} key-value heads (head dim ${c.headDim}), SwiGLU ${c.intermediateSize}, RMSNorm (eps ${c.rmsNormEps}), RoPE theta ${c.ropeTheta}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} embeddings, ${c.maxPositionEmbeddings} positions |
| parameters | ${n(p.total)}: embedding ${n(p.embedding)}, attention ${n(p.attention)}, MLP ${n(p.mlp)}, norms ${n(p.norms)}${p.lmHead > 0 ? `, LM head ${n(p.lmHead)}` : ''} |
| vocabulary | ${c.vocabSize} ids: bytes 0-255, 256 pad, 257 bos, 258 eos (nls ByteTokenizer)${c.vocabSize > BYTE_TOKENIZER_VOCAB ? ', rest unused' : ''} |
| weights | model.safetensors, F32; N(0, 0.02) for every matrix, 1 for every norm (transformers' initialisation), seed ${seed} |

## Reproduce

\`\`\`sh
npx ${command} --out DIR
\`\`\`

The same command writes the same bytes, on any backend (nls ${NLS_VERSION}).
`;
}
