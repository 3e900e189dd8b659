/**
 * Calibration statistics for pruning: the L2 norm, over all calibration tokens, of every input
 * feature of a decoder linear layer (`||X_j||_2`, the activation half of the Wanda score).
 *
 * The statistics are gathered by temporary recording {@link LinearHook}s wrapped around the
 * slots' existing hooks, so the forward pass is exactly the model as currently configured
 * (earlier blocks already pruned, adapters if attached). The previous hooks are put back
 * afterwards, also when the forward pass fails.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import { type LinearHook, type LinearSlot, INFERENCE } from '../model/linear.js';
import type { LlamaModel } from '../model/llama.js';
import { createRng } from '../util/rng.js';

/**
 * Calibration token rows, right-padded `[batchSize, seqLen]` (a {@link TokenBatch} fits).
 *
 * Which positions count: `tokenMask` when given (per input position, > 0 = a real token);
 * otherwise `weights` when given (for packed text windows, {@link packTextStream}, these are
 * exactly the non-padding positions; for prompt/answer batches only the answer positions);
 * otherwise every position.
 */
export interface CalibrationRows {
  readonly batchSize: number;
  readonly seqLen: number;
  /** Token ids, row-major `[batchSize, seqLen]`. */
  readonly inputIds: Int32Array;
  /** Per input position: > 0 where the token is counted, 0 on padding. */
  readonly tokenMask?: Float32Array;
  /** A TokenBatch's target weights, used as the mask when `tokenMask` is absent. */
  readonly weights?: Float32Array;
}

/** Options of {@link collectInputNorms}. */
export interface CollectOptions {
  /** Only the linears of this decoder block (default: every block). */
  readonly layer?: number;
  /** Rows per forward pass (default 8). */
  readonly batchSize?: number;
}

/** Per-slot input-feature norms and the number of tokens they were computed over. */
export interface InputNorms {
  /** `layers.{i}.{module}` -> `||X_j||_2` for each input feature j (length = in features). */
  readonly norms: Map<string, Float32Array>;
  /** Tokens counted (positions with a nonzero mask), the same for every slot. */
  readonly tokens: number;
}

/** Thrown by the last recording hook to stop the forward pass once the wanted block is seen. */
class StopForward extends Error {}

/** The 0/1 mask of counted positions of `rows` (see {@link CalibrationRows}). */
export function calibrationMask(rows: CalibrationRows): Float32Array {
  const n = rows.batchSize * rows.seqLen;
  const source = rows.tokenMask ?? rows.weights;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = source === undefined || (source[i] ?? 0) > 0 ? 1 : 0;
  return out;
}

/** Check the shapes of calibration rows, naming the field at fault. */
export function checkCalibrationRows(rows: CalibrationRows): void {
  const n = rows.batchSize * rows.seqLen;
  if (!Number.isSafeInteger(rows.batchSize) || rows.batchSize < 1 || !Number.isSafeInteger(rows.seqLen) || rows.seqLen < 1) {
    throw new NlsError(`needs at least one row of at least one token, got ${rows.batchSize} x ${rows.seqLen}. Fix: pass more calibration text`, {
      field: 'calibration',
    });
  }
  if (rows.inputIds.length !== n) {
    throw new NlsError(`has ${rows.inputIds.length} ids for ${rows.batchSize} x ${rows.seqLen} positions`, { field: 'calibration.inputIds' });
  }
  for (const key of ['tokenMask', 'weights'] as const) {
    const m = rows[key];
    if (m !== undefined && m.length !== n) {
      throw new NlsError(`has ${m.length} values for ${rows.batchSize} x ${rows.seqLen} positions`, { field: `calibration.${key}` });
    }
  }
}

/**
 * `||X_j||_2` of every input feature j of the decoder linears (all blocks, or block
 * `options.layer` only), over the counted tokens of `rows`. Squares are summed in float64 on
 * the JavaScript side, so the result does not depend on how rows are batched beyond float32
 * rounding of the activations themselves.
 *
 * With `layer` set, each forward pass stops right after that block's `down_proj` (the last
 * linear of a block), so later blocks cost nothing.
 */
export async function collectInputNorms(model: LlamaModel, rows: CalibrationRows, options: CollectOptions = {}): Promise<InputNorms> {
  checkCalibrationRows(rows);
  const layer = options.layer;
  if (layer !== undefined && (!Number.isSafeInteger(layer) || layer < 0 || layer >= model.layers.length)) {
    throw new NlsError(`must be a block index in [0, ${model.layers.length}), got ${layer}`, { field: 'layer' });
  }
  const batchSize = options.batchSize ?? 8;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new NlsError(`must be a positive integer, got ${batchSize}`, { field: 'batchSize' });

  const slots: LinearSlot[] = [];
  model.layers.forEach((block, l) => {
    if (layer === undefined || l === layer) slots.push(...Object.values(block.linears));
  });
  // down_proj of the wanted block is the last linear the decoder calls in it.
  const stopAfter = layer === undefined ? undefined : model.layers[layer]!.linears.down_proj;
  const sums = new Map<LinearSlot, Float64Array>(slots.map((s) => [s, new Float64Array(s.inFeatures)]));
  const mask = calibrationMask(rows);
  let tokens = 0;
  for (const m of mask) tokens += m;

  let chunkMask: tf.Tensor2D | undefined;
  // The hook runs synchronously inside the forward pass, where a read would have to be synchronous
  // (dataSync), which the webgpu backend cannot do in Node.js; so it keeps each chunk's sums and they
  // are read (awaited) after the pass.
  const pending: { acc: Float64Array; sq: tf.Tensor }[] = [];
  const previous = new Map<LinearSlot, LinearHook | undefined>(slots.map((s) => [s, s.hook]));
  for (const slot of slots) {
    const prev = previous.get(slot);
    const acc = sums.get(slot)!;
    slot.hook = {
      forward(x, s, base, ctx) {
        // Runs inside the model's tidy: every temporary here is freed with it, except the kept sums.
        // At a narrowed MLP width (LinearSlot.setActiveShape) x has the active inputs only: their norms
        // go to the first features, the others see no activation.
        const x2 = tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
        pending.push({ acc, sq: tf.keep(tf.sum(tf.mul(tf.square(x2), chunkMask!), 0)) });
        const y = prev ? prev.forward(x, s, base, ctx) : base(x);
        if (s === stopAfter) throw new StopForward();
        return y;
      },
    };
  }
  try {
    for (let start = 0; start < rows.batchSize; start += batchSize) {
      const b = Math.min(batchSize, rows.batchSize - start);
      const from = start * rows.seqLen;
      const to = from + b * rows.seqLen;
      const ids = tf.tensor2d(rows.inputIds.subarray(from, to), [b, rows.seqLen], 'int32');
      chunkMask = tf.tensor2d(mask.subarray(from, to), [b * rows.seqLen, 1]);
      try {
        model.forward(ids, INFERENCE).dispose();
      } catch (err) {
        if (!(err instanceof StopForward)) throw err;
      } finally {
        ids.dispose();
        chunkMask.dispose();
        chunkMask = undefined;
      }
      for (const { acc, sq } of pending) {
        const data = await sq.data();
        for (let j = 0; j < data.length; j++) acc[j] = acc[j]! + data[j]!;
      }
      tf.dispose(pending.splice(0).map((p) => p.sq));
    }
  } finally {
    for (const [slot, hook] of previous) slot.hook = hook;
    tf.dispose(pending.splice(0).map((p) => p.sq));
  }
  const norms = new Map<string, Float32Array>();
  for (const [slot, acc] of sums) norms.set(slot.key, Float32Array.from(acc, (v) => Math.sqrt(v)));
  return { norms, tokens };
}

/**
 * The documents of a calibration or evaluation text file: a `.jsonl` file gives one document
 * per non-empty line (its string field `text`); any other file is one plain-text document.
 *
 * @throws NlsError naming the file (and `path:line` for a bad JSONL line) with the fix.
 */
export async function readTextDocuments(file: string, option = 'calib'): Promise<string[]> {
  if (!existsSync(file)) {
    throw new NlsError(`file not found. Fix: pass an existing .txt or .jsonl file to --${option}, or omit --${option} to use the built-in Brown corpus`, {
      file,
    });
  }
  const content = await fsp.readFile(file, 'utf8');
  if (!file.toLowerCase().endsWith('.jsonl')) {
    if (content.trim() === '') throw new NlsError(`the file is empty. Fix: pass a file with text to --${option}`, { file });
    return [content];
  }
  const docs: string[] = [];
  content.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new NlsError(`is not valid JSON (${err instanceof Error ? err.message : String(err)}). Fix: write one JSON object per line`, {
        file: `${file}:${i + 1}`,
      });
    }
    const text = typeof row === 'object' && row !== null ? (row as Record<string, unknown>).text : undefined;
    if (typeof text !== 'string') {
      throw new NlsError('has no string field "text". Fix: write each line as {"text": "..."}', { file: `${file}:${i + 1}`, field: 'text' });
    }
    docs.push(text);
  });
  if (docs.length === 0) throw new NlsError(`has no lines. Fix: write one {"text": "..."} object per line`, { file });
  return docs;
}

/**
 * `samples` windows of `seqlen` tokens at seeded random offsets of a token stream (windows may
 * overlap; every position counts). The offsets are uniform over every start that fits.
 *
 * @param source - names the stream in errors (a file or "the Brown corpus").
 * @throws NlsError when the stream is shorter than one window.
 */
export function randomWindows(stream: ArrayLike<number>, samples: number, seqlen: number, seed: number | string, source = 'calibration text'): CalibrationRows {
  if (!Number.isSafeInteger(samples) || samples < 1) throw new NlsError(`must be a positive integer, got ${samples}`, { field: 'samples' });
  if (!Number.isSafeInteger(seqlen) || seqlen < 1) throw new NlsError(`must be a positive integer, got ${seqlen}`, { field: 'seqlen' });
  if (stream.length < seqlen) {
    throw new NlsError(`${source} has ${stream.length} tokens, fewer than one window of ${seqlen}. Fix: lower --seqlen or pass more text`, {
      field: 'seqlen',
    });
  }
  const rng = createRng(seed);
  const inputIds = new Int32Array(samples * seqlen);
  for (let s = 0; s < samples; s++) {
    const start = rng.int(stream.length - seqlen + 1);
    for (let t = 0; t < seqlen; t++) inputIds[s * seqlen + t] = stream[start + t]!;
  }
  return { batchSize: samples, seqLen: seqlen, inputIds, tokenMask: new Float32Array(samples * seqlen).fill(1) };
}
