/**
 * Latency profiling of a model with elastic LoRA adapters, and the latency predictors fitted
 * from a profile (the `nls profile` command; see docs/profiling.md).
 *
 * {@link profileLatency} measures the forward latency of the base model (adapters off), of the
 * all-min configuration, of every single-gene change of it (the per-(gene, choice) terms of a
 * Once-for-All lookup table) and of random configurations for validation.
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
import type { Config, SearchSpace } from '../space/index.js';
import { createRng } from '../util/rng.js';
import type { Progress } from '../util/progress.js';
import { LookupTablePredictor } from './lookup-table.js';
import { measureMedian, measurePairedDifference, robustMedian } from './measure.js';
import type { Predictor, PredictorSample } from './predictor.js';
import { evaluatePredictor, type PredictorQuality, splitSamples } from './quality.js';
import { DEFAULT_RIDGE_LAMBDA, RidgePredictor } from './ridge.js';

/** Format tag of latency profiles. */
export const LATENCY_PROFILE_FORMAT = 'nls-latency-profile/1';

/** Where a measured configuration of a profile came from. */
export type MeasuredSource = 'max' | 'min' | 'median' | 'random';

/** Forward latency of one configuration of the space. */
export interface MeasuredLatency {
  /** The configuration's key ({@link SearchSpace.key}). */
  readonly key: string;
  /** Choice index per gene. */
  readonly config: number[];
  /** Median forward latency, milliseconds per batch. */
  readonly ms: number;
  /** Why it was measured: the supernet (`max`), `min`, `median`, or a `random` draw. */
  readonly source: MeasuredSource;
}

/** The `nls-latency-profile/1` document written by `nls profile` (latency-profile.json). */
export interface LatencyProfile {
  /** Always {@link LATENCY_PROFILE_FORMAT}. */
  readonly format: typeof LATENCY_PROFILE_FORMAT;
  /** When the profile was measured (ISO 8601). */
  readonly createdAt: string;
  /** The backend the latencies were measured on, as `initBackend` reported it. */
  readonly backend: BackendInfo;
  /** Versions: `tfjs` (tfjs-core), `node`, plus those the backend reported. */
  readonly versions: Readonly<Record<string, string>>;
  /** The model folder profiled. */
  readonly modelDir: string;
  /** The search space: name, fingerprint and each gene's label and rank choices. */
  readonly space: {
    readonly name: string;
    readonly fingerprint: string;
    readonly genes: readonly { readonly label: string; readonly ranks: readonly number[] }[];
  };
  /** Sequences per forward pass. */
  readonly batch: number;
  /** Tokens per sequence. */
  readonly seqLen: number;
  /** Untimed runs before each measurement. */
  readonly warmup: number;
  /** Timed runs (or run pairs, for the terms) per measurement. */
  readonly repeats: number;
  /** Milliseconds of untimed forward passes before the first measurement. */
  readonly settleMs: number;
  /** Seed of the random configurations and token ids. */
  readonly seed: number;
  /** Random configurations requested (before dropping duplicates). */
  readonly samples: number;
  /** Latency with every adapter off (rank 0 everywhere), ms per batch. */
  readonly base: number;
  /** Latency of the all-min configuration (every gene at its smallest rank), ms per batch: robust median of its runs in all the pairs. */
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

/** Options of {@link profileLatency}. */
export interface ProfileLatencyOptions {
  /** HF model folder (config.json + model.safetensors). */
  readonly modelDir: string;
  /** Search-space file (`nls-search-space/1`), resolved for the model's number of layers. */
  readonly spaceFile: string;
  /** tfjs backend (default `wasm`). */
  readonly backend?: BackendRequest;
  /** Sequences per forward pass (default 1). */
  readonly batch?: number;
  /** Tokens per sequence (default 64). */
  readonly seqLen?: number;
  /** Random configurations to measure besides max, min and median (default 40). */
  readonly samples?: number;
  /** Seed of the random configurations and token ids (default 0). */
  readonly seed?: number;
  /** Untimed runs before each measurement (default 2). */
  readonly warmup?: number;
  /** Timed runs per measurement (default 5). */
  readonly repeats?: number;
  /**
   * Milliseconds of untimed forward passes before the first measurement, so that JIT and
   * allocator warm-up do not bias it (default 2000, or 0 when `warmup` is 0).
   */
  readonly settleMs?: number;
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
 * Measure the forward latency of a model with the adapters of a search space (inference, full
 * model, logits downloaded: ms per batch of `[batch, seqLen]` random token ids):
 *
 * 0. untimed forward passes for `settleMs` (JIT and allocator warm-up);
 * 1. the base model (every adapter at rank 0), on its own ({@link measureMedian});
 * 2. for each gene and each choice but the smallest, the all-min configuration (every gene at
 *    its smallest rank) with that gene changed, each as a difference to the all-min
 *    configuration measured in interleaved pairs ({@link measurePairedDifference}):
 *    `terms[g][c]` is that difference (it can come out negative when it is below the noise),
 *    and `allMin` is the outlier-robust median of all the all-min runs of the pairs;
 * 3. the configurations of {@link profileConfigs} (max, min, median and `samples` random ones),
 *    each on its own ({@link measureMedian}).
 *
 * Initialises the backend, loads the model and disposes everything it created, also on error
 * (the number of tensors is the same before and after). Writes nothing.
 *
 * @throws NlsError for a bad model folder, search space, or option.
 */
export async function profileLatency(options: ProfileLatencyOptions): Promise<LatencyProfile> {
  const started = performance.now();
  const batch = positiveInt(options.batch ?? 1, 'batch');
  const seqLen = positiveInt(options.seqLen ?? 64, 'seq');
  const samples = positiveInt(options.samples ?? 40, 'samples', 0);
  const warmup = positiveInt(options.warmup ?? 2, 'warmup', 0);
  const repeats = positiveInt(options.repeats ?? 5, 'repeats');
  const seed = options.seed ?? 0;
  const settleMs = positiveInt(options.settleMs ?? (warmup > 0 ? 2000 : 0), 'settle-ms', 0);
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
  progress?.log(`backend: ${backend.name}${backend.device ? ` (${backend.device})` : ''}`);

  const folder = await loadModelFolder(options.modelDir);
  const { model, config: modelConfig } = folder;
  let adapters: AdapterSet | undefined;
  let ids: import('@tensorflow/tfjs').Tensor2D | undefined;
  try {
    const space = await loadAndResolveSearchSpace(options.spaceFile, { numLayers: modelConfig.numHiddenLayers });
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
    const forward = async (): Promise<void> => {
      const logits = model.forward(input);
      try {
        await logits.data();
      } finally {
        logits.dispose();
      }
    };

    const configs = profileConfigs(space, samples, seed);
    const termCount = space.choiceCounts.reduce((s, n) => s + n - 1, 0);
    const total = 1 + termCount + configs.length;
    let step = 0;
    let rejected = 0;
    progress?.log(
      `profiling ${space.name} (${space.size} genes, ${termCount} per-gene terms, ${configs.length} configurations) on [${batch}, ${seqLen}] tokens, ` +
        `warmup ${warmup}, repeats ${repeats}`,
    );
    const set = adapters;
    const ranksOf = (config: Config): Map<string, number> => space.activeRanks(config);
    const minConfig = space.minConfig();
    const minRanks = ranksOf(minConfig);
    const off = new Map(space.adapterPlan().map((e) => [e.key, 0]));

    // Let the process settle (JIT, allocator, wasm memory growth) before anything is timed: the
    // first seconds of a run are markedly slower and would bias whatever is measured first.
    if (settleMs > 0) {
      progress?.log(`settling for ${settleMs} ms`);
      set.setActiveRanks(ranksOf(space.maxConfig()));
      const until = performance.now() + settleMs;
      while (performance.now() < until) await forward();
    }

    progress?.start('profile', total);
    const allMinRuns: number[] = [];
    /** Latency of `ranks` minus the all-min latency, measured in interleaved pairs. */
    const difference = async (what: string, ranks: ReadonlyMap<string, number>): Promise<number> => {
      const m = await measurePairedDifference(
        async () => {
          set.setActiveRanks(minRanks);
          await forward();
        },
        async () => {
          set.setActiveRanks(ranks);
          await forward();
        },
        { warmup, repeats },
      );
      rejected += m.rejected;
      allMinRuns.push(...m.aMs);
      progress?.step(++step, { gene: what, 'Δms': m.medianDiffMs });
      return m.medianDiffMs;
    };

    set.setActiveRanks(off);
    const baseRun = await measureMedian(forward, { warmup, repeats });
    rejected += baseRun.rejected;
    const base = baseRun.medianMs;
    progress?.step(++step, { config: 'base (adapters off)', ms: base });
    const terms: number[][] = [];
    for (let g = 0; g < space.size; g++) {
      const n = space.choiceCounts[g] ?? 0;
      const row = new Array<number>(n).fill(0);
      for (let c = 0; c < n - 1; c++) {
        const config = [...minConfig];
        config[g] = c;
        row[c] = await difference(`${space.label(g)}=${space.instances[g]?.ranks[c]}`, ranksOf(config));
      }
      terms.push(row);
    }
    const minStats = robustMedian(allMinRuns);
    const allMin = minStats.median;

    const measured: MeasuredLatency[] = [];
    for (const { config, source } of configs) {
      const key = space.key(config);
      set.setActiveRanks(ranksOf(config));
      const m = await measureMedian(forward, { warmup, repeats });
      rejected += m.rejected;
      progress?.step(++step, { config: `${source} ${key}`, ms: m.medianMs });
      measured.push({ key, config: [...config], ms: m.medianMs, source });
    }
    progress?.log(`base ${base.toFixed(3)} ms, all-min ${allMin.toFixed(3)} ms, ${measured.length} configurations measured, ${rejected} outlier runs dropped`);

    return {
      format: LATENCY_PROFILE_FORMAT,
      createdAt: new Date().toISOString(),
      backend,
      versions: { ...backend.versions, tfjs: tf.version_core, node: process.version },
      modelDir: options.modelDir,
      space: {
        name: space.name,
        fingerprint: space.fingerprint,
        genes: space.instances.map((g) => ({ label: space.label(g.index), ranks: [...g.ranks] })),
      },
      batch,
      seqLen,
      warmup,
      repeats,
      settleMs,
      seed,
      samples,
      base,
      allMin,
      terms,
      measured,
      rejected,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    ids?.dispose();
    adapters?.dispose();
    model.dispose();
  }
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
