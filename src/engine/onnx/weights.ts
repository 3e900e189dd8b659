/**
 * What the ONNX export reads from the tfjs side: a model's float32 weights (a quantized base is
 * already dequantized into float weights by loadModelFolder) and an adapter set's factors,
 * modes and per-configuration feeds.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../../adapters/adapter-set.js';
import type { ElasticLoraSpec } from '../../adapters/elastic-lora.js';
import { FakeQuantizerT, fakeQuantGridT } from '../../compress/quantize.js';
import { NlsError } from '../../errors.js';
import { LINEAR_MODULES, type LinearModuleName } from '../../model/linear.js';
import type { LlamaModel } from '../../model/llama.js';
import { configWithWidths } from '../../model/widths.js';
import { loraScale } from '../../space/search-space.js';
import type { AdapterSlot, LlamaWeights } from './llama.js';

async function values(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array);
}

/** A model's weights as plain float32 arrays (linear weights input-major, as nls holds them). */
export async function llamaWeightsOf(model: LlamaModel): Promise<LlamaWeights> {
  const layers: LlamaWeights['layers'][number][] = [];
  for (const layer of model.layers) {
    const linears = {} as Record<LinearModuleName, Float32Array>;
    for (const m of LINEAR_MODULES) linears[m] = await values(layer.linears[m].weightT);
    layers.push({ inputNorm: await values(layer.inputNorm), postAttentionNorm: await values(layer.postAttentionNorm), linears });
  }
  return {
    config: model.config,
    embed: await values(model.embedTokens),
    layers,
    finalNorm: await values(model.finalNorm),
    ...(model.lmHeadT ? { lmHeadT: await values(model.lmHeadT) } : {}),
  };
}

/** One adapter's factors on the host: A^T [in, rMax] and B^T [rMax, out] (unscaled), and its spec. */
export interface AdapterFactors {
  readonly spec: ElasticLoraSpec;
  readonly inDim: number;
  readonly outDim: number;
  readonly aT: Float32Array;
  readonly bT: Float32Array;
}

/** Every adapter's factors and its slot in the unmerged graph (mode included). */
export async function adapterFactorsOf(adapters: AdapterSet): Promise<{ factors: Map<string, AdapterFactors>; slots: AdapterSlot[] }> {
  const factors = new Map<string, AdapterFactors>();
  const slots: AdapterSlot[] = [];
  for (const [key, a] of adapters.adapters) {
    factors.set(key, { spec: a.spec, inDim: a.aT.shape[0], outDim: a.bT.shape[1], aT: await values(a.aT), bT: await values(a.bT) });
    const c = a.baseConstraint;
    const fq = c?.fakeQuantize;
    if (fq && !(fq instanceof FakeQuantizerT)) {
      throw new NlsError('the adapter fake-quantizes with a custom quantizer the ONNX export cannot express; fix: use --engine tfjs', { field: key });
    }
    slots.push({ key, rMax: a.spec.rMax, sparse: c?.mask !== undefined, ...(fq instanceof FakeQuantizerT ? { quant: fakeQuantGridT(fq.like) } : {}) });
  }
  return { factors, slots };
}

/** The two feeds of one adapted module. */
export interface AdapterFeed {
  readonly a: Float32Array;
  readonly aDims: readonly [number, number];
  readonly b: Float32Array;
  readonly bDims: readonly [number, number];
}

/**
 * Feeds of one module at `rank`: `padded` (the default) keeps the rMax width, A^T as stored and
 * `s * B^T` with rows >= rank set to zero, so every configuration has the same shapes; `sliced`
 * cuts both to `rank` (the tfjs computation's shapes). Both are exact: a padded row contributes
 * `(x A^T)_j * 0 = 0` (x finite) to every output. `s = loraScale(spec, rank)`, folded into B.
 */
export function adapterFeed(f: AdapterFactors, rank: number, mode: 'padded' | 'sliced' = 'padded'): AdapterFeed {
  const { rMax } = f.spec;
  if (!Number.isInteger(rank) || rank < 0 || rank > rMax) throw new NlsError(`rank must be an integer in [0, ${rMax}], got ${rank}`, { field: f.spec.key });
  const scale = loraScale(f.spec, rank);
  const width = mode === 'padded' ? rMax : rank;
  const b = new Float32Array(width * f.outDim);
  for (let j = 0; j < rank * f.outDim; j++) b[j] = f.bT[j]! * scale;
  if (mode === 'padded') return { a: f.aT, aDims: [f.inDim, rMax], b, bDims: [rMax, f.outDim] };
  const a = new Float32Array(f.inDim * rank);
  for (let i = 0; i < f.inDim; i++) for (let j = 0; j < rank; j++) a[i * rank + j] = f.aT[i * rMax + j]!;
  return { a, aDims: [f.inDim, rank], b, bDims: [rank, f.outDim] };
}

/**
 * The model's weights with the adapters merged at their active ranks, computed by the adapters
 * themselves (`deltaWeightT`: masked when sparsity-aware; the merged weight fake-quantized when
 * quantization-aware), i.e. exactly the weight the tfjs forward pass multiplies by.
 */
export async function mergedWeightsOf(model: LlamaModel, adapters: AdapterSet, base?: LlamaWeights): Promise<LlamaWeights> {
  const w = base ?? (await llamaWeightsOf(model));
  const slots = model.linearSlots();
  const layers = w.layers.map((layer) => ({ ...layer, linears: { ...layer.linears } }));
  for (const [key, a] of adapters.adapters) {
    if (a.activeRank === 0) continue;
    const slot = slots.get(key)!;
    const merged = tf.tidy(() => {
      const sum = tf.add(slot.weightT, a.deltaWeightT()) as tf.Tensor2D;
      return a.baseConstraint?.fakeQuantize ? a.baseConstraint.fakeQuantize.apply(sum) : sum;
    });
    try {
      const [, l, m] = key.split('.');
      layers[Number(l)]!.linears[m as LinearModuleName] = await values(merged);
    } finally {
      merged.dispose();
    }
  }
  return { ...w, layers };
}

/**
 * The weights of the smaller model a width configuration exports (LoNAS mode B): for each layer
 * of `widths` (layer -> w), `gate_proj` / `up_proj` cut to their first `w` columns ([h, w] in the
 * input-major layout) and `down_proj` to its first `w` rows ([w, h]); the config gets the
 * per-layer sizes (`configWithWidths`). Other tensors are shared, not copied.
 */
export function sliceLlamaWeights(weights: LlamaWeights, widths: ReadonlyMap<number, number>): LlamaWeights {
  const config = configWithWidths(weights.config, widths);
  const h = weights.config.hiddenSize;
  const layers = weights.layers.map((layer, l) => {
    const w = widths.get(l);
    if (w === undefined) return layer;
    const inter = layer.linears.down_proj.length / h;
    if (w === inter) return layer;
    const cols = (t: Float32Array): Float32Array => {
      const out = new Float32Array(h * w);
      for (let r = 0; r < h; r++) out.set(t.subarray(r * inter, r * inter + w), r * w);
      return out;
    };
    return {
      ...layer,
      linears: { ...layer.linears, gate_proj: cols(layer.linears.gate_proj), up_proj: cols(layer.linears.up_proj), down_proj: layer.linears.down_proj.slice(0, w * h) },
    };
  });
  return { ...weights, config, layers };
}
