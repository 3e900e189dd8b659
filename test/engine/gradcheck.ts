/**
 * Gradient checking for ONNX graphs: build a small graph around an operator, differentiate a
 * random projection of its outputs (loss = sum of y * R) with src/engine/onnx/autodiff.ts, run it
 * on onnxruntime, and compare with central finite differences of the same loss computed in
 * float64 (an independent reference: only the forward operator is trusted).
 */
import { addGradients, inferValueTypes } from '../../src/engine/onnx/autodiff.js';
import { GraphBuilder } from '../../src/engine/onnx/graph.js';
import { OnnxDataType } from '../../src/engine/onnx/proto.js';
import { createOrtSession, loadOrt, type OrtSession } from '../../src/engine/onnx/session.js';
import { createRng, normalArray } from '../../src/util/rng.js';

/** One operand of the operator under test. */
export interface Operand {
  readonly dims: readonly number[];
  readonly values: readonly number[];
  readonly kind: 'float' | 'int32' | 'int64' | 'bool';
  /** Differentiate with respect to it (a graph input); otherwise a constant initializer. */
  readonly wrt?: boolean;
}

/** A test case: operands and how to build the operator on them. */
export interface OpCase {
  readonly operands: readonly Operand[];
  /** Add the operator to `g` reading `inputs` (operand value names); returns its outputs. */
  build(g: GraphBuilder, inputs: readonly string[], dtype: typeof OnnxDataType.FLOAT | typeof OnnxDataType.DOUBLE): string[];
  /** Seed of the projection R. */
  readonly seed: number;
}

type FloatDtype = typeof OnnxDataType.FLOAT | typeof OnnxDataType.DOUBLE;

interface Built {
  readonly session: OrtSession;
  readonly wrt: number[];
}

async function buildCase(c: OpCase, dtype: FloatDtype): Promise<Built> {
  const g = new GraphBuilder('gradcheck');
  const floats = (v: readonly number[]) => (dtype === OnnxDataType.DOUBLE ? Float64Array.from(v) : Float32Array.from(v));
  const names = c.operands.map((o, i) => {
    if (o.kind === 'float') return o.wrt ? g.input(`x${i}`, dtype, o.dims) : g.initializer(`c${i}`, dtype, o.dims, floats(o.values));
    if (o.kind === 'int32') return g.initializer(`c${i}`, OnnxDataType.INT32, o.dims, Int32Array.from(o.values));
    if (o.kind === 'int64') return g.initializer(`c${i}`, OnnxDataType.INT64, o.dims, BigInt64Array.from(o.values.map((v) => BigInt(v))));
    return g.initializer(`c${i}`, OnnxDataType.BOOL, o.dims, Uint8Array.from(o.values));
  });
  const outs = c.build(g, names, dtype);
  const types = inferValueTypes(g);
  const rng = createRng(c.seed);
  let loss: string | undefined;
  for (const o of outs) {
    const dims = types.get(o)!.dims;
    const r = g.constantTensor('projection', dtype, dims, floats(Array.from(normalArray(rng, dims.reduce((a, b) => a * b, 1), 1))));
    const term = g.op('ReduceSum', [g.mul(o, r)], { keepdims: 0 });
    loss = loss ? g.add(loss, term) : term;
  }
  const wrt = c.operands.flatMap((o, i) => (o.kind === 'float' && o.wrt ? [i] : []));
  const grads = addGradients(g, { loss: loss!, wrt: wrt.map((i) => `x${i}`) });
  g.output(loss!, 'loss', dtype, []);
  for (const i of wrt) g.output(grads.get(`x${i}`)!, `grad_${i}`, dtype, c.operands[i]!.dims);
  const session = await createOrtSession(g.build({ producerVersion: 'test' }), { threads: 1, spinning: false });
  return { session, wrt };
}

async function run(b: Built, c: OpCase, dtype: FloatDtype, values: ReadonlyMap<number, Float64Array>): Promise<Record<string, Float64Array>> {
  const ort = await loadOrt();
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const i of b.wrt) {
    const v = values.get(i)!;
    feeds[`x${i}`] = new ort.Tensor(dtype === OnnxDataType.DOUBLE ? 'float64' : 'float32', dtype === OnnxDataType.DOUBLE ? Float64Array.from(v) : Float32Array.from(v), [...c.operands[i]!.dims]);
  }
  const out = await b.session.run(feeds);
  const res: Record<string, Float64Array> = {};
  for (const [k, t] of Object.entries(out)) res[k] = Float64Array.from(t.data as Float32Array | Float64Array);
  return res;
}

/** The result of {@link gradCheck}: per differentiated operand, the gradients and their errors. */
export interface GradCheckResult {
  /** max |autodiff (float64) - finite differences| / max(1, max |finite differences|). */
  readonly errorFloat64: number;
  /** max |autodiff (float32) - finite differences| / max(1e-3, max |finite differences|). */
  readonly errorFloat32: number;
  readonly operands: number;
}

/**
 * Check the gradients of `c` against central finite differences (float64, step 1e-6 relative):
 * the float64 autodiff gradient must agree to ~1e-8 and the float32 one (the precision nls
 * trains in) to ~1e-4; callers assert on the returned errors.
 */
export async function gradCheck(c: OpCase): Promise<GradCheckResult> {
  const f64 = await buildCase(c, OnnxDataType.DOUBLE);
  const f32 = await buildCase(c, OnnxDataType.FLOAT);
  try {
    const base = new Map(f64.wrt.map((i) => [i, Float64Array.from(c.operands[i]!.values)]));
    const exact = await run(f64, c, OnnxDataType.DOUBLE, base);
    const single = await run(f32, c, OnnxDataType.FLOAT, base);
    let errorFloat64 = 0;
    let errorFloat32 = 0;
    for (const i of f64.wrt) {
      const x = base.get(i)!;
      const numeric = new Float64Array(x.length);
      for (let j = 0; j < x.length; j++) {
        const h = 1e-6 * Math.max(1, Math.abs(x[j]!));
        const at = (delta: number) => {
          const moved = Float64Array.from(x);
          moved[j] = x[j]! + delta;
          return new Map([...base, [i, moved]]);
        };
        const plus = (await run(f64, c, OnnxDataType.DOUBLE, at(h)))['loss']![0]!;
        const minus = (await run(f64, c, OnnxDataType.DOUBLE, at(-h)))['loss']![0]!;
        numeric[j] = (plus - minus) / (2 * h);
      }
      const scale = numeric.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const a64 = exact[`grad_${i}`]!;
      const a32 = single[`grad_${i}`]!;
      for (let j = 0; j < x.length; j++) {
        errorFloat64 = Math.max(errorFloat64, Math.abs(a64[j]! - numeric[j]!) / Math.max(1, scale));
        errorFloat32 = Math.max(errorFloat32, Math.abs(a32[j]! - numeric[j]!) / Math.max(1e-3, scale));
      }
    }
    return { errorFloat64, errorFloat32, operands: f64.wrt.length };
  } finally {
    await f64.session.release();
    await f32.session.release();
  }
}
