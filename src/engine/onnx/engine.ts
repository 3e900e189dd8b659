/**
 * The ONNX Runtime evaluation engine: a tfjs model and its elastic adapters exported to ONNX
 * (src/engine/onnx/llama.ts) and run by onnxruntime-node, behind the {@link EvaluationEngine}
 * contract (docs/engines.md).
 *
 * - `unmerged` (default): one export, one session per output kind, for every configuration:
 *   `setRanks` only rebuilds the adapter feeds (A^T as stored, s * B^T with rows past the rank
 *   zeroed). Plain, SparsePEFT and QA-SparsePEFT adapters alike.
 * - `merged`: each configuration is merged into the weights (by the tfjs adapters themselves,
 *   so masking and fake quantization are exactly theirs) and exported, its MLPs cut to the active
 *   widths (the smaller model a width configuration deploys); a new configuration builds new
 *   sessions, lazily, at its first scoring call (`mergedCache` configurations keep theirs).
 * - elastic widths (`setWidths`): the merged form exports the smaller model; the unmerged form,
 *   created with `elasticWidths`, feeds each layer's width and cuts the MLP in the graph.
 *
 * Sessions are created lazily per output kind (`scores` for evaluators, `logits`, `next`, and the
 * key/value cache pair `prefill` + `decode` for greedy generation) and each holds its own copy of
 * the weights. The cache pair always writes attention in ONNX operators (it needs past keys and
 * values as plain inputs), whatever `attention` says.
 */
import type * as Ort from 'onnxruntime-node';
import type { AdapterSet } from '../../adapters/adapter-set.js';
import { NlsError } from '../../errors.js';
import type { RowScores } from '../../evaluate/scoring.js';
import type { LlamaModel } from '../../model/llama.js';
import { NLS_VERSION } from '../../package-info.js';
import type { TokenBatch } from '../../train/batch.js';
import { checkMlpWidths, intermediateSizesOf } from '../../model/widths.js';
import { checkRanks } from '../ranks.js';
import type { EngineInfo, EvaluationEngine, OnnxForm } from '../types.js';
import type { DecodingSession } from '../../evaluate/generate.js';
import { type AdapterPath, type AttentionKind, adapterInputNames, cacheNames, exportLlamaOnnx, fusedAttentionSupported, type LlamaGraphOutput, type LlamaWeights, widthInputName } from './llama.js';
import { createOrtSession, defaultThreads, loadOrt, type OnnxSessionOptions, type OrtSession } from './session.js';
import { adapterFactorsOf, adapterFeed, type AdapterFactors, llamaWeightsOf, mergedWeightsOf, sliceLlamaWeights } from './weights.js';

/** Options of {@link createOnnxEngine}. */
export interface OnnxEngineOptions extends OnnxSessionOptions {
  /** Default `unmerged`. */
  readonly form?: OnnxForm;
  /** How plain adapters of the unmerged form are computed (default `merge`, docs/engines.md). */
  readonly adapterPath?: AdapterPath;
  /** Adapter feeds of the unmerged form: `padded` to r_max (default) or `sliced` to the rank. */
  readonly feed?: 'padded' | 'sliced';
  /**
   * Attention in plain ONNX operators (`standard`, the default; the form `nls merge --onnx`
   * writes for any runtime) or as onnxruntime's fused contrib `GroupQueryAttention` kernel
   * (`fused`, head sizes that are multiples of 16 only; `auto` = fused where allowed). Measured on
   * the demo model (head_dim 64, 63-token rows): no difference beyond the machine's noise
   * (docs/engines.md), so the portable form is the default.
   */
  readonly attention?: AttentionKind | 'auto';
  /** One product for q/k/v and one for gate/up (default false: measured no faster here). */
  readonly fuseProjections?: boolean;
  /**
   * Rows per session run (default 64). Evaluators' `batchSize` hints are ignored: a run of more
   * rows keeps the matrix products wider, which is what onnxruntime's threads need.
   */
  readonly rowsPerRun?: number;
  /**
   * Unmerged form: export with elastic MLP widths (an `mlp_width.{l}` input per layer, the MLP
   * weights and adapter factors cut in the graph), so one session scores every width
   * configuration (docs/widths.md). Default false: `setWidths` below the full width is refused.
   * The merged form always follows the widths (it exports the smaller model).
   */
  readonly elasticWidths?: boolean;
  /**
   * Merged form: how many configurations keep their sessions (default 1: a new configuration
   * releases the previous one's). More lets measurements alternate between configurations
   * without rebuilding (latency profiles of the merged form use 2).
   */
  readonly mergedCache?: number;
}

/** Default rows per run of the onnx engine. */
export const ONNX_ROWS_PER_RUN = 64;

/**
 * Create an ONNX Runtime engine for `model` with `adapters` attached (or none: the base model).
 * Reads the weights once (float32; a quantized base is already dequantized by loadModelFolder);
 * later changes to the tfjs weights are not seen. The initial configuration is the adapters'
 * active ranks.
 */
export async function createOnnxEngine(model: LlamaModel, adapters: AdapterSet | undefined, options: OnnxEngineOptions = {}): Promise<EvaluationEngine> {
  const ort = await loadOrt();
  const form = options.form ?? 'unmerged';
  const feedMode = options.feed ?? 'padded';
  const rowsPerRun = options.rowsPerRun ?? ONNX_ROWS_PER_RUN;
  if (!Number.isSafeInteger(rowsPerRun) || rowsPerRun < 1) throw new NlsError(`must be a positive integer, got ${rowsPerRun}`, { field: 'rowsPerRun' });
  const threads = options.threads ?? defaultThreads();
  const mergedCache = options.mergedCache ?? 1;
  if (!Number.isSafeInteger(mergedCache) || mergedCache < 1) throw new NlsError(`must be a positive integer, got ${mergedCache}`, { field: 'mergedCache' });
  const elasticWidths = form === 'unmerged' && options.elasticWidths === true;
  const attention: AttentionKind = options.attention === 'auto' ? (fusedAttentionSupported(model.config) ? 'fused' : 'standard') : (options.attention ?? 'standard');
  const base = await llamaWeightsOf(model);
  const { factors, slots } = adapters ? await adapterFactorsOf(adapters) : { factors: new Map<string, AdapterFactors>(), slots: [] };
  const rMax = new Map(slots.map((s) => [s.key, s.rMax]));
  const ranks = new Map(adapters?.activeRanks() ?? []);
  const sizes = intermediateSizesOf(model.config);
  const widths = model.mlpWidths();
  const info: EngineInfo = { name: 'onnx', form, attention, threads, version: ort.env.versions.common, providers: [...(options.providers ?? ['cpu'])] };
  const sessionOptions: OnnxSessionOptions = { ...options, threads };

  // Sessions by output kind. Unmerged: one set for every configuration. Merged: one set per
  // configuration (ranks and widths), the `mergedCache` most recently used kept.
  const configKey = (): string => (form === 'unmerged' ? '' : `${[...ranks].map(([k, r]) => `${k}=${r}`).join(',')}|${[...widths].map(([l, w]) => `${l}=${w}`).join(',')}`);
  const cache = new Map<string, Map<LlamaGraphOutput, Promise<OrtSession>>>();
  let disposed = false;
  const exportFor = async (output: LlamaGraphOutput): Promise<Uint8Array> => {
    const common = {
      output,
      producerVersion: NLS_VERSION,
      attention: output === 'prefill' || output === 'decode' ? ('standard' as const) : attention,
      ...(options.fuseProjections !== undefined ? { fuseProjections: options.fuseProjections } : {}),
    };
    if (form === 'unmerged') {
      return exportLlamaOnnx(base, {
        ...common,
        adapters: slots,
        rankDim: feedMode === 'sliced' ? 'dynamic' : 'fixed',
        ...(options.adapterPath ? { adapterPath: options.adapterPath } : {}),
        ...(elasticWidths ? { elasticWidths: true } : {}),
      });
    }
    // The deployed model of this configuration: adapters merged, MLPs cut to the widths.
    return exportLlamaOnnx(sliceLlamaWeights(await mergedWeights(), widths), common);
  };
  const mergedWeights = async (): Promise<LlamaWeights> => {
    if (!adapters) return base;
    const before = adapters.activeRanks();
    adapters.setActiveRanks(ranks);
    try {
      return await mergedWeightsOf(model, adapters, base);
    } finally {
      adapters.setActiveRanks(before);
    }
  };
  const release = async (old: Map<LlamaGraphOutput, Promise<OrtSession>>) => {
    for (const s of old.values()) await (await s.catch(() => undefined))?.release();
  };
  const session = async (output: LlamaGraphOutput): Promise<OrtSession> => {
    if (disposed) throw new Error('the onnx engine was disposed');
    const key = configKey();
    let sessions = cache.get(key);
    if (sessions) cache.delete(key); // re-inserted below: most recently used last
    sessions ??= new Map();
    cache.set(key, sessions);
    let s = sessions.get(output);
    if (!s) {
      s = exportFor(output).then((bytes) => createOrtSession(bytes, sessionOptions));
      sessions.set(output, s);
    }
    // Evict after the lookup, so that a concurrent call for this configuration finds its session.
    while (cache.size > mergedCache) {
      const [oldest, old] = cache.entries().next().value as [string, Map<LlamaGraphOutput, Promise<OrtSession>>];
      cache.delete(oldest);
      await release(old);
    }
    return s;
  };

  // Adapter feeds of the unmerged form, per module and rank (a handful of ranks per module).
  const feedCache = new Map<string, Record<string, Ort.Tensor>>();
  let adapterFeeds: Record<string, Ort.Tensor> = {};
  const buildFeeds = () => {
    const out: Record<string, Ort.Tensor> = {};
    for (const [key, f] of factors) {
      const rank = ranks.get(key) ?? f.spec.rMax;
      const cacheKey = `${key}@${rank}`;
      let entry = feedCache.get(cacheKey);
      if (!entry) {
        const feed = adapterFeed(f, rank, feedMode);
        const names = adapterInputNames(key);
        entry = { [names.a]: new ort.Tensor('float32', feed.a, [...feed.aDims]), [names.b]: new ort.Tensor('float32', feed.b, [...feed.bDims]) };
        feedCache.set(cacheKey, entry);
      }
      Object.assign(out, entry);
    }
    adapterFeeds = out;
  };
  // Width feeds of the elastic unmerged form: one int64 [1] per layer.
  let widthFeeds: Record<string, Ort.Tensor> = {};
  const buildWidthFeeds = () => {
    widthFeeds = elasticWidths ? Object.fromEntries(sizes.map((full, l) => [widthInputName(l), new ort.Tensor('int64', BigInt64Array.of(BigInt(widths.get(l) ?? full)), [1])])) : {};
  };
  if (form === 'unmerged') {
    buildFeeds();
    buildWidthFeeds();
  }
  const feedsWith = (extra: Record<string, Ort.Tensor>): Record<string, Ort.Tensor> => (form === 'unmerged' ? { ...adapterFeeds, ...widthFeeds, ...extra } : extra);
  const checkFixedWidths = () => {
    if (form === 'merged' || elasticWidths) return;
    widths.forEach((w, l) => {
      if (w !== sizes[l]) {
        throw new NlsError(`layer ${l} is at MLP width ${w}, but this unmerged onnx engine was created without elasticWidths; fix: createOnnxEngine(..., { elasticWidths: true })`, { field: `widths.${l}` });
      }
    });
  };
  checkFixedWidths();

  const int32 = (values: Int32Array, dims: number[]) => new ort.Tensor('int32', values, dims);

  return {
    info,
    config: model.config,
    setRanks: async (next) => {
      checkRanks(rMax, next);
      let changed = false;
      for (const [key, r] of next) {
        if (ranks.get(key) !== r) changed = true;
        ranks.set(key, r);
      }
      if (!changed) return;
      if (form === 'unmerged') buildFeeds();
    },
    setWidths: async (next) => {
      checkMlpWidths(sizes, next);
      const before = new Map(widths);
      for (const [layer, w] of next) widths.set(layer, w);
      try {
        checkFixedWidths();
      } catch (err) {
        for (const [layer, w] of before) widths.set(layer, w);
        throw err;
      }
      if (form === 'unmerged') buildWidthFeeds();
    },
    scoreRows: async (rows: TokenBatch): Promise<RowScores> => {
      const s = await session('scores');
      const logLikelihood = new Float64Array(rows.batchSize);
      const tokens = new Float64Array(rows.batchSize);
      const { seqLen } = rows;
      for (let start = 0; start < rows.batchSize; start += rowsPerRun) {
        const n = Math.min(rowsPerRun, rows.batchSize - start);
        const span = [start * seqLen, (start + n) * seqLen] as const;
        const out = await s.run(
          feedsWith({
            input_ids: int32(rows.inputIds.slice(...span), [n, seqLen]),
            targets: int32(rows.targets.slice(...span), [n, seqLen]),
            weights: new ort.Tensor('float32', rows.weights.slice(...span), [n, seqLen]),
          }),
        );
        logLikelihood.set(out['log_likelihood']!.data as Float32Array, start);
        tokens.set(out['tokens']!.data as Float32Array, start);
      }
      return { logLikelihood, tokens };
    },
    logits: async (ids, batch, seq) => {
      const s = await session('logits');
      const out = await s.run(feedsWith({ input_ids: int32(Int32Array.from(ids), [batch, seq]) }));
      return out['logits']!.data as Float32Array;
    },
    nextTokenLogits: async (rows, padId) => {
      const s = await session('next');
      const width = Math.max(...rows.map((r) => r.length));
      const data = new Int32Array(rows.length * width).fill(padId);
      rows.forEach((r, i) => data.set(r, i * width));
      const positions = Int32Array.from(rows.map((r, i) => i * width + r.length - 1));
      const out = await s.run(feedsWith({ input_ids: int32(data, [rows.length, width]), positions: int32(positions, [rows.length]) }));
      return out['next_logits']!.data as Float32Array;
    },
    startDecoding: async (rows, padId): Promise<DecodingSession> => {
      const [prefill, decode] = await Promise.all([session('prefill'), session('decode')]);
      const batch = rows.length;
      const width = Math.max(...rows.map((r) => r.length));
      const data = new Int32Array(batch * width).fill(padId);
      rows.forEach((r, i) => data.set(r, i * width));
      const lengths = rows.map((r) => r.length);
      const positions = Int32Array.from(lengths, (n, i) => i * width + n - 1);
      const layers = model.config.numHiddenLayers;
      /** The cache feeds of the next step: last step's `present_*` outputs as `past_*` inputs. */
      const pastOf = (out: Record<string, Ort.Tensor>): Record<string, Ort.Tensor> => {
        const feeds: Record<string, Ort.Tensor> = {};
        for (let l = 0; l < layers; l++) {
          const n = cacheNames(l);
          feeds[n.pastKey] = out[n.presentKey]!;
          feeds[n.pastValue] = out[n.presentValue]!;
        }
        return feeds;
      };
      const first = await prefill.run(feedsWith({ input_ids: int32(data, [batch, width]), positions: int32(positions, [batch]) }));
      let past = pastOf(first);
      let steps = 0;
      return {
        logits: first['next_logits']!.data as Float32Array,
        step: async (tokens) => {
          if (tokens.length !== batch) throw new NlsError(`gives ${tokens.length} tokens for ${batch} rows`, { field: 'tokens' });
          const longest = Math.max(...lengths) + steps;
          if (longest >= model.config.maxPositionEmbeddings) {
            throw new NlsError(`would put a token at position ${longest}, past max_position_embeddings (${model.config.maxPositionEmbeddings}). Fix: start with shorter rows or take fewer steps`, { field: 'tokens' });
          }
          // Cache entries: the prompt width, then one per step. A row's padding (its length up to the width) is masked out.
          const total = width + steps + 1;
          const bias = new Float32Array(batch * total);
          lengths.forEach((n, i) => bias.fill(-1e9, i * total + n, i * total + width));
          const out = await decode.run(
            feedsWith({
              ...past,
              input_ids: int32(Int32Array.from(tokens), [batch, 1]),
              position_ids: int32(Int32Array.from(lengths, (n) => n + steps), [batch]),
              attention_bias: new ort.Tensor('float32', bias, [batch, total]),
            }),
          );
          past = pastOf(out);
          steps++;
          return out['next_logits']!.data as Float32Array;
        },
      };
    },
    dispose: async () => {
      disposed = true;
      const all = [...cache.values()];
      cache.clear();
      for (const old of all) await release(old);
    },
  };
}
