/**
 * The evaluation-engine contract: what evaluators and latency measurement need from whatever
 * computes a supernet's forward pass. Training always runs on tfjs; evaluation can run on tfjs
 * (the model's own ops) or on ONNX Runtime (an exported graph, src/engine/onnx/).
 *
 * Lifecycle: create an engine for a model with its adapters attached (`createTfjsEngine`,
 * `createOnnxEngine`), then any number of times `setRanks(config ranks)` (and `setWidths` for
 * configurations with elastic MLP widths) followed by scoring
 * calls (`scoreRows`, `logits`, `nextTokenLogits`), which see the ranks last set; finally
 * `dispose()`. Engines are deterministic: the same rows and ranks give the same bits on the same
 * machine and settings. An engine never changes the tfjs adapters' own active ranks.
 */
import type { NextTokenModel } from '../evaluate/generate.js';
import type { RowScorer, RowScores } from '../evaluate/scoring.js';
import type { TokenBatch } from '../train/batch.js';

/** Names of the evaluation engines. */
export const ENGINE_NAMES = ['onnx', 'tfjs'] as const;
/** An evaluation engine. */
export type EngineName = (typeof ENGINE_NAMES)[number];
/** What a user asks for: an engine, or `auto` (onnx when onnxruntime-node loads here, else tfjs). */
export type EngineRequest = EngineName | 'auto';
/** The values `--engine` accepts. */
export const ENGINE_REQUESTS: readonly EngineRequest[] = ['auto', 'onnx', 'tfjs'];

/** The two ONNX forms (docs/engines.md). */
export type OnnxForm = 'merged' | 'unmerged';

/** What an engine is, for records (trial attributes, latency profiles, benchmarks). */
export interface EngineInfo {
  readonly name: EngineName;
  /** onnx: the form evaluated. */
  readonly form?: OnnxForm;
  /** onnx: attention as onnxruntime's fused GroupQueryAttention kernel or in plain ONNX operators. */
  readonly attention?: 'fused' | 'standard';
  /** Compute threads (onnx: intra-op threads; tfjs-wasm: 1). */
  readonly threads?: number;
  /** onnxruntime-node's version (onnx) or the tfjs backend's name (tfjs). */
  readonly version?: string;
  /** Execution providers in use (onnx). */
  readonly providers?: readonly string[];
}

/** A model's forward pass for evaluation, with a switchable adapter configuration. */
export interface EvaluationEngine extends RowScorer, NextTokenModel {
  readonly info: EngineInfo;
  /** Activate a configuration: module key -> rank (modules not named keep their rank). */
  setRanks(ranks: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Activate elastic MLP widths (LoNAS mode B): layer -> width, the first `w` channels of that
   * layer's MLP (layers not named keep theirs; an engine starts at the model's active widths).
   * The onnx engine's unmerged form needs `elasticWidths` at creation for widths below the full one.
   */
  setWidths(widths: ReadonlyMap<number, number>): Promise<void>;
  /** Per-row weighted log-likelihood and weight sums of `rows` under the active configuration. */
  scoreRows(rows: TokenBatch, batchSize?: number): Promise<RowScores>;
  /** Logits [batch, seq, vocab] (row-major) of right-padded int32 ids [batch, seq]. */
  logits(ids: Int32Array, batch: number, seq: number): Promise<Float32Array>;
  /** Free what the engine holds (sessions, tensors). The model and adapters stay with their owner. */
  dispose(): Promise<void>;
}
