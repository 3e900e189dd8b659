/**
 * HF `config.json` for LLaMA-family models: parsing with refusals for anything whose math nls
 * does not implement, writing a config transformers loads as `LlamaForCausalLM`, and the tensor
 * names and shapes such a checkpoint has.
 *
 * Accepted: `LlamaForCausalLM` / `llama`, and `MistralForCausalLM` / `mistral` (the same
 * architecture and tensor names; Mistral's sliding window only differs from full causal attention
 * beyond `sliding_window` tokens, so nls caps `maxPositionEmbeddings` at it). Refused: everything
 * else, notably Qwen2 (q/k/v projections carry biases), `rope_scaling` other than none/default,
 * `hidden_act` other than silu, attention or MLP biases, and quantized checkpoints.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** Architecture of a LLaMA-family decoder, in nls's camelCase (HF snake_case names in the docs). */
export interface LlamaConfig {
  /** `hidden_size`: width of the residual stream. */
  readonly hiddenSize: number;
  /** `intermediate_size`: width of the SwiGLU MLP (every layer, unless `intermediateSizes`). */
  readonly intermediateSize: number;
  /** `num_hidden_layers`. */
  readonly numHiddenLayers: number;
  /** `num_attention_heads`. */
  readonly numAttentionHeads: number;
  /** `num_key_value_heads` (grouped-query attention); defaults to `num_attention_heads`. */
  readonly numKeyValueHeads: number;
  /** `head_dim`; defaults to `hidden_size / num_attention_heads`. */
  readonly headDim: number;
  /** `rms_norm_eps` (default 1e-6, as transformers). */
  readonly rmsNormEps: number;
  /** `rope_theta` (default 10000). */
  readonly ropeTheta: number;
  /** `vocab_size`. */
  readonly vocabSize: number;
  /** `tie_word_embeddings` (default false): the LM head reuses `embed_tokens`. */
  readonly tieWordEmbeddings: boolean;
  /** `max_position_embeddings` (default 2048); for Mistral, capped at `sliding_window`. */
  readonly maxPositionEmbeddings: number;
  /** `bos_token_id`. */
  readonly bosTokenId?: number;
  /** `eos_token_id`, always as a list (LLaMA 3 configs give several). */
  readonly eosTokenIds?: readonly number[];
  /** `pad_token_id`. */
  readonly padTokenId?: number;
  /**
   * `nls_intermediate_sizes`: per-layer MLP widths (one per layer), for pruned/elastic models.
   * transformers ignores this key, so such a folder only loads in nls unless all sizes are equal.
   */
  readonly intermediateSizes?: readonly number[];
}

/** The `architectures` entries nls accepts. */
export const SUPPORTED_ARCHITECTURES: readonly string[] = ['LlamaForCausalLM', 'MistralForCausalLM'];
/** The `model_type` values nls accepts. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = ['llama', 'mistral'];

/** Why a known but unsupported architecture is refused, so the message can say it. */
const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  Qwen2ForCausalLM: 'Qwen2 adds biases to the q/k/v projections, which the nls LLaMA model does not have',
  qwen2: 'Qwen2 adds biases to the q/k/v projections, which the nls LLaMA model does not have',
  MixtralForCausalLM: 'Mixtral is a mixture of experts; nls implements dense MLPs only',
  mixtral: 'Mixtral is a mixture of experts; nls implements dense MLPs only',
  GemmaForCausalLM: 'Gemma uses GeGLU, (1 + w) RMSNorm weights and scaled embeddings',
  gemma: 'Gemma uses GeGLU, (1 + w) RMSNorm weights and scaled embeddings',
  PhiForCausalLM: 'Phi uses a different block layout (parallel attention, LayerNorm, biases)',
  phi: 'Phi uses a different block layout (parallel attention, LayerNorm, biases)',
};

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  return x === undefined ? 'nothing (the field is missing)' : JSON.stringify(x);
}

/**
 * Parse and validate an HF `config.json` object.
 * @param json the parsed JSON.
 * @param file path, for error messages.
 * @throws NlsError naming `file` and the offending field, for any unsupported or invalid setting.
 */
export function parseHfConfig(json: unknown, file: string): LlamaConfig {
  if (!isPlainObject(json)) {
    throw new NlsError(`must be a JSON object (a transformers config.json), got ${describe(json)}`, { file });
  }
  function fail(field: string, message: string): never {
    throw new NlsError(message, { file, field });
  }

  // Architecture: `architectures` (every entry) and `model_type` must be supported when given,
  // and at least one of them must be given.
  const supportedList = `supported: architectures ${SUPPORTED_ARCHITECTURES.join(', ')} / model_type ${SUPPORTED_MODEL_TYPES.join(', ')}`;
  const arch = json.architectures;
  const modelType = json.model_type;
  if (arch !== undefined && arch !== null) {
    if (!Array.isArray(arch) || arch.length === 0 || !arch.every((a) => typeof a === 'string')) {
      fail('architectures', `must be a non-empty list of class names such as ["LlamaForCausalLM"], got ${describe(arch)}`);
    }
    for (const a of arch as string[]) {
      if (!SUPPORTED_ARCHITECTURES.includes(a)) {
        const why = REFUSAL_REASONS[a];
        fail('architectures', `architecture ${JSON.stringify(a)} is not supported${why ? ` (${why})` : ''}; ${supportedList}`);
      }
    }
  }
  if (modelType !== undefined && modelType !== null) {
    if (typeof modelType !== 'string' || !SUPPORTED_MODEL_TYPES.includes(modelType)) {
      const why = typeof modelType === 'string' ? REFUSAL_REASONS[modelType] : undefined;
      fail('model_type', `model_type ${describe(modelType)} is not supported${why ? ` (${why})` : ''}; ${supportedList}`);
    }
  }
  if ((arch === undefined || arch === null) && (modelType === undefined || modelType === null)) {
    fail('architectures', `neither architectures nor model_type is given, so the model family is unknown; ${supportedList}`);
  }

  const posInt = (field: string, fallback?: number): number => {
    const v = json[field];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      fail(field, `must be a positive integer, got ${describe(v)}`);
    }
    return v as number;
  };
  const posNumber = (field: string, fallback: number): number => {
    const v = json[field];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(field, `must be a positive number, got ${describe(v)}`);
    return v as number;
  };
  const optTokenId = (field: string): number | undefined => {
    const v = json[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(field, `must be a non-negative integer token id, got ${describe(v)}`);
    return v as number;
  };
  const refuseTrue = (field: string, why: string): void => {
    const v = json[field];
    if (v === undefined || v === null || v === false) return;
    if (v === true) fail(field, `is true, but ${why}; nls supports only ${field}: false`);
    fail(field, `must be a boolean, got ${describe(v)}`);
  };

  if (json.quantization_config !== undefined && json.quantization_config !== null) {
    fail('quantization_config', 'quantized checkpoints (GPTQ, AWQ, bitsandbytes, ...) are not supported; use the unquantized F32/F16/BF16 model');
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') {
    fail('hidden_act', `is ${describe(act)}, but the nls LLaMA MLP is SwiGLU with silu; only hidden_act "silu" is supported`);
  }
  refuseTrue('attention_bias', 'the nls attention projections have no biases');
  refuseTrue('mlp_bias', 'the nls MLP projections have no biases');
  const ropeScaling = json.rope_scaling;
  if (ropeScaling !== undefined && ropeScaling !== null) {
    const kind = isPlainObject(ropeScaling) ? (ropeScaling.rope_type ?? ropeScaling.type) : undefined;
    if (kind !== 'default') {
      fail(
        'rope_scaling',
        `rope_scaling ${JSON.stringify(ropeScaling)} is not supported: nls implements plain RoPE only ` +
          `(no linear/dynamic/yarn/llama3/longrope scaling); use a model without rope_scaling, or set it to null ` +
          `if you only need sequences within the original context length`,
      );
    }
  }

  const hiddenSize = posInt('hidden_size');
  const intermediateSize = posInt('intermediate_size');
  const numHiddenLayers = posInt('num_hidden_layers');
  const numAttentionHeads = posInt('num_attention_heads');
  const numKeyValueHeads = posInt('num_key_value_heads', numAttentionHeads);
  const vocabSize = posInt('vocab_size');
  let maxPositionEmbeddings = posInt('max_position_embeddings', 2048);
  const rmsNormEps = posNumber('rms_norm_eps', 1e-6);
  const ropeTheta = posNumber('rope_theta', 10000);

  let headDim: number;
  if (json.head_dim === undefined || json.head_dim === null) {
    if (hiddenSize % numAttentionHeads !== 0) {
      fail(
        'hidden_size',
        `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}; ` +
          `fix one of them, or give head_dim explicitly`,
      );
    }
    headDim = hiddenSize / numAttentionHeads;
  } else {
    headDim = posInt('head_dim');
  }
  if (headDim % 2 !== 0) fail('head_dim', `head dimension ${headDim} is odd, but RoPE rotates pairs of dimensions; it must be even`);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    fail(
      'num_key_value_heads',
      `num_attention_heads ${numAttentionHeads} is not divisible by num_key_value_heads ${numKeyValueHeads}; ` +
        `grouped-query attention needs a whole number of query heads per key/value head`,
    );
  }

  const tie = json.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') fail('tie_word_embeddings', `must be a boolean, got ${describe(tie)}`);

  const sliding = json.sliding_window;
  if (sliding !== undefined && sliding !== null) {
    if (typeof sliding !== 'number' || !Number.isSafeInteger(sliding) || sliding <= 0) {
      fail('sliding_window', `must be a positive integer or null, got ${describe(sliding)}`);
    }
    // Within the window, sliding-window attention is exactly causal attention.
    maxPositionEmbeddings = Math.min(maxPositionEmbeddings, sliding as number);
  }

  let eosTokenIds: number[] | undefined;
  const eos = json.eos_token_id;
  if (Array.isArray(eos)) {
    if (!eos.every((e) => typeof e === 'number' && Number.isSafeInteger(e) && e >= 0)) {
      fail('eos_token_id', `must be a token id or a list of token ids, got ${describe(eos)}`);
    }
    eosTokenIds = [...(eos as number[])];
  } else {
    const one = optTokenId('eos_token_id');
    if (one !== undefined) eosTokenIds = [one];
  }
  const bosTokenId = optTokenId('bos_token_id');
  const padTokenId = optTokenId('pad_token_id');

  let intermediateSizes: number[] | undefined;
  const sizes = json.nls_intermediate_sizes;
  if (sizes !== undefined && sizes !== null) {
    if (!Array.isArray(sizes) || !sizes.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s > 0)) {
      fail('nls_intermediate_sizes', `must be a list of positive integers (one per layer), got ${describe(sizes)}`);
    }
    if ((sizes as number[]).length !== numHiddenLayers) {
      fail('nls_intermediate_sizes', `has ${(sizes as number[]).length} entries but num_hidden_layers is ${numHiddenLayers}; give one per layer`);
    }
    intermediateSizes = [...(sizes as number[])];
  }

  return {
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps,
    ropeTheta,
    vocabSize,
    tieWordEmbeddings: tie as boolean,
    maxPositionEmbeddings,
    ...(bosTokenId !== undefined ? { bosTokenId } : {}),
    ...(eosTokenIds !== undefined ? { eosTokenIds } : {}),
    ...(padTokenId !== undefined ? { padTokenId } : {}),
    ...(intermediateSizes !== undefined ? { intermediateSizes } : {}),
  };
}

/** Options for {@link toHfConfig}. */
export interface ToHfConfigOptions {
  /** `torch_dtype` to record: the dtype the weights are saved in (default "float32"). */
  torchDtype?: 'float32' | 'float16' | 'bfloat16';
  /** Extra keys to add (e.g. `nls_tokenizer: "bytes"`); they never override the architecture keys. */
  extra?: Readonly<Record<string, unknown>>;
}

/**
 * An HF `config.json` object for `cfg` that transformers loads as `LlamaForCausalLM`
 * (explicit values for every setting nls relies on, so transformers' defaults cannot differ).
 */
export function toHfConfig(cfg: LlamaConfig, options: ToHfConfigOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...(options.extra ?? {}),
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numHiddenLayers,
    num_attention_heads: cfg.numAttentionHeads,
    num_key_value_heads: cfg.numKeyValueHeads,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    max_position_embeddings: cfg.maxPositionEmbeddings,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    pretraining_tp: 1,
    initializer_range: 0.02,
    vocab_size: cfg.vocabSize,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    use_cache: true,
    torch_dtype: options.torchDtype ?? 'float32',
  };
  if (cfg.bosTokenId !== undefined) out.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenIds !== undefined) out.eos_token_id = cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : [...cfg.eosTokenIds];
  if (cfg.padTokenId !== undefined) out.pad_token_id = cfg.padTokenId;
  if (cfg.intermediateSizes !== undefined) out.nls_intermediate_sizes = [...cfg.intermediateSizes];
  return out;
}

/** Read and parse the raw JSON of `file`, with NlsErrors for a missing file or bad JSON. */
export async function readJsonFile(file: string, fix: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new NlsError(code === 'ENOENT' ? `file does not exist; ${fix}` : `cannot read file (${code ?? String(cause)})`, { file, cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new NlsError(`is not valid JSON (${cause instanceof Error ? cause.message : String(cause)}); fix or re-download it`, {
      file,
      cause,
    });
  }
}

/** Read and parse `dir/config.json`. */
export async function readHfConfig(dir: string): Promise<LlamaConfig> {
  const file = path.join(dir, 'config.json');
  return parseHfConfig(await readJsonFile(file, 'a model folder needs the config.json of its transformers model'), file);
}

/** Write `dir/config.json` (atomically) for `cfg`; see {@link toHfConfig}. */
export async function writeHfConfig(dir: string, cfg: LlamaConfig, options: ToHfConfigOptions = {}): Promise<void> {
  await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(toHfConfig(cfg, options), null, 2) + '\n');
}

/** Whether `dir` has a config.json (for callers choosing between model sources). */
export function hasHfConfig(dir: string): boolean {
  return existsSync(path.join(dir, 'config.json'));
}

/** A tensor an HF checkpoint holds: its name and HF shape (`[out, in]` for linear weights). */
export interface HfTensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * Every tensor a `LlamaForCausalLM` checkpoint of `cfg` holds, in the order transformers lists
 * them; `lm_head.weight` only when embeddings are not tied. Linear weights are `[out, in]`.
 */
export function llamaTensorNames(cfg: LlamaConfig): HfTensorSpec[] {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const out: HfTensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, h] }];
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const inter = cfg.intermediateSizes?.[l] ?? cfg.intermediateSize;
    const p = `model.layers.${l}`;
    out.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, h] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, q] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [inter, h] },
      { name: `${p}.mlp.up_proj.weight`, shape: [inter, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, inter] },
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h] });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, h] });
  return out;
}

/** Buffers some exporters include that carry no learned weights (recomputed from the config). */
const IGNORED_TENSOR = /(^|\.)rotary_emb\.inv_freq$/;

/**
 * Check that `tensors` is exactly the checkpoint of `cfg`: reports every missing, unexpected
 * and mis-shaped tensor by name in one NlsError (the first few of each kind, with counts).
 * `rotary_emb.inv_freq` buffers are ignored; with tied embeddings a redundant `lm_head.weight`
 * is allowed if its shape is right.
 */
export function validateCheckpointTensors(
  cfg: LlamaConfig,
  tensors: ReadonlyMap<string, { readonly shape: readonly number[] }>,
  file: string,
): void {
  const expected = new Map(llamaTensorNames(cfg).map((s) => [s.name, s.shape]));
  if (cfg.tieWordEmbeddings && tensors.has('lm_head.weight')) expected.set('lm_head.weight', [cfg.vocabSize, cfg.hiddenSize]);
  const missing: string[] = [];
  const unexpected: string[] = [];
  const misShaped: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) missing.push(name);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      misShaped.push(`${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
  for (const name of tensors.keys()) if (!expected.has(name) && !IGNORED_TENSOR.test(name)) unexpected.push(name);
  if (missing.length + unexpected.length + misShaped.length === 0) return;

  const show = (label: string, items: string[]): string =>
    items.length === 0 ? '' : `${label} (${items.length}): ${items.slice(0, 5).join('; ')}${items.length > 5 ? '; ...' : ''}. `;
  const first = missing[0] ?? misShaped[0]?.split(' ')[0] ?? unexpected[0];
  throw new NlsError(
    `the checkpoint does not match config.json (LlamaForCausalLM). ` +
      show('missing', missing) +
      show('wrong shape', misShaped) +
      show('unexpected', unexpected) +
      `Check that config.json belongs to these weights (and that the checkpoint is not quantized or of another architecture).`,
    { file, ...(first !== undefined ? { field: first } : {}) },
  );
}
