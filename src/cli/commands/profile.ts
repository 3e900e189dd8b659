/** `nls profile`: measure forward latency per adapter rank and write a latency lookup table. */
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { resolveEngine } from '../../engine/select.js';
import { ENGINE_REQUESTS, type EngineRequest, type OnnxForm } from '../../engine/types.js';
import { savePredictor } from '../../predict/predictor.js';
import { MEASURE_CLOCKS, type MeasureClock } from '../../predict/measure.js';
import {
  type LatencyProfile,
  lookupTableFromProfile,
  PROFILE_DEFAULTS,
  type ProfileValidation,
  profileLatency,
  VALIDATION_METHODS,
  type ValidationMethod,
  validateProfile,
} from '../../predict/profile.js';
import { modelFolderOf } from '../../model/demo-model.js';
import { loadAndResolveSearchSpace } from '../../space/index.js';
import { writeFileAtomic } from '../../util/fs.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface ProfileArgs extends GlobalOptions {
  model: string;
  space: string;
  out: string;
  batch: number;
  seq: number;
  samples: number;
  warmup: number;
  repeats: number;
  clock: MeasureClock;
  engine: EngineRequest;
  threads?: number;
  form?: OnnxForm;
  passes: number;
  'validation-method': ValidationMethod;
  'settle-ms'?: number;
  validate: boolean;
}

/** File names written to `--out`. */
export const PROFILE_FILES = {
  profile: 'latency-profile.json',
  predictor: 'latency-predictor.json',
  quality: 'predictor-quality.json',
} as const;

/** The project's targets for a latency predictor on the demo model (docs/profiling.md). */
export const LATENCY_PREDICTOR_TARGETS = { within10: 0.95, kendallTau: 0.9 } as const;

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** The quality table printed by `nls profile --validate`. */
export function formatQualityTable(validation: ProfileValidation): string {
  return formatTable(
    ['predictor', 'fitted on', 'evaluated on', 'n', 'MAPE', 'RMSE ms', 'within ±5%', 'within ±10%', 'Kendall tau'],
    validation.results.map((r) => [
      r.predictor,
      r.fittedOn,
      r.evaluatedOn,
      String(r.quality.n),
      pct(r.quality.mape),
      num(r.quality.rmse, 3),
      pct(r.quality.within5),
      pct(r.quality.within10),
      num(r.quality.kendallTau, 3),
    ]),
  );
}

function summary(profile: LatencyProfile): string {
  const ms = profile.measured.map((m) => m.ms);
  return [
    `${profile.engine?.name === 'onnx' ? `engine onnx (${profile.engine.threads} threads, model loaded with ${profile.backend.name})` : `backend ${profile.backend.name}${profile.backend.device ? ` (${profile.backend.device})` : ''}`}, [${profile.batch}, ${profile.seqLen}] tokens, ` +
      `${profile.clock} clock, warmup ${profile.warmup}, repeats ${profile.repeats}, validation ${profile.validationMethod}, ${profile.seconds.toFixed(1)} s`,
    `base (adapters off) ${profile.base.toFixed(3)} ms; all-min ${profile.allMin.toFixed(3)} ms; ${profile.measured.length} configurations measured: ` +
      `${Math.min(...ms).toFixed(3)} .. ${Math.max(...ms).toFixed(3)} ms; ${profile.rejected} outlier runs dropped`,
  ].join('\n');
}

/** The `nls profile` command. */
export const profileCommand: CommandModule<GlobalOptions, ProfileArgs> = {
  command: 'profile',
  describe: 'measure forward latency per adapter rank (and MLP width); write a latency profile and a lookup-table latency predictor',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder (config.json + model.safetensors), or demo for the shipped demo model' })
      .option('space', { type: 'string', demandOption: true, describe: 'search-space file whose adapters are profiled' })
      .option('out', { type: 'string', demandOption: true, describe: `output folder: ${PROFILE_FILES.profile}, ${PROFILE_FILES.predictor} [, ${PROFILE_FILES.quality}]` })
      .option('batch', { ...numberArg('batch', 'positive integer'), default: PROFILE_DEFAULTS.batch, describe: 'sequences per forward pass' })
      .option('seq', { ...numberArg('seq', 'positive integer'), default: PROFILE_DEFAULTS.seqLen, describe: 'tokens per sequence' })
      .option('samples', { ...numberArg('samples', 'non-negative integer'), default: PROFILE_DEFAULTS.samples, describe: 'random configurations measured besides max, min and median (for validation)' })
      .option('warmup', { ...numberArg('warmup', 'non-negative integer'), default: PROFILE_DEFAULTS.warmup, describe: 'untimed runs before each measurement' })
      .option('repeats', { ...numberArg('repeats', 'positive integer'), default: PROFILE_DEFAULTS.repeats, describe: 'timed runs per measurement (median after outlier rejection)' })
      .option('clock', {
        choices: MEASURE_CLOCKS,
        default: PROFILE_DEFAULTS.clock as MeasureClock,
        describe: 'wall: elapsed time (the latency a user sees; needs an idle machine); cpu: process CPU time (for single-threaded backends on a loaded machine; refused with several threads)',
      })
      .option('validation-method', {
        choices: VALIDATION_METHODS,
        default: PROFILE_DEFAULTS.validationMethod as ValidationMethod,
        describe: 'paired: each validation configuration as a difference to all-min in ABBA pairs (drift-robust); round-robin: all interleaved, one run of each per round (drift-robust; keeps a merged onnx session per configuration); independent: each on its own',
      })
      .option('engine', {
        choices: ENGINE_REQUESTS,
        default: 'tfjs' as EngineRequest,
        describe: 'what runs the forward passes: tfjs (on --backend), onnx (ONNX Runtime, unmerged adapters at their rank, as deployed; use --clock wall, or --threads 1 for the cpu clock), or auto (onnx when it loads here). Recorded in the profile and the predictor',
      })
      .option('threads', { ...numberArg('threads', 'positive integer'), describe: 'onnx: intra-op threads of the session (default: every core)' })
      .option('form', {
        choices: ['unmerged', 'merged'] as const,
        describe: 'onnx: unmerged (default: adapters at their rank on the low-rank path, MLP cut in the graph for width genes) or merged (each configuration merged and exported at its MLP widths: the deployed smaller model, docs/widths.md)',
      })
      .option('passes', { ...numberArg('passes', 'positive integer'), default: 1, describe: 'forward passes per timed run (latencies are per pass): more than 1 times each configuration mostly with warm caches, as a deployed model runs' })
      .option('settle-ms', { ...numberArg('settle-ms', 'non-negative integer'), describe: 'untimed forward passes for this long before measuring (default 2000; 0 with --warmup 0)' })
      .option('validate', { type: 'boolean', default: false, describe: `print predictor quality (lookup table and ridge) and write ${PROFILE_FILES.quality}` }),
  handler: async (argv) => {
    const progress = progressFor(argv);
    const profile = await profileLatency({
      modelDir: modelFolderOf(argv.model),
      spaceFile: argv.space,
      backend: argv.backend,
      engine: await resolveEngine(argv.engine),
      ...(argv.threads !== undefined ? { threads: argv.threads } : {}),
      ...(argv.form !== undefined ? { form: argv.form } : {}),
      passes: argv.passes,
      batch: argv.batch,
      seqLen: argv.seq,
      samples: argv.samples,
      seed: argv.seed,
      warmup: argv.warmup,
      repeats: argv.repeats,
      clock: argv.clock,
      validationMethod: argv['validation-method'],
      ...(argv['settle-ms'] !== undefined ? { settleMs: argv['settle-ms'] } : {}),
      progress,
    });
    const space = await loadAndResolveSearchSpace(argv.space, { numLayers: await numLayersOf(modelFolderOf(argv.model)) });
    const files: Record<string, string> = {};
    files.profile = path.join(argv.out, PROFILE_FILES.profile);
    await writeFileAtomic(files.profile, `${JSON.stringify(profile, null, 2)}\n`);
    files.predictor = path.join(argv.out, PROFILE_FILES.predictor);
    await savePredictor(files.predictor, lookupTableFromProfile(space, profile), { profile: PROFILE_FILES.profile, engine: profile.engine, backend: profile.backend.name, clock: profile.clock });
    let validation: ProfileValidation | undefined;
    if (argv.validate) {
      validation = await validateProfile(space, profile, { seed: argv.seed });
      files.quality = path.join(argv.out, PROFILE_FILES.quality);
      const doc = {
        format: 'nls-predictor-quality/1',
        profile: PROFILE_FILES.profile,
        space: { name: profile.space.name, fingerprint: profile.space.fingerprint },
        backend: profile.backend.name,
        engine: profile.engine,
        targets: LATENCY_PREDICTOR_TARGETS,
        ...validation,
      };
      await writeFileAtomic(files.quality, `${JSON.stringify(doc, null, 2)}\n`);
    }
    emit(
      argv,
      {
        files,
        backend: profile.backend,
        engine: profile.engine,
        clock: profile.clock,
        validationMethod: profile.validationMethod,
        base: profile.base,
        allMin: profile.allMin,
        measured: profile.measured.length,
        rejected: profile.rejected,
        seconds: profile.seconds,
        ...(validation ? { validation } : {}),
      },
      () =>
        [
          summary(profile),
          ...(validation ? ['', `validation split: ${validation.split.train} train / ${validation.split.validation} held-out (seed ${validation.split.seed})`, formatQualityTable(validation)] : []),
          '',
          `wrote ${Object.values(files).join(', ')}`,
        ].join('\n'),
    );
  },
};

/** Number of decoder layers of a model folder (its config.json), to resolve the search space. */
async function numLayersOf(dir: string): Promise<number> {
  const { readModelConfig } = await import('../../model/model-folder.js');
  return (await readModelConfig(dir)).numHiddenLayers;
}
