// Child process of benchmarks/training.ts: one training engine on one model, asked for a number
// of steps of one kind at a time over IPC. Plain JavaScript on the built package (dist/, what the
// installed `nls` command runs), so its peak RSS is that of an nls process, without the
// TypeScript loader the benchmark itself runs under.
import * as os from 'node:os';
import {
  AdapterSet,
  adapterVariables,
  builtinSearchSpacePath,
  configsForStep,
  createTrainingEngine,
  createRng,
  initBackend,
  loadAndResolveSearchSpace,
  loadModelFolder,
  runTrainingLoop,
} from '../dist/index.js';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const engineName = arg('engine', 'onnx');
const batchSize = Number(arg('batch', '8'));
const seq = Number(arg('seq', '128'));
const threads = Number(arg('threads', String(os.availableParallelism())));
// --rmax R: adapters built at rank R (what rank slices would compute for a subnet at rank R).
const rMax = Number(arg('rmax', '0'));

await initBackend('wasm', { quiet: true });
const { model } = await loadModelFolder(arg('model', 'models/demo'));
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const plan = rMax > 0 ? space.adapterPlan().map((p) => ({ ...p, rMax })) : space.adapterPlan();
const adapters = AdapterSet.attach(model, plan, 0);
const cappedRanks = new Map(plan.map((p) => [p.key, p.rMax]));
const engine = await createTrainingEngine(engineName, { model, adapters, variables: adapterVariables(adapters), optimizer: { weightDecay: 0 }, threads });

// The benchmark's batch: seeded random tokens, every position in the loss (as the parent writes it for the peer).
const rng = createRng('training-benchmark');
const vocab = Math.min(model.config.vocabSize, 256);
const inputIds = Int32Array.from({ length: batchSize * seq }, () => rng.int(vocab));
const targets = Int32Array.from({ length: batchSize * seq }, (_, i) => (i % seq === seq - 1 ? rng.int(vocab) : inputIds[i + 1]));
const batch = { batchSize, seqLen: seq, inputIds, targets, weights: new Float32Array(batchSize * seq).fill(1) };

let round = 0;
process.on('message', async (req) => {
  const task = {
    engine,
    passes: (_step, stepRng) =>
      rMax > 0
        ? [{ label: `r${rMax}`, ranks: cappedRanks }]
        : (req.kind === 'fixed' ? [space.maxConfig()] : configsForStep('uniform', space, stepRng)).map((c) => ({ label: space.key(c), ranks: space.activeRanks(c) })),
  };
  const t0 = performance.now();
  const r = await runTrainingLoop(task, { batch: () => batch }, { steps: req.steps, lr: 1e-3, warmupSteps: 0, seed: round++ });
  const msPerStep = (performance.now() - t0) / req.steps;
  // Collect garbage now, while nothing is measured: left to run later, the collector of an idle
  // child (tfjs frees hundreds of MB per step) slowed the next child's measurement by up to 30%.
  globalThis.gc?.();
  process.send({
    kind: req.kind,
    msPerStep,
    // The ranks each step trained (the parent counts their FLOPs).
    ranks: r.records.map((x) => (rMax > 0 ? Object.fromEntries(cappedRanks) : Object.fromEntries(space.activeRanks(space.parseKey(x.label))))),
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    loss: r.records.at(-1).loss,
  });
});
process.send({ ready: true, inputs: [...inputIds.slice(0, 4)] });
