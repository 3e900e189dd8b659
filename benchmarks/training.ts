/**
 * Training-step benchmark: an NLS supernet step (uniform rank sampling) against a fixed-rank
 * LoRA step (r = r_max) on the demo model, alternating in one run so that machine noise hits
 * both alike; on each backend given.
 *
 *   npx tsx benchmarks/training.ts [--backends wasm,cpu] [--rounds 6] [--batch 8] [--seq 128]
 *
 * Prints a table and one JSON line. Model FLOPs count the work a step must do (frozen base:
 * forward + input gradients; adapters: forward + both gradients; attention products), not what
 * the kernels happen to execute. Utilisation is reported against the machine's peak (430
 * GFLOP/s on 2 cores, measured with a native FMA kernel, see DEVELOPERS.md) and against the
 * fastest 2-D matMul the backend reaches here, measured in this run.
 */
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { type BackendName, initBackend } from '../src/backend/index.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import type { LlamaConfig } from '../src/model/hf-config.js';
import { builtinSearchSpacePath, type Config, loadAndResolveSearchSpace, type SearchSpace } from '../src/space/index.js';
import { configsForStep } from '../src/supernet/sampling.js';
import { adapterVariables } from '../src/supernet/trainer.js';
import { tokenCrossEntropy } from '../src/model/loss.js';
import { AdamW, clipByGlobalNorm } from '../src/train/adamw.js';
import type { ForwardContext } from '../src/model/linear.js';
import { createRng } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

const MACHINE_PEAK_GFLOPS = 430;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const backends = arg('backends', 'wasm,cpu').split(',') as BackendName[];
const rounds = Number(arg('rounds', '6'));
const batch = Number(arg('batch', '8'));
const seq = Number(arg('seq', '128'));

/** FLOPs of one training step over `tokens` tokens with adapter ranks `ranks`. */
function stepFlops(cfg: LlamaConfig, space: SearchSpace, config: Config, tokens: number): number {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const inter = cfg.intermediateSize;
  const linearParams = cfg.numHiddenLayers * (h * q + 2 * h * kv + q * h + 3 * h * inter) + h * cfg.vocabSize;
  let adapterParams = 0;
  const dims: Record<string, [number, number]> = {
    q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h], gate_proj: [h, inter], up_proj: [h, inter], down_proj: [inter, h],
  };
  for (const [key, r] of space.activeRanks(config)) {
    const module = key.split('.')[2]!;
    const [i, o] = dims[module]!;
    adapterParams += r * (i + o);
  }
  // Attention products per token and layer: QK^T and PV, 2 * seq * q FLOPs each (full, unmasked).
  const attention = cfg.numHiddenLayers * 4 * seq * q;
  // Frozen base: forward (2N) + input gradients (2N). Adapters: 6 per parameter. Attention: x3.
  return tokens * (4 * linearParams + 6 * adapterParams + 3 * attention);
}

async function matmulPeak(): Promise<number> {
  const a = tf.randomNormal([512, 512]) as tf.Tensor2D;
  tf.matMul(a, a).dispose();
  const reps = tf.getBackend() === 'cpu' ? 2 : 20;
  const t = performance.now();
  for (let i = 0; i < reps; i++) tf.matMul(a, a).dataSync();
  const s = (performance.now() - t) / 1000;
  a.dispose();
  return (2 * 512 ** 3 * reps) / s / 1e9;
}

interface Row {
  backend: string;
  kind: string;
  msPerStep: number;
  stepsPerSecond: number;
  tokensPerSecond: number;
  gflops: number;
  mfuMachine: number;
  mfuBackend: number;
}

const results: Row[] = [];
const ratios: Record<string, number> = {};
for (const backend of backends) {
  await initBackend(backend, { quiet: true });
  const peak = await matmulPeak();
  const { model } = await demoModelOrRandom();
  const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
  const vars = [...adapterVariables(adapters).values()];
  const optimizer = new AdamW(vars);
  const rng = createRng(1);
  const ctx: ForwardContext = { training: true, nextSeed: () => rng.int(2 ** 31 - 1) };
  const ids = tf.tensor2d(Int32Array.from({ length: batch * seq }, () => rng.int(256)), [batch, seq], 'int32');
  const weights = tf.ones([batch, seq]) as tf.Tensor2D;
  const step = async (config: Config) => {
    adapters.setActiveRanks(space.activeRanks(config));
    const { value, grads } = tf.variableGrads(() => tokenCrossEntropy(model.forward(ids, ctx), ids, weights), vars);
    await clipByGlobalNorm(grads, 1);
    optimizer.apply(grads, 1e-4);
    await value.data();
    value.dispose();
    tf.dispose(grads);
  };
  // Warm-up: kernels, caches.
  await step(space.maxConfig());
  await step(space.sample(rng));
  const time = { lora: [] as number[], nls: [] as number[] };
  const flops = { lora: 0, nls: 0 };
  const reps = backend === 'cpu' ? 1 : 2;
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? (['lora', 'nls'] as const) : (['nls', 'lora'] as const)) {
      for (let k = 0; k < reps; k++) {
        const config = kind === 'lora' ? space.maxConfig() : configsForStep('uniform', space, rng)[0]!;
        const t = performance.now();
        await step(config);
        time[kind].push(performance.now() - t);
        flops[kind] += stepFlops(model.config, space, config, batch * seq);
      }
    }
  }
  for (const kind of ['lora', 'nls'] as const) {
    const total = time[kind].reduce((a, b) => a + b, 0) / 1000;
    const ms = (total * 1000) / time[kind].length;
    const gflops = flops[kind] / total / 1e9;
    results.push({
      backend,
      kind: kind === 'lora' ? 'fixed-rank LoRA (r_max)' : 'NLS supernet (uniform)',
      msPerStep: ms,
      stepsPerSecond: 1000 / ms,
      tokensPerSecond: (batch * seq * 1000) / ms,
      gflops,
      mfuMachine: gflops / MACHINE_PEAK_GFLOPS,
      mfuBackend: gflops / peak,
    });
  }
  const lora = results.at(-2)!;
  const nls = results.at(-1)!;
  ratios[backend] = nls.msPerStep / lora.msPerStep;
  console.error(`${backend}: 2-D matMul peak here ${peak.toFixed(1)} GFLOP/s`);
  optimizer.dispose();
  tf.dispose([ids, weights]);
  adapters.dispose();
  model.dispose();
}

console.log(
  formatTable(
    ['backend', 'step', 'ms/step', 'steps/s', 'tokens/s', 'model GFLOP/s', 'MFU (430 peak)', 'of backend matMul peak'],
    results.map((r) => [r.backend, r.kind, r.msPerStep, r.stepsPerSecond, r.tokensPerSecond, r.gflops, `${(r.mfuMachine * 100).toFixed(2)}%`, `${(r.mfuBackend * 100).toFixed(1)}%`]),
  ),
);
for (const [b, ratio] of Object.entries(ratios)) console.log(`${b}: NLS step / fixed-rank step = ${ratio.toFixed(3)}x`);
console.log(JSON.stringify({ benchmark: 'training', batch, seq, rounds, results, nlsOverLora: ratios }));
