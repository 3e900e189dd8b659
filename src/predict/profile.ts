/**
 * Latency profiling of a model with elastic LoRA adapters, and the latency predictors fitted
 * from a profile (the `nls profile` command; see docs/profiling.md).
 *
 * {@link profileLatency} measures the forward latency of the base model (adapters off), of the
 * all-min configuration, of every single-gene change of it (the per-(gene, choice) terms of a
 * Once-for-All lookup table) and of random configurations for validation
 * ({@link measureProfile} is the measurement plan, independent of tfjs).
 * {@link lookupTableFromProfile} turns the terms into a {@link LookupTablePredictor};
 * {@link validateProfile} measures how well it, and a ridge regression fitted on the measured
 * configurations, predict them.
 *
 * tfjs, the model and the adapters are imported only inside {@link profileLatency}, so building
 * and validating predictors from a saved profile never loads TensorFlow.js.
 */
import { NlsError } from '../errors.js';
import type { AdapterSet } from '../adapters/adapter-set.js';
import type { BackendInfo, BackendRequest } from '../backend/types.js';
import type { EngineInfo, EngineName, OnnxForm } from '../engine/types.js';
import type { Config, SearchSpace } from '../space/index.js';
import { createRng } from '../util/rng.js';
import type { Progress } from '../util/progress.js';
import { LookupTablePredictor } from './lookup-table.js';
import { checkClockForBackend, type MeasureClock, measureMedian, measurePairedDifference, measureRoundRobin, parseClock, robustMedian } from './measure.js';
import type { Predictor, PredictorSample } from './predictor.js';
import { evaluatePredictor, type PredictorQuality, splitSamples } from './quality.js';
import { DEFAULT_RIDGE_LAMBDA, RidgePredictor } from './ridge.js';

/** Format tag of latency profiles. */
export const LATENCY_PROFILE_FORMAT = 'nls-latency-profile/1';

/**
 * How the validation configurations of a profile were measured:
 *
 * - `paired`: each in interleaved ABBA pairs with the all-min configuration
 *   ({@link measurePairedDifference}), `ms = allMin + median paired difference`, like the
 *   per-gene terms; cancels drift of the machine between configurations.
 * - `independent`: each on its own ({@link measureMedian}), `ms` = robust median of its runs (the
 *   only method before the field existed).
 * - `round-robin`: all of them interleaved, one timed run of each per round (order reversed every
 *   other round), for `repeats` rounds; `ms` = robust median of each one's runs. Drift of the
 *   machine then lands on every configuration alike instead of on whichever was measured during
 *   it. With the merged onnx form this keeps one session per configuration.
 */
export type ValidationMethod = 'paired' | 'independent' | 'round-robin';

/** Every {@link ValidationMethod}. */
export const VALIDATION_METHODS: readonly ValidationMethod[] = ['paired', 'independent', 'round-robin'];

/** Where a measured configuration of a profile came from. */
export type MeasuredSource = 'max' | 'min' | 'median' | 'random';

/** Forward latency of one configuration of the space. */
export interface MeasuredLatency {
  /** The configuration's key ({@link SearchSpace.key}). */
  readonly key: string;
  /** Choice index per gene. */
  readonly config: number[];
  /**
   * Forward latency, milliseconds per batch: `allMin` + the median paired difference to the
   * all-min configuration (method `paired`), or the robust median of its own runs (`independent`).
   */
  readonly ms: number;
  /**
   * Robust median of this configuration's own timed runs (for `paired`: its runs within the
   * pairs), not corrected for drift. Equal to `ms` for `independent`; absent in older profiles.
   */
  readonly rawMs?: number;
  /** Why it was measured: the supernet (`max`), `min`, `median`, or a `random` draw. */
  readonly source: MeasuredSource;
}

/** The `nls-latency-profile/1` document written by `nls profile` (latency-profile.json). */
export interface LatencyProfile {
  /** Always {@link LATENCY_PROFILE_FORMAT}. */
  readonly format: typeof LATENCY_PROFILE_FORMAT;
  /** When the profile was measured (ISO 8601). */
  readonly createdAt: string;
  /** The backend the latencies were measured on, as `initBackend` reported it (with the onnx engine: the backend that loaded the model). */
  readonly backend: BackendInfo;
  /**
   * The engine that ran the forward passes (docs/engines.md): `tfjs` on `backend`, or `onnx`
   * (`form: 'unmerged'`: the low-rank adapter path and sliced feeds, so the work follows the ranks
   * as a deployed unmerged adapter's does; `form: 'merged'`: each configuration's merged model,
   * MLPs cut to its widths). Absent in profiles written before engines existed, which were all
   * measured with tfjs.
   */
  readonly engine?: EngineInfo;
  /** Versions: `tfjs` (tfjs-core), `node`, plus those the backend reported. */
  readonly versions: Readonly<Record<string, string>>;
  /** The model folder profiled. */
  readonly modelDir: string;
  /**
   * The search space: name, fingerprint and each gene's label and choices (`ranks` holds the
   * width choices of a width gene, marked `kind: 'width'`).
   */
  readonly space: {
    readonly name: string;
    readonly fingerprint: string;
    readonly genes: readonly { readonly label: string; readonly ranks: readonly number[]; readonly kind?: 'width' }[];
  };
  /** Sequences per forward pass. */
  readonly batch: number;
  /** Tokens per sequence. */
  readonly seqLen: number;
  /**
   * Clock of every measurement (`wall` or `cpu`, see {@link MeasureClock}). Profiles written
   * before the field existed were measured with `wall`; {@link parseLatencyProfile} fills that in.
   */
  readonly clock: MeasureClock;
  /** How the validation configurations were measured; `independent` in older profiles. */
  readonly validationMethod: ValidationMethod;
  /** Untimed runs before each measurement. */
  readonly warmup: number;
  /** Timed runs (or run pairs, for the terms) per measurement. */
  readonly repeats: number;
  /** Milliseconds of untimed forward passes before the first measurement. */
  readonly settleMs: number;
  /**
   * Genes whose terms were not measured but set to 0 because their choice cannot change the
   * timed work (`form: 'merged'`: the rank genes; absent: every gene was measured).
   */
  readonly fixedGenes?: readonly number[];
  /**
   * Forward passes per timed run (absent: 1). Every latency of the profile is per forward pass:
   * a run's time divided by this. More than 1 times a configuration mostly with warm caches, as a
   * deployed model runs, after switching to it.
   */
  readonly passes?: number;
  /** Seed of the random configurations and token ids. */
  readonly seed: number;
  /** Random configurations requested (before dropping duplicates). */
  readonly samples: number;
  /** Latency with every adapter off (rank 0 everywhere), ms per batch. */
  readonly base: number;
  /** Latency of the all-min configuration (every gene at its smallest rank), ms per batch: robust median of its runs in all the pairs (terms, and validation when paired). */
  readonly allMin: number;
  /**
   * `terms[g][c]`: latency of the all-min configuration with gene `g` at choice `c`, minus
   * that of the all-min configuration (median of paired differences); 0 for the smallest choice
   * (not measured: it is the all-min configuration).
   */
  readonly terms: number[][];
  /** Measured configurations (max, min, median, then the random draws), without duplicates. */
  readonly measured: MeasuredLatency[];
  /** Timed runs (for the terms: run pairs) dropped as outliers over the whole profile. */
  readonly rejected: number;
  /** Wall-clock seconds the profile took (loading included). */
  readonly seconds: number;
}

/** Defaults of {@link profileLatency} and `nls profile` (chosen from measurements, see docs/profiling.md). */
export const PROFILE_DEFAULTS = {
  batch: 1,
  seqLen: 64,
  samples: 40,
  warmup: 1,
  repeats: 15,
  clock: 'cpu',
  validationMethod: 'paired',
} as const satisfies {
  batch: number;
  seqLen: number;
  samples: number;
  warmup: number;
  repeats: number;
  clock: MeasureClock;
  validationMethod: ValidationMethod;
};

/** Options of {@link profileLatency}. */
export interface ProfileLatencyOptions {
  /** HF model folder (config.json + model.safetensors). */
  readonly modelDir: string;
  /** Search-space file (`nls-search-space/1`), resolved for the model's number of layers. */
  readonly spaceFile: string;
  /** tfjs backend (default `wasm`): runs the forward passes with the tfjs engine, loads the model with onnx. */
  readonly backend?: BackendRequest;
  /** Engine running the forward passes (default `tfjs`; resolve `auto` with `resolveEngine` first). */
  readonly engine?: EngineName;
  /** onnx: intra-op threads of the session (default: every core). With more than 1, the `cpu` clock is refused. */
  readonly threads?: number;
  /**
   * onnx: what is timed. `unmerged` (default): the unmerged graph with the low-rank adapter path
   * and sliced feeds (the work follows the ranks, as a deployed unmerged adapter's does; with
   * width genes the MLP is cut in the graph). `merged`: the deployed merged model of each
   * configuration, adapters merged and MLPs cut to the widths (the smaller model `nls merge`
   * exports): ranks then cost nothing and widths everything. Sessions of two configurations are
   * kept, so paired measurements do not rebuild them.
   */
  readonly form?: OnnxForm;
  /** Sequences per forward pass (default {@link PROFILE_DEFAULTS}). */
  readonly batch?: number;
  /** Tokens per sequence (default {@link PROFILE_DEFAULTS}). */
  readonly seqLen?: number;
  /** Random configurations to measure besides max, min and median (default {@link PROFILE_DEFAULTS}). */
  readonly samples?: number;
  /** Seed of the random configurations and token ids (default 0). */
  readonly seed?: number;
  /** Untimed runs before each measurement (default {@link PROFILE_DEFAULTS}). */
  readonly warmup?: number;
  /** Timed runs per measurement (default {@link PROFILE_DEFAULTS}). */
  readonly repeats?: number;
  /**
   * Clock of the measurements (default {@link PROFILE_DEFAULTS}); `cpu` is refused for a
   * backend computing with several threads ({@link checkClockForBackend}).
   */
  readonly clock?: MeasureClock;
  /** How the validation configurations are measured (default {@link PROFILE_DEFAULTS}). */
  readonly validationMethod?: ValidationMethod;
  /**
   * Milliseconds of untimed forward passes before the first measurement, so that JIT and
   * allocator warm-up do not bias it (default 2000, or 0 when `warmup` is 0).
   */
  readonly settleMs?: number;
  /**
   * Forward passes per timed run (default 1); the profile's latencies are per pass (see
   * {@link LatencyProfile.passes}).
   */
  readonly passes?: number;
  /** Where to report progress (stderr); none by default. */
  readonly progress?: Progress;
}

function positiveInt(value: number, field: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new NlsError(`must be an integer >= ${min}, got ${String(value)}; fix: pass e.g. --${field} ${Math.max(min, 1)}`, { field });
  }
  return value;
}

/**
 * The configurations measured for validation: max, min and median, then `samples` draws of
 * `space.sample` from `createRng(seed)`; later duplicates of a key are dropped (not redrawn).
 */
export function profileConfigs(space: SearchSpace, samples: number, seed: number): { config: Config; source: MeasuredSource }[] {
  const rng = createRng(seed);
  const all: { config: Config; source: MeasuredSource }[] = [
    { config: space.maxConfig(), source: 'max' },
    { config: space.minConfig(), source: 'min' },
    { config: space.medianConfig(), source: 'median' },
  ];
  for (let i = 0; i < samples; i++) all.push({ config: space.sample(rng), source: 'random' });
  const seen = new Set<string>();
  return all.filter((c) => {
    const key = space.key(c.config);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Runs one forward pass with the given active ranks (adapter key to rank; 0 = adapter off) and,
 * for spaces with width genes, MLP widths (layer to width; empty for a rank-only space).
 */
export type ProfileRunner = (ranks: ReadonlyMap<string, number>, widths: ReadonlyMap<number, number>) => Promise<void> | void;

/** Options of {@link measureProfile}. */
export interface ProfileMeasurementOptions {
  /** Random configurations to measure besides max, min and median. */
  readonly samples: number;
  /** Seed of the random configurations. */
  readonly seed: number;
  /** Untimed runs (or run pairs) before each measurement. */
  readonly warmup: number;
  /** Timed runs (or run pairs) per measurement. */
  readonly repeats: number;
  /** Clock of the measurements (default `wall`); ignored when `now` is given. */
  readonly clock?: MeasureClock;
  /** Millisecond clock overriding `clock`, to test the plan with a synthetic clock. */
  readonly now?: () => number;
  /** How the validation configurations are measured (default `paired`). */
  readonly validationMethod?: ValidationMethod;
  /**
   * Genes whose choice cannot change what is timed (the rank genes of a merged model, whose shape
   * and work do not depend on the rank): their terms are 0 and are not measured. Validation
   * configurations are still measured whole, so the lookup table's quality stays checked.
   */
  readonly fixedGenes?: readonly number[];
  /** Where to report progress; none by default. */
  readonly progress?: Progress;
}

/** The measured part of a {@link LatencyProfile}. */
export interface ProfileMeasurements {
  /** See {@link LatencyProfile.base}. */
  readonly base: number;
  /** See {@link LatencyProfile.allMin}. */
  readonly allMin: number;
  /** See {@link LatencyProfile.terms}. */
  readonly terms: number[][];
  /** See {@link LatencyProfile.measured}. */
  readonly measured: MeasuredLatency[];
  /** See {@link LatencyProfile.rejected}. */
  readonly rejected: number;
}

/**
 * The measurement plan of a latency profile, given a function that runs one forward pass with
 * some active ranks (no tfjs here, so the plan can be tested with a synthetic clock):
 *
 * 1. the base model (every adapter at rank 0), on its own ({@link measureMedian});
 * 2. for each gene and each choice but the smallest, the all-min configuration (every gene at
 *    its smallest rank) with that gene changed, each as a difference to the all-min
 *    configuration measured in interleaved pairs ({@link measurePairedDifference}):
 *    `terms[g][c]` is that difference (it can come out negative when it is below the noise);
 * 3. the configurations of {@link profileConfigs} (max, min, median and `samples` random ones):
 *    with method `paired`, each as a paired difference `d` to the all-min configuration like the
 *    terms, `ms = allMin + d`; with `independent`, each on its own.
 *
 * `allMin` is the outlier-robust median of all the all-min runs of the pairs (steps 2 and 3), so
 * it is measured many times, spread over the whole profile.
 */
export async function measureProfile(space: SearchSpace, run: ProfileRunner, options: ProfileMeasurementOptions): Promise<ProfileMeasurements> {
  const { samples, seed, warmup, repeats, progress } = options;
  const method = options.validationMethod ?? 'paired';
  const timing = { warmup, repeats, ...(options.now ? { now: options.now } : { clock: options.clock ?? 'wall' }) };
  const configs = profileConfigs(space, samples, seed);
  const fixed = new Set(options.fixedGenes ?? []);
  const termCount = space.choiceCounts.reduce((s, n, g) => s + (fixed.has(g) ? 0 : n - 1), 0);
  const total = 1 + termCount + configs.length;
  let step = 0;
  let rejected = 0;
  progress?.log(
    `profiling ${space.name} (${space.size} genes, ${termCount} per-gene terms, ${configs.length} configurations, ${method}) ` +
      `with the ${options.now ? 'given' : (options.clock ?? 'wall')} clock, warmup ${warmup}, repeats ${repeats}`,
  );
  const minConfig = space.minConfig();
  const minRanks = space.activeRanks(minConfig);
  const minWidths = space.activeWidths(minConfig);
  const off = new Map(space.adapterPlan().map((e) => [e.key, 0]));
  // The base model: adapters off, every MLP at its largest width.
  const fullWidths = space.activeWidths(space.maxConfig());

  progress?.start('profile', total);
  const allMinRuns: number[] = [];
  /** Paired measurement of `config` against the all-min configuration. */
  const paired = async (config: Config): Promise<{ diff: number; rawMs: number }> => {
    const ranks = space.activeRanks(config);
    const widths = space.activeWidths(config);
    const m = await measurePairedDifference(
      () => run(minRanks, minWidths),
      () => run(ranks, widths),
      timing,
    );
    rejected += m.rejected;
    allMinRuns.push(...m.aMs);
    return { diff: m.medianDiffMs, rawMs: robustMedian(m.bMs).median };
  };

  const baseRun = await measureMedian(() => run(off, fullWidths), timing);
  rejected += baseRun.rejected;
  const base = baseRun.medianMs;
  progress?.step(++step, { config: 'base (adapters off)', ms: base });
  const terms: number[][] = [];
  for (let g = 0; g < space.size; g++) {
    const n = space.choiceCounts[g] ?? 0;
    const row = new Array<number>(n).fill(0);
    for (let c = 0; c < (fixed.has(g) ? 0 : n - 1); c++) {
      const config = [...minConfig];
      config[g] = c;
      const { diff } = await paired(config);
      row[c] = diff;
      progress?.step(++step, { gene: `${space.label(g)}=${space.instances[g]?.kind === 'width' ? 'w' : ''}${space.instances[g]?.choices[c]}`, 'Δms': diff });
    }
    terms.push(row);
  }

  // Validation: with `paired`, only the differences are kept until the end, so that `allMin`
  // (added back to every one of them) includes the all-min runs of the validation pairs too.
  const rows: { key: string; config: number[]; source: MeasuredSource; diff: number; rawMs: number }[] = [];
  if (method === 'round-robin') {
    const ms = await measureRoundRobin(
      configs.map(({ config }) => {
        const ranks = space.activeRanks(config);
        const widths = space.activeWidths(config);
        return () => run(ranks, widths);
      }),
      timing,
      (r) => progress?.log(`round ${r}/${repeats} of ${configs.length} configurations`),
    );
    configs.forEach(({ config, source }, i) => {
      const m = ms[i]!;
      rejected += m.rejected;
      rows.push({ key: space.key(config), config: [...config], source, diff: Number.NaN, rawMs: m.medianMs });
      progress?.step(++step, { config: `${source} ${space.key(config)}`, ms: m.medianMs });
    });
  } else {
    for (const { config, source } of configs) {
      const key = space.key(config);
      if (method === 'paired') {
        const m = await paired(config);
        rows.push({ key, config: [...config], source, ...m });
        progress?.step(++step, { config: `${source} ${key}`, 'Δms': m.diff });
      } else {
        const ranks = space.activeRanks(config);
        const widths = space.activeWidths(config);
        const m = await measureMedian(() => run(ranks, widths), timing);
        rejected += m.rejected;
        rows.push({ key, config: [...config], source, diff: Number.NaN, rawMs: m.medianMs });
        progress?.step(++step, { config: `${source} ${key}`, ms: m.medianMs });
      }
    }
  }
  const allMin = robustMedian(allMinRuns).median;
  const measured: MeasuredLatency[] = rows.map((r) => ({
    key: r.key,
    config: r.config,
    ms: method === 'paired' ? allMin + r.diff : r.rawMs,
    rawMs: r.rawMs,
    source: r.source,
  }));
  progress?.log(`base ${base.toFixed(3)} ms, all-min ${allMin.toFixed(3)} ms, ${measured.length} configurations measured, ${rejected} outlier runs dropped`);
  return { base, allMin, terms, measured, rejected };
}

/**
 * Measure the forward latency of a model with the adapters of a search space (inference, full
 * model, logits downloaded: ms per batch of `[batch, seqLen]` random token ids): untimed forward
 * passes for `settleMs` (JIT and allocator warm-up), then the plan of {@link measureProfile}.
 *
 * Initialises the backend, loads the model and disposes everything it created, also on error
 * (the number of tensors is the same before and after). Writes nothing.
 *
 * @throws NlsError for a bad model folder, search space, or option, and for the `cpu` clock on a
 * backend computing with several threads ({@link checkClockForBackend}).
 */
export async function profileLatency(options: ProfileLatencyOptions): Promise<LatencyProfile> {
  const started = performance.now();
  const batch = positiveInt(options.batch ?? PROFILE_DEFAULTS.batch, 'batch');
  const seqLen = positiveInt(options.seqLen ?? PROFILE_DEFAULTS.seqLen, 'seq');
  const samples = positiveInt(options.samples ?? PROFILE_DEFAULTS.samples, 'samples', 0);
  const warmup = positiveInt(options.warmup ?? PROFILE_DEFAULTS.warmup, 'warmup', 0);
  const repeats = positiveInt(options.repeats ?? PROFILE_DEFAULTS.repeats, 'repeats');
  const clock = parseClock(options.clock ?? PROFILE_DEFAULTS.clock, 'clock');
  const validationMethod = parseValidationMethod(options.validationMethod ?? PROFILE_DEFAULTS.validationMethod, 'validation-method');
  const seed = options.seed ?? 0;
  const settleMs = positiveInt(options.settleMs ?? (warmup > 0 ? 2000 : 0), 'settle-ms', 0);
  const passes = positiveInt(options.passes ?? 1, 'passes');
  if (!Number.isSafeInteger(seed)) throw new NlsError(`must be an integer, got ${String(seed)}`, { field: 'seed' });
  const progress = options.progress;

  // Loaded here, not at the top: a saved profile can be turned into predictors without tfjs.
  const [tf, { initBackend }, { loadModelFolder }, { AdapterSet: AdapterSetClass }, { loadAndResolveSearchSpace }] = await Promise.all([
    import('@tensorflow/tfjs'),
    import('../backend/index.js'),
    import('../model/model-folder.js'),
    import('../adapters/adapter-set.js'),
    import('../space/index.js'),
  ]);
  const backend = await initBackend(options.backend ?? 'wasm', { quiet: true });
  const engineName = options.engine ?? 'tfjs';
  const { defaultThreads } = await import('../engine/onnx/session.js');
  const onnxThreads = engineName === 'onnx' ? (options.threads ?? defaultThreads()) : undefined;
  progress?.log(engineName === 'onnx' ? `engine: onnx (${onnxThreads} threads); model loaded with backend ${backend.name}` : `backend: ${backend.name}${backend.device ? ` (${backend.device})` : ''}`);
  // Before loading anything: the cpu clock is not a latency on a multi-threaded backend or session.
  const clockCheck = checkClockForBackend(clock, onnxThreads !== undefined ? { name: `onnx (${onnxThreads} intra-op threads)`, threads: onnxThreads } : backend);
  if (clockCheck.warning) progress?.log(`warning: ${clockCheck.warning}`);

  const folder = await loadModelFolder(options.modelDir);
  const { model, config: modelConfig } = folder;
  let adapters: AdapterSet | undefined;
  let ids: import('@tensorflow/tfjs').Tensor2D | undefined;
  let engine: import('../engine/types.js').EvaluationEngine | undefined;
  try {
    const [{ intermediateSizesOf }, { linearShape }] = await Promise.all([import('../model/widths.js'), import('../model/llama.js')]);
    const space = await loadAndResolveSearchSpace(options.spaceFile, {
      numLayers: modelConfig.numHiddenLayers,
      intermediateSizes: intermediateSizesOf(modelConfig),
      linearShape: (layer, module) => linearShape(modelConfig, layer, module),
    });
    if (seqLen > modelConfig.maxPositionEmbeddings) {
      throw new NlsError(`sequence length ${seqLen} exceeds the model's max_position_embeddings ${modelConfig.maxPositionEmbeddings}; fix: pass a smaller --seq`, {
        field: 'seq',
      });
    }
    adapters = AdapterSetClass.attach(model, space.adapterPlan(), seed);
    const idRng = createRng(`${seed}:token-ids`);
    const idData = Int32Array.from({ length: batch * seqLen }, () => idRng.int(modelConfig.vocabSize));
    ids = tf.tensor2d(idData, [batch, seqLen], 'int32');
    const input = ids;
    const set = adapters;
    if (engineName === 'onnx') {
      const { createOnnxEngine } = await import('../engine/onnx/engine.js');
      engine =
        options.form === 'merged'
          ? // The deployed model of each configuration: merged, MLPs cut to the widths.
            // (round-robin validation keeps a session per configuration, so no run rebuilds one)
            await createOnnxEngine(model, set, { form: 'merged', mergedCache: validationMethod === 'round-robin' ? samples + 5 : 2, threads: onnxThreads! })
          : // What a deployed unmerged adapter computes: x W + (x A_r^T)(s B_r^T) at the active rank.
            await createOnnxEngine(model, set, { form: 'unmerged', adapterPath: 'low-rank', feed: 'sliced', threads: onnxThreads!, ...(space.hasWidths ? { elasticWidths: true } : {}) });
    } else if (options.form !== undefined) {
      throw new NlsError('applies to the onnx engine only; fix: add --engine onnx, or drop --form', { field: 'form' });
    }
    const onnx = engine;
    let onnxRanks: ReadonlyMap<string, number> = new Map();
    let onnxWidths: ReadonlyMap<number, number> = new Map();
    const forward = onnx
      ? async (): Promise<void> => {
          await onnx.setRanks(onnxRanks);
          if (onnxWidths.size > 0) await onnx.setWidths(onnxWidths);
          await onnx.logits(idData, batch, seqLen);
        }
      : async (): Promise<void> => {
          const logits = model.forward(input);
          try {
            await logits.data();
          } finally {
            logits.dispose();
          }
        };
    const activate = (ranks: ReadonlyMap<string, number>, widths: ReadonlyMap<number, number>) => {
      if (onnx) {
        onnxRanks = ranks;
        onnxWidths = widths;
      } else {
        set.setActiveRanks(ranks);
        model.setMlpWidths(widths);
      }
    };
    progress?.log(`[${batch}, ${seqLen}] tokens per forward pass`);

    // Let the process settle (JIT, allocator, wasm memory growth) before anything is timed: the
    // first seconds of a run are markedly slower and would bias whatever is measured first.
    if (settleMs > 0) {
      progress?.log(`settling for ${settleMs} ms`);
      activate(space.activeRanks(space.maxConfig()), space.activeWidths(space.maxConfig()));
      const until = performance.now() + settleMs;
      while (performance.now() < until) await forward();
    }

    // Setting ranks copies no weights (a number per adapter), so it can be part of every run.
    // A merged model's shape and work do not depend on the ranks (they only change weight values):
    // its rank genes get term 0 unmeasured, so the table carries no noise for them.
    const fixedGenes = options.form === 'merged' ? space.instances.filter((g) => g.kind === 'rank').map((g) => g.index) : [];
    const raw = await measureProfile(
      space,
      async (ranks, widths) => {
        activate(ranks, widths);
        for (let p = 0; p < passes; p++) await forward();
      },
      { samples, seed, warmup, repeats, clock, validationMethod, fixedGenes, ...(progress ? { progress } : {}) },
    );
    // Per forward pass.
    const per = (v: number) => v / passes;
    const m =
      passes === 1
        ? raw
        : {
            ...raw,
            base: per(raw.base),
            allMin: per(raw.allMin),
            terms: raw.terms.map((row) => row.map(per)),
            measured: raw.measured.map((x) => ({ ...x, ms: per(x.ms), ...(x.rawMs !== undefined ? { rawMs: per(x.rawMs) } : {}) })),
          };

    return {
      format: LATENCY_PROFILE_FORMAT,
      createdAt: new Date().toISOString(),
      backend,
      engine: engine?.info ?? { name: 'tfjs', version: backend.tfjsBackend, ...(backend.threads !== undefined ? { threads: backend.threads } : {}) },
      versions: { ...backend.versions, tfjs: tf.version_core, node: process.version, ...(engine?.info.version ? { onnxruntime: engine.info.version } : {}) },
      modelDir: options.modelDir,
      space: {
        name: space.name,
        fingerprint: space.fingerprint,
        genes: space.instances.map((g) => ({ label: space.label(g.index), ranks: [...g.choices], ...(g.kind === 'width' ? { kind: 'width' as const } : {}) })),
      },
      batch,
      seqLen,
      clock,
      validationMethod,
      warmup,
      repeats,
      settleMs,
      ...(passes !== 1 ? { passes } : {}),
      ...(fixedGenes.length > 0 ? { fixedGenes } : {}),
      seed,
      samples,
      base: m.base,
      allMin: m.allMin,
      terms: m.terms,
      measured: m.measured,
      rejected: m.rejected,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await engine?.dispose();
    ids?.dispose();
    adapters?.dispose();
    model.dispose();
  }
}

/**
 * Check a validation method read from an option or a file.
 *
 * @throws NlsError naming `field` when `value` is not one of {@link VALIDATION_METHODS}.
 */
export function parseValidationMethod(value: unknown, field = 'validationMethod', file?: string): ValidationMethod {
  if ((VALIDATION_METHODS as readonly unknown[]).includes(value)) return value as ValidationMethod;
  throw new NlsError(`expected one of ${VALIDATION_METHODS.join(', ')}, got ${JSON.stringify(value) ?? String(value)}; fix: use paired or round-robin (drift-robust) or independent`, {
    field,
    ...(file !== undefined ? { file } : {}),
  });
}

/**
 * A latency profile read from JSON: checks the format, the clock and the validation method, and
 * fills in what older `nls-latency-profile/1` files lack (`clock: 'wall'`,
 * `validationMethod: 'independent'`: how they were measured). The rest is checked against a
 * search space by {@link checkProfile}.
 *
 * @param file Named in errors.
 * @throws NlsError naming the file and the field.
 */
export function parseLatencyProfile(document: unknown, file = 'latency profile'): LatencyProfile {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new NlsError(`expected a JSON object, got ${Array.isArray(document) ? 'an array' : typeof document}; fix: pass a ${LATENCY_PROFILE_FORMAT} file written by nls profile`, { file });
  }
  const doc = document as Record<string, unknown>;
  if (doc['format'] !== LATENCY_PROFILE_FORMAT) {
    throw new NlsError(`unsupported format ${JSON.stringify(doc['format'])}; fix: pass a ${LATENCY_PROFILE_FORMAT} document written by nls profile`, { file, field: 'format' });
  }
  const clock = parseClock(doc['clock'] ?? 'wall', 'clock', file);
  const validationMethod = parseValidationMethod(doc['validationMethod'] ?? 'independent', 'validationMethod', file);
  return { ...(doc as unknown as LatencyProfile), clock, validationMethod };
}

/**
 * Read a `nls-latency-profile/1` file ({@link parseLatencyProfile}).
 *
 * @throws NlsError for an unreadable file, invalid JSON, or a bad field.
 */
export async function readLatencyProfile(file: string): Promise<LatencyProfile> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new NlsError(`cannot read the latency profile (${String(cause)}); fix: pass the latency-profile.json written by nls profile`, { file, cause });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new NlsError(`not valid JSON (${String(cause)}); fix: profile again`, { file, cause });
  }
  return parseLatencyProfile(doc, file);
}

/**
 * Check that `profile` belongs to `space` (same fingerprint, one term per gene and choice,
 * measured configurations of the space, finite latencies).
 *
 * @throws NlsError naming the profile field and the fix.
 */
export function checkProfile(space: SearchSpace, profile: LatencyProfile, file = 'latency profile'): void {
  if (profile.format !== LATENCY_PROFILE_FORMAT) {
    throw new NlsError(`unsupported format ${JSON.stringify(profile.format)}; fix: pass a ${LATENCY_PROFILE_FORMAT} document written by nls profile`, { file, field: 'format' });
  }
  if (profile.space?.fingerprint !== space.fingerprint) {
    throw new NlsError(
      `the profile was measured for search space "${String(profile.space?.name)}" (fingerprint ${String(profile.space?.fingerprint)}) but is used with "${space.name}" (fingerprint ${space.fingerprint}); ` +
        'fix: use it with the search space it was measured for, or profile again',
      { file, field: 'space.fingerprint' },
    );
  }
  // Older profiles lack these fields (wall clock, independent validation): absent is fine, a wrong value is not.
  parseClock((profile as { clock?: unknown }).clock ?? 'wall', 'clock', file);
  parseValidationMethod((profile as { validationMethod?: unknown }).validationMethod ?? 'independent', 'validationMethod', file);
  for (const field of ['base', 'allMin'] as const) {
    if (!Number.isFinite(profile[field])) throw new NlsError(`is ${String(profile[field])}, not a finite number; fix: profile again`, { file, field });
  }
  if (!Array.isArray(profile.terms) || profile.terms.length !== space.size) {
    throw new NlsError(`expected one row per gene (${space.size}), got ${Array.isArray(profile.terms) ? profile.terms.length : typeof profile.terms}; fix: profile again`, { file, field: 'terms' });
  }
  profile.terms.forEach((row, g) => {
    const n = space.choiceCounts[g] ?? 0;
    if (!Array.isArray(row) || row.length !== n) throw new NlsError(`expected ${n} terms (one per choice), got ${Array.isArray(row) ? row.length : typeof row}; fix: profile again`, { file, field: `terms[${g}]` });
    row.forEach((v, c) => {
      if (!Number.isFinite(v)) throw new NlsError(`is ${String(v)}, not a finite number; fix: profile again`, { file, field: `terms[${g}][${c}]` });
    });
  });
  if (!Array.isArray(profile.measured)) throw new NlsError('expected an array; fix: profile again', { file, field: 'measured' });
  profile.measured.forEach((m, i) => {
    space.assertContains(m.config, `${file}: measured[${i}].config`);
    if (!Number.isFinite(m.ms)) throw new NlsError(`is ${String(m.ms)}, not a finite number; fix: profile again`, { file, field: `measured[${i}].ms` });
  });
}

/** The measured configurations of a profile as predictor samples (`value` = ms per batch). */
export function profileSamples(profile: LatencyProfile): PredictorSample[] {
  return profile.measured.map((m) => ({ config: m.config, value: m.ms }));
}

/**
 * The Once-for-All lookup table of a profile: `base = allMin - Σ_g terms[g][min choice]` (the
 * min-choice terms are 0, so `base = allMin`) plus the measured per-(gene, choice) terms. It
 * predicts the all-min configuration exactly and assumes the rest adds up.
 *
 * @throws NlsError when the profile does not belong to `space` ({@link checkProfile}).
 */
export function lookupTableFromProfile(space: SearchSpace, profile: LatencyProfile): LookupTablePredictor {
  checkProfile(space, profile);
  let minTerms = 0;
  profile.terms.forEach((row, g) => (minTerms += row[(space.choiceCounts[g] ?? 1) - 1] ?? 0));
  return LookupTablePredictor.fromTable(space, profile.allMin - minTerms, profile.terms);
}

/** Predictors {@link validateProfile} can assess. */
export type ProfilePredictorName = 'lookup-table' | 'ridge' | 'mlp';

/** Options of {@link validateProfile}. */
export interface ProfileValidationOptions {
  /** Which predictors to assess (default all three, in this order). */
  readonly predictors?: readonly ProfilePredictorName[];
  /** Share of the measured configurations held out from the ridge fit (default 0.25). */
  readonly validationFraction?: number;
  /** Seed of the train/validation split (default 0). */
  readonly seed?: number;
  /** Ridge penalty (default {@link DEFAULT_RIDGE_LAMBDA}). */
  readonly lambda?: number;
}

/** Quality of one predictor on one set of measured configurations. */
export interface PredictorValidation {
  /** Predictor kind. */
  readonly predictor: ProfilePredictorName;
  /** What it was fitted on: the per-gene terms, or the training part of the measured configurations. */
  readonly fittedOn: 'per-gene terms' | 'measured (train split)';
  /** What it was evaluated on. */
  readonly evaluatedOn: 'all measured' | 'held-out';
  /** Quality metrics (see {@link PredictorQuality}). */
  readonly quality: PredictorQuality;
}

/** Result of {@link validateProfile} (predictor-quality.json). */
export interface ProfileValidation {
  /** The split: held-out share, seed, and sizes of both parts. */
  readonly split: { readonly validationFraction: number; readonly seed: number; readonly train: number; readonly validation: number };
  /** One row per (predictor, evaluation set). */
  readonly results: PredictorValidation[];
}

/**
 * How well latency predictors built from `profile` predict its measured configurations:
 *
 * - `lookup-table` ({@link lookupTableFromProfile}, built from the per-gene terms only) on all
 *   measured configurations, and on the held-out part of the split (comparable with ridge);
 * - `ridge`: a {@link RidgePredictor} fitted on a seeded split ({@link splitSamples}) of the
 *   measured configurations, evaluated on the held-out part;
 * - `mlp`: an `MlpPredictor` (seeded with `seed`) fitted and evaluated on the same split; tfjs
 *   is loaded only for it.
 *
 * @throws NlsError when the profile does not belong to `space`, or (for ridge) has fewer than 2
 * measured configurations.
 */
export async function validateProfile(space: SearchSpace, profile: LatencyProfile, options: ProfileValidationOptions = {}): Promise<ProfileValidation> {
  checkProfile(space, profile);
  const which = options.predictors ?? ['lookup-table', 'ridge', 'mlp'];
  const validationFraction = options.validationFraction ?? 0.25;
  const seed = options.seed ?? 0;
  const all = profileSamples(profile);
  const { train, validation } = splitSamples(all, { validationFraction, seed });
  const results: PredictorValidation[] = [];
  const row = (predictor: ProfilePredictorName, p: Predictor, fittedOn: PredictorValidation['fittedOn'], evaluatedOn: PredictorValidation['evaluatedOn'], on: readonly PredictorSample[]): void => {
    results.push({ predictor, fittedOn, evaluatedOn, quality: evaluatePredictor(p, on) });
  };
  for (const name of which) {
    if (name === 'lookup-table') {
      const table = lookupTableFromProfile(space, profile);
      row(name, table, 'per-gene terms', 'all measured', all);
      row(name, table, 'per-gene terms', 'held-out', validation);
    } else if (name === 'ridge') {
      const ridge = new RidgePredictor({ lambda: options.lambda ?? DEFAULT_RIDGE_LAMBDA });
      ridge.fit(space, train);
      row(name, ridge, 'measured (train split)', 'held-out', validation);
    } else if (name === 'mlp') {
      const { MlpPredictor } = await import('./mlp.js');
      const mlp = new MlpPredictor({ seed });
      await mlp.fit(space, train);
      row(name, mlp, 'measured (train split)', 'held-out', validation);
    } else {
      throw new NlsError(`unknown predictor ${JSON.stringify(name)}; fix: use lookup-table, ridge or mlp`, { field: 'predictors' });
    }
  }
  return { split: { validationFraction, seed, train: train.length, validation: validation.length }, results };
}
