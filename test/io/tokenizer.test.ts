import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { ByteTokenizer, HfTokenizer, loadTokenizer } from '../../src/model/tokenizer.js';

/** UTF-8 by hand (independent of TextEncoder), for well-formed strings. */
function utf8(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onwards. */
function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const out: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable.includes(b) ? b : next++);
  return out;
}

const MERGES: [string, string][] = [
  ['h', 'e'],
  ['l', 'l'],
  ['Ġ', 'w'],
  ['he', 'll'],
  ['Ġw', 'o'],
];
const BOS = '<|begin_of_text|>';
const EOS = '<|end_of_text|>';

/**
 * A tiny LLaMA-3-style byte-level BPE tokenizer.json: token id b is byte b (as its GPT-2 unicode
 * symbol), merges get ids 256.., specials 300 and 301.
 */
function tinyTokenizerJson(): Record<string, unknown> {
  const sym = bytesToUnicode();
  const vocab: Record<string, number> = {};
  sym.forEach((s, b) => (vocab[s] = b));
  MERGES.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const special = (id: number, content: string): object => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(300, BOS), special(301, EOS)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [BOS]: { id: BOS, ids: [300], tokens: [BOS] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
}

const TOKENIZER_CONFIG = { bos_token: BOS, eos_token: { content: EOS, special: true }, clean_up_tokenization_spaces: false };

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-tokenizer-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('ByteTokenizer', () => {
  const t = new ByteTokenizer();

  it('encodes UTF-8 bytes and decodes them back', () => {
    for (const s of ['', 'hello', 'héllo wörld', '日本語', '🙂 emoji\n\ttabs', '\u0000nul']) {
      expect(t.encode(s)).toEqual(utf8(s));
      expect(t.decode(t.encode(s))).toBe(s);
    }
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(t.decode(t.encode(s))).toBe(s);
      }));
  });

  it('has fixed special ids and skips non-byte ids when decoding', () => {
    expect([t.vocabSize, t.padId, t.bosId, t.eosId]).toEqual([259, 256, 257, 258]);
    expect(t.decode([257, 104, 105, 258, 256, 256])).toBe('hi');
    const rounded = new ByteTokenizer(320);
    expect(rounded.vocabSize).toBe(320);
    expect(rounded.decode([104, 300, 319, 105, -1, 1000])).toBe('hi');
  });

  it('decodes invalid UTF-8 to the replacement character', () => {
    expect(t.decode([0xff, 104])).toBe('\uFFFDh');
    expect(t.decode([0xe6, 0x97])).toBe('\uFFFD'); // a character cut in the middle
    expect(t.decode([104, 0xc3])).toBe('h\uFFFD');
  });

  it('refuses a vocab smaller than 259', () => {
    expect(() => new ByteTokenizer(256)).toThrow(NlsError);
    expect(() => new ByteTokenizer(256)).toThrow(/at least 259/);
  });
});

describe('HfTokenizer (byte-level BPE built on the fly)', () => {
  const t = HfTokenizer.fromJson(tinyTokenizerJson(), { tokenizerConfig: TOKENIZER_CONFIG });

  it('applies merges', () => {
    // "hello" -> he+ll -> "hell" (259) + "o"; " world" -> Ġw+o -> "Ġwo" (260) + r l d.
    expect(t.encode('hello world')).toEqual([259, 111, 260, 114, 108, 100]);
    expect(t.encode('he')).toEqual([256]);
    expect(t.encode(' w')).toEqual([258]);
  });

  it('encodes text without merges as its UTF-8 bytes, adding no special tokens', () => {
    for (const s of ['abc', 'é ü 😀', '日本語 テキスト', '  spaces  and\nnewlines\t']) {
      expect(t.encode(s)).toEqual(utf8(s));
    }
    expect(t.encode('')).toEqual([]);
  });

  it('round-trips ASCII and non-ASCII text', () => {
    for (const s of ['hello world', 'Hello, world! How are you?', "it's a test .", 'héllo wörld 🙂 日本', '\n\n  x  \t']) {
      expect(t.decode(t.encode(s))).toBe(s);
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        expect(t.decode(t.encode(s))).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it('knows special ids, vocab size, and skips specials when decoding', () => {
    expect(t.bosId).toBe(300);
    expect(t.eosId).toBe(301);
    expect(t.padId).toBeUndefined();
    expect(t.vocabSize).toBe(302);
    expect(t.tokenToId(EOS)).toBe(301);
    expect(t.encode(`a${EOS}b`)).toEqual([97, 301, 98]);
    expect(t.decode([300, 259, 111, 301])).toBe('hello');
    expect(t.decode([])).toBe('');
    expect(t.decode([300, 5000])).toBe('');
  });

  it('takes special ids from config.json when tokenizer_config.json has none', () => {
    const u = HfTokenizer.fromJson(tinyTokenizerJson(), { modelConfig: { bos_token_id: 300, eos_token_id: [301, 300], pad_token_id: 0 } });
    expect([u.bosId, u.eosId, u.padId]).toEqual([300, 301, 0]);
  });

  it('wraps library failures in an NlsError naming the file', () => {
    expect(() => HfTokenizer.fromJson({ nope: 1 }, { file: '/m/tokenizer.json' })).toThrow(/\/m\/tokenizer\.json: model: must be a HF tokenizers JSON/);
    const broken = { ...tinyTokenizerJson(), model: { type: 'Martian' } };
    expect(() => HfTokenizer.fromJson(broken, { file: '/m/tokenizer.json' })).toThrow(/\/m\/tokenizer\.json: @huggingface\/tokenizers cannot load it/);
  });
});

describe('loadTokenizer', () => {
  async function folder(name: string, files: Record<string, unknown>): Promise<string> {
    const dir = path.join(tmp, name);
    await fsp.mkdir(dir, { recursive: true });
    for (const [f, content] of Object.entries(files)) {
      await fsp.writeFile(path.join(dir, f), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  }

  it('prefers tokenizer.json', async () => {
    const dir = await folder('hf', {
      'tokenizer.json': tinyTokenizerJson(),
      'tokenizer_config.json': TOKENIZER_CONFIG,
      'config.json': { nls_tokenizer: 'bytes' },
    });
    const t = await loadTokenizer(dir);
    expect(t).toBeInstanceOf(HfTokenizer);
    expect(t.encode('hello')).toEqual([259, 111]);
    expect(t.bosId).toBe(300);
  });

  it('uses the byte tokenizer when config.json or tokenizer_config.json names it', async () => {
    const a = await loadTokenizer(await folder('bytes-config', { 'config.json': { nls_tokenizer: 'bytes', vocab_size: 320 } }));
    expect(a).toBeInstanceOf(ByteTokenizer);
    expect(a.vocabSize).toBe(320);
    const b = await loadTokenizer(await folder('bytes-tcfg', { 'tokenizer_config.json': { nls_tokenizer: 'bytes' } }));
    expect(b).toBeInstanceOf(ByteTokenizer);
    expect(b.vocabSize).toBe(259);
  });

  it('refuses folders without a usable tokenizer, saying how to fix it', async () => {
    await expect(loadTokenizer(await folder('none', { 'config.json': { model_type: 'llama' } }))).rejects.toThrow(
      /no tokenizer: .*save a tokenizer\.json here.*"nls_tokenizer": "bytes"/,
    );
    await expect(loadTokenizer(await folder('spm', { 'tokenizer.model': 'x' }))).rejects.toThrow(/only a SentencePiece tokenizer\.model/);
    await expect(loadTokenizer(await folder('unknown', { 'config.json': { nls_tokenizer: 'chars' } }))).rejects.toThrow(
      /config\.json: nls_tokenizer: unknown tokenizer "chars"/,
    );
    await expect(loadTokenizer(await folder('badjson', { 'tokenizer.json': '{"model": ' }))).rejects.toThrow(
      /tokenizer\.json: is not valid JSON/,
    );
  });
});
