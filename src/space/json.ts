/**
 * A small JSON parser that remembers where every value starts.
 *
 * `JSON.parse` is not enough for hand-written configuration files: its error positions vary
 * between Node versions, it silently keeps the last of two duplicate keys (a classic typo), and it
 * cannot tell a validator on which line `groups[2].ranks` is. This parser accepts exactly RFC 8259
 * JSON (plus a leading byte-order mark) and produces the same values as `JSON.parse`.
 */
import { indexPath, keyPath, type SourcePosition } from './problems.js';

/** A syntax error: what was expected and where. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly position: SourcePosition,
  ) {
    super(`line ${position.line}, column ${position.column}: ${detail}`);
    this.name = 'JsonSyntaxError';
  }
}

/** A key that occurs twice in one object. */
export interface DuplicateKey {
  /** JSON path of the repeated key. */
  readonly path: string;
  /** Position of the first occurrence. */
  readonly first: SourcePosition;
  /** Position of the repeated occurrence (whose value wins, as with `JSON.parse`). */
  readonly position: SourcePosition;
}

/** Result of {@link parseJsonWithPositions}. */
export interface ParsedJson {
  /** The value, equal to what `JSON.parse` returns. */
  readonly value: unknown;
  /** Start position of every value, keyed by JSON path (`''` for the root, `groups[0].ranks`, ...). */
  readonly positions: ReadonlyMap<string, SourcePosition>;
  /** Keys repeated within one object. */
  readonly duplicateKeys: readonly DuplicateKey[];
}

/** Parse JSON text, recording value positions; throws {@link JsonSyntaxError}. */
export function parseJsonWithPositions(text: string): ParsedJson {
  return new Parser(text).parseDocument();
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Parser {
  private i = 0;
  private readonly positions = new Map<string, SourcePosition>();
  private readonly duplicateKeys: DuplicateKey[] = [];
  /** Offsets at which lines start, for offset -> line/column. */
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let k = 0; k < text.length; k++) if (text[k] === '\n') this.lineStarts.push(k + 1);
    if (text.startsWith('\uFEFF')) this.i = 1; // editors on Windows like to add a BOM
  }

  parseDocument(): ParsedJson {
    this.skipWhitespace();
    const value = this.parseValue('');
    this.skipWhitespace();
    if (this.i < this.text.length) this.fail(`unexpected ${this.describeHere()} after the end of the JSON value`);
    return { value, positions: this.positions, duplicateKeys: this.duplicateKeys };
  }

  private position(offset: number): SourcePosition {
    // Binary search for the last line start <= offset.
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.lineStarts[lo] ?? 0) + 1 };
  }

  private fail(detail: string, offset = this.i): never {
    throw new JsonSyntaxError(detail, this.position(offset));
  }

  private describeHere(): string {
    if (this.i >= this.text.length) return 'end of file';
    return `character ${JSON.stringify(this.text[this.i])}`;
  }

  private skipWhitespace(): void {
    while (this.i < this.text.length && WHITESPACE.has(this.text[this.i] ?? '')) this.i++;
  }

  private parseValue(path: string): unknown {
    this.positions.set(path, this.position(this.i));
    const c = this.text[this.i];
    switch (c) {
      case '{':
        return this.parseObject(path);
      case '[':
        return this.parseArray(path);
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.parseNumber();
        return this.fail(`expected a JSON value, got ${this.describeHere()}`);
    }
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.i)) this.fail(`expected a JSON value, got ${this.describeHere()}`);
    this.i += word.length;
    return value;
  }

  private parseNumber(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (!m || m[0] === '-') return this.fail(`invalid number`);
    this.i += m[0].length;
    const next = this.text[this.i];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.fail(`invalid number`);
    return Number(m[0]);
  }

  private parseString(): string {
    const start = this.i;
    this.i++; // opening quote
    let out = '';
    let runStart = this.i;
    for (;;) {
      const c = this.text[this.i];
      if (c === undefined) this.fail('unterminated string', start);
      if (c === '"') {
        out += this.text.slice(runStart, this.i);
        this.i++;
        return out;
      }
      if (c === '\\') {
        out += this.text.slice(runStart, this.i);
        const e = this.text[this.i + 1];
        if (e === 'u') {
          const hex = this.text.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape: expected 4 hex digits');
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
        } else {
          const decoded = e === undefined ? undefined : ESCAPES[e];
          if (decoded === undefined) this.fail(`invalid escape \\${e ?? ''} in string`);
          out += decoded;
          this.i += 2;
        }
        runStart = this.i;
        continue;
      }
      if (c < ' ') this.fail('control character in string: write it as an escape such as \\n');
      this.i++;
    }
  }

  private parseArray(path: string): unknown[] {
    this.i++; // [
    const out: unknown[] = [];
    this.skipWhitespace();
    if (this.text[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      out.push(this.parseValue(indexPath(path, out.length)));
      this.skipWhitespace();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        this.skipWhitespace();
        if (this.text[this.i] === ']') this.fail("trailing comma before ']': remove it");
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      this.fail(`expected ',' or ']' in array, got ${this.describeHere()}`);
    }
  }

  private parseObject(path: string): Record<string, unknown> {
    this.i++; // {
    const out: Record<string, unknown> = {};
    const seen = new Map<string, SourcePosition>();
    this.skipWhitespace();
    if (this.text[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.i] !== '"') {
        this.fail(`expected a property name in double quotes, got ${this.describeHere()}`);
      }
      const keyPos = this.position(this.i);
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text[this.i] !== ':') this.fail(`expected ':' after property name ${JSON.stringify(key)}, got ${this.describeHere()}`);
      this.i++;
      this.skipWhitespace();
      const childPath = keyPath(path, key);
      const first = seen.get(key);
      if (first) this.duplicateKeys.push({ path: childPath, first, position: keyPos });
      else seen.set(key, keyPos);
      // defineProperty, not assignment: a "__proto__" key must become an own property, as in JSON.parse.
      Object.defineProperty(out, key, { value: this.parseValue(childPath), enumerable: true, writable: true, configurable: true });
      this.skipWhitespace();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        this.skipWhitespace();
        if (this.text[this.i] === '}') this.fail("trailing comma before '}': remove it");
        continue;
      }
      if (c === '}') {
        this.i++;
        return out;
      }
      this.fail(`expected ',' or '}' after property value, got ${this.describeHere()}`);
    }
  }
}
