/**
 * Evaluation engines: candidate subnets scored per second on the demo validation split with
 * tfjs (the `--backend`, wasm by default: one thread) and with ONNX Runtime in the unmerged form
 * (one session for every candidate) and the merged form (each candidate merged, exported and
 * loaded into a new session: the cost of that is part of its time), all in one run, alternating
 * engine order round by round after a warm-up; and each engine's model FLOP utilisation against
 * the machine's peak.
 *
 *   npx tsx benchmarks/engines.ts [--examples 100] [--candidates 4] [--rounds 3] [--peak-gflops 430]
 *                                 [--threads N] [--rows-per-run 64] [--backend wasm] [--glibc-tunables]
 *
 * Data: the demo's spam task (`spam-demo` validation split, the demo's 100 examples by default,
 * messages cut to 48 characters, 64 tokens at most: 2 candidate rows per example, ~60 tokens per
 * row), scored with `evaluateChoices` as `nls search` scores accuracy. Model: models/demo with the
 * demo search space's adapters, untrained but with random non-zero B (plain LoRA: every subnet's
 * adapter products are real work). Candidates: random configurations drawn from the space (seed 7),
 * the same for every engine.
 *
 * FLOPs of a candidate = sum over its rows of seqLen x `flopsPerToken(config, seqLen)`
 * (src/predict/cost.ts: 2 per multiply-add of every linear layer and lm_head, the unmerged adapter
 * products, and the unmasked attention products), i.e. the model FLOPs of every position a pass
 * computes, padding included, whatever the engine actually executes (the merged form computes
 * fewer: no adapter products). MFU = those FLOPs per second / `--peak-gflops` (default 430: the
 * two cores of the development machine at their float32 FMA peak, from the issue).
 *
 * `--glibc-tunables` re-runs this script in a child process with
 * GLIBC_TUNABLES=glibc.malloc.trim_threshold=2000000000:glibc.malloc.mmap_threshold=1000000000
 * (glibc reads it at process start only), to measure what reusing large allocations buys.
 * Prints a table and one JSON line.
 */
import { median } from 'simple-statistics';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { type BackendName, initBackend } from '../src/backend/index.js';
import { createOnnxEngine } from '../src/engine/onnx/engine.js';
import { createTfjsEngine } from '../src/engine/tfjs.js';
import type { EvaluationEngine } from '../src/engine/types.js';
import { evaluateChoices, sliceChoices, type ChoiceMetrics } from '../src/evaluate/choice.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import { ByteTokenizer } from '../src/model/tokenizer.js';
import { loadTaskData, prepareValidation } from '../src/pipeline/train-supernet.js';
import { flopsPerToken } from '../src/predict/cost.js';
import { builtinSearchSpacePath, type Config, loadAndResolveSearchSpace } from '../src/space/index.js';
import { createRng, normalArray } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';
import * as tf from '@tensorflow/tfjs';

const TUNABLES = 'glibc.malloc.trim_threshold=2000000000:glibc.malloc.mmap_threshold=1000000000';
if (process.argv.includes('--glibc-tunables') && process.env['GLIBC_TUNABLES'] === undefined) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: TUNABLES },
  });
  process.exit(child.status ?? 1);
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const examples = Number(arg('examples', '100'));
const candidateCount = Number(arg('candidates', '4'));
const rounds = Number(arg('rounds', '3'));
const peakGflops = Number(arg('peak-gflops', '430'));
const threads = Number(arg('threads', String(os.availableParallelism())));
const rowsPerRun = Number(arg('rows-per-run', '64'));
const backend = arg('backend', 'wasm') as BackendName;

const info = await initBackend(backend, { quiet: true });
const { model, pretrained } = await demoModelOrRandom();
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
const rng = createRng(7);
// Untrained adapters have B = 0; random B makes the adapter products (and the scores) real.
for (const a of adapters.adapters.values()) a.bT.assign(tf.tidy(() => tf.tensor2d(normalArray(rng, a.bT.size, 0.02), a.bT.shape)));
const task = await loadTaskData('spam-demo', { seed: 0, trainSize: 10, validationSize: examples, maxChars: 48 });
const prepared = prepareValidation(task, new ByteTokenizer(model.config.vocabSize), 64).choices!;
const { batchSize: rows, seqLen } = prepared.rows;
const configs: Config[] = Array.from({ length: candidateCount }, () => space.sample(rng));
const flopsOf = (config: Config) => rows * seqLen * flopsPerToken(model.config, space, config, seqLen);
const candidateFlops = configs.reduce((s, c) => s + flopsOf(c), 0) / candidateCount;

interface Engine {
  readonly label: string;
  readonly engine: EvaluationEngine;
}
const engines: Engine[] = [
  { label: `tfjs-${info.name}`, engine: createTfjsEngine(model, adapters) },
  { label: 'onnx unmerged', engine: await createOnnxEngine(model, adapters, { form: 'unmerged', threads, rowsPerRun }) },
  { label: 'onnx merged', engine: await createOnnxEngine(model, adapters, { form: 'merged', threads, rowsPerRun }) },
];

async function run(e: Engine, list: readonly Config[], set = prepared): Promise<ChoiceMetrics[]> {
  const out: ChoiceMetrics[] = [];
  for (const c of list) {
    await e.engine.setRanks(space.activeRanks(c));
    out.push(await evaluateChoices(e.engine, set));
  }
  return out;
}

console.error(
  `${info.name} (tfjs ${info.threads ?? '?'} thread) vs onnxruntime ${engines[1]!.engine.info.version} (${threads} intra-op threads, ${rowsPerRun} rows per run); ` +
    `${pretrained ? 'pre-trained' : 'random'} demo model; ${examples} examples = ${rows} rows of ${seqLen} tokens; ${candidateCount} candidates x ${rounds} rounds; ` +
    `GLIBC_TUNABLES ${process.env['GLIBC_TUNABLES'] ?? '(unset)'}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`,
);
// Warm-up: every engine on two candidates and a few examples (JIT, kernels, sessions, caches).
const warmUp = sliceChoices(prepared, 0, Math.min(examples, 8));
for (const e of engines) await run(e, configs.slice(0, 2), warmUp);

const seconds = new Map<Engine, number[]>(engines.map((e) => [e, []]));
const results = new Map<Engine, ChoiceMetrics[]>();
const started = performance.now();
for (let r = 0; r < rounds; r++) {
  // Alternate the order so that drift (thermal, other processes) hits every engine alike.
  const order = r % 2 === 0 ? engines : [...engines].reverse();
  for (const e of order) {
    // Let spinning onnxruntime threads go back to sleep before the next engine is timed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t = performance.now();
    const metrics = await run(e, configs);
    seconds.get(e)!.push((performance.now() - t) / 1000 / candidateCount);
    results.set(e, metrics);
  }
  process.stderr.write(`round ${r + 1}/${rounds} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

const reference = results.get(engines[0]!)!;
const tfjsSeconds = median(seconds.get(engines[0]!)!);
const rowsOut = engines.map((e) => {
  const s = median(seconds.get(e)!);
  const got = results.get(e)!;
  return {
    engine: e.label,
    secondsPerCandidate: s,
    candidatesPerSecond: 1 / s,
    speedup: tfjsSeconds / s,
    gflops: candidateFlops / s / 1e9,
    mfu: candidateFlops / s / 1e9 / peakGflops,
    sameAccuracy: got.every((m, i) => m.accuracy === reference[i]!.accuracy),
    maxLossDiff: Math.max(...got.map((m, i) => Math.abs(m.answerLoss - reference[i]!.answerLoss))),
  };
});
console.log(
  formatTable(
    ['engine', 's / candidate', 'candidates/s', 'vs tfjs', 'GFLOP/s', 'MFU', 'same acc', 'max |loss diff|'],
    rowsOut.map((r) => [r.engine, r.secondsPerCandidate.toFixed(3), r.candidatesPerSecond.toFixed(2), `${r.speedup.toFixed(1)}x`, r.gflops.toFixed(1), `${(r.mfu * 100).toFixed(1)}%`, r.sameAccuracy ? 'yes' : 'NO', r.maxLossDiff.toExponential(1)]),
  ),
);
console.log(
  JSON.stringify({
    benchmark: 'engines',
    backend: info.name,
    onnxruntime: engines[1]!.engine.info.version,
    threads,
    rowsPerRun,
    examples,
    rows,
    seqLen,
    candidates: candidateCount,
    rounds,
    gflopPerCandidate: candidateFlops / 1e9,
    peakGflops,
    glibcTunables: process.env['GLIBC_TUNABLES'] ?? null,
    loadAverage: os.loadavg(),
    results: rowsOut,
  }),
);
for (const e of engines) await e.engine.dispose();
adapters.dispose();
model.dispose();
