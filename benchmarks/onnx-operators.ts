/**
 * Where an onnx engine run goes: onnxruntime's own profiler on the demo model's scoring graph
 * (the graph `nls search` runs), time per operator type per run and the share of each, plus the
 * matrix products' achieved GFLOP/s.
 *
 *   npx tsx benchmarks/onnx-operators.ts [--form merged|unmerged] [--attention standard|fused]
 *                                        [--rows 64] [--seq 63] [--runs 8] [--fuse-projections]
 *
 * Model: models/demo with the demo space's adapters (random non-zero B, rank 16 everywhere).
 * The first run is discarded (warm-up). Prints a table and one JSON line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { initBackend } from '../src/backend/index.js';
import { type AttentionKind, exportLlamaOnnx } from '../src/engine/onnx/llama.js';
import { adapterFactorsOf, adapterFeed, llamaWeightsOf, mergedWeightsOf } from '../src/engine/onnx/weights.js';
import { loadOrt, ortSessionOptions } from '../src/engine/onnx/session.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../src/space/index.js';
import { createRng, normalArray } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const form = arg('form', 'merged') as 'merged' | 'unmerged';
const attention = arg('attention', 'standard') as AttentionKind;
const rows = Number(arg('rows', '64'));
const seq = Number(arg('seq', '63'));
const runs = Number(arg('runs', '8'));
const fuseProjections = process.argv.includes('--fuse-projections');

await initBackend('wasm', { quiet: true });
const ort = await loadOrt();
const { model } = await demoModelOrRandom();
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
const rng = createRng(7);
for (const a of adapters.adapters.values()) a.bT.assign(tf.tidy(() => tf.tensor2d(normalArray(rng, a.bT.size, 0.02), a.bT.shape)));
const base = await llamaWeightsOf(model);
const { factors, slots } = await adapterFactorsOf(adapters);
const common = { output: 'scores' as const, attention, fuseProjections };
const bytes = form === 'unmerged' ? exportLlamaOnnx(base, { ...common, adapters: slots }) : exportLlamaOnnx(await mergedWeightsOf(model, adapters, base), common);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nls-ort-profile-'));
const session = await ort.InferenceSession.create(bytes, { ...ortSessionOptions({}), enableProfiling: true, profileFilePrefix: path.join(dir, 'ort') });
const ids = Int32Array.from({ length: rows * seq }, () => rng.int(model.config.vocabSize));
const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
  input_ids: new ort.Tensor('int32', ids, [rows, seq]),
  targets: new ort.Tensor('int32', ids, [rows, seq]),
  weights: new ort.Tensor('float32', new Float32Array(rows * seq).fill(1), [rows, seq]),
};
if (form === 'unmerged') {
  for (const [key, f] of factors) {
    const feed = adapterFeed(f, f.spec.rMax);
    feeds[`lora_a.${key}`] = new ort.Tensor('float32', feed.a, [...feed.aDims]);
    feeds[`lora_b.${key}`] = new ort.Tensor('float32', feed.b, [...feed.bDims]);
  }
}
for (let i = 0; i < runs + 1; i++) await session.run(feeds);
await (session as unknown as { endProfiling(): Promise<void> | void }).endProfiling();
await session.release();

interface ProfileEvent {
  cat?: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}
const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
if (!file) throw new Error(`onnxruntime wrote no profile into ${dir}`);
const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ProfileEvent[];
fs.rmSync(dir, { recursive: true, force: true });
const runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
const measured = runEvents.slice(1);
const from = measured[0]?.ts ?? 0;
const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= from);
const byOp = new Map<string, { us: number; count: number }>();
let matmulFlops = 0;
for (const e of kernels) {
  const op = e.args?.op_name ?? '?';
  const entry = byOp.get(op) ?? { us: 0, count: 0 };
  entry.us += e.dur;
  entry.count++;
  byOp.set(op, entry);
  if (op === 'MatMul' || op === 'FusedMatMul' || op === 'Gemm') {
    // A constant (prepacked) weight is not listed among the inputs: take M and N from the output.
    const a = Object.values(e.args?.input_type_shape?.[0] ?? {})[0];
    const out = Object.values(e.args?.output_type_shape?.[0] ?? {})[0];
    if (a && out && a.length >= 2 && out.length >= 2) matmulFlops += 2 * out.reduce((p, q) => p * q, 1) * a[a.length - 1]!;
  }
}
const n = measured.length;
const kernelUs = [...byOp.values()].reduce((s, v) => s + v.us, 0);
const runMs = measured.reduce((s, e) => s + e.dur, 0) / n / 1000;
const matmulUs = ['MatMul', 'FusedMatMul', 'Gemm'].reduce((s, op) => s + (byOp.get(op)?.us ?? 0), 0);
const ops = [...byOp.entries()].sort((a, b) => b[1].us - a[1].us).map(([op, v]) => ({ op, msPerRun: v.us / n / 1000, share: v.us / kernelUs, perRun: v.count / n }));
console.error(`onnxruntime ${ort.env.versions.common}, ${form} form, ${attention} attention, ${rows} rows x ${seq} tokens, ${n} runs; load average ${os.loadavg()[0]!.toFixed(2)}`);
console.log(formatTable(['operator', 'ms / run', 'share', 'nodes / run'], ops.filter((o) => o.share >= 0.001).map((o) => [o.op, o.msPerRun.toFixed(2), `${(o.share * 100).toFixed(1)}%`, o.perRun.toFixed(0)])));
console.log(`session run ${runMs.toFixed(1)} ms (kernels ${(kernelUs / n / 1000).toFixed(1)} ms); matrix products ${(matmulUs / n / 1000).toFixed(1)} ms at ${(matmulFlops / matmulUs / 1e3).toFixed(0)} GFLOP/s`);
console.log(JSON.stringify({ benchmark: 'onnx-operators', form, attention, rows, seq, runs: n, fuseProjections, runMs, kernelMs: kernelUs / n / 1000, matmulMs: matmulUs / n / 1000, matmulGflops: matmulFlops / matmulUs / 1e3, loadAverage: os.loadavg(), operators: ops }));
