/**
 * Analytic cost of a subnet: active adapter parameters and FLOPs per token. Pure arithmetic on
 * the model's shape and the configuration (no tfjs), so strategies and cost filters can use it.
 */
import type { LlamaConfig } from '../model/hf-config.js';
import type { Config, SearchSpace } from '../space/index.js';

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

/** Active adapter parameters of `config`: sum over adapted modules of r * (in + out). */
export function adapterParameters(cfg: LlamaConfig, space: SearchSpace, config: Config): number {
  let n = 0;
  for (const [key, r] of space.activeRanks(config)) {
    const [, layer, module] = key.split('.');
    const [i, o] = moduleShapes(cfg, Number(layer))[module!]!;
    n += r * (i + o);
  }
  return n;
}

/**
 * Forward FLOPs per token of base plus active adapters at context length `seqLen`: 2 per
 * multiply-add of every linear layer, the unmerged adapters (2 r (in + out) each) and the
 * attention products (4 * seqLen * heads * headDim per layer for QK^T and PV, unmasked).
 */
export function flopsPerToken(cfg: LlamaConfig, space: SearchSpace, config: Config, seqLen: number): number {
  const attention = cfg.numHiddenLayers * 4 * seqLen * cfg.numAttentionHeads * cfg.headDim;
  return 2 * baseLinearParameters(cfg) + 2 * adapterParameters(cfg, space, config) + attention;
}
