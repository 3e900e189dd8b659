/**
 * The predictor contract: a cheap model of a measured quantity (latency, cost, accuracy) as a
 * function of a configuration, fitted on measured samples of one search space, saved as an
 * `nls-predictor/1` JSON file and loaded back against that space.
 *
 * Built-in kinds (`lookup-table`, `ridge`, `mlp`) are loaded lazily by {@link loadPredictor}, so
 * loading a lookup table never pulls in tfjs; other kinds join with {@link registerPredictorKind}.
 * See docs/predictors.md.
 */
import { promises as fsp } from 'node:fs';
import { NlsError } from '../errors.js';
import type { Config, SearchSpace } from '../space/index.js';
import { writeFileAtomic } from '../util/fs.js';

/** Format tag of predictor files. */
export const PREDICTOR_FORMAT = 'nls-predictor/1';

/** One measurement: a configuration (choice index per gene) and the value measured for it. */
export interface PredictorSample {
  /** Choice index per gene of the search space, in canonical gene order. */
  readonly config: Config;
  /** The measured value (latency, cost, ...); must be finite. */
  readonly value: number;
}

/** The `nls-predictor/1` document a predictor saves and is loaded from. */
export interface PredictorFile {
  /** Always {@link PREDICTOR_FORMAT}. */
  readonly format: typeof PREDICTOR_FORMAT;
  /** Predictor kind, the key of the loader registry (`lookup-table`, `ridge`, `mlp`, ...). */
  readonly kind: string;
  /** The search space the predictor was fitted on; loading checks the fingerprint. */
  readonly space: { readonly name: string; readonly fingerprint: string };
  /** Kind-specific parameters (options and fitted weights), plain JSON. */
  readonly params: Readonly<Record<string, unknown>>;
  /** How the predictor was fitted: number of samples and wall-clock seconds (0 for explicit tables). */
  readonly fitted: { readonly samples: number; readonly seconds: number };
}

/**
 * A fitted model of a measured value as a function of a configuration. `fit` binds the
 * predictor to a search space; `predict` and `predictMany` then accept configurations of that
 * space only (anything else is an {@link NlsError}), and throw when called before `fit`.
 */
export interface Predictor {
  /** Kind name, written to the file and used to find the loader. */
  readonly kind: string;
  /** Fit on `samples` of `space`, replacing any earlier fit. */
  fit(space: SearchSpace, samples: readonly PredictorSample[]): Promise<void> | void;
  /** Predicted value of one configuration. */
  predict(config: Config): number;
  /** Predicted values of many configurations, in order. */
  predictMany(configs: readonly Config[]): number[];
  /** The `nls-predictor/1` document of the fitted predictor. */
  toJSON(): PredictorFile;
}

/**
 * Builds a predictor of one kind from its file. Called after the format, kind, space
 * fingerprint and `fitted` fields have been checked; `params` reads and checks `file.params`,
 * naming the file and the JSON path in its errors.
 */
export type PredictorLoader = (file: PredictorFile, space: SearchSpace, params: ParamReader) => Predictor;

/** Built-in kinds, imported on first use so that only the `mlp` kind loads tfjs. */
const BUILTIN_LOADERS: Readonly<Record<string, () => Promise<PredictorLoader>>> = {
  'lookup-table': async () => (await import('./lookup-table.js')).LookupTablePredictor.fromJSON,
  ridge: async () => (await import('./ridge.js')).RidgePredictor.fromJSON,
  mlp: async () => (await import('./mlp.js')).MlpPredictor.fromJSON,
};

const registered = new Map<string, PredictorLoader>();

/**
 * Add a predictor kind to the registry used by {@link loadPredictor}.
 *
 * @throws NlsError when `kind` is empty or already taken (built-in or registered).
 */
export function registerPredictorKind(kind: string, loader: PredictorLoader): void {
  if (typeof kind !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/.test(kind)) {
    throw new NlsError(`predictor kind ${JSON.stringify(kind)} is not a valid name; fix: use letters, digits and -_.:@/`, { field: 'kind' });
  }
  if (kind in BUILTIN_LOADERS || registered.has(kind)) {
    throw new NlsError(`predictor kind "${kind}" is already registered; fix: choose a distinctive name (e.g. prefix it with your package name)`, { field: 'kind' });
  }
  if (typeof loader !== 'function') throw new NlsError(`the loader of predictor kind "${kind}" must be a function (file, space, params) => Predictor`, { field: 'loader' });
  registered.set(kind, loader);
}

/** Every kind {@link loadPredictor} can load: the built-ins, then registered kinds in order. */
export function predictorKinds(): string[] {
  return [...Object.keys(BUILTIN_LOADERS), ...registered.keys()];
}

/** Options of {@link loadPredictor}. */
export interface LoadPredictorOptions {
  /** File name to use in error messages when `source` is an already parsed document. */
  readonly file?: string | undefined;
}

/**
 * Load a predictor from an `nls-predictor/1` file (a path) or an already parsed document, for
 * `space`. The document must have been written for a space with the same fingerprint.
 *
 * @throws NlsError naming the file, the field and the fix when the document is malformed, its
 * kind is unknown or its space fingerprint differs from `space.fingerprint`.
 */
export async function loadPredictor(source: string | PredictorFile | unknown, space: SearchSpace, options: LoadPredictorOptions = {}): Promise<Predictor> {
  let json: unknown = source;
  let file = options.file ?? 'predictor';
  if (typeof source === 'string') {
    file = options.file ?? source;
    let text: string;
    try {
      text = await fsp.readFile(source, 'utf8');
    } catch (err) {
      throw new NlsError(`cannot read predictor file: ${(err as Error).message}; fix: pass the path of a file written by savePredictor`, { file, cause: err });
    }
    try {
      json = JSON.parse(text) as unknown;
    } catch (err) {
      throw new NlsError(`not valid JSON (${(err as Error).message}); fix: pass a file written by savePredictor`, { file, field: '(root)', cause: err });
    }
  }
  const doc = checkPredictorFile(json, space, file);
  const loader = registered.get(doc.kind) ?? (await BUILTIN_LOADERS[doc.kind]?.());
  if (!loader) {
    throw new NlsError(`unknown predictor kind ${JSON.stringify(doc.kind)}; fix: use one of ${predictorKinds().join(', ')}, or register the kind with registerPredictorKind before loading`, {
      file,
      field: 'kind',
    });
  }
  return loader(doc, space, new ParamReader(doc.params, file, 'params'));
}

/** Check the kind-independent fields of a predictor document against `space`. */
function checkPredictorFile(json: unknown, space: SearchSpace, file: string): PredictorFile {
  const root = new ParamReader(json, file, '');
  root.object();
  const format = root.field('format').string();
  if (format !== PREDICTOR_FORMAT) {
    throw new NlsError(`unsupported format ${JSON.stringify(format)}; fix: this nls reads ${PREDICTOR_FORMAT} files written by savePredictor`, { file, field: 'format' });
  }
  const kind = root.field('kind').string();
  const spaceName = root.field('space').field('name').string();
  const fingerprint = root.field('space').field('fingerprint').string();
  if (fingerprint !== space.fingerprint) {
    throw new NlsError(
      `the predictor was fitted on search space "${spaceName}" (fingerprint ${fingerprint}) but is being loaded for search space "${space.name}" (fingerprint ${space.fingerprint}); ` +
        'configurations of different spaces mean different ranks, so its predictions would be wrong; fix: load it with the search space it was fitted on, or refit the predictor on this space',
      { file, field: 'space.fingerprint' },
    );
  }
  const params = root.field('params').object();
  const samples = root.field('fitted').field('samples').integer(0);
  const seconds = root.field('fitted').field('seconds').number(0);
  return { format: PREDICTOR_FORMAT, kind, space: { name: spaceName, fingerprint }, params, fitted: { samples, seconds } };
}

/**
 * The `nls-predictor/1` document of a fitted predictor: the one place that lays out the file's
 * envelope (format, kind, space, fitted) around the kind-specific `params`.
 */
export function predictorDocument(
  kind: string,
  space: SearchSpace,
  fitted: PredictorFile['fitted'],
  params: Readonly<Record<string, unknown>>,
): PredictorFile {
  return { format: PREDICTOR_FORMAT, kind, space: { name: space.name, fingerprint: space.fingerprint }, params, fitted: { ...fitted } };
}

/**
 * Write `predictor` to `file` as pretty-printed `nls-predictor/1` JSON, atomically (readers
 * never see a half-written file). `measuredWith`, when given, is written as a top-level
 * `measuredWith` field saying where the fitted values were measured (e.g. the engine and backend
 * of a latency profile: a latency table belongs to the engine that measured it); loaders ignore it.
 */
export async function savePredictor(file: string, predictor: Predictor, measuredWith?: Readonly<Record<string, unknown>>): Promise<void> {
  const doc = predictor.toJSON();
  await writeFileAtomic(file, `${JSON.stringify(measuredWith ? { ...doc, measuredWith } : doc, null, 2)}\n`);
}

/**
 * Reads one value of a JSON document with checks; every failure is an {@link NlsError} naming
 * the file and the JSON path (e.g. `params.layers[1].bias[3]`) and the fix. Loaders of
 * predictor kinds receive one positioned at `params`.
 */
export class ParamReader {
  /**
   * @param value - The value at `path`.
   * @param file - File named in errors.
   * @param path - JSON path of `value` in the file ('' for the document itself).
   */
  constructor(
    readonly value: unknown,
    readonly file: string,
    readonly path: string,
  ) {}

  /** Throw an {@link NlsError} at this value's path. */
  fail(what: string, fix = 'rewrite the file with savePredictor, or refit the predictor'): never {
    throw new NlsError(`${what}; fix: ${fix}`, { file: this.file, field: this.path === '' ? '(root)' : this.path });
  }

  private got(): string {
    if (this.value === undefined) return 'missing';
    try {
      const s = JSON.stringify(this.value);
      return s === undefined ? String(this.value) : `got ${s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
    } catch {
      return `got ${String(this.value)}`;
    }
  }

  /** The value as a plain object. */
  object(): Readonly<Record<string, unknown>> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) this.fail(`expected an object, ${this.got()}`);
    return this.value as Readonly<Record<string, unknown>>;
  }

  /** Reader of property `key` of this object. */
  field(key: string): ParamReader {
    const obj = this.object();
    return new ParamReader(Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined, this.file, this.path === '' ? key : `${this.path}.${key}`);
  }

  /** Readers of the elements of this array; with `length`, the array must have exactly that many. */
  array(length?: number): ParamReader[] {
    if (!Array.isArray(this.value)) this.fail(`expected an array, ${this.got()}`);
    const arr = this.value as unknown[];
    if (length !== undefined && arr.length !== length) this.fail(`expected an array of ${length} elements, got ${arr.length}`);
    return arr.map((v, i) => new ParamReader(v, this.file, `${this.path}[${i}]`));
  }

  /** The value as a string. */
  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, ${this.got()}`);
    return this.value as string;
  }

  /** The value as a finite number, at least `min` when given. */
  number(min?: number): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.fail(`expected a finite number, ${this.got()}`);
    const v = this.value as number;
    if (min !== undefined && v < min) this.fail(`expected a number >= ${min}, got ${v}`);
    return v;
  }

  /** The value as a safe integer, at least `min` when given. */
  integer(min?: number): number {
    const v = this.number(min);
    if (!Number.isSafeInteger(v)) this.fail(`expected an integer, got ${v}`);
    return v;
  }

  /** The value as an array of finite numbers (of exactly `length` when given). */
  numbers(length?: number): number[] {
    return this.array(length).map((r) => r.number());
  }
}

/**
 * Check `samples` against `space` (at least one sample, configurations in the space, finite
 * values) and return them in a canonical order (by configuration, then value), so that a fit
 * does not depend on the order the samples were measured in.
 *
 * @throws NlsError naming `samples[i].config` or `samples[i].value`.
 */
export function canonicalSamples(space: SearchSpace, samples: readonly PredictorSample[], what = 'samples'): PredictorSample[] {
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new NlsError(`a predictor needs at least one sample to fit, got ${Array.isArray(samples) ? 0 : typeof samples}; fix: measure some configurations first`, { field: what });
  }
  samples.forEach((s, i) => {
    space.assertContains(s.config, `${what}[${i}].config`);
    if (typeof s.value !== 'number' || !Number.isFinite(s.value)) {
      throw new NlsError(`value is ${String(s.value)}, not a finite number; fix: drop failed measurements before fitting`, { field: `${what}[${i}].value` });
    }
  });
  return [...samples].sort((a, b) => compareConfigs(a.config, b.config) || a.value - b.value);
}

/** Lexicographic order of choice indices (gene 0 most significant). */
export function compareConfigs(a: Config, b: Config): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** `value` (state that exists once a predictor is fitted), or an {@link NlsError} saying the predictor was not fitted yet. */
export function requireFitted<T>(value: T | undefined, kind: string): T {
  if (value === undefined) throw new NlsError(`the ${kind} predictor has not been fitted; fix: call fit(space, samples) (or load a saved predictor) before predicting`, { field: 'predictor' });
  return value;
}
