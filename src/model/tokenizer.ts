/**
 * Tokenizers: a built-in byte-level tokenizer for the demo model, and HF `tokenizer.json`
 * through `@huggingface/tokenizers` (pure JS, no dependencies, no network, no native code —
 * it runs wherever tfjs runs, unlike the Rust `tokenizers` bindings).
 *
 * Convention for every {@link Tokenizer}: `encode` adds no special tokens (callers prepend
 * `bosId` / append `eosId` themselves, so every tokenizer behaves the same), and `decode` drops
 * special tokens.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { NlsError } from '../errors.js';
import { readJsonFile } from './hf-config.js';

/** Text <-> token ids. */
export interface Tokenizer {
  /** Number of ids the tokenizer can produce (a model's vocab may be larger, e.g. rounded up). */
  readonly vocabSize: number;
  /** Token ids of `text`, without special tokens (no BOS/EOS). */
  encode(text: string): number[];
  /** Text of `ids`; special and out-of-vocabulary ids are skipped. */
  decode(ids: readonly number[]): string;
  /** Beginning-of-sequence id, when the tokenizer has one. */
  readonly bosId?: number;
  /** End-of-sequence id, when the tokenizer has one. */
  readonly eosId?: number;
  /** Padding id, when the tokenizer has one. */
  readonly padId?: number;
}

// Shared: a non-streaming decode() keeps no state between calls.
const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: false });

/** Number of ids {@link ByteTokenizer} uses: 256 bytes + `<pad>`, `<bos>`, `<eos>`. */
export const BYTE_TOKENIZER_VOCAB = 259;

/**
 * Byte-level tokenizer of the nls demo model: no files, no training, every string encodable.
 *
 * Ids: `0..255` are the bytes of the UTF-8 encoding of the text; `256` = `<pad>`, `257` = `<bos>`,
 * `258` = `<eos>`. A model's vocabulary may be rounded up (e.g. to 320 for nicer matrix shapes);
 * `decode` ignores every id that is not a byte (specials, padding rows, anything out of range),
 * and decodes invalid UTF-8 (e.g. a sampled sequence cut mid-character) to U+FFFD.
 */
export class ByteTokenizer implements Tokenizer {
  /** 259, or the model's rounded-up vocabulary size given to the constructor. */
  readonly vocabSize: number;
  /** `<pad>` = 256. */
  readonly padId = 256;
  /** `<bos>` = 257. */
  readonly bosId = 257;
  /** `<eos>` = 258. */
  readonly eosId = 258;

  /** @param vocabSize the model's vocab size, at least 259 (default 259). */
  constructor(vocabSize: number = BYTE_TOKENIZER_VOCAB) {
    if (!Number.isSafeInteger(vocabSize) || vocabSize < BYTE_TOKENIZER_VOCAB) {
      throw new NlsError(
        `the byte tokenizer needs a vocab_size of at least ${BYTE_TOKENIZER_VOCAB} (256 bytes + pad, bos, eos), got ${vocabSize}`,
        { field: 'vocab_size' },
      );
    }
    this.vocabSize = vocabSize;
  }

  /** UTF-8 bytes of `text` (lone surrogates become U+FFFD, as TextEncoder does). */
  encode(text: string): number[] {
    return Array.from(UTF8_ENCODER.encode(text));
  }

  /** UTF-8 decode of the byte ids in `ids`; other ids are skipped, invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) if (Number.isInteger(id) && id >= 0 && id < 256) bytes.push(id);
    return UTF8_DECODER.decode(Uint8Array.from(bytes));
  }
}

/** A special-token entry of tokenizer_config.json: a string or an AddedToken dict `{content}`. */
function tokenContent(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (typeof x === 'object' && x !== null && typeof (x as { content?: unknown }).content === 'string') {
    return (x as { content: string }).content;
  }
  return undefined;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Options for {@link HfTokenizer.fromJson}. */
export interface HfTokenizerSources {
  /** Parsed tokenizer_config.json (special tokens, clean-up setting), if any. */
  tokenizerConfig?: unknown;
  /** Parsed config.json, used for bos/eos/pad ids the tokenizer config does not name. */
  modelConfig?: unknown;
  /** Path of tokenizer.json, for error messages. */
  file?: string;
}

/**
 * A HF `tokenizer.json` tokenizer (BPE, WordPiece, Unigram; byte-level or SentencePiece-style),
 * run by `@huggingface/tokenizers`.
 *
 * Special ids come from tokenizer_config.json (`bos_token`, `eos_token`, `pad_token`), else from
 * config.json (`bos_token_id`, first `eos_token_id`, `pad_token_id`). `decode` cleans up
 * tokenization spaces (" ." -> ".") only if tokenizer_config.json asks for it
 * (`clean_up_tokenization_spaces: true`), so by default decode(encode(s)) is lossless.
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  private readonly impl: HfTokenizerImpl;
  private readonly cleanUpSpaces: boolean;

  private constructor(impl: HfTokenizerImpl, ids: { bos?: number; eos?: number; pad?: number }, cleanUpSpaces: boolean) {
    this.impl = impl;
    this.cleanUpSpaces = cleanUpSpaces;
    let max = -1;
    for (const id of impl.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    if (ids.bos !== undefined) this.bosId = ids.bos;
    if (ids.eos !== undefined) this.eosId = ids.eos;
    if (ids.pad !== undefined) this.padId = ids.pad;
  }

  /**
   * Build from parsed JSON.
   * @param tokenizerJson the parsed tokenizer.json.
   */
  static fromJson(tokenizerJson: unknown, sources: HfTokenizerSources = {}): HfTokenizer {
    const file = sources.file ?? 'tokenizer.json';
    if (!isPlainObject(tokenizerJson) || !isPlainObject(tokenizerJson.model)) {
      throw new NlsError(`must be a HF tokenizers JSON object with a "model"; re-save it with transformers or tokenizers`, {
        file,
        field: 'model',
      });
    }
    const tcfg = isPlainObject(sources.tokenizerConfig) ? sources.tokenizerConfig : {};
    // The library requires these keys to exist (null is fine); files written by older versions omit some.
    const json: Record<string, unknown> = {
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      ...tokenizerJson,
      added_tokens: Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [],
    };
    let impl: HfTokenizerImpl;
    try {
      impl = new HfTokenizerImpl(json, tcfg);
    } catch (cause) {
      throw new NlsError(
        `@huggingface/tokenizers cannot load it (${cause instanceof Error ? cause.message : String(cause)}); ` +
          `re-save the tokenizer with a recent transformers (tokenizer.save_pretrained)`,
        { file, cause },
      );
    }
    const idOf = (field: string): number | undefined => {
      const content = tokenContent(tcfg[field]);
      return content === undefined ? undefined : impl.token_to_id(content);
    };
    const mcfg = isPlainObject(sources.modelConfig) ? sources.modelConfig : {};
    const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : undefined);
    const eosFromModel = Array.isArray(mcfg.eos_token_id) ? num(mcfg.eos_token_id[0]) : num(mcfg.eos_token_id);
    const ids: { bos?: number; eos?: number; pad?: number } = {};
    const bos = idOf('bos_token') ?? num(mcfg.bos_token_id);
    const eos = idOf('eos_token') ?? eosFromModel;
    const pad = idOf('pad_token') ?? num(mcfg.pad_token_id);
    if (bos !== undefined) ids.bos = bos;
    if (eos !== undefined) ids.eos = eos;
    if (pad !== undefined) ids.pad = pad;
    return new HfTokenizer(impl, ids, tcfg.clean_up_tokenization_spaces === true);
  }

  /** Load `dir/tokenizer.json`, with `tokenizer_config.json` and `config.json` when present. */
  static async fromDir(dir: string): Promise<HfTokenizer> {
    const file = path.join(dir, 'tokenizer.json');
    const json = await readJsonFile(file, 'save the tokenizer with transformers (tokenizer.save_pretrained) into this folder');
    const tcfgFile = path.join(dir, 'tokenizer_config.json');
    const cfgFile = path.join(dir, 'config.json');
    const sources: HfTokenizerSources = { file };
    if (existsSync(tcfgFile)) sources.tokenizerConfig = await readJsonFile(tcfgFile, '');
    if (existsSync(cfgFile)) sources.modelConfig = await readJsonFile(cfgFile, '');
    return HfTokenizer.fromJson(json, sources);
  }

  /** Token ids of `text`, without special tokens (no BOS, even if the post-processor would add it). */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    return this.impl.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of `ids`, special tokens skipped. */
  decode(ids: readonly number[]): string {
    // The library throws on an empty list; drop ids it has no token for (e.g. padded vocab rows).
    const known = ids.filter((id) => this.impl.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.impl.decode(known, { skip_special_tokens: true, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  /** The id of a token string (e.g. a special token), if the vocabulary has it. */
  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }
}

/**
 * The tokenizer of a model folder:
 * 1. `tokenizer.json` → {@link HfTokenizer};
 * 2. else `"nls_tokenizer": "bytes"` in `config.json` or `tokenizer_config.json` →
 *    {@link ByteTokenizer} (sized to config.json's `vocab_size` when that is larger than 259);
 * 3. else an NlsError saying what to add.
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  if (existsSync(path.join(dir, 'tokenizer.json'))) return HfTokenizer.fromDir(dir);
  const cfgFile = path.join(dir, 'config.json');
  const tcfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = existsSync(cfgFile) ? await readJsonFile(cfgFile, '') : undefined;
  const tcfg = existsSync(tcfgFile) ? await readJsonFile(tcfgFile, '') : undefined;
  for (const [file, json] of [
    [tcfgFile, tcfg],
    [cfgFile, cfg],
  ] as const) {
    if (!isPlainObject(json) || json.nls_tokenizer === undefined) continue;
    if (json.nls_tokenizer !== 'bytes') {
      throw new NlsError(`unknown tokenizer ${JSON.stringify(json.nls_tokenizer)}; the only built-in tokenizer is "bytes"`, {
        file,
        field: 'nls_tokenizer',
      });
    }
    const v = isPlainObject(cfg) ? cfg.vocab_size : undefined;
    const vocab = typeof v === 'number' && Number.isSafeInteger(v) && v >= BYTE_TOKENIZER_VOCAB ? v : BYTE_TOKENIZER_VOCAB;
    return new ByteTokenizer(vocab);
  }
  const hasSentencePiece = existsSync(path.join(dir, 'tokenizer.model'));
  throw new NlsError(
    `no tokenizer: the folder has no tokenizer.json` +
      (hasSentencePiece ? ' (only a SentencePiece tokenizer.model, which nls cannot read)' : '') +
      `. Fix: save a tokenizer.json here (transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)), ` +
      `or, for a byte-level model, add "nls_tokenizer": "bytes" to config.json`,
    { file: dir },
  );
}
