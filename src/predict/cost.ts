/**
 * Analytic cost of a subnet: active adapter parameters, FLOPs per token and inference memory. Pure arithmetic on
 * the model's shape and the configuration (no tfjs), so strategies and cost filters can use it.
 *
 * With width genes (elastic MLP widths, LoNAS mode B) every figure is that of the smaller model the
 * configuration exports: the MLP of a layer at width `w` has `gate_proj` / `up_proj` of `[h, w]`
 * and `down_proj` of `[w, h]`, and the adapters on them are sliced to match.
 */
import type { LlamaConfig } from '../model/hf-config.js';
import { configWithWidths } from '../model/widths.js';
import type { Config, SearchSpace } from '../space/index.js';

/**
 * The model config of a configuration: `cfg` with the MLP widths of `config`'s width genes
 * (`intermediateSizes`), or `cfg` itself for a rank-only space.
 */
export function configAtWidths(cfg: LlamaConfig, space: SearchSpace, config: Config): LlamaConfig {
  return space.hasWidths ? configWithWidths(cfg, space.activeWidths(config)) : cfg;
}

/** [in, out] of each linear module of a layer. */
export function moduleShapes(cfg: LlamaConfig, layer = 0): Record<string, readonly [number, number]> {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const inter = cfg.intermediateSizes?.[layer] ?? cfg.intermediateSize;
  return { q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h], gate_proj: [h, inter], up_proj: [h, inter], down_proj: [inter, h] };
}

/** Parameters of the base model's linear layers and lm_head (the matrices a token multiplies). */
export function baseLinearParameters(cfg: LlamaConfig): number {
  let n = cfg.hiddenSize * cfg.vocabSize;
  for (let l = 0; l < cfg.numHiddenLayers; l++) for (const [i, o] of Object.values(moduleShapes(cfg, l))) n += i * o;
  return n;
}

/** Active adapter parameters of `config`: sum over adapted modules of r * (in + out), at the configuration's MLP widths. */
export function adapterParameters(cfg: LlamaConfig, space: SearchSpace, config: Config): number {
  const at = configAtWidths(cfg, space, config);
  let n = 0;
  for (const [key, r] of space.activeRanks(config)) {
    const [, layer, module] = key.split('.');
    const [i, o] = moduleShapes(at, Number(layer))[module!]!;
    n += r * (i + o);
  }
  return n;
}

/**
 * Forward FLOPs per token of base plus active adapters at context length `seqLen`: 2 per
 * multiply-add of every linear layer (at the configuration's MLP widths), the unmerged adapters
 * (2 r (in + out) each) and the attention products (4 * seqLen * heads * headDim per layer for
 * QK^T and PV, unmasked).
 */
export function flopsPerToken(cfg: LlamaConfig, space: SearchSpace, config: Config, seqLen: number): number {
  const attention = cfg.numHiddenLayers * 4 * seqLen * cfg.numAttentionHeads * cfg.headDim;
  return 2 * baseLinearParameters(configAtWidths(cfg, space, config)) + 2 * adapterParameters(cfg, space, config) + attention;
}

/** Every base model parameter: embeddings, lm_head unless tied, linear layers, RMSNorm weights. */
export function baseParameters(cfg: LlamaConfig): number {
  const h = cfg.hiddenSize;
  let n = cfg.vocabSize * h * (cfg.tieWordEmbeddings ? 1 : 2) + h; // embeddings (+ lm_head), final norm
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    for (const [i, o] of Object.values(moduleShapes(cfg, l))) n += i * o;
    n += 2 * h; // input and post-attention norms
  }
  return n;
}

/** Options of {@link inferenceMemoryBytes}. */
export interface MemoryOptions {
  /** Sequences processed at once (default 1). */
  readonly batch?: number;
  /** Context length held in the KV cache (default 2048, or `maxPositionEmbeddings` if smaller). */
  readonly seqLen?: number;
  /** Bytes per base weight (default 4: float32, as tfjs computes; 2 for F16/BF16 storage). */
  readonly baseBytesPerParam?: number;
  /** Bytes per adapter weight (default 4). */
  readonly adapterBytesPerParam?: number;
  /** Bytes per cached key/value element (default 4). */
  readonly kvBytesPerValue?: number;
}

/** The parts of {@link inferenceMemoryBytes}. */
export interface MemoryEstimate {
  readonly baseWeights: number;
  readonly adapterWeights: number;
  readonly kvCache: number;
  readonly total: number;
}

/**
 * Analytic inference memory of a subnet in bytes: base weights (of the smaller model, with width
 * genes), the active adapter slices
 * (unmerged, as a deployed sub-adapter keeps them: r (in + out) per module), and the KV cache
 * (2 x layers x kv heads x head dim x context x batch). Activations of one forward pass are
 * transient and left out; so is the runtime's own overhead.
 */
export function inferenceMemoryBytes(cfg: LlamaConfig, space: SearchSpace, config: Config, options: MemoryOptions = {}): MemoryEstimate {
  const batch = options.batch ?? 1;
  const seqLen = options.seqLen ?? Math.min(2048, cfg.maxPositionEmbeddings);
  const baseWeights = baseParameters(configAtWidths(cfg, space, config)) * (options.baseBytesPerParam ?? 4);
  const adapterWeights = adapterParameters(cfg, space, config) * (options.adapterBytesPerParam ?? 4);
  const kvCache = 2 * cfg.numHiddenLayers * cfg.numKeyValueHeads * cfg.headDim * seqLen * batch * (options.kvBytesPerValue ?? 4);
  return { baseWeights, adapterWeights, kvCache, total: baseWeights + adapterWeights + kvCache };
}
