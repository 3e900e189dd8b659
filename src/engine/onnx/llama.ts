/**
 * The LLaMA-family decoder (LlamaForCausalLM, as src/model/llama.ts computes it) as an ONNX graph:
 * token embedding -> N x [RMSNorm -> grouped-query attention with rotary embeddings and a causal
 * mask -> residual -> RMSNorm -> SwiGLU MLP -> residual] -> RMSNorm -> lm_head (tied or untied).
 *
 * Two forms (docs/engines.md):
 *
 * - **merged**: every linear weight is an initializer, adapters already merged into it. One
 *   configuration per model: what a user deploys.
 * - **unmerged**: the base weights are initializers and each adapted module takes its factors as
 *   graph inputs, `lora_a.<key>` = A^T [in, rMax] and `lora_b.<key>` = s * B^T [rMax, out] (rows
 *   at and beyond the active rank zero), so one session scores every configuration of a supernet
 *   (see {@link adapterFeeds}). Plain adapters compute `x W + (x A^T) (s B^T)` ("low-rank") or
 *   `x (W + A^T (s B^T))` ("merge"); sparsity-aware (SparsePEFT) adapters always merge in the
 *   graph and mask the delta by the base's non-zeros, and quantization-aware (QA-SparsePEFT) ones
 *   fake-quantize the merged weight on the base's grid, exactly the computation of the tfjs
 *   adapter (src/adapters/elastic-lora.ts), so the unmerged form scores every supernet nls trains.
 *
 * Per-layer MLP widths (`config.intermediateSizes`, a model exported from a width configuration)
 * follow the weights' shapes. With `elasticWidths`, each layer also takes its MLP width as an
 * input `mlp_width.{l}` and cuts its MLP weights in the graph (one session for every width).
 *
 * Graph inputs: `input_ids` int32 [batch, seq] (right-padded). Outputs by `output`:
 * `logits` float [batch, seq, vocab]; `scores`: with inputs `targets` int32 and `weights` float
 * [batch, seq], outputs `log_likelihood` and `tokens` float [batch] (per row: sum of weight x
 * log p(target), and sum of weights; src/evaluate/scoring.ts); `next`: with input `positions`
 * int32 [batch] (flat indices into batch x seq), output `next_logits` float [batch, vocab].
 *
 * The key/value cache pair (greedy generation, src/evaluate/generate.ts): `prefill` is `next` that
 * also outputs each layer's keys (after rotary) and values, `present_key.{l}` and
 * `present_value.{l}` [batch, kv_heads, seq, head_dim]; `decode` reads one new token per row,
 * `input_ids` [batch, 1], at rotary position `position_ids` int32 [batch], attends over
 * `past_key.{l}` / `past_value.{l}` [batch, kv_heads, past, head_dim] followed by itself, with
 * `attention_bias` float [batch, past + 1] added to the scores (0, or -1e9 on a row's padding),
 * and outputs `next_logits` [batch, vocab] and the grown cache as `present_*` [.., past + 1, ..].
 */
import type { LlamaConfig } from '../../model/hf-config.js';
import { LINEAR_MODULES, type LinearModuleName } from '../../model/linear.js';
import { hfLinearName, linearShape, ropeTableValues } from '../../model/llama.js';
import { NlsError } from '../../errors.js';
import { GraphBuilder, MICROSOFT_DOMAIN } from './graph.js';
import { OnnxDataType } from './proto.js';

/** The float32 weights of a decoder, linear weights input-major ([in, out]) as nls holds them. */
export interface LlamaWeights {
  readonly config: LlamaConfig;
  /** `embed_tokens`, [vocab, hidden]. */
  readonly embed: Float32Array;
  readonly layers: readonly {
    readonly inputNorm: Float32Array;
    readonly postAttentionNorm: Float32Array;
    /** Each linear module's weight, [in, out]. */
    readonly linears: Readonly<Record<LinearModuleName, Float32Array>>;
  }[];
  readonly finalNorm: Float32Array;
  /** Untied lm_head, [hidden, vocab]; undefined when tied to the embedding. */
  readonly lmHeadT?: Float32Array;
}

/** Fake quantization of one module's merged weight, per element in the [in, out] layout (`FakeQuantizerT`). */
export interface FakeQuantGrid {
  readonly scale: Float32Array;
  /** The scale, or Infinity where it is 0. */
  readonly divisor: Float32Array;
  /** Zero points, or undefined when symmetric. */
  readonly zero?: Float32Array;
  readonly lo: number;
  readonly hi: number;
}

/** An adapted module of the unmerged form. */
export interface AdapterSlot {
  /** Module key `layers.{i}.{module}`. */
  readonly key: string;
  readonly rMax: number;
  /** Mask the delta by the base weight's non-zeros (SparsePEFT). */
  readonly sparse: boolean;
  /** Fake-quantize the merged weight (QA-SparsePEFT). */
  readonly quant?: FakeQuantGrid;
  /** Dropout probability on the adapter's input; only the training form applies it (an input `dropout_mask.<key>`). */
  readonly dropout?: number;
}

/** How plain adapters of the unmerged form are computed (sparse and quantization-aware ones always merge). */
export type AdapterPath = 'low-rank' | 'merge';

/** Which outputs the graph has (see the module comment). */
export type LlamaGraphOutput = 'logits' | 'scores' | 'next' | 'loss' | 'prefill' | 'decode';

/** Names of layer `layer`'s cache tensors in the `prefill` / `decode` graphs (see the module comment). */
export function cacheNames(layer: number): { pastKey: string; pastValue: string; presentKey: string; presentValue: string } {
  return { pastKey: `past_key.${layer}`, pastValue: `past_value.${layer}`, presentKey: `present_key.${layer}`, presentValue: `present_value.${layer}` };
}

/**
 * How attention is written: `standard` = ONNX operators only (rotary, products, mask, softmax;
 * any ONNX runtime loads it); `fused` = onnxruntime's contrib `GroupQueryAttention` (com.microsoft),
 * one kernel for rotary embeddings, the causal grouped-query products and the softmax.
 */
export type AttentionKind = 'standard' | 'fused';

/** Whether onnxruntime's CPU GroupQueryAttention kernel takes this head size (a multiple of 16). */
export function fusedAttentionSupported(config: Pick<LlamaConfig, 'headDim'>): boolean {
  return config.headDim % 16 === 0;
}

/** Options of {@link exportLlamaOnnx}. */
export interface LlamaExportOptions {
  readonly output: LlamaGraphOutput;
  /** Adapted modules taking their factors as inputs (the unmerged form); none = the merged form. */
  readonly adapters?: readonly AdapterSlot[];
  /** Default `merge`. */
  readonly adapterPath?: AdapterPath;
  /** The rank dimension of adapter inputs: `fixed` = rMax (zero-padded feeds) or `dynamic` (sliced feeds accepted too). Default `fixed`. */
  readonly rankDim?: 'fixed' | 'dynamic';
  /** Multiply q/k/v and gate/up by one concatenated weight each (default true). */
  readonly fuseProjections?: boolean;
  /** Default `standard`. */
  readonly attention?: AttentionKind;
  /** Written into the model's metadata (`nls.*` keys are added). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly producerVersion?: string;
  /**
   * Elastic MLP widths (LoNAS mode B): every layer takes an int64 `[1]` input `mlp_width.{l}`
   * and its MLP uses the first `w` channels: gate/up weights (merged in the graph or base) cut to
   * `[h, w]`, down to `[w, h]`, low-rank adapter factors cut alike (`Slice` in the graph, so the
   * products shrink with the width). Default false: fixed widths, no width inputs. Not with
   * sparsity- or quantization-aware adapters (refused, as in tfjs).
   */
  readonly elasticWidths?: boolean;
  /** The training form (see {@link LlamaTrainingForm}); output `loss` needs it. */
  readonly training?: LlamaTrainingForm;
}

/**
 * The training form of the graph (train-graph.ts differentiates it): static shapes, and inputs
 * that let one session train every configuration of a supernet.
 *
 * - Inputs `input_ids`, `targets` int32 and `weights` float, all [batch, seq]; output `loss`, the
 *   weighted mean token cross-entropy `-sum(w log p(target)) / max(sum(w), 1)` (src/model/loss.ts).
 * - Adapters take their factors raw at r_max (`lora_a.<key>` = A^T, `lora_b.<key>` = B^T) and a
 *   rank mask `rank_mask.<key>` [r_max]: the scale at the active rank on its first r entries, 0
 *   beyond, applied between the two products, so inactive rank slices contribute exactly 0 and
 *   get exactly zero gradient. Dropout, where the adapter has it, multiplies the adapter's input
 *   by `dropout_mask.<key>` [batch, seq, in] (0 or 1/(1-p), drawn by the caller).
 * - Elastic widths: `mlp_mask.<l>` [intermediate] (1 on the first w channels, 0 beyond) multiplies
 *   the MLP's activation before down_proj; every product past it sees exact zeros.
 * - `trainBase`: every base weight is an input named {@link parameterInputName} (pre-training).
 */
export interface LlamaTrainingForm {
  readonly batch: number;
  readonly seq: number;
  readonly trainBase: boolean;
}

/** Input name of a base weight in the training form with `trainBase` (its HF tensor name; linear weights in nls's [in, out] layout). */
export function parameterInputName(hfName: string): string {
  return `param.${hfName}`;
}

/** Input name of an adapted module's rank mask (training form). */
export function rankMaskInputName(key: string): string {
  return `rank_mask.${key}`;
}

/** Input name of an adapted module's dropout mask (training form). */
export function dropoutMaskInputName(key: string): string {
  return `dropout_mask.${key}`;
}

/** Input name of layer `layer`'s MLP width mask (training form with elastic widths). */
export function widthMaskInputName(layer: number): string {
  return `mlp_mask.${layer}`;
}

/** Input names of an adapted module's factors. */
export function adapterInputNames(key: string): { a: string; b: string } {
  return { a: `lora_a.${key}`, b: `lora_b.${key}` };
}

/** Input name of layer `layer`'s MLP width in a graph exported with `elasticWidths`. */
export function widthInputName(layer: number): string {
  return `mlp_width.${layer}`;
}

function checkWeights(w: LlamaWeights): void {
  const c = w.config;
  const expect = (name: string, got: number, want: number) => {
    if (got !== want) throw new NlsError(`has ${got} values, the config implies ${want}`, { field: name });
  };
  expect('embed_tokens', w.embed.length, c.vocabSize * c.hiddenSize);
  expect('layers', w.layers.length, c.numHiddenLayers);
  w.layers.forEach((layer, l) => {
    expect(`layers.${l}.input_layernorm`, layer.inputNorm.length, c.hiddenSize);
    expect(`layers.${l}.post_attention_layernorm`, layer.postAttentionNorm.length, c.hiddenSize);
    for (const m of LINEAR_MODULES) {
      const [i, o] = linearShape(c, l, m);
      expect(`layers.${l}.${m}`, layer.linears[m].length, i * o);
    }
  });
  expect('norm', w.finalNorm.length, c.hiddenSize);
  if (w.lmHeadT) expect('lm_head', w.lmHeadT.length, c.hiddenSize * c.vocabSize);
  if (!w.lmHeadT && !c.tieWordEmbeddings) throw new NlsError('the config has an untied lm_head but no lm_head weight was given', { field: 'lm_head' });
}

/** Transpose a row-major [rows, cols] matrix. */
export function transposeMatrix(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/**
 * Export a decoder as an ONNX model (serialized ModelProto bytes). The merged form when
 * `options.adapters` is empty, else the unmerged form with those modules' factors as inputs.
 */
export function exportLlamaOnnx(weights: LlamaWeights, options: LlamaExportOptions): Uint8Array {
  const g = new GraphBuilder('nls_llama');
  buildLlamaGraph(g, weights, options);
  const adapters = options.adapters ?? [];
  const form = adapters.length > 0 ? 'unmerged' : 'merged';
  const c = weights.config;
  return g.build({
    producerVersion: options.producerVersion ?? '0',
    metadata: {
      ...options.metadata,
      'nls.form': form,
      'nls.output': options.output,
      ...(adapters.length > 0 ? { 'nls.adapter_path': options.adapterPath ?? 'merge', 'nls.adapters': adapters.map((a) => a.key).join(',') } : {}),
      ...(options.elasticWidths ? { 'nls.elastic_widths': 'true' } : {}),
      'nls.attention': options.attention ?? 'standard',
      ...(c.intermediateSizes !== undefined ? { 'nls.intermediate_sizes': c.intermediateSizes.join(',') } : {}),
      ...(options.training ? { 'nls.training': JSON.stringify(options.training) } : {}),
    },
  });
}

/**
 * Add the decoder (inputs, forward computation, the outputs `options.output` names) to `g`:
 * what {@link exportLlamaOnnx} serializes, and what train-graph.ts differentiates.
 */
export function buildLlamaGraph(g: GraphBuilder, weights: LlamaWeights, options: LlamaExportOptions): void {
  checkWeights(weights);
  const c = weights.config;
  const training = options.training;
  if ((options.output === 'loss') !== (training !== undefined)) {
    throw new NlsError(training ? `the training form has output 'loss', not '${options.output}'` : "output 'loss' needs the training form (options.training)", { field: 'output' });
  }
  if (training && options.attention === 'fused') throw new NlsError("the training form writes attention in ONNX operators; export it with attention 'standard'", { field: 'attention' });
  const decode = options.output === 'decode';
  const cached = decode || options.output === 'prefill';
  if (cached && options.attention === 'fused') {
    throw new NlsError(`the '${options.output}' graph writes attention in ONNX operators; export it with attention 'standard'`, { field: 'attention' });
  }
  const adapters = new Map((options.adapters ?? []).map((a) => [a.key, a]));
  for (const key of adapters.keys()) {
    const [, layer, module] = key.split('.');
    if (!/^layers\.\d+\.[a-z_]+$/.test(key) || Number(layer) >= c.numHiddenLayers || !(LINEAR_MODULES as readonly string[]).includes(module!)) {
      throw new NlsError(`not a linear module of this model (expected layers.{0..${c.numHiddenLayers - 1}}.{${LINEAR_MODULES.join('|')}})`, { field: key });
    }
  }
  const adapterPath = options.adapterPath ?? 'merge';
  const H = c.hiddenSize;
  const d = c.headDim;
  const heads = c.numAttentionHeads;
  const kvHeads = c.numKeyValueHeads;
  const groups = heads / kvHeads;
  if (!Number.isInteger(groups)) throw new NlsError(`num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`, { field: 'num_key_value_heads' });
  if (d % 2 !== 0) throw new NlsError(`head_dim ${d} must be even for rotary embeddings`, { field: 'head_dim' });

  if (options.attention === 'fused' && !fusedAttentionSupported(c)) {
    throw new NlsError(`head_dim ${d} is not a multiple of 16, which onnxruntime's GroupQueryAttention kernel needs; export with attention 'standard'`, { field: 'head_dim' });
  }
  const rowDims = training ? [training.batch, training.seq] : decode ? ['batch', 1] : ['batch', 'seq'];
  if (training && (training.seq > c.maxPositionEmbeddings || !Number.isSafeInteger(training.seq) || !Number.isSafeInteger(training.batch) || training.seq < 1 || training.batch < 1)) {
    throw new NlsError(`batch ${training.batch} x sequence ${training.seq} is not a valid training shape (at most ${c.maxPositionEmbeddings} positions)`, { field: 'training' });
  }
  const ids = g.input('input_ids', OnnxDataType.INT32, rowDims);

  const { cos: cosTable, sin: sinTable } = ropeTableValues(c, c.maxPositionEmbeddings);
  // Sequence length S as a [1] int64 tensor, for slicing the rotary tables and building the mask
  // (the training form knows S and stores both as constants; a decode step reads one position per row).
  const shape = training || decode ? undefined : g.op('Shape', [ids]);
  const seqLen = shape ? g.op('Slice', [shape, g.int64s([1]), g.int64s([2])]) : undefined;
  const seqScalar = seqLen ? g.op('Squeeze', [seqLen, g.int64s([0])]) : undefined;
  const standard = options.attention === 'fused' ? undefined : training ? staticAttentionInputs(training.seq) : decode ? decodeAttentionInputs() : standardAttentionInputs();
  const gqa = options.attention === 'fused' ? fusedAttentionInputs() : undefined;

  /** The rotary tables' first S rows and the causal mask, as constants (training form). */
  function staticAttentionInputs(S: number): { cos: string; sin: string; mask: string } {
    const mask = new Float32Array(groups * S * S);
    for (let r = 0; r < groups * S; r++) for (let k = (r % S) + 1; k < S; k++) mask[r * S + k] = -1e9;
    return {
      cos: g.floats('rope_cos', [S, d], cosTable.slice(0, S * d)),
      sin: g.floats('rope_sin', [S, d], sinTable.slice(0, S * d)),
      mask: g.floats('causal_mask', [groups * S, S], mask),
    };
  }

  /** Rotary tables sliced to S ([S, d]) and the causal mask, for attention written in ONNX operators. */
  function standardAttentionInputs(): { cos: string; sin: string; mask: string } {
    const P = c.maxPositionEmbeddings;
    const cos = g.op('Slice', [g.floats('rope_cos', [P, d], cosTable), g.int64s([0]), seqLen!, g.int64s([0])]);
    const sin = g.op('Slice', [g.floats('rope_sin', [P, d], sinTable), g.int64s([0]), seqLen!, g.int64s([0])]);
    // Causal mask [S, S]: -1e9 where key position > query position (as the tfjs model: exp
    // underflows to exactly 0, and no inf - inf can arise).
    const zeroI64 = g.initializer('const_i64_scalar_0', OnnxDataType.INT64, [], BigInt64Array.of(0n));
    const oneI64 = g.initializer('const_i64_scalar_1', OnnxDataType.INT64, [], BigInt64Array.of(1n));
    const pos = g.op('Range', [zeroI64, seqScalar!, oneI64]);
    const later = g.op('Greater', [g.op('Unsqueeze', [pos, g.int64s([0])]), g.op('Unsqueeze', [pos, g.int64s([1])])]);
    const causal = g.op('Where', [later, g.scalar(-1e9), g.scalar(0)]);
    // Tiled once per query group ([groups*S, S], row r = query position r mod S), as the tfjs model.
    return { cos, sin, mask: groups === 1 ? causal : g.op('Tile', [causal, g.int64s([groups, 1])]) };
  }

  /**
   * A decode step's rotary rows ([batch, 1, 1, d], gathered at each row's position) and mask
   * ([batch, 1, 1, past + 1], the caller's additive bias): one query per row, so no causal part.
   */
  function decodeAttentionInputs(): { cos: string; sin: string; mask: string } {
    const P = c.maxPositionEmbeddings;
    const positions = g.input('position_ids', OnnxDataType.INT32, ['batch']);
    const bias = g.input('attention_bias', OnnxDataType.FLOAT, ['batch', 'total']);
    const rows = (name: string, table: Float32Array) => g.reshape(g.op('Gather', [g.floats(name, [P, d], table), positions], { axis: 0 }), [-1, 1, 1, d]);
    return { cos: rows('rope_cos', cosTable), sin: rows('rope_sin', sinTable), mask: g.op('Unsqueeze', [bias, g.int64s([1, 2])]) };
  }

  /**
   * The extra inputs of onnxruntime's GroupQueryAttention: every row attends causally over all S
   * positions (right padding is computed like any token, as in tfjs), so seqlens_k = S - 1 for
   * every row and total_sequence_length = S; the rotary caches hold each frequency once
   * ([positions, d/2], rotate-half convention), the same float32 values as the tables above.
   */
  function fusedAttentionInputs(): { seqlensK: string; totalLength: string; cos: string; sin: string } {
    const half = d / 2;
    const P = c.maxPositionEmbeddings;
    const cosHalf = new Float32Array(P * half);
    const sinHalf = new Float32Array(P * half);
    for (let p = 0; p < P; p++) {
      cosHalf.set(cosTable.subarray(p * d, p * d + half), p * half);
      sinHalf.set(sinTable.subarray(p * d, p * d + half), p * half);
    }
    const total = g.op('Cast', [seqScalar!], { to: OnnxDataType.INT32 });
    const batch = g.op('Slice', [shape!, g.int64s([0]), g.int64s([1])]);
    const last = g.op('Sub', [total, g.initializer('const_i32_scalar_1', OnnxDataType.INT32, [], Int32Array.of(1))]);
    return {
      seqlensK: g.op('Expand', [last, batch]),
      totalLength: total,
      cos: g.floats('rope_cos_half', [P, half], cosHalf),
      sin: g.floats('rope_sin_half', [P, half], sinHalf),
    };
  }

  const rmsNorm = (x: string, weight: string): string => {
    // The pattern onnxruntime fuses into SimplifiedLayerNormalization (Pow, ReduceMean, Add, Sqrt, Div, Mul).
    const variance = g.op('ReduceMean', [g.op('Pow', [x, g.scalar(2)])], { axes: [-1], keepdims: 1 });
    return g.mul(g.div(x, g.op('Sqrt', [g.add(variance, g.scalar(c.rmsNormEps))])), weight);
  };

  // Elastic widths: one int64 [1] input per layer; `cut` slices a tensor's first `width` rows (axis 0) or columns (axis 1).
  // The training form takes widths as masks on the MLP activation instead (see LlamaTrainingForm).
  const elastic = options.elasticWidths === true && !training;
  const widthMasks = options.elasticWidths === true && training !== undefined;
  const widthInputs = elastic ? weights.layers.map((_, l) => g.input(widthInputName(l), OnnxDataType.INT64, [1])) : [];
  const trainBase = training?.trainBase === true;
  /** A base weight: an initializer (frozen), or in the training form with trainBase a graph input. */
  const param = (name: string, hfName: string, dims: readonly number[], values: Float32Array): string =>
    trainBase ? g.input(parameterInputName(hfName), OnnxDataType.FLOAT, dims) : g.floats(name, dims, values);
  const cutOf = (layer: number, module: LinearModuleName): { axis: 0 | 1; width: string } | undefined => {
    if (!elastic) return undefined;
    if (module === 'gate_proj' || module === 'up_proj') return { axis: 1, width: widthInputs[layer]! };
    if (module === 'down_proj') return { axis: 0, width: widthInputs[layer]! };
    return undefined;
  };
  const slice = (t: string, cut: { axis: 0 | 1; width: string }): string => g.op('Slice', [t, g.int64s([0]), cut.width, g.int64s([cut.axis])]);

  /**
   * The weight a module multiplies by (base, or merged in the graph with its adapter's factors),
   * and the low-rank delta to add to its output when the adapter takes the low-rank path; with
   * elastic widths, both cut to the layer's width.
   */
  const weightOf = (x: string, layer: number, module: LinearModuleName, w: Float32Array): { weight: string; delta?: string } => {
    const key = `layers.${layer}.${module}`;
    const [inDim, outDim] = linearShape(c, layer, module);
    const base = param(`${key}.weight_t`, hfLinearName(layer, module), [inDim, outDim], w);
    const cut = cutOf(layer, module);
    const adapter = adapters.get(key);
    if (!adapter) return { weight: cut ? slice(base, cut) : base };
    const names = adapterInputNames(key);
    if (training) return trainingAdapter(x, key, base, adapter, inDim, outDim, training);
    const rankDim = options.rankDim === 'dynamic' ? `rank.${key}` : adapter.rMax;
    const a = g.input(names.a, OnnxDataType.FLOAT, [inDim, rankDim]);
    const b = g.input(names.b, OnnxDataType.FLOAT, [rankDim, outDim]);
    if (cut && (adapter.sparse || adapter.quant)) {
      throw new NlsError('sparsity- and quantization-aware adapters do not support elastic MLP widths; export without elasticWidths', { field: key });
    }
    if (!adapter.sparse && !adapter.quant && adapterPath === 'low-rank') {
      if (!cut) return { weight: base, delta: g.matmul(g.matmul(x, a), b) };
      // Down: A^T's first w rows read the w inputs; gate/up: B^T's first w columns make the w outputs.
      const a2 = cut.axis === 0 ? slice(a, cut) : a;
      const b2 = cut.axis === 1 ? slice(b, cut) : b;
      return { weight: slice(base, cut), delta: g.matmul(g.matmul(x, a2), b2) };
    }
    let delta = g.matmul(a, b);
    // The mask depends on initializers only: onnxruntime folds it into a constant at load time.
    if (adapter.sparse) delta = g.mul(delta, g.op('Cast', [g.op('Not', [g.op('Equal', [base, g.scalar(0)])])], { to: OnnxDataType.FLOAT }));
    let merged = g.add(base, delta);
    if (adapter.quant) merged = fakeQuantize(g, key, merged, adapter.quant, inDim, outDim);
    return { weight: cut ? slice(merged, cut) : merged };
  };

  /**
   * An adapted module in the training form: raw factors and a rank mask (see LlamaTrainingForm),
   * computed as the tfjs adapter computes it in training (src/adapters/elastic-lora.ts): plain
   * adapters as `x W + ((drop(x) A^T) * m) B^T`; sparsity-aware ones merge the masked delta into W
   * (two products when dropout applies); quantization-aware ones fake-quantize the merged weight
   * with a straight-through gradient and no dropout.
   */
  function trainingAdapter(x: string, key: string, base: string, adapter: AdapterSlot, inDim: number, outDim: number, form: LlamaTrainingForm): { weight: string; delta?: string } {
    const names = adapterInputNames(key);
    const a = g.input(names.a, OnnxDataType.FLOAT, [inDim, adapter.rMax]);
    const b = g.input(names.b, OnnxDataType.FLOAT, [adapter.rMax, outDim]);
    const mask = g.input(rankMaskInputName(key), OnnxDataType.FLOAT, [adapter.rMax]);
    const dropout = (adapter.dropout ?? 0) > 0 && !adapter.quant;
    const dropped = (): string => (dropout ? g.mul(x, g.input(dropoutMaskInputName(key), OnnxDataType.FLOAT, [form.batch, form.seq, inDim])) : x);
    if (!adapter.sparse && !adapter.quant) return { weight: base, delta: g.matmul(g.mul(g.matmul(dropped(), a), mask), b) };
    let delta = g.matmul(g.mul(a, mask), b);
    if (adapter.sparse) delta = g.mul(delta, g.op('Cast', [g.op('Not', [g.op('Equal', [base, g.scalar(0)])])], { to: OnnxDataType.FLOAT }));
    if (adapter.quant) return { weight: fakeQuantize(g, key, g.add(base, delta), adapter.quant, inDim, outDim, true) };
    if (dropout) return { weight: base, delta: g.matmul(dropped(), delta) };
    return { weight: g.add(base, delta) };
  }

  /**
   * The outputs of several modules that read the same input (q/k/v, gate/up): with `fuse`, one
   * product with their weights concatenated along the output axis, then split (fewer, wider
   * products keep the threads busier; onnxruntime folds the concatenation of constant weights).
   */
  const linears = (x: string, layer: number, modules: readonly LinearModuleName[], w: Readonly<Record<LinearModuleName, Float32Array>>): string[] => {
    const parts = modules.map((m) => weightOf(x, layer, m, w[m]));
    let outs: string[];
    // With elastic widths gate/up have a width known only at run time: no fused product.
    if (modules.length === 1 || options.fuseProjections === false || (elastic && modules.includes('gate_proj'))) {
      outs = parts.map((p) => g.matmul(x, p.weight));
    } else {
      const widths = modules.map((m) => linearShape(c, layer, m)[1]);
      const fused = g.matmul(x, g.op('Concat', parts.map((p) => p.weight), { axis: 1 }));
      outs = g.opN('Split', [fused, g.int64s(widths)], modules.length, { axis: -1 });
    }
    return outs.map((o, i) => (parts[i]!.delta ? g.add(o, parts[i]!.delta!) : o));
  };
  const linear = (x: string, layer: number, module: LinearModuleName, w: Readonly<Record<LinearModuleName, Float32Array>>): string => linears(x, layer, [module], w)[0]!;

  const splitHeads = (x: string, n: number): string => g.transpose(g.reshape(x, [0, 0, n, d]), [0, 2, 1, 3]);
  const rope = (x: string): string => {
    const { cos, sin } = standard!;
    const half = d / 2;
    const x1 = g.op('Slice', [x, g.int64s([0]), g.int64s([half]), g.int64s([3])]);
    const x2 = g.op('Slice', [x, g.int64s([half]), g.int64s([d]), g.int64s([3])]);
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: 3 });
    return g.add(g.mul(x, cos), g.mul(rotated, sin));
  };

  /**
   * Attention in ONNX operators, q/k/v [B, S, heads*d | kv*d] -> [B, S, heads*d]. Query head h
   * reads kv head floor(h / groups): the groups query heads of one kv head are stacked along the
   * sequence axis and share one product with it, as in the tfjs model.
   */
  const standardAttention = (qOut: string, kOut: string, vOut: string, layer: number): string => {
    const q = rope(splitHeads(qOut, heads));
    let k = rope(splitHeads(kOut, kvHeads));
    let v = splitHeads(vOut, kvHeads);
    if (cached) {
      const names = cacheNames(layer);
      if (decode) {
        const past = (name: string) => g.input(name, OnnxDataType.FLOAT, ['batch', kvHeads, 'past', d]);
        k = g.op('Concat', [past(names.pastKey), k], { axis: 2 });
        v = g.op('Concat', [past(names.pastValue), v], { axis: 2 });
      }
      const dims = ['batch', kvHeads, decode ? 'total' : 'seq', d];
      g.output(k, names.presentKey, OnnxDataType.FLOAT, dims);
      g.output(v, names.presentValue, OnnxDataType.FLOAT, dims);
    }
    const qStacked = g.reshape(q, [0, kvHeads, -1, d]); // [B, kv, groups*S, d]
    const scores = g.mul(g.matmul(qStacked, g.transpose(k, [0, 1, 3, 2])), g.scalar(1 / Math.sqrt(d)));
    const probs = g.op('Softmax', [g.add(scores, standard!.mask)], { axis: -1 }); // [B, kv, groups*S, S]
    const attended = g.reshape(g.matmul(probs, v), [0, heads, -1, d]); // [B, heads, S, d]
    return g.reshape(g.transpose(attended, [0, 2, 1, 3]), [0, 0, heads * d]);
  };
  /** The same as one contrib kernel: rotary on q and k, causal grouped-query products, softmax. */
  const fusedAttention = (qOut: string, kOut: string, vOut: string): string =>
    g.opN(
      'GroupQueryAttention',
      [qOut, kOut, vOut, '', '', gqa!.seqlensK, gqa!.totalLength, gqa!.cos, gqa!.sin],
      3,
      { num_heads: heads, kv_num_heads: kvHeads, do_rotary: 1, rotary_interleaved: 0, scale: 1 / Math.sqrt(d) },
      undefined,
      MICROSOFT_DOMAIN,
    )[0]!;

  const embed = param('embed_tokens', 'model.embed_tokens.weight', [c.vocabSize, H], weights.embed);
  let h = g.op('Gather', [embed, ids], { axis: 0 });
  weights.layers.forEach((layer, l) => {
    const norm1 = param(`layers.${l}.input_layernorm`, `model.layers.${l}.input_layernorm.weight`, [H], layer.inputNorm);
    const norm2 = param(`layers.${l}.post_attention_layernorm`, `model.layers.${l}.post_attention_layernorm.weight`, [H], layer.postAttentionNorm);
    const x = rmsNorm(h, norm1);
    const [qOut, kOut, vOut] = linears(x, l, ['q_proj', 'k_proj', 'v_proj'], layer.linears);
    h = g.add(h, linear(gqa ? fusedAttention(qOut!, kOut!, vOut!) : standardAttention(qOut!, kOut!, vOut!, l), l, 'o_proj', layer.linears));
    // SwiGLU MLP.
    const y = rmsNorm(h, norm2);
    const [gate, up] = linears(y, l, ['gate_proj', 'up_proj'], layer.linears);
    let act = g.mul(g.mul(gate!, g.op('Sigmoid', [gate!])), up!);
    if (widthMasks) act = g.mul(act, g.input(widthMaskInputName(l), OnnxDataType.FLOAT, [linearShape(c, l, 'down_proj')[0]]));
    h = g.add(h, linear(act, l, 'down_proj', layer.linears));
  });
  const hidden = rmsNorm(h, param('norm', 'model.norm.weight', [H], weights.finalNorm));
  // A tied head trained with the embedding reads the embedding input itself, so both uses' gradients add up.
  const lmHead =
    trainBase && !weights.lmHeadT
      ? g.transpose(embed, [1, 0])
      : param('lm_head.weight_t', 'lm_head.weight', [H, c.vocabSize], weights.lmHeadT ?? transposeMatrix(weights.embed, c.vocabSize, H));

  switch (options.output) {
    case 'logits':
      g.output(g.matmul(hidden, lmHead), 'logits', OnnxDataType.FLOAT, ['batch', 'seq', c.vocabSize]);
      break;
    case 'scores': {
      const targets = g.input('targets', OnnxDataType.INT32, ['batch', 'seq']);
      const rowWeights = g.input('weights', OnnxDataType.FLOAT, ['batch', 'seq']);
      const logp = g.op('LogSoftmax', [g.matmul(hidden, lmHead)], { axis: -1 });
      const picked = g.op('Squeeze', [g.op('GatherElements', [logp, g.op('Unsqueeze', [targets, g.int64s([2])])], { axis: 2 }), g.int64s([2])]);
      g.output(g.op('ReduceSum', [g.mul(picked, rowWeights), g.int64s([1])], { keepdims: 0 }), 'log_likelihood', OnnxDataType.FLOAT, ['batch']);
      g.output(g.op('ReduceSum', [rowWeights, g.int64s([1])], { keepdims: 0 }), 'tokens', OnnxDataType.FLOAT, ['batch']);
      break;
    }
    case 'loss': {
      // -sum(w * log p(target)) / max(sum(w), 1), as tokenCrossEntropy (src/model/loss.ts).
      const targets = g.input('targets', OnnxDataType.INT32, rowDims);
      const rowWeights = g.input('weights', OnnxDataType.FLOAT, rowDims);
      const logp = g.op('LogSoftmax', [g.matmul(hidden, lmHead)], { axis: -1 });
      const picked = g.op('Squeeze', [g.op('GatherElements', [logp, g.op('Unsqueeze', [targets, g.int64s([2])])], { axis: 2 }), g.int64s([2])]);
      const total = g.op('ReduceSum', [g.mul(picked, rowWeights)], { keepdims: 0 });
      const count = g.op('Max', [g.op('ReduceSum', [rowWeights], { keepdims: 0 }), g.scalar(1)]);
      g.output(g.div(g.op('Neg', [total]), count), 'loss', OnnxDataType.FLOAT, []);
      break;
    }
    case 'decode':
      g.output(g.matmul(g.reshape(hidden, [-1, H]), lmHead), 'next_logits', OnnxDataType.FLOAT, ['batch', c.vocabSize]);
      break;
    case 'prefill':
    case 'next': {
      const positions = g.input('positions', OnnxDataType.INT32, ['batch']);
      const picked = g.op('Gather', [g.reshape(hidden, [-1, H]), positions], { axis: 0 });
      g.output(g.matmul(picked, lmHead), 'next_logits', OnnxDataType.FLOAT, ['batch', c.vocabSize]);
      break;
    }
  }
}

/**
 * `FQ(w) = (clip(round(w / divisor) + zero, lo, hi) - zero) * scale`, as `FakeQuantizerT.apply`;
 * with `straightThrough`, its gradient is that of FakeQuantizerT too: dy where the code
 * `round(w / divisor) + zero` lies in [lo, hi], 0 where it was clamped.
 */
function fakeQuantize(g: GraphBuilder, key: string, w: string, q: FakeQuantGrid, inDim: number, outDim: number, straightThrough = false): string {
  const scale = g.floats(`${key}.quant_scale`, [inDim, outDim], q.scale);
  const divisor = g.floats(`${key}.quant_divisor`, [inDim, outDim], q.divisor);
  const zero = q.zero ? g.floats(`${key}.quant_zero`, [inDim, outDim], q.zero) : g.scalar(0);
  // Round is round-half-to-even in ONNX, as tf.round; adding the zero (even +0) turns -0 into +0 as tfjs does.
  const u = g.add(g.op('Round', [g.div(w, divisor)]), zero);
  const lo = g.scalar(q.lo);
  const hi = g.scalar(q.hi);
  const y = g.mul(g.sub(g.op('Clip', [u, lo, hi]), zero), scale);
  if (straightThrough) {
    const pass = g.op('Cast', [g.op('And', [g.op('GreaterOrEqual', [u, lo]), g.op('LessOrEqual', [u, hi])])], { to: OnnxDataType.FLOAT });
    g.customGradient(y, w, (gb, dy) => gb.mul(dy, pass));
  }
  return y;
}
