import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  float32Bits,
  INDEX_FILE,
  loadCheckpoint,
  parseSafetensors,
  parseSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  requireFloatTensors,
  saveCheckpoint,
  serializeSafetensors,
  SINGLE_FILE,
  type SafetensorsDtype,
  type TensorInput,
  type TensorRecord,
  writeSafetensors,
} from '../../src/model/safetensors.js';

// ---------------------------------------------------------------------------------------------
// Independent references, written without the bit tricks of the implementation: exact rational
// arithmetic on BigInts, every value scaled by 2^149 (the float32 subnormal ulp) to an integer.
// ---------------------------------------------------------------------------------------------

/** |value| * 2^149 of a float32 bit pattern, for finite values (and 2^128 for exponent 255, mantissa 0). */
function scaledF32(bits: number): bigint {
  const e8 = (bits >>> 23) & 0xff;
  const m23 = bits & 0x7fffff;
  if (e8 === 0) return BigInt(m23); // subnormal: m * 2^-149
  return BigInt(m23 + 0x800000) << BigInt(e8 - 1); // (2^23 + m) * 2^(e8 - 150) * 2^149
}

/** |value| * 2^149 of a binary16 bit pattern: value = m * 2^-24 (subnormal) or (1024 + m) * 2^(e - 25). */
function scaledF16(h: number): bigint {
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return BigInt(m) << 125n;
  return BigInt(1024 + m) << BigInt(e - 25 + 149);
}

/** Non-negative finite halves 0x0000..0x7bff are increasing in value with their bit pattern. */
const HALF_SCALED: bigint[] = Array.from({ length: 0x7c00 }, (_, h) => scaledF16(h));
const HALF_OVERFLOW = scaledF16(0x7bff) + (1n << BigInt(5 + 149 - 1)); // 65504 + 16 = 65520

/** Reference f32 -> f16: nearest half, ties to the even bit pattern, >= 65520 to Inf. */
function refF32ToF16(bits: number): number {
  const sign = bits & 0x80000000 ? 0x8000 : 0;
  const e8 = (bits >>> 23) & 0xff;
  if (e8 === 0xff) return (bits & 0x7fffff) === 0 ? sign | 0x7c00 : -1; // -1: "some NaN"
  const x = scaledF32(bits);
  if (x >= HALF_OVERFLOW) return sign | 0x7c00;
  let lo = 0;
  let hi = HALF_SCALED.length - 1;
  while (lo < hi) {
    // largest index with HALF_SCALED[i] <= x
    const mid = (lo + hi + 1) >> 1;
    if (HALF_SCALED[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  if (lo === 0x7bff) return sign | lo;
  const dLo = x - HALF_SCALED[lo]!;
  const dHi = HALF_SCALED[lo + 1]! - x;
  const pick = dLo < dHi ? lo : dHi < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
  return sign | pick;
}

/** Reference f32 -> bf16: among the bf16 neighbours (patterns p, p + 1) pick the nearest, ties even. */
function refF32ToBf16(bits: number): number {
  const sign = bits & 0x80000000 ? 0x8000 : 0;
  const e8 = (bits >>> 23) & 0xff;
  if (e8 === 0xff) return (bits & 0x7fffff) === 0 ? sign | 0x7f80 : -1;
  const mag = bits & 0x7fffffff;
  const p = Math.floor(mag / 65536); // the bf16 at or below |x|
  const x = scaledF32(mag);
  const dLo = x - scaledF32(p * 65536);
  const dHi = scaledF32((p + 1) * 65536) - x; // p + 1 = 0x7f80 decodes to 2^128 here: overflow is Inf
  const pick = dLo < dHi ? p : dHi < dLo ? p + 1 : p % 2 === 0 ? p : p + 1;
  return sign | pick;
}

/** Reference half value as a JS number (from the exact scaled integer). */
function refF16Value(h: number): number {
  const e = (h >>> 10) & 0x1f;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0x1f) return (h & 0x3ff) === 0 ? s * Infinity : NaN;
  return s * Number(scaledF16(h & 0x7fff)) * 2 ** -149;
}

function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

const f32FromBitsArray = (bits: number[]): Float32Array => new Float32Array(Uint32Array.from(bits).buffer);

// ---------------------------------------------------------------------------------------------

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-safetensors-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('float16 / bfloat16 conversions', () => {
  it('f16 -> f32 matches the reference for all 65536 patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const got = f16BitsToF32(h);
      const want = refF16Value(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
      else expect(Object.is(got, want)).toBe(true);
    }
  });

  it('every non-NaN half survives f16 -> f32 -> f16', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      expect(f32BitsToF16Bits(float32Bits(f16BitsToF32(h)))).toBe(h);
    }
  });

  it('f32 -> f16 rounds halfway cases to even, underflows and overflows like IEEE', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even is 1
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: even is the latter
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway: up
      [2 ** -25, 0x0000], // half the smallest subnormal: ties to even (zero)
      [3 * 2 ** -25, 0x0002], // halfway between subnormals 1 and 2: even is 2
      [2 ** -25 * 1.0000001, 0x0001],
      [2 ** -24, 0x0001],
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up out of the subnormals into the smallest normal
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to 65536: ties to even overflows to Inf
      [-65520, 0xfc00],
      [1e-45, 0x0000], // f32 subnormal
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [x, h] of cases) {
      expect(f32BitsToF16Bits(float32Bits(x)), `x = ${x}`).toBe(h);
      expect(refF32ToF16(float32Bits(x)), `reference, x = ${x}`).toBe(h);
    }
    expect(f16BitsToF32(f32BitsToF16Bits(float32Bits(NaN)))).toBeNaN();
    expect(f16BitsToF32(f32BitsToF16Bits(0x7f800001))).toBeNaN(); // a signalling NaN must not become Inf
  });

  it('f32 -> f16 breaks every exact tie between neighbouring halves to the even pattern', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (refF16Value(h) + refF16Value(h + 1)) / 2; // exact in float32: one more bit than a half
      expect(Math.fround(mid)).toBe(mid);
      const even = h % 2 === 0 ? h : h + 1;
      expect(f32BitsToF16Bits(float32Bits(mid))).toBe(even);
      expect(f32BitsToF16Bits(float32Bits(-mid))).toBe(0x8000 | even);
    }
  });

  it('f32 -> f16 matches the exact reference on random bit patterns', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const want = refF32ToF16(bits);
        const got = f32BitsToF16Bits(bits);
        if (want === -1) expect(Number.isNaN(f16BitsToF32(got))).toBe(true);
        else expect(got).toBe(want);
      }),
      { numRuns: 20000 },
    );
  });

  it('f32 -> f16 matches the reference densely around the half range (exponents 100..145)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 145 }), fc.integer({ min: 0, max: 0x7fffff }), fc.boolean(), (e, m, neg) => {
        const bits = ((neg ? 0x80000000 : 0) | (e << 23) | m) >>> 0;
        expect(f32BitsToF16Bits(bits)).toBe(refF32ToF16(bits));
      }),
      { numRuns: 20000 },
    );
  });

  it('f32 -> f16 -> f32 -> f16 is idempotent', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (x) => {
        const h1 = f32BitsToF16Bits(float32Bits(x));
        const h2 = f32BitsToF16Bits(float32Bits(f16BitsToF32(h1)));
        expect(h2).toBe(h1);
      }),
      { numRuns: 5000 },
    );
  });

  it('f32 -> bf16 matches the exact reference and bf16 -> f32 is exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const want = refF32ToBf16(bits);
        const got = f32BitsToBf16Bits(bits);
        if (want === -1) expect(Number.isNaN(bf16BitsToF32(got))).toBe(true);
        else expect(got).toBe(want);
      }),
      { numRuns: 20000 },
    );
    const cases: [number, number][] = [
      [1 + 2 ** -8, 0x3f80], // halfway: even
      [1 + 3 * 2 ** -8, 0x3f82],
      [3.3895313892515355e38, 0x7f7f], // largest bf16
      [3.4028234663852886e38, 0x7f80], // float32 max rounds to Inf in bf16
      [2 ** -133, 0x0001], // smallest bf16 subnormal
    ];
    for (const [x, h] of cases) expect(f32BitsToBf16Bits(float32Bits(x)), `x = ${x}`).toBe(h);
    for (let h = 0; h < 65536; h++) {
      const v = bf16BitsToF32(h);
      if (Number.isNaN(v)) continue;
      expect(float32Bits(v)).toBe(h * 65536);
      expect(f32BitsToBf16Bits(float32Bits(v))).toBe(h);
    }
  });
});

describe('safetensors bytes', () => {
  it('round-trips F32 bit-exactly (-0, Inf, subnormals, extremes)', () => {
    const values = new Float32Array([0, -0, 1, -1.5, Infinity, -Infinity, 1e-45, -1e-45, 1.1754942e-38, 3.4028234663852886e38, Math.PI]);
    const bytes = serializeSafetensors(new Map([['x', { shape: [11], data: values }]]));
    const { tensors } = parseSafetensors(bytes, 'mem.safetensors');
    const x = tensors.get('x')!;
    expect(x.dtype).toBe('F32');
    expect(x.shape).toEqual([11]);
    expect(bitsOf(x.data as Float32Array)).toEqual(bitsOf(values));
    const nan = parseSafetensors(serializeSafetensors({ n: { shape: [], data: new Float32Array([NaN]) } }), 'm').tensors.get('n')!;
    expect(nan.data[0]).toBeNaN();
    expect(nan.shape).toEqual([]);
  });

  it('writes every non-NaN half pattern back bit-exactly as F16', () => {
    const patterns: number[] = [];
    for (let h = 0; h < 65536; h++) if (!((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0)) patterns.push(h);
    const values = Float32Array.from(patterns, refF16Value);
    const bytes = serializeSafetensors({ h: { shape: [patterns.length], data: values } }, { dtype: 'F16' });
    const header = parseSafetensorsHeader(bytes, 'm');
    const start = header.dataStart;
    const onDisk = Array.from(new Uint16Array(bytes.slice(start, start + patterns.length * 2).buffer));
    expect(onDisk).toEqual(patterns);
    const back = parseSafetensors(bytes, 'm').tensors.get('h')!;
    expect(back.dtype).toBe('F16');
    expect(bitsOf(back.data as Float32Array)).toEqual(bitsOf(values));
  });

  it('writes every non-NaN bfloat16 pattern back bit-exactly as BF16', () => {
    const patterns: number[] = [];
    for (let h = 0; h < 65536; h++) if (!((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0)) patterns.push(h);
    const values = f32FromBitsArray(patterns.map((h) => h * 65536));
    const bytes = serializeSafetensors({ b: { shape: [patterns.length], data: values } }, { dtype: 'BF16' });
    const back = parseSafetensors(bytes, 'm').tensors.get('b')!;
    expect(back.dtype).toBe('BF16');
    expect(bitsOf(back.data as Float32Array)).toEqual(bitsOf(values));
  });

  it('lays out files like the reference implementation', () => {
    // What safetensors (Rust/Python) writes for {"a": zeros(2) F32, "b": [1] I8} with metadata {format: pt}.
    const bytes = serializeSafetensors(
      { b: { shape: [1], data: new Int8Array([-3]) }, a: { shape: [2], data: new Float32Array([0, 1]) } },
      { metadata: { format: 'pt' } },
    );
    const json =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"I8","shape":[1],"data_offsets":[8,9]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const n = new DataView(bytes.buffer).getBigUint64(0, true);
    expect(Number(n)).toBe(padded.length);
    expect(Number(n) % 8).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length))).toBe(padded);
    expect(Array.from(bytes.subarray(8 + padded.length))).toEqual([0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0xfd]);
    const parsed = parseSafetensors(bytes, 'm');
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(Array.from(parsed.tensors.get('b')!.data)).toEqual([-3]);
  });

  it('sorts by item size then name, independent of insertion order', () => {
    const t = (dtype: SafetensorsDtype | undefined, n: number, data: TensorInput['data']): TensorInput => ({ shape: [n], data, ...(dtype ? { dtype } : {}) });
    const a = serializeSafetensors(
      new Map([
        ['z8', t(undefined, 3, new Uint8Array([1, 2, 3]))],
        ['y16', t('F16', 1, new Float32Array([2]))],
        ['x32', t(undefined, 1, new Int32Array([7]))],
        ['w64', t('I64', 2, new Int32Array([-1, 5]))],
      ]),
    );
    const b = serializeSafetensors(
      new Map([
        ['x32', t(undefined, 1, new Int32Array([7]))],
        ['w64', t('I64', 2, new Int32Array([-1, 5]))],
        ['z8', t(undefined, 3, new Uint8Array([1, 2, 3]))],
        ['y16', t('F16', 1, new Float32Array([2]))],
      ]),
    );
    expect(a).toEqual(b);
    const h = parseSafetensorsHeader(a, 'm');
    expect([...h.tensors].map(([n, e]) => [n, e.dataOffsets])).toEqual([
      ['w64', [0, 16]],
      ['x32', [16, 20]],
      ['y16', [20, 22]],
      ['z8', [22, 25]],
    ]);
    const p = parseSafetensors(a, 'm').tensors;
    expect(p.get('w64')).toEqual({ dtype: 'I64', shape: [2], data: new Int32Array([-1, 5]) });
    expect(p.get('y16')).toEqual({ dtype: 'F16', shape: [1], data: new Float32Array([2]) });
  });

  it('keeps a float tensor dtype unless the dtype option overrides it', () => {
    const tensors = { a: { shape: [1], data: new Float32Array([1]), dtype: 'BF16' as const }, b: { shape: [1], data: new Float32Array([1]) } };
    const kept = parseSafetensors(serializeSafetensors(tensors), 'm').tensors;
    expect([kept.get('a')!.dtype, kept.get('b')!.dtype]).toEqual(['BF16', 'F32']);
    const forced = parseSafetensors(serializeSafetensors(tensors, { dtype: 'F16' }), 'm').tensors;
    expect([forced.get('a')!.dtype, forced.get('b')!.dtype]).toEqual(['F16', 'F16']);
  });

  it('refuses inconsistent inputs when writing, naming the tensor', () => {
    expect(() => serializeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }, {}, 'out.safetensors')).toThrow(
      /out\.safetensors: w: has 3 values but shape \[2, 2\] needs 4/,
    );
    expect(() => serializeSafetensors({ w: { shape: [1], data: new Float32Array(1), dtype: 'I8' } }, {}, 'o')).toThrow(/o: w: dtype I8/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } })).toThrow(NlsError);
    expect(() => serializeSafetensors({ w: { shape: [-1], data: new Float32Array(0) } })).toThrow(/w: shape must be/);
  });

  it('handles a tensor named __proto__ and zero-size tensors', () => {
    const bytes = serializeSafetensors(
      new Map<string, TensorInput>([
        ['__proto__', { shape: [1], data: new Float32Array([5]) }],
        ['empty', { shape: [0, 3], data: new Float32Array(0) }],
      ]),
    );
    const t = parseSafetensors(bytes, 'm').tensors;
    expect(Array.from(t.get('__proto__')!.data)).toEqual([5]);
    expect(t.get('empty')!.shape).toEqual([0, 3]);
  });

  it('round-trips random tensor sets of every dtype (property)', () => {
    const dtypeArb = fc.constantFrom<SafetensorsDtype>('F32', 'F16', 'BF16', 'I8', 'U8', 'I32', 'I64');
    const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });
    const tensorArb = fc.tuple(dtypeArb, shapeArb, fc.integer({ min: 0, max: 2 ** 31 - 1 })).map(([dtype, shape, seed]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      let s = seed;
      const rand = (): number => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return s;
      };
      let data: TensorInput['data'];
      switch (dtype) {
        case 'F32':
          // Clearing exponent bit 0 keeps the exponent below 255: any finite float32, no NaN.
          data = f32FromBitsArray(Array.from({ length: n }, () => rand() & 0xff7fffff));
          break;
        case 'F16':
          data = Float32Array.from({ length: n }, () => refF16Value(rand() % 0x7c00) * (rand() % 2 ? -1 : 1));
          break;
        case 'BF16':
          data = f32FromBitsArray(Array.from({ length: n }, () => ((rand() % 0x7f80) * 65536) | (rand() % 2 ? 0x80000000 : 0)));
          break;
        case 'I8':
          data = Int8Array.from({ length: n }, () => (rand() % 256) - 128);
          break;
        case 'U8':
          data = Uint8Array.from({ length: n }, () => rand() % 256);
          break;
        case 'I32':
        case 'I64':
          data = Int32Array.from({ length: n }, () => rand() | 0);
          break;
      }
      return { dtype, shape, data } as TensorRecord;
    });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => k !== '__metadata__'), tensorArb, { maxKeys: 6 }), (dict) => {
        const input = new Map(Object.entries(dict));
        const bytes = serializeSafetensors(input);
        const { tensors } = parseSafetensors(bytes, 'prop.safetensors');
        expect(new Set(tensors.keys())).toEqual(new Set(input.keys()));
        for (const [name, t] of input) {
          const got = tensors.get(name)!;
          expect(got.dtype).toBe(t.dtype);
          expect(got.shape).toEqual(t.shape);
          expect(got.data.constructor).toBe(t.data.constructor);
          if (t.data instanceof Float32Array) expect(bitsOf(got.data as Float32Array)).toEqual(bitsOf(t.data));
          else expect(Array.from(got.data)).toEqual(Array.from(t.data));
        }
        // Deterministic: writing what was read gives the same bytes.
        expect(serializeSafetensors(tensors)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('parses a Node Buffer at an unaligned offset into independent arrays', () => {
    const bytes = serializeSafetensors({ w: { shape: [3], data: new Float32Array([1, 2, 3]) }, b: { shape: [1], data: new Uint8Array([9]) } });
    const shifted = Buffer.concat([Buffer.alloc(1), Buffer.from(bytes)]).subarray(1);
    expect(shifted.byteOffset % 4).not.toBe(0);
    const { tensors } = parseSafetensors(shifted, 'buf');
    expect(Array.from(tensors.get('w')!.data)).toEqual([1, 2, 3]);
    shifted.fill(0);
    expect(Array.from(tensors.get('w')!.data)).toEqual([1, 2, 3]);
    expect(Array.from(tensors.get('b')!.data)).toEqual([9]);
  });

  it('requireFloatTensors keeps floats and names a non-float tensor', () => {
    const t = new Map<string, TensorRecord>([['w', { dtype: 'BF16', shape: [1], data: new Float32Array([1]) }]]);
    expect(requireFloatTensors(t, 'f').get('w')!.data).toBeInstanceOf(Float32Array);
    t.set('q', { dtype: 'I8', shape: [1], data: new Int8Array(1) });
    expect(() => requireFloatTensors(t, 'f.safetensors')).toThrow(/f\.safetensors: q: is I8/);
  });
});

// ---------------------------------------------------------------------------------------------
// Corrupt files
// ---------------------------------------------------------------------------------------------

/** A file with the given header text and data bytes (header length field = text length unless given). */
function craft(header: string | object, data: Uint8Array | number, lengthField?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const dataBytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + dataBytes.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(dataBytes, 8 + text.length);
  return out;
}

function expectNlsError(fn: () => unknown, file: string, field: string | undefined, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an NlsError').toBeInstanceOf(NlsError);
  const e = err as NlsError;
  expect(e.file).toBe(file);
  expect(e.message).toContain(file);
  if (field !== undefined) {
    expect(e.field).toBe(field);
    expect(e.message).toContain(field);
  }
  expect(e.message).toMatch(pattern);
}

describe('safetensors validation', () => {
  const F = 'bad.safetensors';
  const ok = (begin: number, end: number, shape = [(end - begin) / 4]): object => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  it('file shorter than 8 bytes', () => {
    expectNlsError(() => parseSafetensors(new Uint8Array(5), F), F, 'header', /5 bytes, shorter than the 8-byte header/);
  });

  it('header length beyond the file', () => {
    expectNlsError(() => parseSafetensors(craft('{}', 0, 1000n), F), F, 'header', /header length 1000 .* beyond the 10-byte file/);
    expectNlsError(() => parseSafetensors(craft('{}', 0, 2n ** 63n), F), F, 'header', /beyond/);
  });

  it('header not valid JSON, not UTF-8, not an object', () => {
    expectNlsError(() => parseSafetensors(craft('{"w": {', 0), F), F, 'header', /not valid JSON/);
    const bad = new Uint8Array(8 + 3);
    new DataView(bad.buffer).setBigUint64(0, 3n, true);
    bad.set([0x7b, 0xff, 0x7d], 8);
    expectNlsError(() => parseSafetensors(bad, F), F, 'header', /not valid UTF-8/);
    expectNlsError(() => parseSafetensors(craft('[1, 2]', 0), F), F, 'header', /must be a JSON object/);
  });

  it('unknown dtype', () => {
    expectNlsError(() => parseSafetensors(craft({ w: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 1] } }, 1), F), F, 'w', /unknown dtype "Q4_K"/);
  });

  it('dtype known to safetensors but not readable by nls: header ok, data refused', async () => {
    const bytes = craft({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 8);
    expect(parseSafetensorsHeader(bytes, F).tensors.get('w')!.dtype).toBe('F64');
    expectNlsError(() => parseSafetensors(bytes, F), F, 'w', /dtype F64 is not supported by nls/);
    const file = path.join(tmp, 'f64.safetensors');
    await fsp.writeFile(file, bytes);
    expect((await readSafetensorsHeader(file)).tensors.get('w')!.shape).toEqual([1]);
    await expect(readSafetensors(file)).rejects.toThrow(/f64\.safetensors: w: dtype F64/);
  });

  it('shape not an array of non-negative integers', () => {
    for (const shape of [[-1], [1.5], '4', [1, null], null]) {
      expectNlsError(() => parseSafetensors(craft({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, 4), F), F, 'w', /shape must be an array of non-negative integers/);
    }
  });

  it('data_offsets not [begin, end] with begin <= end', () => {
    for (const offs of [[4, 0], [0], ['0', 4], [0, 4, 8], null, [-4, 0]]) {
      expectNlsError(() => parseSafetensors(craft({ w: { dtype: 'F32', shape: [1], data_offsets: offs } }, 4), F), F, 'w', /data_offsets must be \[begin, end\]/);
    }
  });

  it('byte length differs from shape x item size', () => {
    expectNlsError(
      () => parseSafetensors(craft({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, 4), F),
      F,
      'w',
      /span 4 bytes but shape \[3\] of F16 needs 6 bytes/,
    );
  });

  it('truncated file: offsets out of range of the data buffer', async () => {
    const good = serializeSafetensors({ a: { shape: [4], data: new Float32Array(4) }, b: { shape: [4], data: new Float32Array(4) } });
    const cut = good.slice(0, good.length - 3);
    expectNlsError(() => parseSafetensors(cut, F), F, 'b', /reach past the end of the 29-byte data buffer: the file is truncated/);
    const file = path.join(tmp, 'truncated.safetensors');
    await fsp.writeFile(file, cut);
    await expect(readSafetensors(file)).rejects.toThrow(/truncated\.safetensors: b: .*truncated/);
    await expect(readSafetensorsHeader(file)).rejects.toThrow(NlsError);
  });

  it('overlapping tensors', () => {
    expectNlsError(() => parseSafetensors(craft({ a: ok(0, 8), b: ok(4, 12) }, 12), F), F, 'b', /overlap tensor "a"/);
    expectNlsError(() => parseSafetensors(craft({ a: ok(0, 8), b: ok(0, 8) }, 8), F), F, 'b', /overlap/);
  });

  it('holes and trailing bytes', () => {
    expectNlsError(() => parseSafetensors(craft({ a: ok(0, 4), b: ok(8, 12) }, 12), F), F, 'b', /leave a hole: bytes \[4, 8\)/);
    expectNlsError(() => parseSafetensors(craft({ a: ok(4, 8) }, 8), F), F, 'a', /hole: bytes \[0, 4\)/);
    expectNlsError(() => parseSafetensors(craft({ a: ok(0, 4) }, 8), F), F, 'a', /8 bytes but the tensors cover only 4/);
  });

  it('duplicate names', () => {
    const text = `{"w":${JSON.stringify(ok(0, 4))},"__metadata__":{"w":"x"},"w":${JSON.stringify(ok(4, 8))}}`;
    expectNlsError(() => parseSafetensors(craft(text, 8), F), F, 'w', /lists this name twice/);
    // Same name in nested objects is not a duplicate.
    const fine = `{"__metadata__":{"a":"x"},"a":${JSON.stringify(ok(0, 4))}}`;
    expect(parseSafetensors(craft(fine, 4), F).tensors.has('a')).toBe(true);
  });

  it('bad metadata and bad entries', () => {
    expectNlsError(() => parseSafetensors(craft({ __metadata__: { v: 1 } }, 0), F), F, '__metadata__.v', /must be a string/);
    expectNlsError(() => parseSafetensors(craft({ __metadata__: [1] }, 0), F), F, '__metadata__', /must be an object/);
    expectNlsError(() => parseSafetensors(craft({ w: 3 }, 0), F), F, 'w', /header entry must be an object/);
  });

  it('I64 values beyond int32 are refused by name', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 40n, true);
    expectNlsError(() => parseSafetensors(craft({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data), F), F, 'ids', /outside the int32 range/);
  });

  it('a missing file is an NlsError naming it', async () => {
    const file = path.join(tmp, 'nope.safetensors');
    await expect(readSafetensors(file)).rejects.toThrow(/nope\.safetensors: file does not exist/);
  });
});

// ---------------------------------------------------------------------------------------------
// Files and checkpoints
// ---------------------------------------------------------------------------------------------

function sampleTensors(): Map<string, TensorInput> {
  const m = new Map<string, TensorInput>();
  let k = 0;
  for (const [name, shape] of [
    ['model.embed_tokens.weight', [10, 4]],
    ['model.layers.0.self_attn.q_proj.weight', [4, 4]],
    ['model.layers.0.mlp.up_proj.weight', [6, 4]],
    ['model.norm.weight', [4]],
    ['lm_head.weight', [10, 4]],
  ] as const) {
    const n = shape.reduce((a: number, b: number) => a * b, 1);
    m.set(name, { shape, data: Float32Array.from({ length: n }, () => (k++ % 17) / 8 - 1) });
  }
  return m;
}

describe('files and checkpoints', () => {
  it('writeSafetensors / readSafetensors round trip, header-only read', async () => {
    const file = path.join(tmp, 'one.safetensors');
    const t = sampleTensors();
    await writeSafetensors(file, t, { dtype: 'BF16', metadata: { format: 'pt' } });
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const [name, x] of t) {
      expect(back.tensors.get(name)!.dtype).toBe('BF16');
      expect(Array.from(back.tensors.get(name)!.data)).toEqual(Array.from(x.data)); // multiples of 1/8: exact in bf16
    }
    const header = await readSafetensorsHeader(file);
    expect(header.tensors.get('model.norm.weight')).toEqual({ dtype: 'BF16', shape: [4], dataOffsets: expect.any(Array) });
    const only = await readSafetensors(file, { filter: (n) => n === 'model.norm.weight' });
    expect([...only.tensors.keys()]).toEqual(['model.norm.weight']);
  });

  it('saves and loads a single-file checkpoint', async () => {
    const dir = path.join(tmp, 'single');
    expect(await saveCheckpoint(dir, sampleTensors())).toEqual([SINGLE_FILE]);
    const loaded = await loadCheckpoint(dir);
    for (const [name, x] of sampleTensors()) expect(loaded.get(name)!.data).toEqual(x.data);
    // transformers refuses safetensors without a "format" metadata entry: it is written by default.
    expect((await readSafetensorsHeader(path.join(dir, SINGLE_FILE))).metadata).toEqual({ format: 'pt' });
  });

  it('shards above maxShardBytes with HF names and index, and loads them back', async () => {
    const dir = path.join(tmp, 'sharded');
    const t = sampleTensors();
    const files = await saveCheckpoint(dir, t, { dtype: 'F16', maxShardBytes: 100 });
    // F16 sizes: embed 80, q 32, up 48, norm 8, lm_head 80 -> [80] [32 48 8] [80]
    expect(files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      INDEX_FILE,
    ]);
    const index = JSON.parse(await fsp.readFile(path.join(dir, INDEX_FILE), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(index.metadata.total_size).toBe(248);
    expect(index.weight_map['model.norm.weight']).toBe('model-00002-of-00003.safetensors');
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    const loaded = await loadCheckpoint(dir);
    expect(new Set(loaded.keys())).toEqual(new Set(t.keys()));
    for (const [name, x] of t) {
      expect(loaded.get(name)!.dtype).toBe('F16');
      expect(loaded.get(name)!.data).toEqual(x.data);
    }
    // Saving again as a single file removes the shards and the index, so nothing stale is loaded.
    await saveCheckpoint(dir, t);
    expect((await fsp.readdir(dir)).sort()).toEqual([SINGLE_FILE]);
    // And back to shards removes model.safetensors (which loadCheckpoint would prefer).
    await saveCheckpoint(dir, t, { maxShardBytes: 200 });
    expect((await fsp.readdir(dir)).includes(SINGLE_FILE)).toBe(false);
    expect((await loadCheckpoint(dir)).size).toBe(t.size);
  });

  it('refuses an index whose shard is missing or lacks a mapped tensor', async () => {
    const dir = path.join(tmp, 'badindex');
    await saveCheckpoint(dir, sampleTensors(), { maxShardBytes: 200 });
    const indexPath = path.join(dir, INDEX_FILE);
    const index = JSON.parse(await fsp.readFile(indexPath, 'utf8')) as { weight_map: Record<string, string> };

    index.weight_map['model.extra.weight'] = index.weight_map['lm_head.weight']!;
    await fsp.writeFile(indexPath, JSON.stringify(index));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/model-00003-of-00003\.safetensors: model\.extra\.weight: the index maps this tensor/);

    delete index.weight_map['model.extra.weight'];
    index.weight_map['lm_head.weight'] = 'model-00009-of-00009.safetensors';
    await fsp.writeFile(indexPath, JSON.stringify(index));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/model\.safetensors\.index\.json: weight_map\.lm_head\.weight: shard model-00009-of-00009\.safetensors .* does not exist/);

    index.weight_map['lm_head.weight'] = '../escape.safetensors';
    await fsp.writeFile(indexPath, JSON.stringify(index));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/must be a shard file name in the same folder/);

    await fsp.writeFile(indexPath, '{ not json');
    await expect(loadCheckpoint(dir)).rejects.toThrow(/index\.json: is not valid JSON/);
  });

  it('an empty folder is an NlsError with a fix', async () => {
    const dir = path.join(tmp, 'empty');
    await fsp.mkdir(dir, { recursive: true });
    await expect(loadCheckpoint(dir)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('refuses a bad maxShardBytes', async () => {
    await expect(saveCheckpoint(path.join(tmp, 'x'), sampleTensors(), { maxShardBytes: 0 })).rejects.toThrow(/maxShardBytes/);
  });
});
