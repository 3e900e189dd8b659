import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonSyntaxError, parseJsonWithPositions } from '../../src/space/index.js';

/** Outcome of the reference parser: the value's serialisation, or 'error'. */
function reference(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return 'error';
  }
}

function ours(text: string): string {
  try {
    return JSON.stringify(parseJsonWithPositions(text).value);
  } catch (err) {
    expect(err).toBeInstanceOf(JsonSyntaxError);
    return 'error';
  }
}

describe('parseJsonWithPositions', () => {
  it('agrees with JSON.parse on valid JSON (compact and indented)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        for (const text of [JSON.stringify(v), JSON.stringify(v, null, 2), ` \r\n\t${JSON.stringify(v, null, '\t')}\n`]) {
          const got = parseJsonWithPositions(text).value;
          expect(got).toStrictEqual(JSON.parse(text));
          expect(JSON.stringify(got)).toBe(JSON.stringify(JSON.parse(text)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('accepts and rejects the same texts as JSON.parse', () => {
    const mutated = fc.tuple(fc.json(), fc.nat(), fc.constantFrom('delete', 'insert'), fc.constantFrom(...'{}[],:"\\ 0-.eE+tfnu1x'.split(''))).map(([text, at, op, ch]) => {
      const i = text.length === 0 ? 0 : at % text.length;
      return op === 'delete' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + ch + text.slice(i);
    });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string(), fc.json()), (text) => {
        expect(ours(text)).toBe(reference(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps "__proto__" as an own property, as JSON.parse does', () => {
    const v = parseJsonWithPositions('{"__proto__": {"x": 1}}').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
  });

  it('records value positions by JSON path', () => {
    const text = '{\n  "a": [1,\n    {"b c": true}],\n  "d": null\n}';
    const { positions } = parseJsonWithPositions(text);
    expect(positions.get('')).toEqual({ line: 1, column: 1 });
    expect(positions.get('a')).toEqual({ line: 2, column: 8 });
    expect(positions.get('a[0]')).toEqual({ line: 2, column: 9 });
    expect(positions.get('a[1]["b c"]')).toEqual({ line: 3, column: 13 });
    expect(positions.get('d')).toEqual({ line: 4, column: 8 });
  });

  it('reports duplicate keys (last value wins, as with JSON.parse)', () => {
    const r = parseJsonWithPositions('{"a": 1,\n "a": 2}');
    expect(r.value).toEqual({ a: 2 });
    expect(r.duplicateKeys).toEqual([{ path: 'a', first: { line: 1, column: 2 }, position: { line: 2, column: 2 } }]);
  });

  it('gives line and column of syntax errors', () => {
    const at = (text: string): string => {
      try {
        parseJsonWithPositions(text);
      } catch (err) {
        return (err as JsonSyntaxError).message;
      }
      return 'no error';
    };
    expect(at('{\n  "a": 1\n  "b": 2\n}')).toBe(`line 3, column 3: expected ',' or '}' after property value, got character "\\""`);
    expect(at('[1, 2')).toBe(`line 1, column 6: expected ',' or ']' in array, got end of file`);
    expect(at('{"a": tru}')).toMatch(/^line 1, column 7: expected a JSON value/);
    expect(at('{"a": "x\ny"}')).toMatch(/^line 1, column 9: control character in string/);
    expect(at('{"a": 01}')).toMatch(/^line 1, column 8: invalid number/);
    expect(at('{a: 1}')).toMatch(/^line 1, column 2: expected a property name in double quotes/);
    expect(at('{} x')).toMatch(/^line 1, column 4: unexpected character "x" after the end/);
  });

  it('accepts a leading byte-order mark', () => {
    expect(parseJsonWithPositions('\uFEFF{"a": 1}').value).toEqual({ a: 1 });
  });
});
