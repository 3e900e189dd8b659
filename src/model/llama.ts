/**
 * A LLaMA-family decoder (LlamaForCausalLM) written with tfjs ops.
 *
 * Token embedding -> N x [RMSNorm -> grouped-query attention with rotary embeddings ->
 * residual -> RMSNorm -> SwiGLU MLP -> residual] -> RMSNorm -> lm_head (tied or untied).
 *
 * Linear weights are held input-major ([in, out]) so every product is a non-transposed
 * 2-D matMul (see src/ops/linalg.ts); they are transposed once at load and save time.
 * Sequences are right-padded: with a causal mask, padding never influences earlier tokens.
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import { bmm, embedding, linear } from '../ops/linalg.js';
import { createRng, normalArray } from '../util/rng.js';
import type { LlamaConfig } from './hf-config.js';
import { type ForwardContext, INFERENCE, LINEAR_MODULES, type LinearModuleName, LinearSlot } from './linear.js';
import { checkMlpWidths, intermediateSizesOf } from './widths.js';

/** A tensor in HF layout, as read from or written to safetensors (float32 values). */
export interface HfTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The weights of one decoder layer. */
export interface DecoderLayer {
  readonly inputNorm: tf.Variable<tf.Rank.R1>;
  readonly postAttentionNorm: tf.Variable<tf.Rank.R1>;
  readonly linears: Readonly<Record<LinearModuleName, LinearSlot>>;
}

const ATTN_MODULES: ReadonlySet<string> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

/** HF tensor name of a linear module's weight. */
export function hfLinearName(layer: number, module: LinearModuleName): string {
  const block = ATTN_MODULES.has(module) ? 'self_attn' : 'mlp';
  return `model.layers.${layer}.${block}.${module}.weight`;
}

/** Shape [in, out] of a linear module of `layer` under `config` (per-layer MLP widths included). */
export function linearShape(config: LlamaConfig, layer: number, module: LinearModuleName): [number, number] {
  const h = config.hiddenSize;
  const q = config.numAttentionHeads * config.headDim;
  const kv = config.numKeyValueHeads * config.headDim;
  const inter = config.intermediateSizes?.[layer] ?? config.intermediateSize;
  switch (module) {
    case 'q_proj':
      return [h, q];
    case 'k_proj':
    case 'v_proj':
      return [h, kv];
    case 'o_proj':
      return [q, h];
    case 'gate_proj':
    case 'up_proj':
      return [h, inter];
    case 'down_proj':
      return [inter, h];
  }
}

/**
 * Rotary-embedding tables cos/sin, row-major [positions, headDim], in HF's rotate-half layout
 * (frequency i at columns i and i + headDim/2; position ids 0, 1, ...). Shared with the ONNX
 * export so both engines rotate by the same float32 angles.
 */
export function ropeTableValues(config: Pick<LlamaConfig, 'headDim' | 'ropeTheta'>, positions: number): { cos: Float32Array; sin: Float32Array } {
  const d = config.headDim;
  const half = d / 2;
  const cos = new Float32Array(positions * d);
  const sin = new Float32Array(positions * d);
  for (let i = 0; i < half; i++) {
    // HF computes inv_freq in float32; doing the same keeps logits closest to transformers.
    const invFreq = Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / d)));
    for (let p = 0; p < positions; p++) {
      const angle = Math.fround(p * invFreq);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * d + i] = c;
      cos[p * d + i + half] = c;
      sin[p * d + i] = s;
      sin[p * d + i + half] = s;
    }
  }
  return { cos, sin };
}

/** Rotary-embedding tables as tensors [positions, headDim] (see {@link ropeTableValues}). */
function ropeTables(config: LlamaConfig, positions: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const { cos, sin } = ropeTableValues(config, positions);
  return { cos: tf.tensor2d(cos, [positions, config.headDim]), sin: tf.tensor2d(sin, [positions, config.headDim]) };
}

/** The decoder model. Create with {@link LlamaModel.fromHf} or {@link LlamaModel.random}. */
export class LlamaModel {
  /** Decoder layers in order. */
  readonly layers: readonly DecoderLayer[];
  private ropeCache: { positions: number; cos: tf.Tensor2D; sin: tf.Tensor2D } | undefined;
  private maskCache = new Map<string, tf.Tensor2D>();

  private constructor(
    readonly config: LlamaConfig,
    readonly embedTokens: tf.Variable<tf.Rank.R2>,
    layers: DecoderLayer[],
    readonly finalNorm: tf.Variable<tf.Rank.R1>,
    /** Untied lm_head, input-major [hidden, vocab]; undefined when tied to the embedding. */
    readonly lmHeadT: tf.Variable<tf.Rank.R2> | undefined,
  ) {
    this.layers = layers;
  }

  /**
   * Build a model from HF-layout tensors (e.g. read from model.safetensors).
   * @param file - where the tensors came from, for error messages.
   */
  static fromHf(config: LlamaConfig, tensors: ReadonlyMap<string, HfTensor>, file = 'checkpoint'): LlamaModel {
    const take = (name: string, shape: readonly number[]): HfTensor => {
      const t = tensors.get(name);
      if (!t) throw new NlsError(`tensor is missing; the checkpoint does not match config.json`, { file, field: name });
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new NlsError(`has shape [${t.shape}], config.json implies [${shape}]`, { file, field: name });
      }
      return t;
    };
    // tidy frees the temporaries; variables survive it.
    const vector = (name: string, n: number) => tf.tidy(() => tf.variable(tf.tensor1d(take(name, [n]).data), false));
    // HF stores [out, in]; we keep [in, out] so the forward product is non-transposed.
    const inputMajor = (name: string, inDim: number, outDim: number) =>
      tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(take(name, [outDim, inDim]).data, [outDim, inDim])) as tf.Tensor2D, false));
    const c = config;
    const embed = tf.tidy(() =>
      tf.variable(tf.tensor2d(take('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]).data, [c.vocabSize, c.hiddenSize]), false),
    );
    const layers: DecoderLayer[] = [];
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const linears = {} as Record<LinearModuleName, LinearSlot>;
      for (const m of LINEAR_MODULES) {
        const [inDim, outDim] = linearShape(c, l, m);
        const name = hfLinearName(l, m);
        linears[m] = new LinearSlot(`layers.${l}.${m}`, name, inputMajor(name, inDim, outDim));
      }
      layers.push({
        inputNorm: vector(`model.layers.${l}.input_layernorm.weight`, c.hiddenSize),
        postAttentionNorm: vector(`model.layers.${l}.post_attention_layernorm.weight`, c.hiddenSize),
        linears,
      });
    }
    const norm = vector('model.norm.weight', c.hiddenSize);
    const lmHead = c.tieWordEmbeddings ? undefined : inputMajor('lm_head.weight', c.hiddenSize, c.vocabSize);
    return new LlamaModel(c, embed, layers, norm, lmHead);
  }

  /**
   * A randomly initialised model (HF's scheme: N(0, 0.02) weights, unit norms), deterministic
   * from `seed` on every backend.
   */
  static random(config: LlamaConfig, seed: number | string, initializerRange = 0.02): LlamaModel {
    const rng = createRng(seed);
    return LlamaModel.fromHf(config, randomHfTensors(config, (n) => normalArray(rng, n, initializerRange)), 'random init');
  }

  /** Every linear slot of the model, keyed `layers.{i}.{module}`. */
  linearSlots(): Map<string, LinearSlot> {
    const out = new Map<string, LinearSlot>();
    for (const layer of this.layers) for (const m of LINEAR_MODULES) out.set(layer.linears[m].key, layer.linears[m]);
    return out;
  }

  /** All base weights as variables (frozen by default; pre-training makes them trainable). */
  baseVariables(): tf.Variable[] {
    return [...this.namedBaseVariables().values()];
  }

  /** Base weights by their HF tensor name (the names of checkpoints and safetensors files). */
  namedBaseVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>([['model.embed_tokens.weight', this.embedTokens]]);
    this.layers.forEach((layer, l) => {
      out.set(`model.layers.${l}.input_layernorm.weight`, layer.inputNorm);
      out.set(`model.layers.${l}.post_attention_layernorm.weight`, layer.postAttentionNorm);
      for (const m of LINEAR_MODULES) out.set(hfLinearName(l, m), layer.linears[m].weightT);
    });
    out.set('model.norm.weight', this.finalNorm);
    if (this.lmHeadT) out.set('lm_head.weight', this.lmHeadT);
    return out;
  }

  /** MLP intermediate size of layer `l` as stored (the full width). */
  intermediateSizeOf(l: number): number {
    return this.config.intermediateSizes?.[l] ?? this.config.intermediateSize;
  }

  /**
   * Set elastic MLP widths (LoNAS mode B): `widths` maps layer -> width `w`, and that layer's MLP
   * then uses its first `w` channels (gate_proj / up_proj outputs, down_proj inputs), adapters
   * on them included. Layers not named keep their width. Copies no weights (see
   * `LinearSlot.setActiveShape`). Every entry is checked before any changes.
   *
   * @throws NlsError for a layer out of range or a width outside `1..intermediate size`.
   */
  setMlpWidths(widths: ReadonlyMap<number, number>): void {
    checkMlpWidths(intermediateSizesOf(this.config), widths);
    for (const [l, w] of widths) {
      const { gate_proj: gate, up_proj: up, down_proj: down } = this.layers[l]!.linears;
      gate.setActiveShape(gate.inFeatures, w);
      up.setActiveShape(up.inFeatures, w);
      down.setActiveShape(w, down.outFeatures);
    }
  }

  /** Every layer back to its full MLP width. */
  resetMlpWidths(): void {
    this.setMlpWidths(new Map(this.layers.map((_, l) => [l, this.intermediateSizeOf(l)])));
  }

  /** The active MLP width of every layer (layer -> width), all layers. */
  mlpWidths(): Map<number, number> {
    return new Map(this.layers.map((layer, l) => [l, layer.linears.down_proj.activeIn]));
  }

  /** Make the base weights trainable (pre-training) or frozen (adapter training, the default). */
  setBaseTrainable(trainable: boolean): void {
    for (const v of this.baseVariables()) v.trainable = trainable;
  }

  /** Number of base parameters. */
  parameterCount(): number {
    return this.baseVariables().reduce((sum, v) => sum + v.size, 0);
  }

  /** The weights in HF layout and names, ready for safetensors. */
  async toHf(): Promise<Map<string, HfTensor>> {
    const out = new Map<string, HfTensor>();
    const put = async (name: string, t: tf.Tensor) => {
      out.set(name, { shape: t.shape.slice(), data: (await t.data()) as Float32Array });
    };
    const putTransposed = async (name: string, t: tf.Tensor2D) => {
      const hf = tf.transpose(t);
      try {
        await put(name, hf);
      } finally {
        hf.dispose();
      }
    };
    await put('model.embed_tokens.weight', this.embedTokens);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l]!;
      await put(`model.layers.${l}.input_layernorm.weight`, layer.inputNorm);
      await put(`model.layers.${l}.post_attention_layernorm.weight`, layer.postAttentionNorm);
      for (const m of LINEAR_MODULES) await putTransposed(hfLinearName(l, m), layer.linears[m].weightT);
    }
    await put('model.norm.weight', this.finalNorm);
    if (this.lmHeadT) await putTransposed('lm_head.weight', this.lmHeadT);
    return out;
  }

  private rope(positions: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    if (!this.ropeCache || this.ropeCache.positions < positions) {
      this.ropeCache?.cos.dispose();
      this.ropeCache?.sin.dispose();
      const n = Math.max(positions, this.ropeCache ? this.ropeCache.positions * 2 : 0);
      this.ropeCache = { positions: n, ...tf.tidy(() => ropeTables(this.config, n)) };
      tf.keep(this.ropeCache.cos);
      tf.keep(this.ropeCache.sin);
    }
    const { cos, sin } = this.ropeCache;
    return { cos: tf.slice(cos, [0, 0], [positions, -1]), sin: tf.slice(sin, [0, 0], [positions, -1]) };
  }

  /** Additive causal mask [groups*seq, seq]: row r is query position r mod seq. */
  private causalMask(seq: number, groups: number): tf.Tensor2D {
    const cacheKey = `${seq}x${groups}`;
    let mask = this.maskCache.get(cacheKey);
    if (!mask) {
      const data = new Float32Array(groups * seq * seq);
      // A large finite negative rather than -Infinity: exp underflows to exactly 0 either way,
      // and it can never produce inf - inf = NaN.
      for (let r = 0; r < groups * seq; r++) for (let j = (r % seq) + 1; j < seq; j++) data[r * seq + j] = -1e9;
      mask = tf.keep(tf.tensor2d(data, [groups * seq, seq]));
      this.maskCache.set(cacheKey, mask);
    }
    return mask;
  }

  private rmsNorm(x: tf.Tensor, weight: tf.Tensor1D): tf.Tensor {
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, this.config.rmsNormEps))), weight);
  }

  private applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
    // x: [batch, heads, seq, headDim]; rotate_half(x) = cat(-x2, x1)
    const half = this.config.headDim / 2;
    const [x1, x2] = tf.split(x, [half, half], 3);
    const rotated = tf.concat([tf.neg(x2!), x1!], 3);
    return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
  }

  private attention(layer: DecoderLayer, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [batch, seq] = x.shape;
    const c = this.config;
    const heads = c.numAttentionHeads;
    const kvHeads = c.numKeyValueHeads;
    const d = c.headDim;
    const split = (t: tf.Tensor, n: number) => tf.transpose(tf.reshape(t, [batch, seq, n, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    const { cos, sin } = this.rope(seq);
    const q = this.applyRope(split(layer.linears.q_proj.forward(x, ctx), heads), cos, sin);
    const k = this.applyRope(split(layer.linears.k_proj.forward(x, ctx), kvHeads), cos, sin);
    const v = split(layer.linears.v_proj.forward(x, ctx), kvHeads);
    // Grouped-query attention without repeating K/V: query head h reads kv head floor(h / groups),
    // so the `groups` query heads of one kv head are stacked along the sequence axis and share
    // one product with that kv head ([batch*kvHeads, groups*seq, d] @ [batch*kvHeads, d, seq]).
    const groups = heads / kvHeads;
    const bk = batch * kvHeads;
    const q3 = tf.reshape(q, [bk, groups * seq, d]) as tf.Tensor3D;
    const kT = tf.transpose(tf.reshape(k, [bk, seq, d]), [0, 2, 1]) as tf.Tensor3D;
    const scores = tf.add(tf.mul(bmm(q3, kT), 1 / Math.sqrt(d)), this.causalMask(seq, groups));
    const probs = tf.softmax(scores, -1) as tf.Tensor3D;
    const attended = bmm(probs, tf.reshape(v, [bk, seq, d]) as tf.Tensor3D);
    const merged = tf.reshape(tf.transpose(tf.reshape(attended, [batch, heads, seq, d]), [0, 2, 1, 3]), [batch, seq, heads * d]);
    return layer.linears.o_proj.forward(merged, ctx) as tf.Tensor3D;
  }

  private mlp(layer: DecoderLayer, x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const gate = layer.linears.gate_proj.forward(x, ctx);
    const up = layer.linears.up_proj.forward(x, ctx);
    return layer.linears.down_proj.forward(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), ctx) as tf.Tensor3D;
  }

  /**
   * Final hidden states (after the last RMSNorm), [batch, seq, hidden].
   * @param ids - int32 token ids [batch, seq], right-padded.
   */
  hidden(ids: tf.Tensor2D, ctx: ForwardContext = INFERENCE): tf.Tensor3D {
    const seq = ids.shape[1];
    if (seq > this.config.maxPositionEmbeddings) {
      throw new NlsError(`sequence length ${seq} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`, {
        field: 'max_position_embeddings',
      });
    }
    return tf.tidy(() => {
      let h = embedding(this.embedTokens, ids) as tf.Tensor3D;
      for (const layer of this.layers) {
        h = tf.add(h, this.attention(layer, this.rmsNorm(h, layer.inputNorm) as tf.Tensor3D, ctx));
        h = tf.add(h, this.mlp(layer, this.rmsNorm(h, layer.postAttentionNorm) as tf.Tensor3D, ctx));
      }
      return this.rmsNorm(h, this.finalNorm) as tf.Tensor3D;
    });
  }

  /** Project hidden states to vocabulary logits: [..., hidden] -> [..., vocab]. */
  lmHead(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (this.lmHeadT) return linear(hidden, this.lmHeadT);
      return linear(hidden, tf.transpose(this.embedTokens) as tf.Tensor2D);
    });
  }

  /**
   * Next-token logits, [batch, seq, vocab].
   * @param ids - int32 token ids [batch, seq], right-padded.
   */
  forward(ids: tf.Tensor2D, ctx: ForwardContext = INFERENCE): tf.Tensor3D {
    return tf.tidy(() => this.lmHead(this.hidden(ids, ctx)) as tf.Tensor3D);
  }

  /** {@link forward}'s logits (inference) read back as one flat row-major array; no tensor is kept. */
  async logitsData(ids: tf.Tensor2D): Promise<Float32Array> {
    const logits = this.forward(ids);
    try {
      return Float32Array.from((await logits.data()) as Float32Array);
    } finally {
      logits.dispose();
    }
  }

  /** Free every tensor the model holds (weights and caches). Adapters are disposed by their owner. */
  dispose(): void {
    for (const slot of this.linearSlots().values()) slot.clearSliceCache();
    for (const v of this.baseVariables()) v.dispose();
    this.ropeCache?.cos.dispose();
    this.ropeCache?.sin.dispose();
    this.ropeCache = undefined;
    for (const m of this.maskCache.values()) m.dispose();
    this.maskCache.clear();
  }
}

/**
 * HF-layout tensors for `config` with values from `fill(n)` for matrices and ones for norms.
 * Shared by random initialisation and tests.
 */
export function randomHfTensors(config: LlamaConfig, fill: (n: number) => Float32Array): Map<string, HfTensor> {
  const out = new Map<string, HfTensor>();
  const matrix = (name: string, rows: number, cols: number) => out.set(name, { shape: [rows, cols], data: fill(rows * cols) });
  const ones = (name: string, n: number) => out.set(name, { shape: [n], data: new Float32Array(n).fill(1) });
  matrix('model.embed_tokens.weight', config.vocabSize, config.hiddenSize);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    ones(`model.layers.${l}.input_layernorm.weight`, config.hiddenSize);
    ones(`model.layers.${l}.post_attention_layernorm.weight`, config.hiddenSize);
    for (const m of LINEAR_MODULES) {
      const [inDim, outDim] = linearShape(config, l, m);
      matrix(hfLinearName(l, m), outDim, inDim);
    }
  }
  ones('model.norm.weight', config.hiddenSize);
  if (!config.tieWordEmbeddings) matrix('lm_head.weight', config.vocabSize, config.hiddenSize);
  return out;
}
