/**
 * The float32 matrix-product ceiling of ONNX Runtime on this machine: GFLOP/s of one `MatMul`
 * (a constant weight, as the merged model's) at the demo model's shapes and at LLaMA-7B MLP
 * shapes, with 1 and N intra-op threads. It bounds what any model evaluation on onnxruntime can
 * reach here (docs/benchmarks.md, "Evaluation engines").
 *
 *   npx tsx benchmarks/gemm-ceiling.ts [--threads 2] [--repeats 15]
 *
 * Each shape gets its own session (session options as the onnx engine's), two warm-up runs, then
 * --repeats runs; median and best. Prints a table and one JSON line.
 */
import { median } from 'simple-statistics';
import * as os from 'node:os';
import { GraphBuilder } from '../src/engine/onnx/graph.js';
import { OnnxDataType } from '../src/engine/onnx/proto.js';
import { createOrtSession, loadOrt } from '../src/engine/onnx/session.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const maxThreads = Number(arg('threads', String(os.availableParallelism())));
const repeats = Number(arg('repeats', '15'));

/** [label, rows M, inner K, outputs N]: the demo model at 64 rows x 63 tokens, then LLaMA-7B's MLP. */
const SHAPES: readonly [string, number, number, number][] = [
  ['demo q/o_proj', 4032, 256, 256],
  ['demo gate+up', 4032, 256, 1408],
  ['demo down_proj', 4032, 704, 256],
  ['7B up_proj, 512 tokens', 512, 4096, 11008],
  ['7B down_proj, 512 tokens', 512, 11008, 4096],
];

const ort = await loadOrt();
console.error(`onnxruntime ${ort.env.versions.common}; load average ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores`);
const rows: { shape: string; m: number; k: number; n: number; threads: number; medianMs: number; gflops: number; bestGflops: number }[] = [];
for (const [label, m, k, n] of SHAPES) {
  for (const threads of [...new Set([1, maxThreads])]) {
    const g = new GraphBuilder('matmul');
    const x = g.input('x', OnnxDataType.FLOAT, [m, k]);
    const w = g.floats('w', [k, n], Float32Array.from({ length: k * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
    g.output(g.matmul(x, w), 'y', OnnxDataType.FLOAT, [m, n]);
    const session = await createOrtSession(g.build({ producerVersion: '0' }), { threads });
    const feed = { x: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => (i % 13) / 13), [m, k]) };
    for (let i = 0; i < 2; i++) await session.run(feed);
    const ms: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t = performance.now();
      await session.run(feed);
      ms.push(performance.now() - t);
    }
    await session.release();
    const flops = 2 * m * k * n;
    const med = median(ms);
    rows.push({ shape: label, m, k, n, threads, medianMs: med, gflops: flops / med / 1e6, bestGflops: flops / Math.min(...ms) / 1e6 });
    process.stderr.write(`${label} (${threads} thread${threads > 1 ? 's' : ''}) done\n`);
  }
}
console.log(
  formatTable(
    ['shape', 'M x K x N', 'threads', 'median ms', 'GFLOP/s (median)', 'GFLOP/s (best)'],
    rows.map((r) => [r.shape, `${r.m} x ${r.k} x ${r.n}`, r.threads, r.medianMs.toFixed(2), r.gflops.toFixed(0), r.bestGflops.toFixed(0)]),
  ),
);
console.log(JSON.stringify({ benchmark: 'gemm-ceiling', onnxruntime: ort.env.versions.common, repeats, loadAverage: os.loadavg(), results: rows }));
