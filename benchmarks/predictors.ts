/**
 * Latency predictor accuracy: profiles the demo model (models/demo) on the demo search space
 * (search-spaces/demo.json) with each clock given, one profile after the other, and validates
 * the lookup table (built from the per-gene terms), ridge and MLP (fitted on 75% of the measured
 * configurations) on held-out configurations, against the project's targets (within ±10% >= 95%,
 * Kendall tau >= 0.9). The profiles are written to --out so they can be validated again.
 *
 *   npx tsx benchmarks/predictors.ts [--clocks wall,cpu] [--batch 1] [--seq 64] [--repeats 15]
 *       [--warmup 1] [--samples 40] [--validation-method paired] [--seed 0] [--out DIR]
 *       [--space demo|demo-widths|FILE] [--engine tfjs|onnx] [--form merged|unmerged] [--threads N] [--passes N]
 *
 * `--space demo-widths --engine onnx --form merged --threads 1 --clocks cpu --batch 8 --passes 4`
 * profiles the elastic-width space (LoNAS mode B) as a user deploys it: each configuration's
 * merged, narrowed model on onnxruntime, where configurations really differ in latency.
 *
 * (defaults: PROFILE_DEFAULTS of src/predict/profile.ts, except --clocks)
 *   # validate saved profiles instead of measuring
 *   npx tsx benchmarks/predictors.ts --profile DIR/latency-profile-wall.json[,DIR/latency-profile-cpu.json]
 *
 * Rows "(raw)" validate the same profile with each validation configuration's own runs (`rawMs`,
 * not corrected for drift) instead of `allMin + paired difference`, to show what pairing buys.
 * Prints the load average (as `uptime` reports it) before and after, a table, and one JSON line.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LATENCY_PREDICTOR_TARGETS } from '../src/cli/commands/profile.js';
import { parseClock } from '../src/predict/measure.js';
import { type LatencyProfile, type ValidationMethod, parseValidationMethod, PROFILE_DEFAULTS, profileLatency, readLatencyProfile, validateProfile, type ProfileValidation } from '../src/predict/profile.js';
import { readHfConfig } from '../src/model/hf-config.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../src/space/index.js';
import type { EngineName, OnnxForm } from '../src/engine/types.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL_DIR = path.join(here, '..', 'models', 'demo');
const spaceArg = arg('space', 'demo');
const SPACE_FILE = /[\\/]|\.json$/.test(spaceArg) ? path.resolve(spaceArg) : builtinSearchSpacePath(spaceArg);
const engine = arg('engine', 'tfjs') as EngineName;
const form = arg('form', 'unmerged') as OnnxForm;
const threadsArg = arg('threads', '');
const passes = Number(arg('passes', '1'));
const seed = Number(arg('seed', '0'));
const out = path.resolve(arg('out', path.join(os.tmpdir(), 'nls-predictors-bench')));
const loadavg = (): string => os.loadavg().map((v) => v.toFixed(2)).join(', ');

const started = performance.now();
const loadBefore = loadavg();
console.log(`load average before: ${loadBefore} (${os.cpus().length} cores); space ${path.basename(SPACE_FILE)}, engine ${engine}${engine === 'onnx' ? ` (${form}, threads ${threadsArg || 'all'})` : ''}, passes ${passes}`);

const profiles: LatencyProfile[] = [];
const given = arg('profile', '');
if (given) {
  for (const file of given.split(',')) profiles.push(await readLatencyProfile(file));
} else {
  await fsp.mkdir(out, { recursive: true });
  for (const c of arg('clocks', 'wall,cpu').split(',')) {
    const clock = parseClock(c, '--clocks');
    const t0 = performance.now();
    const profile = await profileLatency({
      modelDir: MODEL_DIR,
      spaceFile: SPACE_FILE,
      backend: 'wasm',
      batch: Number(arg('batch', String(PROFILE_DEFAULTS.batch))),
      seqLen: Number(arg('seq', String(PROFILE_DEFAULTS.seqLen))),
      repeats: Number(arg('repeats', String(PROFILE_DEFAULTS.repeats))),
      warmup: Number(arg('warmup', String(PROFILE_DEFAULTS.warmup))),
      samples: Number(arg('samples', String(PROFILE_DEFAULTS.samples))),
      validationMethod: parseValidationMethod(arg('validation-method', PROFILE_DEFAULTS.validationMethod), '--validation-method'),
      clock,
      seed,
      ...(engine === 'onnx' ? { engine, form, ...(threadsArg ? { threads: Number(threadsArg) } : {}) } : {}),
      ...(passes > 1 ? { passes } : {}),
    });
    const file = path.join(out, `latency-profile-${clock}.json`);
    await writeFileAtomic(file, `${JSON.stringify(profile, null, 2)}\n`);
    console.log(`${clock}: profiled in ${((performance.now() - t0) / 1000).toFixed(1)} s (load average now ${loadavg()}), wrote ${file}`);
    profiles.push(profile);
  }
}

const space = await loadAndResolveSearchSpace(SPACE_FILE, { numLayers: (await readHfConfig(MODEL_DIR)).numHiddenLayers });

interface Row {
  readonly clock: string;
  readonly values: ValidationMethod | 'raw';
  readonly validation: ProfileValidation;
}
const rows: Row[] = [];
for (const profile of profiles) {
  rows.push({ clock: profile.clock, values: profile.validationMethod, validation: await validateProfile(space, profile, { seed }) });
  // The same profile with each configuration's own runs: what the validation values would be without pairing.
  if (profile.validationMethod === 'paired' && profile.measured.every((m) => m.rawMs !== undefined)) {
    const raw: LatencyProfile = { ...profile, measured: profile.measured.map((m) => ({ ...m, ms: m.rawMs! })) };
    rows.push({ clock: profile.clock, values: 'raw', validation: await validateProfile(space, raw, { seed, predictors: ['lookup-table'] }) });
  }
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const num = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const meets = (q: { within10: number; kendallTau: number }): boolean => q.within10 >= LATENCY_PREDICTOR_TARGETS.within10 && q.kendallTau >= LATENCY_PREDICTOR_TARGETS.kendallTau;

console.log('');
for (const p of profiles) {
  const ms = p.measured.map((m) => m.ms);
  console.log(
    `${p.clock}: [${p.batch}, ${p.seqLen}] tokens, warmup ${p.warmup}, repeats ${p.repeats}, validation ${p.validationMethod}; base ${p.base.toFixed(2)} ms, all-min ${p.allMin.toFixed(2)} ms, ` +
      `${p.measured.length} configurations ${Math.min(...ms).toFixed(2)} .. ${Math.max(...ms).toFixed(2)} ms, ${p.rejected} outliers dropped, ${p.seconds.toFixed(1)} s`,
  );
}
console.log(`split: ${rows[0]!.validation.split.train} train / ${rows[0]!.validation.split.validation} held-out (seed ${seed})\n`);
const table = rows.flatMap((r) =>
  r.validation.results.map((v) => [
    r.clock,
    r.values,
    v.predictor,
    v.evaluatedOn,
    String(v.quality.n),
    pct(v.quality.mape),
    num(v.quality.rmse, 3),
    pct(v.quality.within5),
    pct(v.quality.within10),
    num(v.quality.kendallTau, 3),
    meets(v.quality) ? 'yes' : 'no',
  ]),
);
console.log(formatTable(['clock', 'values', 'predictor', 'evaluated on', 'n', 'MAPE', 'RMSE ms', 'within ±5%', 'within ±10%', 'Kendall tau', 'targets'], table));
const loadAfter = loadavg();
const seconds = (performance.now() - started) / 1000;
console.log(`\nload average after: ${loadAfter}; ${seconds.toFixed(1)} s`);
console.log(
  JSON.stringify({
    benchmark: 'predictors',
    space: path.basename(SPACE_FILE),
    engine,
    ...(engine === 'onnx' ? { form, threads: threadsArg ? Number(threadsArg) : null } : {}),
    passes,
    date: new Date().toISOString(),
    loadAverage: { before: loadBefore, after: loadAfter },
    targets: LATENCY_PREDICTOR_TARGETS,
    profiles: profiles.map((p) => ({
      clock: p.clock,
      validationMethod: p.validationMethod,
      batch: p.batch,
      seqLen: p.seqLen,
      warmup: p.warmup,
      repeats: p.repeats,
      base: p.base,
      allMin: p.allMin,
      measured: p.measured.length,
      rejected: p.rejected,
      seconds: p.seconds,
    })),
    results: rows.flatMap((r) => r.validation.results.map((v) => ({ clock: r.clock, values: r.values, predictor: v.predictor, evaluatedOn: v.evaluatedOn, ...v.quality, targetsMet: meets(v.quality) }))),
    seconds,
  }),
);
