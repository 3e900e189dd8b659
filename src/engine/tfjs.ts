/**
 * The tfjs evaluation engine: the model's own forward pass on the current tfjs backend (what nls
 * evaluated with before engines existed), behind the {@link EvaluationEngine} contract.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import { scoreRows, type RowScores } from '../evaluate/scoring.js';
import type { LlamaModel } from '../model/llama.js';
import type { TokenBatch } from '../train/batch.js';
import { checkMlpWidths, intermediateSizesOf } from '../model/widths.js';
import { checkRanks } from './ranks.js';
import type { EngineInfo, EvaluationEngine } from './types.js';

/** Options of {@link createTfjsEngine}. */
export interface TfjsEngineOptions {
  /** Rows per forward pass when the caller gives none (default 16, as the evaluators). */
  readonly batchSize?: number;
}

/**
 * An engine over a tfjs model and its adapters. The engine keeps its own configuration (ranks and
 * MLP widths) and activates it on the adapters and the model for each call, restoring their
 * previous ranks and widths afterwards.
 */
export function createTfjsEngine(model: LlamaModel, adapters: AdapterSet | undefined, options: TfjsEngineOptions = {}): EvaluationEngine {
  const ranks = new Map(adapters?.activeRanks() ?? []);
  const rMax = new Map([...(adapters?.adapters ?? new Map())].map(([key, a]) => [key, a.spec.rMax]));
  // wasm and cpu compute on one thread per tfjs instance; tfjs-node runs its own pool (unknown size).
  const backend = tf.getBackend();
  const info: EngineInfo = { name: 'tfjs', version: backend, ...(backend === 'wasm' || backend === 'cpu' ? { threads: 1 } : {}) };
  const widths = model.mlpWidths();
  const sizes = intermediateSizesOf(model.config);
  const withRanks = async <T>(fn: () => Promise<T>): Promise<T> => {
    const widthsBefore = model.mlpWidths();
    const before = adapters?.activeRanks();
    adapters?.setActiveRanks(ranks);
    model.setMlpWidths(widths);
    try {
      return await fn();
    } finally {
      if (before) adapters?.setActiveRanks(before);
      model.setMlpWidths(widthsBefore);
    }
  };
  return {
    info,
    config: model.config,
    setRanks: async (next) => {
      checkRanks(rMax, next);
      for (const [key, r] of next) ranks.set(key, r);
    },
    setWidths: async (next) => {
      checkMlpWidths(sizes, next);
      for (const [layer, w] of next) widths.set(layer, w);
    },
    scoreRows: (rows: TokenBatch, batchSize?: number): Promise<RowScores> => withRanks(() => scoreRows(model, rows, batchSize ?? options.batchSize ?? 16)),
    logits: (ids, batch, seq) =>
      withRanks(async () => {
        const out = tf.tidy(() => model.forward(tf.tensor2d(ids, [batch, seq], 'int32')));
        try {
          return Float32Array.from((await out.data()) as Float32Array);
        } finally {
          out.dispose();
        }
      }),
    nextTokenLogits: (rows, padId) =>
      withRanks(async () => {
        const width = Math.max(...rows.map((r) => r.length));
        const last = Int32Array.from(rows.map((r, i) => i * width + r.length - 1));
        const data = new Int32Array(rows.length * width).fill(padId);
        rows.forEach((r, i) => data.set(r, i * width));
        const out = tf.tidy(() => {
          const hidden = model.hidden(tf.tensor2d(data, [rows.length, width], 'int32'));
          const picked = tf.gather(tf.reshape(hidden, [rows.length * width, model.config.hiddenSize]), tf.tensor1d(last, 'int32'));
          return model.lmHead(picked);
        });
        try {
          return Float32Array.from((await out.data()) as Float32Array);
        } finally {
          out.dispose();
        }
      }),
    dispose: async () => {},
  };
}
