/**
 * Elastic base widths (LoNAS mode B, issue #10) on the demo task: does searching MLP widths with
 * the adapter ranks buy measured inference speed at small accuracy loss, where rank-only search
 * cannot (merged adapters cost nothing at inference)?
 *
 *   npx tsx benchmarks/widths.ts [--steps 150] [--rule uniform] [--lr 2e-3] [--budget 40] [--strategy nsga2] [--repeats 30]
 *       [--clock cpu] [--threads 1] [--batch 8] [--seq 64] [--passes 4] [--profile-samples 20]
 *       [--front 4] [--seed 0] [--out DIR]
 *
 * Stages (all on the demo model, the spam task as `nls demo` sets it up: 480 train / 100
 * validation emails, 48 characters, 64 tokens, batch 8; learning rate --lr and sampling rule
 * --rule, default 2e-3 and uniform as nls demo):
 *
 * 1. reorder the demo model's MLP channels by importance (`nls reorder`);
 * 2. train a width + rank supernet (search-spaces/demo-widths.json) on the reordered base and a
 *    rank-only supernet (search-spaces/demo.json) on the original base, the same steps, in
 *    parallel (the rank-only one in a child process: the second core);
 * 3. profile each space's latency on the onnx engine in the merged form (the deployed model of
 *    each configuration: adapters merged, MLPs cut to the widths) and build the lookup tables;
 * 4. search each supernet for accuracy vs latency (the lookup table) with the onnx engine;
 * 5. measure, on the onnx engine, the merged model of the max, heuristic (median) and searched
 *    subnets (up to --front members of each front, spread over it, duplicates dropped) and of the
 *    full base model, alternating configurations round-robin for --repeats rounds, each time
 *    --passes consecutive forward passes of [batch, seq] tokens (logits out) after switching to it,
 *    as the profile times them (ms per pass, robust median over rounds): speedup = full model /
 *    subnet; accuracy on the validation
 *    split (onnx engine); and the latency predictor's share within ±10% and Kendall tau on these
 *    subnets (measured vs predicted).
 *
 * Prints the load average before and after, a table, and one JSON line.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { runReorder } from '../src/compress/reorder-run.js';
import { createOnnxEngine } from '../src/engine/onnx/engine.js';
import { DEMO_MODEL_DIR } from '../src/model/demo-model.js';
import { openSupernetScorer } from '../src/pipeline/scorer.js';
import { runSearch } from '../src/pipeline/search.js';
import { BUILTIN_SPAM_TASK, runSupernetTraining, type SupernetRunOptions } from '../src/pipeline/train-supernet.js';
import { clockFunction, parseClock, robustMedian } from '../src/predict/measure.js';
import { loadPredictor, savePredictor } from '../src/predict/predictor.js';
import { lookupTableFromProfile, profileLatency } from '../src/predict/profile.js';
import { evaluatePredictor } from '../src/predict/quality.js';
import type { ParetoFile } from '../src/search/results.js';
import { builtinSearchSpacePath, type Config } from '../src/space/index.js';
import { loadSupernet } from '../src/supernet/artifact.js';
import type { SamplingRuleName } from '../src/supernet/sampling.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Progress } from '../src/util/progress.js';
import { createRng } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const here = fileURLToPath(import.meta.url);
const loadavg = (): string => os.loadavg().map((v) => v.toFixed(2)).join(', ');

/** Child mode: train one supernet from JSON options (the parent's second core). */
if (process.argv.includes('--train-child')) {
  const options = JSON.parse(arg('train-child', '{}')) as SupernetRunOptions;
  await runSupernetTraining({ ...options, progress: new Progress({ quiet: true }) });
  process.exit(0);
}

const steps = Number(arg('steps', '150'));
const rule = arg('rule', 'uniform') as SamplingRuleName;
const lr = Number(arg('lr', '2e-3'));
const budget = Number(arg('budget', '40'));
const strategy = arg('strategy', 'nsga2');
const repeats = Number(arg('repeats', '30'));
const clock = parseClock(arg('clock', 'cpu'), '--clock');
const threads = Number(arg('threads', '1'));
const batch = Number(arg('batch', '8'));
const seq = Number(arg('seq', '64'));
const profileSamples = Number(arg('profile-samples', '20'));
const passes = Number(arg('passes', '4'));
const frontCount = Number(arg('front', '4'));
const seed = Number(arg('seed', '0'));
const out = path.resolve(arg('out', path.join(os.tmpdir(), 'nls-widths-bench')));
const progress = new Progress();

const started = performance.now();
const loadBefore = loadavg();
console.log(`load average before: ${loadBefore} (${os.cpus().length} cores)`);
await initBackend('wasm', { quiet: true });
await fsp.mkdir(out, { recursive: true });
const timings: Record<string, number> = {};
const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  progress.log(`== ${name}`);
  try {
    return await fn();
  } finally {
    timings[name] = (performance.now() - t) / 1000;
  }
};

// 1. Reorder.
const reordered = path.join(out, 'base-reordered');
const reorder = await stage('reorder', () => runReorder({ model: DEMO_MODEL_DIR, out: reordered, samples: 64, seqlen: 64, seed, backend: 'wasm', progress }));

// 2. Train both supernets, the same steps (as nls demo trains its supernet).
const training = (model: string, space: string, dir: string): SupernetRunOptions => ({
  model,
  data: BUILTIN_SPAM_TASK,
  space,
  out: dir,
  rule,
  steps,
  lr,
  warmupSteps: Math.max(1, Math.round(steps / 10)),
  batchSize: 8,
  gradAccum: 1,
  maxLength: 64,
  weightDecay: 0,
  seed,
  checkpointEvery: steps,
  taskOptions: { trainSize: 480, validationSize: 100, maxChars: 48 },
});
const widthDir = path.join(out, 'supernet-widths');
const rankDir = path.join(out, 'supernet-ranks');
await stage('train', async () => {
  for (const d of [widthDir, rankDir]) await fsp.rm(d, { recursive: true, force: true });
  const child = promisify(execFile)(process.execPath, ['--import', 'tsx', here, '--train-child', JSON.stringify(training(DEMO_MODEL_DIR, builtinSearchSpacePath('demo'), rankDir))], {
    maxBuffer: 1 << 26,
  });
  await runSupernetTraining({ ...training(reordered, builtinSearchSpacePath('demo-widths'), widthDir), progress });
  await child;
});

interface Variant {
  readonly name: 'widths' | 'ranks';
  readonly supernet: string;
  readonly spaceFile: string;
  readonly modelDir: string;
}
const variants: Variant[] = [
  { name: 'widths', supernet: widthDir, spaceFile: builtinSearchSpacePath('demo-widths'), modelDir: reordered },
  { name: 'ranks', supernet: rankDir, spaceFile: builtinSearchSpacePath('demo'), modelDir: DEMO_MODEL_DIR },
];

// 3. Latency profiles of the merged form (what is deployed) and lookup tables.
const predictorFile = (v: Variant) => path.join(out, `latency-predictor-${v.name}.json`);
for (const v of variants) {
  await stage(`profile ${v.name}`, async () => {
    const profile = await profileLatency({
      modelDir: v.modelDir,
      spaceFile: v.spaceFile,
      engine: 'onnx',
      form: 'merged',
      threads,
      clock,
      batch,
      seqLen: seq,
      samples: profileSamples,
      passes,
      repeats: 10,
      warmup: 1,
      seed,
      progress: new Progress({ quiet: true }),
    });
    await writeFileAtomic(path.join(out, `latency-profile-${v.name}.json`), `${JSON.stringify(profile, null, 2)}\n`);
    const loaded = await loadSupernet(v.supernet);
    const table = lookupTableFromProfile(loaded.space, profile);
    await savePredictor(predictorFile(v), table, { profile: `latency-profile-${v.name}.json`, engine: profile.engine, clock: profile.clock });
    loaded.adapters.dispose();
    loaded.model.dispose();
  });
}

// 4. Search accuracy vs predicted latency on the onnx engine.
const fronts = new Map<string, ParetoFile>();
for (const v of variants) {
  await stage(`search ${v.name}`, async () => {
    const dir = path.join(out, `search-${v.name}`);
    await fsp.rm(dir, { recursive: true, force: true });
    const result = await runSearch({
      supernet: v.supernet,
      strategy,
      budget,
      objectives: ['accuracy', 'latency'],
      constraints: [],
      seed,
      out: dir,
      engine: 'onnx',
      latencyPredictor: predictorFile(v),
      progress: new Progress({ quiet: true }),
    });
    fronts.set(v.name, result.pareto);
  });
}

// 5. Measure the merged models of max, median and searched subnets, and the full base model.
interface Row {
  readonly variant: string;
  readonly subnet: string;
  readonly key: string;
  readonly widths: string;
  readonly accuracy: number;
  readonly measuredMs: number;
  readonly predictedMs: number;
  speedup: number;
}
const rows: Row[] = [];
const quality: Record<string, ReturnType<typeof evaluatePredictor>> = {};
for (const v of variants) {
  await stage(`measure ${v.name}`, async () => {
    const loaded = await loadSupernet(v.supernet);
    const { space } = loaded;
    const front = fronts.get(v.name)!.front;
    // Up to `frontCount` members spread over the front (sorted by accuracy, best first).
    const picks = front.length <= frontCount ? front : Array.from({ length: frontCount }, (_, i) => front[Math.round((i * (front.length - 1)) / (frontCount - 1))]!);
    // One entry per distinct configuration; a searched subnet equal to a heuristic is named with it.
    const chosen: { name: string; config: Config | undefined }[] = [];
    for (const c of [
      { name: 'full model', config: undefined },
      { name: 'max', config: space.maxConfig() },
      { name: 'median', config: space.medianConfig() },
      ...picks.map((m) => ({ name: `searched #${m.number}`, config: m.config as Config })),
    ]) {
      const key = (x: Config | undefined) => (x ? space.key(x) : '-');
      const same = chosen.find((d) => key(d.config) === key(c.config));
      if (same) same.name = `${same.name} = ${c.name}`;
      else chosen.push({ ...c });
    }
    const scorer = await openSupernetScorer({ supernet: v.supernet, backend: 'wasm', engine: 'onnx', needs: ['accuracy', 'latency'], latencyPredictor: predictorFile(v) });
    const scoredList: ({ accuracy: number } | undefined)[] = [];
    for (const c of chosen) scoredList.push(c.config ? await scorer.measure(c.config) : undefined);
    await scorer.close();
    // The deployed merged model of each configuration; sessions of all of them kept, runs alternating.
    const engine = await createOnnxEngine(loaded.model, loaded.adapters, { form: 'merged', mergedCache: chosen.length, threads });
    const off = new Map([...loaded.adapters.adapters.keys()].map((k) => [k, 0]));
    const full = new Map(loaded.model.mlpWidths());
    const activate = async (config: Config | undefined) => {
      await engine.setRanks(config ? space.activeRanks(config) : off);
      await engine.setWidths(config ? new Map([...full, ...space.activeWidths(config)]) : full);
    };
    const idRng = createRng(`${seed}:widths-bench`);
    const ids = Int32Array.from({ length: batch * seq }, () => idRng.int(256));
    const now = clockFunction(clock);
    const times = chosen.map(() => [] as number[]);
    for (let round = -1; round < repeats; round++) {
      for (let i = 0; i < chosen.length; i++) {
        await activate(chosen[i]!.config);
        const t = now();
        for (let p = 0; p < passes; p++) await engine.logits(ids, batch, seq);
        if (round >= 0) times[i]!.push((now() - t) / passes);
      }
    }
    await engine.dispose();
    const medians = times.map((t) => robustMedian(t).median);
    const fullMs = medians[0]!;
    const predictor = await loadPredictor(predictorFile(v), space);
    chosen.forEach((c, i) => {
      rows.push({
        variant: v.name,
        subnet: c.name,
        key: c.config ? space.key(c.config) : '-',
        widths: c.config && space.hasWidths ? [...space.activeWidths(c.config).values()].join('/') : '704/704/704/704',
        accuracy: scoredList[i]?.accuracy ?? Number.NaN,
        measuredMs: medians[i]!,
        predictedMs: c.config ? predictor.predict(c.config) : Number.NaN,
        speedup: fullMs / medians[i]!,
      });
    });
    const samples = chosen.flatMap((c, i) => (c.config ? [{ config: c.config, value: medians[i]! }] : []));
    quality[v.name] = evaluatePredictor(predictor, samples);
    loaded.adapters.dispose();
    loaded.model.dispose();
  });
}

const loadAfter = loadavg();
console.log(
  formatTable(
    ['space', 'subnet', 'key', 'MLP widths', 'accuracy', `measured ms (${clock})`, 'speedup vs full', 'predicted ms'],
    rows.map((r) => [r.variant, r.subnet, r.key, r.widths, Number.isNaN(r.accuracy) ? '-' : `${(r.accuracy * 100).toFixed(0)}%`, r.measuredMs.toFixed(2), `${r.speedup.toFixed(2)}x`, Number.isNaN(r.predictedMs) ? '-' : r.predictedMs.toFixed(2)]),
  ),
);
console.log(
  formatTable(
    ['space', 'predictor on these subnets', 'n', 'within ±10%', 'Kendall tau'],
    Object.entries(quality).map(([k, q]) => [k, 'lookup table (merged-form profile)', q.n, `${(q.within10 * 100).toFixed(0)}%`, Number.isFinite(q.kendallTau) ? q.kendallTau.toFixed(2) : 'n/a']),
  ),
);
console.log(`reorder: logits max |diff| ${reorder.logits.maxAbsDiff.toExponential(2)}; stages (s): ${Object.entries(timings).map(([k, s]) => `${k} ${s.toFixed(0)}`).join(', ')}`);
console.log(`load average after: ${loadAfter}`);
console.log(
  JSON.stringify({
    benchmark: 'widths',
    steps,
    rule,
    lr,
    budget,
    strategy,
    clock,
    threads,
    batch,
    seq,
    passes,
    repeats,
    seed,
    loadBefore,
    loadAfter,
    seconds: (performance.now() - started) / 1000,
    timings,
    reorderMaxAbsDiff: reorder.logits.maxAbsDiff,
    rows,
    predictor: quality,
    out: existsSync(out) ? out : null,
  }),
);
