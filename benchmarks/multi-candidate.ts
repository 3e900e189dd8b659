/**
 * Several candidates in one forward pass: candidate subnets scored per second on a choice
 * validation set, one-by-one (`setActiveRanks` + `evaluateChoices`) against K candidates per pass
 * (`evaluateChoicesMany`, rows tiled K times, per-candidate rank masks in the adapters), on the
 * demo model with the demo search space, wasm backend (single-threaded), all methods alternating
 * round by round in one run after a warm-up.
 *
 *   npx tsx benchmarks/multi-candidate.ts [--examples 16] [--candidates 8] [--rounds 2] [--backend wasm]
 *
 * The data are the demo's spam task rows (`spam-demo` validation, messages cut to 48 characters,
 * 64 tokens at most: 2 candidates per example, ~60 tokens per row). The adapters are untrained,
 * with random nonzero B so that every adapter product is real work. `batch` is the number of
 * validation rows per forward pass per candidate; a K-candidate pass holds K x batch rows.
 * Speed-ups are against `one-by-one, batch 16`, in wall time and in this process's CPU time.
 * Prints a table and one JSON line; the scores of every method are checked against one-by-one.
 * `one-by-one, all rows` is a control: one candidate per pass with every row in it, which tells
 * the gain of bigger passes apart from the gain of several candidates per pass. Defaults keep the
 * run to ~5 minutes on a quiet 2-core machine (one-by-one costs ~1 s per 16 rows here).
 */
import { median } from 'simple-statistics';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { type BackendName, initBackend } from '../src/backend/index.js';
import { evaluateChoices, evaluateChoicesMany, sliceChoices, type ChoiceMetrics, type PreparedChoices } from '../src/evaluate/choice.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import { ByteTokenizer } from '../src/model/tokenizer.js';
import { loadTaskData, prepareValidation } from '../src/pipeline/train-supernet.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../src/space/index.js';
import { createRng, normalArray } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const examples = Number(arg('examples', '16'));
const candidateCount = Number(arg('candidates', '8'));
const rounds = Number(arg('rounds', '2'));
const backend = arg('backend', 'wasm') as BackendName;

/** A way of scoring candidates: K candidates per pass (1 = one-by-one), `batch` rows per candidate per pass. */
interface Method {
  readonly label: string;
  readonly k: number;
  readonly batch: number;
}
const methods: Method[] = [
  { label: 'one-by-one', k: 1, batch: 16 },
  { label: 'one-by-one', k: 1, batch: 2 * examples },
  { label: 'K=2', k: 2, batch: 8 },
  { label: 'K=2', k: 2, batch: 16 },
  { label: 'K=4', k: 4, batch: 4 },
  { label: 'K=4', k: 4, batch: 16 },
  { label: 'K=8', k: 8, batch: 2 },
  { label: 'K=8', k: 8, batch: 16 },
].filter((m) => candidateCount % m.k === 0);

const info = await initBackend(backend, { quiet: true });
const { model, pretrained } = await demoModelOrRandom();
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
const rng = createRng(7);
// Untrained adapters have B = 0; random B makes the adapter products (and the scores) real.
for (const a of adapters.adapters.values()) a.bT.assign(tf.tidy(() => tf.tensor2d(normalArray(rng, a.bT.size, 0.02), a.bT.shape)));
const task = await loadTaskData('spam-demo', { seed: 0, trainSize: 10, validationSize: examples, maxChars: 48 });
const prepared = prepareValidation(task, new ByteTokenizer(model.config.vocabSize), 64).choices!;
const rows = prepared.rows.batchSize;
const name = (m: Method) => `${m.label}, batch ${m.batch >= rows ? `${rows} (all)` : m.batch}`;
const candidates = Array.from({ length: candidateCount }, () => space.activeRanks(space.sample(rng)));

async function run(m: Method, rankSets: readonly ReadonlyMap<string, number>[], set: PreparedChoices = prepared): Promise<ChoiceMetrics[]> {
  const out: ChoiceMetrics[] = [];
  for (let i = 0; i < rankSets.length; i += m.k) {
    const group = rankSets.slice(i, i + m.k);
    if (m.k === 1) {
      adapters.setActiveRanks(group[0]!);
      out.push(await evaluateChoices(model, set, m.batch));
    } else out.push(...(await evaluateChoicesMany(model, adapters, set, group, m.batch)));
  }
  return out;
}

console.error(
  `${info.name}; ${pretrained ? 'pre-trained' : 'random'} demo model; space ${space.name}; ${examples} examples = ${rows} rows of ${prepared.rows.seqLen} tokens; ` +
    `${candidateCount} candidates per round, ${rounds} rounds; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`,
);
// Warm-up: every method once on its own K candidates and the first examples (kernels, the
// model's rope and mask caches for this sequence length).
const warmUp = sliceChoices(prepared, 0, Math.min(examples, 8));
for (const m of methods) await run(m, candidates.slice(0, m.k), warmUp);

// Wall time and this process's CPU time: the machine is shared, and CPU time (the wasm backend
// computes on this one thread) is far less disturbed by other processes than wall time.
const seconds = new Map<Method, number[]>(methods.map((m) => [m, []]));
const cpuSeconds = new Map<Method, number[]>(methods.map((m) => [m, []]));
const results = new Map<Method, ChoiceMetrics[]>();
const started = performance.now();
for (let r = 0; r < rounds; r++) {
  // Alternate the order so that drift (thermal, other processes) hits every method alike.
  const order = r % 2 === 0 ? methods : [...methods].reverse();
  for (const m of order) {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const metrics = await run(m, candidates);
    const used = process.cpuUsage(cpu);
    seconds.get(m)!.push((performance.now() - t) / 1000 / candidateCount);
    cpuSeconds.get(m)!.push((used.user + used.system) / 1e6 / candidateCount);
    results.set(m, metrics);
  }
  process.stderr.write(`round ${r + 1}/${rounds} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

const reference = results.get(methods[0]!)!;
const baseline = median(seconds.get(methods[0]!)!);
const cpuBaseline = median(cpuSeconds.get(methods[0]!)!);
const rowsOut = methods.map((m) => {
  const s = median(seconds.get(m)!);
  const cpu = median(cpuSeconds.get(m)!);
  const got = results.get(m)!;
  let maxDiff = 0;
  let samePredictions = true;
  got.forEach((metrics, c) => {
    const ref = reference[c]!;
    metrics.perExample.correctLogLikelihood.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref.perExample.correctLogLikelihood[i]!))));
    if (metrics.predictions.some((p, i) => p !== ref.predictions[i])) samePredictions = false;
  });
  return { method: name(m), k: m.k, batchPerCandidate: m.batch, rowsPerPass: m.k * Math.min(m.batch, rows), secondsPerCandidate: s, candidatesPerSecond: 1 / s, speedup: baseline / s, cpuSecondsPerCandidate: cpu, cpuSpeedup: cpuBaseline / cpu, maxAbsDiff: maxDiff, samePredictions };
});
console.log(
  formatTable(
    ['method', 'rows per pass', 'wall s / candidate (median)', 'candidates / s', 'wall speed-up', 'CPU s / candidate (median)', 'CPU speed-up', 'max |Δ log-lik|', 'same predictions'],
    rowsOut.map((r) => [
      r.method,
      r.rowsPerPass,
      r.secondsPerCandidate.toFixed(3),
      r.candidatesPerSecond.toFixed(2),
      `${r.speedup.toFixed(2)}x`,
      r.cpuSecondsPerCandidate.toFixed(3),
      `${r.cpuSpeedup.toFixed(2)}x`,
      r.maxAbsDiff.toExponential(1),
      r.samePredictions ? 'yes' : 'NO',
    ]),
  ),
);
console.log(
  JSON.stringify({
    benchmark: 'multi-candidate',
    backend: info.name,
    pretrained,
    examples,
    rows,
    seqLen: prepared.rows.seqLen,
    candidates: candidateCount,
    rounds,
    results: rowsOut,
    loadAverage: os.loadavg(),
    date: new Date().toISOString(),
  }),
);
adapters.dispose();
model.dispose();
