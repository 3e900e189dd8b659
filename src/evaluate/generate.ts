/**
 * Batched greedy decoding, for generation evaluators (exact match).
 *
 * Two ways to step, chosen by what the model offers:
 *
 * - **Re-running** (tfjs models; `cache: false`): each step runs the model on the whole
 *   right-padded batch and reads the logits at each row's last real token. With a causal mask,
 *   padding after a row's last token never influences it, so a prompt gets the same tokens in any
 *   batch as it gets alone. It is obviously equal to the training forward pass.
 * - **A key/value cache** (engines with {@link NextTokenModel.startDecoding}, the onnx engine): the
 *   prompts run once and each later step reads only the new token per row, attending over the
 *   cached keys and values of the earlier ones. The same computation in another order, so logits
 *   agree to float rounding (tests hold them to 1e-4 of the re-running path), not to the bit:
 *   tokens can differ only where two logits tie to within rounding.
 *
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../model/tokenizer.js';

/** Options of {@link greedyGenerate}. */
export interface GenerateOptions {
  /** Maximum tokens generated per prompt (at least 1). */
  readonly maxNewTokens: number;
  /**
   * Prompts decoded together (default 8 when re-running the batch per token, 32 with a key/value
   * cache: benchmarks/generation.ts measured 32 rows 1.4x faster than 8 with the cache, 64 no
   * faster than 32, and no gain from wider batches without it).
   */
  readonly batchSize?: number;
  /**
   * Maximum tokens of prompt (BOS included) + generated tokens, at most the model's
   * `maxPositionEmbeddings` (the default). Prompts longer than `maxLength - maxNewTokens` are cut
   * from the left (BOS stays first), as lm-eval-harness cuts contexts for generation.
   */
  readonly maxLength?: number;
  /** Stop a prompt when it generates the tokenizer's EOS (default true; no effect without `eosId`). */
  readonly stopAtEos?: boolean;
  /** Prepend the tokenizer's BOS (default: true when the tokenizer has a `bosId`). */
  readonly addBos?: boolean;
  /** Use the model's key/value cache when it has one ({@link NextTokenModel.startDecoding}; default true). */
  readonly cache?: boolean;
}

/** The greedy continuation of one prompt. */
export interface Generation {
  /** Token ids the model read (BOS and the prompt after left-cutting). */
  readonly promptIds: readonly number[];
  /** Generated ids; the EOS that stopped generation is not included. */
  readonly tokens: readonly number[];
  /** `tokenizer.decode(tokens)`. */
  readonly text: string;
  /** `'eos'` when generation stopped at EOS, `'length'` when it reached `maxNewTokens`. */
  readonly finishReason: 'eos' | 'length';
  /** True when prompt tokens were dropped to fit `maxLength`. */
  readonly truncated: boolean;
}

function checkInt(x: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER, fix = 'pass a whole number in range'): void {
  if (!Number.isSafeInteger(x) || x < min || x > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw new NlsError(`must be an integer ${range}, got ${x}. Fix: ${fix}`, { field });
  }
}

/** Index of the largest value; ties go to the lowest index, so decoding is deterministic. */
function argmax(values: Float32Array | Int32Array | Uint8Array, start: number, length: number): number {
  let best = 0;
  let bestValue = values[start]!;
  for (let i = 1; i < length; i++) {
    const v = values[start + i]!;
    // NaN never wins (comparisons with NaN are false) unless it is first.
    if (v > bestValue || (Number.isNaN(bestValue) && !Number.isNaN(v))) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/**
 * Something that gives next-token logits without being a tfjs {@link LlamaModel}: an evaluation
 * engine (src/engine/) such as the ONNX Runtime one. `nextTokenLogits(rows, padId)` returns
 * `[rows.length, vocab]` row-major: the logits at each row's last token, the rows right-padded
 * with `padId` to the longest.
 */
export interface NextTokenModel {
  readonly config: { readonly vocabSize: number; readonly maxPositionEmbeddings: number };
  nextTokenLogits(rows: readonly (readonly number[])[], padId: number): Promise<Float32Array>;
  /**
   * Optional fast path: run the right-padded `rows` once and keep their keys and values, so that
   * each {@link DecodingSession.step} costs one token per row. Equal, up to float rounding, to
   * `nextTokenLogits` on the rows grown by every step's tokens.
   */
  startDecoding?(rows: readonly (readonly number[])[], padId: number): Promise<DecodingSession>;
}

/** Cached decoding of a fixed set of rows (see {@link NextTokenModel.startDecoding}). */
export interface DecodingSession {
  /** `[rows, vocab]`: the logits at each row's last prompt token. */
  readonly logits: Float32Array;
  /**
   * Append `tokens[r]` to row r, for every row (a finished row may take any token, e.g. padding:
   * rows never see each other), and return `[rows, vocab]` logits at the appended tokens.
   */
  step(tokens: readonly number[]): Promise<Float32Array>;
}

/** Logits at each row's last token, from a tfjs model or a {@link NextTokenModel}. */
async function nextLogits(model: LlamaModel | NextTokenModel, rows: readonly (readonly number[])[], padId: number): Promise<Float32Array | Int32Array | Uint8Array> {
  if ('nextTokenLogits' in model) return model.nextTokenLogits(rows, padId);
  const logits = lastLogits(model, rows, padId);
  try {
    return await logits.data();
  } finally {
    logits.dispose();
  }
}

/** Next-token logits [rows, vocab] at each row's last real position (`lengths[r] - 1`). */
function lastLogits(model: LlamaModel, rows: readonly (readonly number[])[], padId: number): tf.Tensor2D {
  return tf.tidy(() => {
    const width = Math.max(...rows.map((r) => r.length));
    const data = new Int32Array(rows.length * width).fill(padId);
    const last = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      data.set(r, i * width);
      last[i] = i * width + r.length - 1;
    });
    const hidden = model.hidden(tf.tensor2d(data, [rows.length, width], 'int32'));
    // Project only the positions we read: the lm_head over every position would be [rows, width, vocab].
    const picked = tf.gather(tf.reshape(hidden, [rows.length * width, model.config.hiddenSize]), tf.tensor1d(last, 'int32'));
    return model.lmHead(picked) as tf.Tensor2D;
  });
}

/**
 * Greedy (argmax, ties to the lowest id) continuation of every prompt with `model`'s active
 * configuration. Deterministic; results are in the order of `prompts`, and each equals what the
 * prompt gets when decoded alone.
 *
 * Prompts are encoded as `[BOS] prompt` (no EOS) and decoded `batchSize` at a time, grouped by
 * length to waste little work on padding; a finished prompt leaves its batch. Every tensor is
 * freed before returning (the model's own rope/mask caches may grow on first use of a length).
 */
export async function greedyGenerate(
  model: LlamaModel | NextTokenModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  options: GenerateOptions,
): Promise<Generation[]> {
  const maxPositions = model.config.maxPositionEmbeddings;
  checkInt(options.maxNewTokens, 'maxNewTokens', 1, maxPositions - 1, `generate fewer than max_position_embeddings (${maxPositions}) tokens`);
  const maxLength = options.maxLength ?? maxPositions;
  checkInt(maxLength, 'maxLength', options.maxNewTokens + 1, maxPositions, `use more than maxNewTokens and at most max_position_embeddings (${maxPositions})`);
  const startDecoding = (options.cache ?? true) && 'startDecoding' in model ? model.startDecoding?.bind(model) : undefined;
  const batchSize = options.batchSize ?? (startDecoding ? 32 : 8);
  checkInt(batchSize, 'batchSize', 1);
  const addBos = options.addBos ?? tokenizer.bosId !== undefined;
  if (addBos && tokenizer.bosId === undefined) {
    throw new NlsError('the tokenizer has no BOS token. Fix: pass addBos: false', { field: 'addBos' });
  }
  const eosId = (options.stopAtEos ?? true) ? tokenizer.eosId : undefined;
  const padId = tokenizer.padId ?? 0;
  const vocab = model.config.vocabSize;
  const room = maxLength - options.maxNewTokens;

  const encoded = prompts.map((prompt, i) => {
    const bos = addBos ? [tokenizer.bosId!] : [];
    const ids = tokenizer.encode(prompt);
    const keep = Math.max(0, room - bos.length);
    const cut = ids.length > keep ? ids.slice(ids.length - keep) : ids;
    const promptIds = [...bos, ...cut];
    if (promptIds.length === 0) {
      throw new NlsError('is empty and the tokenizer has no BOS token: there is nothing to condition on. Fix: give a non-empty prompt', {
        field: `prompts[${i}]`,
      });
    }
    return { promptIds, truncated: cut.length < ids.length };
  });

  // Stable sort by length: batches of similar length pad little; results go back by index.
  const order = encoded.map((_, i) => i).sort((a, b) => encoded[a]!.promptIds.length - encoded[b]!.promptIds.length);
  const results: Generation[] = new Array<Generation>(prompts.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize).map((index) => ({
      index,
      ids: [...encoded[index]!.promptIds],
      tokens: [] as number[],
      finishReason: undefined as 'eos' | 'length' | undefined,
    }));
    /** Take each listed row's greedy token from `values` (row r of them is rows[r]). */
    const advance = (rows: typeof batch, values: Float32Array | Int32Array | Uint8Array) =>
      rows.forEach((row, r) => {
        const next = argmax(values, r * vocab, vocab);
        if (next === eosId) {
          row.finishReason = 'eos';
          return;
        }
        row.tokens.push(next);
        row.ids.push(next);
        if (row.tokens.length >= options.maxNewTokens) row.finishReason = 'length';
      });
    if (startDecoding) {
      // Every row steps until the batch is done (finished rows feed padding): the cache keeps its rows.
      const decoding = await startDecoding(batch.map((r) => r.ids), padId);
      advance(batch, decoding.logits);
      while (batch.some((row) => row.finishReason === undefined)) {
        const values = await decoding.step(batch.map((row) => (row.finishReason === undefined ? row.ids[row.ids.length - 1]! : padId)));
        batch.forEach((row, r) => {
          if (row.finishReason === undefined) advance([row], values.subarray(r * vocab, (r + 1) * vocab));
        });
      }
    } else {
      let active = batch;
      while (active.length > 0) {
        advance(active, await nextLogits(model, active.map((r) => r.ids), padId));
        active = active.filter((row) => row.finishReason === undefined);
      }
    }
    for (const row of batch) {
      const e = encoded[row.index]!;
      results[row.index] = {
        promptIds: e.promptIds,
        tokens: row.tokens,
        text: tokenizer.decode(row.tokens),
        finishReason: row.finishReason!,
        truncated: e.truncated,
      };
    }
  }
  return results;
}
