/**
 * Where the time of one supernet training step goes: tfjs kernel time by kernel name and
 * input shape (tf.profile), on the demo model.
 *
 *   npx tsx benchmarks/profile-step.ts [--backend wasm] [--batch 8] [--seq 128] [--top 20]
 *
 * Prints a table and one JSON line. Kernel times nest (a custom-gradient scope includes the
 * kernels it runs), so shares are of the summed top-level kernels, indicative only.
 */
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { type BackendName, initBackend } from '../src/backend/index.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import { tokenCrossEntropy } from '../src/model/loss.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../src/space/index.js';
import { adapterVariables } from '../src/supernet/trainer.js';
import { createRng } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const backend = arg('backend', 'wasm') as BackendName;
const batch = Number(arg('batch', '8'));
const seq = Number(arg('seq', '128'));
const top = Number(arg('top', '20'));

await initBackend(backend, { quiet: true });
const { model } = await demoModelOrRandom();
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
const rng = createRng(0);
adapters.setActiveRanks(space.activeRanks(space.medianConfig()));
const ids = tf.tensor2d(Int32Array.from({ length: batch * seq }, () => rng.int(256)), [batch, seq], 'int32');
const w = tf.ones([batch, seq]) as tf.Tensor2D;
const vars = [...adapterVariables(adapters).values()];
const step = () => {
  const { value, grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids), ids, w), vars);
  value.dataSync();
  value.dispose();
  tf.dispose(grads);
};
step();
const t0 = performance.now();
step();
const wall = performance.now() - t0;
const info = await tf.profile(step);
const byKey = new Map<string, { ms: number; calls: number }>();
for (const k of info.kernels) {
  const shape = k.name === 'BatchMatMul' || k.name === 'Transpose' ? ` ${JSON.stringify(k.inputShapes[0])}x${JSON.stringify(k.inputShapes[1] ?? '')}` : '';
  const key = `${k.name}${shape}`;
  const e = byKey.get(key) ?? { ms: 0, calls: 0 };
  e.ms += Number(k.kernelTimeMs) || 0;
  e.calls += 1;
  byKey.set(key, e);
}
const rows = [...byKey].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(`${backend}, batch ${batch} x seq ${seq}, median subnet: wall ${wall.toFixed(0)} ms per step, kernel time ${total.toFixed(0)} ms`);
console.log(formatTable(['kernel [input shapes]', 'ms', 'calls', 'share'], rows.slice(0, top).map(([k, e]) => [k, e.ms, e.calls, `${((e.ms / total) * 100).toFixed(1)}%`])));
console.log(JSON.stringify({ benchmark: 'profile-step', backend, batch, seq, wallMs: wall, kernels: rows.slice(0, top).map(([k, e]) => ({ kernel: k, ms: e.ms, calls: e.calls })) }));
