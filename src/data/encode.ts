/**
 * Tokenisation of prompt/answer pairs into training examples with a loss mask, batching for a
 * causal LM (next-token targets and weights), and packing of plain-text token streams.
 *
 * Everything here is plain arrays / typed arrays: no tfjs.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { PromptExample } from './templates.js';

/** A tokenised example: `lossMask[i]` is 1 where `ids[i]` is a token the model is trained to produce. */
export interface EncodedExample {
  readonly ids: number[];
  /** 0/1 per token: 1 on the answer tokens (and the EOS after them), 0 on BOS and prompt. */
  readonly lossMask: number[];
  /** True when tokens were dropped to fit `maxLength`. */
  readonly truncated: boolean;
}

/** Options of {@link encodeExample}. */
export interface EncodeOptions {
  /** Maximum number of tokens of the example (BOS and EOS included); at least 2. */
  maxLength: number;
  /** Prepend the tokenizer's BOS (default: true when the tokenizer has a `bosId`). */
  addBos?: boolean;
  /** Append the tokenizer's EOS after the answer (default: true when it has an `eosId`). */
  addEos?: boolean;
}

function checkPositiveInt(x: number, field: string, min: number): void {
  if (!Number.isSafeInteger(x) || x < min) {
    throw new NlsError(`must be an integer of at least ${min}, got ${x}. Fix: pass a larger whole number`, { field });
  }
}

/**
 * Tokenise `prompt` and `answer` separately (so the mask boundary is exact even for BPE
 * tokenizers that would merge across it) into `[BOS] prompt answer [EOS]`.
 *
 * The loss mask is 1 on exactly the answer tokens and the EOS (training the model to stop), 0 on
 * BOS and the prompt.
 *
 * Truncation to `maxLength`: prompt tokens are dropped from the left (the start of a long context
 * matters least to the answer; BOS stays first). If BOS + answer + EOS alone is longer than
 * `maxLength`, the whole prompt is dropped and the answer is cut at its end; EOS is then left out,
 * because the answer did not end there.
 *
 * Note that position 0 is never predicted (nothing precedes it): with an empty prompt and no
 * BOS the first answer token gets no loss in {@link makeBatch}.
 */
export function encodeExample(example: PromptExample, tokenizer: Tokenizer, options: EncodeOptions): EncodedExample {
  checkPositiveInt(options.maxLength, 'maxLength', 2);
  const addBos = options.addBos ?? tokenizer.bosId !== undefined;
  const addEos = options.addEos ?? tokenizer.eosId !== undefined;
  if (addBos && tokenizer.bosId === undefined) {
    throw new NlsError('the tokenizer has no BOS token. Fix: pass addBos: false', { field: 'addBos' });
  }
  if (addEos && tokenizer.eosId === undefined) {
    throw new NlsError('the tokenizer has no EOS token. Fix: pass addEos: false', { field: 'addEos' });
  }
  const bos = addBos && tokenizer.bosId !== undefined ? [tokenizer.bosId] : [];
  let prompt = tokenizer.encode(example.prompt);
  let answer = tokenizer.encode(example.answer);
  let eos = addEos && tokenizer.eosId !== undefined ? [tokenizer.eosId] : [];
  const total = bos.length + prompt.length + answer.length + eos.length;
  let truncated = false;
  if (total > options.maxLength) {
    truncated = true;
    const room = options.maxLength - bos.length - answer.length - eos.length;
    if (room >= 0) {
      prompt = prompt.slice(prompt.length - room);
    } else {
      prompt = [];
      eos = [];
      answer = answer.slice(0, options.maxLength - bos.length);
    }
  }
  const ids = [...bos, ...prompt, ...answer, ...eos];
  const lossMask = [...bos.map(() => 0), ...prompt.map(() => 0), ...answer.map(() => 1), ...eos.map(() => 1)];
  return { ids, lossMask, truncated };
}

/** A batch for a causal LM, row-major `[batchSize, seqLen]`. */
export interface Batch {
  readonly batchSize: number;
  readonly seqLen: number;
  /** Input token ids; padding is `padId`. */
  readonly inputIds: Int32Array;
  /** `targets[b, t]` = the token at position `t + 1` (what position `t` predicts); padding is `padId`. */
  readonly targets: Int32Array;
  /** Loss weight of each target: the loss mask of token `t + 1`; 0 on padding. */
  readonly weights: Float32Array;
}

/** Options of {@link makeBatch}. */
export interface BatchOptions {
  /** Positions per row. An example of `n` tokens needs `seqLen >= n - 1` (its last token is only a target). */
  seqLen: number;
  /** Id written into padded input and target positions (their weight is 0). */
  padId: number;
}

/**
 * Stack encoded examples into a right-padded batch for next-token prediction:
 * `inputIds[b, t] = ids[t]`, `targets[b, t] = ids[t + 1]`, `weights[b, t] = lossMask[t + 1]`;
 * positions past an example's end hold `padId` with weight 0. Right padding never changes the
 * logits of earlier tokens under a causal mask, so no attention mask is needed.
 *
 * @throws NlsError when an example is longer than `seqLen + 1` tokens (encode it with
 *   `maxLength <= seqLen + 1`) or the list is empty.
 */
export function makeBatch(examples: readonly Pick<EncodedExample, 'ids' | 'lossMask'>[], options: BatchOptions): Batch {
  checkPositiveInt(options.seqLen, 'seqLen', 1);
  checkPositiveInt(options.padId, 'padId', 0);
  if (examples.length === 0) throw new NlsError('no examples to batch. Fix: pass at least one example', { field: 'examples' });
  const { seqLen, padId } = options;
  const batchSize = examples.length;
  const inputIds = new Int32Array(batchSize * seqLen).fill(padId);
  const targets = new Int32Array(batchSize * seqLen).fill(padId);
  const weights = new Float32Array(batchSize * seqLen);
  examples.forEach((ex, b) => {
    const n = ex.ids.length;
    if (ex.lossMask.length !== n) {
      throw new NlsError(`example ${b} has ${n} ids but ${ex.lossMask.length} mask values. Fix: build it with encodeExample`, { field: `examples[${b}]` });
    }
    if (n > seqLen + 1) {
      throw new NlsError(`example ${b} has ${n} tokens, more than seqLen + 1 = ${seqLen + 1}. Fix: encode with maxLength <= ${seqLen + 1} or raise seqLen`, {
        field: `examples[${b}]`,
      });
    }
    const row = b * seqLen;
    for (let t = 0; t < Math.min(n, seqLen); t++) inputIds[row + t] = ex.ids[t] ?? padId;
    for (let t = 0; t + 1 < n; t++) {
      targets[row + t] = ex.ids[t + 1] ?? padId;
      weights[row + t] = ex.lossMask[t + 1] ?? 0;
    }
  });
  return { batchSize, seqLen, inputIds, targets, weights };
}

/** Options of {@link packTextStream}. */
export interface PackOptions {
  /**
   * Keep the last, partial window, right-padded with this id and weight 0. Without it, the tail
   * that does not fill a window is dropped.
   */
  padId?: number;
}

/**
 * Chunk one long token stream into fixed windows for language modelling: row `r` reads
 * `ids[r*seqLen .. r*seqLen + seqLen)` and predicts `ids[r*seqLen + 1 .. r*seqLen + seqLen]`, so
 * consecutive rows share one token (each row's last target is the next row's first input) and
 * every token except the first is a target exactly once. All weights are 1 (0 only on padding).
 *
 * @returns a {@link Batch} of `floor((n - 1) / seqLen)` rows (plus one padded row with `padId`
 *   when there is a remainder); `batchSize` may be 0 for a stream shorter than `seqLen + 1`.
 */
export function packTextStream(ids: ArrayLike<number>, seqLen: number, options: PackOptions = {}): Batch {
  checkPositiveInt(seqLen, 'seqLen', 1);
  if (options.padId !== undefined) checkPositiveInt(options.padId, 'padId', 0);
  const n = ids.length;
  const full = n > 1 ? Math.floor((n - 1) / seqLen) : 0;
  const rest = n > 1 ? (n - 1) % seqLen : 0;
  const rows = full + (options.padId !== undefined && rest > 0 ? 1 : 0);
  const pad = options.padId ?? 0;
  const inputIds = new Int32Array(rows * seqLen).fill(pad);
  const targets = new Int32Array(rows * seqLen).fill(pad);
  const weights = new Float32Array(rows * seqLen);
  for (let r = 0; r < rows; r++) {
    const start = r * seqLen;
    const len = Math.min(seqLen, n - 1 - start);
    for (let t = 0; t < len; t++) {
      inputIds[start + t] = ids[start + t] ?? pad;
      targets[start + t] = ids[start + t + 1] ?? pad;
      weights[start + t] = 1;
    }
  }
  return { batchSize: rows, seqLen, inputIds, targets, weights };
}

/** Options of {@link encodeTextStream}. */
export interface TextStreamOptions {
  /** Put BOS before each document (default: when the tokenizer has one). */
  addBos?: boolean;
  /** Put EOS after each document (default: when the tokenizer has one). */
  addEos?: boolean;
}

/**
 * Concatenate documents into one token stream, `[BOS] doc [EOS]` each, for {@link packTextStream}.
 * The separators let the model learn document boundaries; windows may span two documents.
 */
export function encodeTextStream(texts: Iterable<string>, tokenizer: Tokenizer, options: TextStreamOptions = {}): number[] {
  const addBos = (options.addBos ?? true) && tokenizer.bosId !== undefined;
  const addEos = (options.addEos ?? true) && tokenizer.eosId !== undefined;
  const out: number[] = [];
  for (const text of texts) {
    if (addBos && tokenizer.bosId !== undefined) out.push(tokenizer.bosId);
    for (const id of tokenizer.encode(text)) out.push(id);
    if (addEos && tokenizer.eosId !== undefined) out.push(tokenizer.eosId);
  }
  return out;
}

/** Pick rows `indices` of a batch (e.g. a {@link packTextStream} result) into a new batch. */
export function selectRows(batch: Batch, indices: readonly number[]): Batch {
  const { seqLen } = batch;
  const inputIds = new Int32Array(indices.length * seqLen);
  const targets = new Int32Array(indices.length * seqLen);
  const weights = new Float32Array(indices.length * seqLen);
  indices.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= batch.batchSize) {
      throw new NlsError(`row ${r} is out of range for a batch of ${batch.batchSize} rows`, { field: `indices[${i}]` });
    }
    inputIds.set(batch.inputIds.subarray(r * seqLen, (r + 1) * seqLen), i * seqLen);
    targets.set(batch.targets.subarray(r * seqLen, (r + 1) * seqLen), i * seqLen);
    weights.set(batch.weights.subarray(r * seqLen, (r + 1) * seqLen), i * seqLen);
  });
  return { batchSize: indices.length, seqLen, inputIds, targets, weights };
}
