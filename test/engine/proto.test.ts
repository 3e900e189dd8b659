/**
 * The protobuf encoder of the ONNX schema, checked against an independent wire-format decoder
 * written here (and against onnxruntime, which must load and run what it encodes): varints of
 * every size (property), every attribute kind, tensors' raw little-endian data, value infos with
 * fixed and symbolic dims, model metadata.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphBuilder, float } from '../../src/engine/onnx/graph.js';
import { encodeModel, encodeTensor, joinChunks, OnnxDataType, varint } from '../../src/engine/onnx/proto.js';
import { createOrtSession, loadOrt } from '../../src/engine/onnx/session.js';

/** One decoded field: number, wire type and raw value. */
interface Field {
  readonly field: number;
  readonly wire: number;
  readonly int?: bigint;
  readonly bytes?: Uint8Array;
}

/** Decode a varint at `at`; returns value and next offset. */
function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[at++];
    if (b === undefined) throw new Error('truncated varint');
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, at];
    shift += 7n;
  }
}

/** Split a message into its fields (the protobuf wire format, independently of the encoder). */
function decodeFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, n] = readVarint(buf, at);
      at = n;
      out.push({ field, wire, int: v });
    } else if (wire === 2) {
      const [len, n] = readVarint(buf, at);
      at = n + Number(len);
      if (at > buf.length) throw new Error('truncated length-delimited field');
      out.push({ field, wire, bytes: buf.subarray(n, at) });
    } else if (wire === 5) {
      out.push({ field, wire, bytes: buf.subarray(at, at + 4) });
      at += 4;
    } else if (wire === 1) {
      out.push({ field, wire, bytes: buf.subarray(at, at + 8) });
      at += 8;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const all = (fields: Field[], n: number) => fields.filter((f) => f.field === n);
const one = (fields: Field[], n: number) => {
  const xs = all(fields, n);
  if (xs.length !== 1) throw new Error(`field ${n}: expected one, got ${xs.length}`);
  return xs[0]!;
};
const packed = (b: Uint8Array) => {
  const vs: bigint[] = [];
  for (let at = 0; at < b.length; ) {
    const [v, n] = readVarint(b, at);
    vs.push(v);
    at = n;
  }
  return vs;
};

describe('protobuf wire encoding', () => {
  it('varints round-trip for every int64 (negative values as 10-byte two\'s complement)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const bytes = varint(v);
        const [decoded, end] = readVarint(bytes, 0);
        expect(end).toBe(bytes.length);
        expect(BigInt.asIntN(64, decoded)).toBe(v);
        if (v < 0n) expect(bytes.length).toBe(10);
      }),
    );
    expect(Array.from(varint(300))).toEqual([0xac, 0x02]);
    expect(Array.from(varint(0))).toEqual([0]);
  });

  it('a tensor is dims (packed), data_type, name and raw little-endian data', () => {
    const values = Float32Array.of(1.5, -2, 3.25, 0, 1e-8, -0);
    const fields = decodeFields(joinChunks(encodeTensor({ name: 'w', dataType: OnnxDataType.FLOAT, dims: [2, 3], values }).chunks));
    expect(packed(one(fields, 1).bytes!)).toEqual([2n, 3n]);
    expect(one(fields, 2).int).toBe(1n);
    expect(text(one(fields, 8).bytes)).toBe('w');
    const raw = one(fields, 9).bytes!;
    expect(Array.from(new Float32Array(raw.slice().buffer))).toEqual(Array.from(values));
    expect(() => encodeTensor({ name: 'bad', dataType: OnnxDataType.FLOAT, dims: [4], values })).toThrow(/dims \[4\] hold 4 values, got 6/);
  });

  it('a model decodes to what was built: opset, producer, metadata, nodes with every attribute kind, inputs with symbolic dims, initializers', () => {
    const bytes = encodeModel({
      irVersion: 8,
      opsets: [{ domain: '', version: 17 }],
      producerName: 'nls',
      producerVersion: '1.2.3',
      metadata: { 'nls.form': 'unmerged' },
      graph: {
        name: 'g',
        nodes: [
          {
            opType: 'Op',
            name: 'n0',
            inputs: ['x', ''],
            outputs: ['y'],
            attributes: {
              i: { kind: 'int', value: -3 },
              f: { kind: 'float', value: 0.5 },
              s: { kind: 'string', value: 'hi' },
              ints: { kind: 'ints', value: [0, 2, -1] },
              floats: { kind: 'floats', value: [1, 2.5] },
              t: { kind: 'tensor', value: { name: 'c', dataType: OnnxDataType.INT64, dims: [2], values: BigInt64Array.of(-1n, 7n) } },
            },
          },
        ],
        initializers: [{ name: 'w', dataType: OnnxDataType.INT32, dims: [3], values: Int32Array.of(1, -2, 3) }],
        inputs: [{ name: 'x', dataType: OnnxDataType.FLOAT, dims: ['batch', 4] }],
        outputs: [{ name: 'y', dataType: OnnxDataType.FLOAT, dims: [] }],
      },
    });
    const model = decodeFields(bytes);
    expect(one(model, 1).int).toBe(8n);
    expect(text(one(model, 2).bytes)).toBe('nls');
    expect(text(one(model, 3).bytes)).toBe('1.2.3');
    const opset = decodeFields(one(model, 8).bytes!);
    expect([text(one(opset, 1).bytes), one(opset, 2).int]).toEqual(['', 17n]);
    const meta = decodeFields(one(model, 14).bytes!);
    expect([text(one(meta, 1).bytes), text(one(meta, 2).bytes)]).toEqual(['nls.form', 'unmerged']);
    const graph = decodeFields(one(model, 7).bytes!);
    expect(text(one(graph, 2).bytes)).toBe('g');
    const node = decodeFields(one(graph, 1).bytes!);
    expect(all(node, 1).map((f) => text(f.bytes))).toEqual(['x', '']);
    expect(text(one(node, 4).bytes)).toBe('Op');
    const attrs = Object.fromEntries(all(node, 5).map((a) => decodeFields(a.bytes!)).map((a) => [text(one(a, 1).bytes), a]));
    const type = (name: string) => one(attrs[name]!, 20).int;
    expect(BigInt.asIntN(64, one(attrs['i']!, 3).int!)).toBe(-3n);
    expect(type('i')).toBe(2n);
    expect(new DataView(one(attrs['f']!, 2).bytes!.slice().buffer).getFloat32(0, true)).toBe(0.5);
    expect(type('f')).toBe(1n);
    expect(text(one(attrs['s']!, 4).bytes)).toBe('hi');
    expect(type('s')).toBe(3n);
    expect(packed(one(attrs['ints']!, 8).bytes!).map((v) => BigInt.asIntN(64, v))).toEqual([0n, 2n, -1n]);
    expect(type('ints')).toBe(7n);
    expect(Array.from(new Float32Array(one(attrs['floats']!, 7).bytes!.slice().buffer))).toEqual([1, 2.5]);
    expect(type('floats')).toBe(6n);
    const t = decodeFields(one(attrs['t']!, 5).bytes!);
    expect(Array.from(new BigInt64Array(one(t, 9).bytes!.slice().buffer))).toEqual([-1n, 7n]);
    expect(type('t')).toBe(4n);
    const init = decodeFields(one(graph, 5).bytes!);
    expect(one(init, 2).int).toBe(6n);
    expect(Array.from(new Int32Array(one(init, 9).bytes!.slice().buffer))).toEqual([1, -2, 3]);
    const input = decodeFields(one(graph, 11).bytes!);
    expect(text(one(input, 1).bytes)).toBe('x');
    const tensorType = decodeFields(one(decodeFields(one(input, 2).bytes!), 1).bytes!);
    expect(one(tensorType, 1).int).toBe(1n);
    const dims = all(decodeFields(one(tensorType, 2).bytes!), 1).map((d) => decodeFields(d.bytes!)[0]!);
    expect([dims[0]!.field, text(dims[0]!.bytes), dims[1]!.field, dims[1]!.int]).toEqual([2, 'batch', 1, 4n]);
  });
});

describe('onnxruntime loads and runs what the builder writes', () => {
  it('int, float and ints attributes, int64 constants, symbolic batch dims', async () => {
    const ort = await loadOrt();
    const g = new GraphBuilder('t');
    const x = g.input('x', OnnxDataType.FLOAT, ['n', 3]);
    const y = g.op('LeakyRelu', [g.transpose(g.reshape(x, [-1, 3, 1]), [0, 2, 1])], { alpha: float(0.25) });
    g.output(g.op('ReduceSum', [y, g.int64s([2])], { keepdims: 0 }), 'sum', OnnxDataType.FLOAT, ['n', 1]);
    g.output(g.op('Cast', [x], { to: OnnxDataType.INT32 }), 'ints', OnnxDataType.INT32, ['n', 3]);
    const session = await createOrtSession(g.build({ producerVersion: 'test' }), { threads: 1 });
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, -4, 2, -8, 0, 3.7), [2, 3]) });
    expect(Array.from(out['sum']!.data as Float32Array)).toEqual([1 - 1 + 2, -2 + 0 + 3.7].map(Math.fround));
    expect(Array.from(out['ints']!.data as Int32Array)).toEqual([1, -4, 2, -8, 0, 3]);
    await session.release();
  });
});
