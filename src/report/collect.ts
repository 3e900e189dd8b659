/**
 * Reading a run folder into a typed {@link ReportData}: the run manifest, the supernet (its
 * search space, training log and validation), the search studies (journals and pareto.json), the
 * latency predictors' validation, and the demo's result table.
 *
 * Layouts it recognises (see docs/reports.md):
 *
 * - `nls demo --out R`: `R/manifest.json`, `R/supernet/`, `R/search/<strategy>/trials.jsonl`,
 *   `R/demo-result.json`;
 * - `nls search --out R`: `R/trials.jsonl`, `R/pareto.json`, `R/manifest.json` whose `supernet`
 *   input or option names the supernet folder (found wherever it lives);
 * - `nls train --out R`: `R` is a supernet folder (`supernet.json`, `training-log.jsonl`,
 *   `validation.json`).
 *
 * Every file is optional except that the folder must hold at least one of them; a malformed
 * file is an {@link NlsError} naming the file, the field and the fix. Pure TypeScript: no tfjs.
 */
import { existsSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import type { ReplicateResult } from '../pipeline/replicate.js';
import { readRunManifest, RUN_MANIFEST_FILE, type RunManifest } from '../run/manifest.js';
import { readJournal, type StudyHeaderRecord, type TrialRecord } from '../search/journal.js';
import { PARETO_FORMAT, type ParetoFile } from '../search/results.js';
import { type Config, loadSearchSpace, resolveSearchSpace, type SearchSpace, type SearchSpaceSpec, validateSearchSpaceSpec } from '../space/index.js';

/** Which kind of run folder the report was made from. */
export type ReportLayout = 'demo' | 'search' | 'train' | 'replicate' | 'other';

/** One line of `training-log.jsonl`: one trained configuration (pass) of one optimizer step. */
export interface TrainingLogRecord {
  /** Optimizer step, 0-based. */
  readonly step: number;
  /** Configuration key of the pass. */
  readonly label: string;
  /** Mean training loss of the pass. */
  readonly loss: number;
  /** Learning rate of the step (absent in files that do not record it). */
  readonly lr?: number;
}

/** One subnet of `validation.json` (`subnets[]`): the supernet's max, median or min subnet. */
export interface ValidationSubnet {
  readonly name: string;
  readonly key: string;
  readonly adapterParameters: number;
  /** Validation loss per answer token (nats). */
  readonly loss: number;
  /** Validation accuracy, for classification / multiple-choice tasks. */
  readonly accuracy?: number;
}

/** The supernet the run trained or searched. */
export interface ReportSupernet {
  /** The supernet folder. */
  readonly dir: string;
  /** `supernet.json`'s `baseModel`, as recorded. */
  readonly baseModel: string;
  readonly nlsVersion?: string;
  /** The search space it was trained with (validated). */
  readonly spaceSpec: SearchSpaceSpec;
  /** `supernet.json`'s `training` block (rule, steps, lr, ...). */
  readonly training: Readonly<Record<string, unknown>>;
  /** `supernet.json`'s `data` block (task name, sizes, ...). */
  readonly data: Readonly<Record<string, unknown>>;
  /** `training-log.jsonl`, in file order; empty when the file is absent. */
  readonly trainingLog: readonly TrainingLogRecord[];
  /** `validation.json`'s subnets; undefined when the file is absent. */
  readonly validation?: readonly ValidationSubnet[];
}

/** One study (search run) of the folder. */
export interface ReportStudy {
  /** Name in the report: the strategy folder's name, or the strategy's name for a lone study. */
  readonly label: string;
  /** Folder holding `trials.jsonl`. */
  readonly dir: string;
  readonly header: StudyHeaderRecord;
  /** Trials in trial-number order. */
  readonly trials: readonly TrialRecord[];
  /** `pareto.json` next to the journal, when present. */
  readonly pareto?: ParetoFile;
}

/** One row of a predictor validation table. `null` is a value that is undefined (NaN) or absent. */
export interface PredictorValidationRow {
  readonly predictor: string;
  readonly fittedOn: string | null;
  readonly evaluatedOn: string | null;
  readonly n: number | null;
  /** Mean absolute percentage error, as a fraction. */
  readonly mape: number | null;
  readonly rmse: number | null;
  /** Shares (0..1) within ±5% / ±10%. */
  readonly within5: number | null;
  readonly within10: number | null;
  readonly kendallTau: number | null;
}

/** A latency predictor's validation, from `predictors.json` or `predictor-quality.json`. */
export interface PredictorReport {
  /** The file it was read from. */
  readonly source: string;
  /** Which study used it (for `predictors.json`). */
  readonly study?: string;
  /** The predictor file and kind that scored the study (for `predictors.json`). */
  readonly predictorFile?: string;
  readonly kind?: string;
  /** Train / held-out sizes and seed of the validation split. */
  readonly split?: { readonly train: number; readonly validation: number; readonly seed: number | string };
  /** Targets recorded with the scores, e.g. `{ within10: 0.95, kendallTau: 0.9 }`. */
  readonly targets?: Readonly<Record<string, number>>;
  /** Validation rows; empty when the predictor was used without validation scores. */
  readonly rows: readonly PredictorValidationRow[];
}

/** One row of `demo-result.json`'s table. */
export interface DemoRowData {
  readonly name?: string;
  readonly description: string;
  /** Configuration key; empty for the base model without adapters. */
  readonly key: string;
  readonly adapterParameters: number;
  readonly loss: number | null;
  readonly accuracy: number | null;
}

/** What the report shows of `demo-result.json`. */
export interface DemoResultData {
  readonly rows: readonly DemoRowData[];
  readonly task?: { readonly name?: string; readonly train?: number; readonly validation?: number; readonly majorityAccuracy?: number };
  readonly steps?: number;
  readonly seconds?: number;
  readonly search?: { readonly paramsBound?: number; readonly measured?: number; readonly seconds?: number };
  readonly merge?: {
    readonly key: string;
    readonly accuracy?: number;
    readonly params?: number;
    readonly newNonZeros?: number;
    readonly maxLogitDiff?: number;
  };
}

/** A heuristic subnet of the space (`SearchSpace.maxConfig()` etc.). */
export interface ReportHeuristic {
  readonly name: 'max' | 'median' | 'min';
  readonly config: Config;
  readonly key: string;
  /** Rank of every gene. */
  readonly ranks: readonly number[];
}

/** Everything a report is made from. */
export interface ReportData {
  /** The run folder (absolute). */
  readonly runDir: string;
  readonly layout: ReportLayout;
  /** `manifest.json`; undefined when the folder has none. */
  readonly manifest?: RunManifest;
  readonly supernet?: ReportSupernet;
  /** The searched space resolved for the model (undefined when it could not be determined). */
  readonly space?: SearchSpace;
  /** The space's max, median and min subnets (empty without a space). */
  readonly heuristics: readonly ReportHeuristic[];
  /** Studies, in the order they were created. */
  readonly studies: readonly ReportStudy[];
  readonly predictors: readonly PredictorReport[];
  readonly demo?: DemoResultData;
  /** An `nls replicate` study's results.json. */
  readonly replicate?: ReplicateResult;
  /** What could not be found or did not fit, in words, for the report's notes. */
  readonly warnings: readonly string[];
}

/** Options of {@link collectReport}. */
export interface CollectOptions {
  /** The supernet folder, when the manifest does not name it or it has moved. */
  readonly supernet?: string;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Parse a JSON file; an unreadable or invalid one is an NlsError naming it and `fix`. */
async function readJson(file: string, fix: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new NlsError(`cannot read (${code ?? String(cause)}); fix: ${fix}`, { file, cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new NlsError(`not valid JSON (${(cause as Error).message}); fix: ${fix}`, { file, cause });
  }
}

/** A number field or null (JSON writes NaN as null); anything else is an error. */
function numberOrNull(v: unknown, file: string, field: string, fix: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number') throw new NlsError(`must be a number or null, got ${JSON.stringify(v)}; fix: ${fix}`, { file, field });
  return v;
}

function requireNumber(v: unknown, file: string, field: string, fix: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new NlsError(`must be a finite number, got ${JSON.stringify(v) ?? 'nothing'}; fix: ${fix}`, { file, field });
  return v;
}

function requireString(v: unknown, file: string, field: string, fix: string): string {
  if (typeof v !== 'string') throw new NlsError(`must be a string, got ${JSON.stringify(v) ?? 'nothing'}; fix: ${fix}`, { file, field });
  return v;
}

function optionalNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Supernet

const SUPERNET_FIX = 'restore the supernet.json that nls train wrote';

/** Read `training-log.jsonl` (one JSON object per line with numeric step and loss). */
export async function readTrainingLog(file: string): Promise<TrainingLogRecord[]> {
  const text = await fsp.readFile(file, 'utf8');
  const fix = 'restore the training-log.jsonl that nls train wrote, or delete it to report without the loss curve';
  const out: TrainingLogRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch (cause) {
      throw new NlsError(`line ${i + 1} is not valid JSON (${(cause as Error).message}); fix: ${fix}`, { file, cause });
    }
    if (!isObject(r)) throw new NlsError(`line ${i + 1} is not a JSON object; fix: ${fix}`, { file });
    const step = r['step'];
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
      throw new NlsError(`must be a step number (integer >= 0), got ${JSON.stringify(step) ?? 'nothing'}; fix: ${fix}`, { file, field: `line ${i + 1}: step` });
    }
    const loss = requireNumber(r['loss'], file, `line ${i + 1}: loss`, fix);
    const lr = optionalNumber(r['lr']);
    out.push({ step, label: typeof r['label'] === 'string' ? r['label'] : '', loss, ...(lr !== undefined ? { lr } : {}) });
  });
  return out;
}

/** Read `validation.json`'s `subnets` (the max, median and min subnets' validation metrics). */
export async function readValidation(file: string): Promise<ValidationSubnet[]> {
  const fix = 'restore the validation.json that nls train wrote, or delete it to report without it';
  const doc = await readJson(file, fix);
  if (!isObject(doc) || !Array.isArray(doc['subnets'])) throw new NlsError(`must be an object with a "subnets" array; fix: ${fix}`, { file, field: 'subnets' });
  return doc['subnets'].map((s: unknown, i: number): ValidationSubnet => {
    const field = `subnets[${i}]`;
    if (!isObject(s)) throw new NlsError(`must be an object; fix: ${fix}`, { file, field });
    const accuracy = numberOrNull(s['accuracy'], file, `${field}.accuracy`, fix);
    return {
      name: requireString(s['name'], file, `${field}.name`, fix),
      key: requireString(s['key'], file, `${field}.key`, fix),
      adapterParameters: requireNumber(s['adapterParameters'], file, `${field}.adapterParameters`, fix),
      loss: numberOrNull(s['loss'], file, `${field}.loss`, fix) ?? Number.NaN,
      ...(accuracy !== null ? { accuracy } : {}),
    };
  });
}

async function readSupernet(dir: string): Promise<ReportSupernet> {
  const file = path.join(dir, 'supernet.json');
  const doc = await readJson(file, SUPERNET_FIX);
  if (!isObject(doc)) throw new NlsError(`must be a JSON object; fix: ${SUPERNET_FIX}`, { file });
  if (doc['format'] !== 'nls-supernet/1') {
    throw new NlsError(`unsupported format ${JSON.stringify(doc['format'])}; this nls reads nls-supernet/1; fix: ${SUPERNET_FIX}`, { file, field: 'format' });
  }
  const spaceSpec = validateSearchSpaceSpec(doc['space'], { file });
  const training = isObject(doc['training']) ? doc['training'] : {};
  const data = isObject(doc['data']) ? doc['data'] : {};
  const logFile = path.join(dir, 'training-log.jsonl');
  const validationFile = path.join(dir, 'validation.json');
  const validation = existsSync(validationFile) ? await readValidation(validationFile) : undefined;
  return {
    dir,
    baseModel: requireString(doc['baseModel'], file, 'baseModel', SUPERNET_FIX),
    ...(typeof doc['nlsVersion'] === 'string' ? { nlsVersion: doc['nlsVersion'] } : {}),
    spaceSpec,
    training,
    data,
    trainingLog: existsSync(logFile) ? await readTrainingLog(logFile) : [],
    ...(validation ? { validation } : {}),
  };
}

/** Where the run's supernet is: the override, the folder itself, `supernet/`, or what the manifest names. */
function supernetCandidates(runDir: string, manifest: RunManifest | undefined, override: string | undefined): string[] {
  if (override !== undefined) return [path.resolve(override)];
  const out = [runDir, path.join(runDir, 'supernet')];
  if (manifest) {
    for (const input of manifest.inputs) {
      if (input.name !== 'supernet') continue;
      out.push(path.resolve(runDir, input.relative), input.path);
    }
    const given = manifest.options['supernet'];
    if (typeof given === 'string') out.push(path.resolve(manifest.cwd, given), path.resolve(runDir, given));
  }
  return out;
}

/** Layers of the base model: config.json's num_hidden_layers, else from the adapter tensor names. */
async function numLayersOf(supernet: ReportSupernet, runDir: string, manifest: RunManifest | undefined): Promise<number | undefined> {
  const bases = [path.isAbsolute(supernet.baseModel) ? supernet.baseModel : path.resolve(supernet.dir, supernet.baseModel)];
  for (const input of manifest?.inputs ?? []) {
    if (input.name === 'supernet.baseModel' || input.name === 'model') bases.push(path.resolve(runDir, input.relative), input.path);
  }
  for (const base of bases) {
    const file = path.join(base, 'config.json');
    if (!existsSync(file)) continue;
    const config = await readJson(file, 'restore the model folder the supernet was trained on');
    const n = isObject(config) ? config['num_hidden_layers'] : undefined;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n > 0) return n;
  }
  return adapterLayers(path.join(supernet.dir, 'adapters.safetensors'));
}

/** 1 + the largest layer index among the tensor names `layers.{i}.…` in a safetensors header. */
async function adapterLayers(file: string): Promise<number | undefined> {
  if (!existsSync(file)) return undefined;
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    const length = Number(head.readBigUInt64LE(0));
    if (!(length > 0 && length < 100_000_000)) return undefined;
    const json = Buffer.alloc(length);
    await handle.read(json, 0, length, 8);
    const names = Object.keys(JSON.parse(json.toString('utf8')) as Json);
    const layers = names.map((n) => /^layers\.(\d+)\./.exec(n)?.[1]).filter((s): s is string => s !== undefined).map(Number);
    return layers.length > 0 ? Math.max(...layers) + 1 : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Studies

const PARETO_FIX = 'restore the pareto.json nls search wrote, or delete it (the report recomputes the front from trials.jsonl)';

async function readPareto(file: string): Promise<ParetoFile> {
  const doc = await readJson(file, PARETO_FIX);
  if (!isObject(doc)) throw new NlsError(`must be a JSON object; fix: ${PARETO_FIX}`, { file });
  if (doc['format'] !== PARETO_FORMAT) throw new NlsError(`unsupported format ${JSON.stringify(doc['format'])}; this nls reads ${PARETO_FORMAT}; fix: ${PARETO_FIX}`, { file, field: 'format' });
  if (!Array.isArray(doc['objectives'])) throw new NlsError(`must be an array; fix: ${PARETO_FIX}`, { file, field: 'objectives' });
  if (!Array.isArray(doc['front'])) throw new NlsError(`must be an array; fix: ${PARETO_FIX}`, { file, field: 'front' });
  return doc as unknown as ParetoFile;
}

/** Folders holding a `trials.jsonl`: the run folder, `search/`, and their sub-folders. */
function studyDirs(runDir: string): string[] {
  const found: string[] = [];
  const consider = (dir: string) => {
    if (existsSync(path.join(dir, 'trials.jsonl')) && !found.includes(dir)) found.push(dir);
  };
  for (const base of [runDir, path.join(runDir, 'search')]) {
    if (!isDir(base)) continue;
    consider(base);
    for (const name of readdirSorted(base)) {
      const sub = path.join(base, name);
      if (isDir(sub)) consider(sub);
    }
  }
  return found;
}

function readdirSorted(dir: string): string[] {
  try {
    // Sorted by code unit, not locale, so the order is the same everywhere.
    return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch {
    return [];
  }
}

async function readStudies(runDir: string): Promise<ReportStudy[]> {
  const studies: ReportStudy[] = [];
  for (const dir of studyDirs(runDir)) {
    const journal = await readJournal(path.join(dir, 'trials.jsonl'));
    const paretoFile = path.join(dir, 'pareto.json');
    const pareto = existsSync(paretoFile) ? await readPareto(paretoFile) : undefined;
    const label = dir === runDir || dir === path.join(runDir, 'search') ? journal.header.strategy.name : path.basename(dir);
    studies.push({ label, dir, header: journal.header, trials: journal.trials, ...(pareto ? { pareto } : {}) });
  }
  studies.sort((a, b) => (a.header.created < b.header.created ? -1 : a.header.created > b.header.created ? 1 : a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  // Unique labels: a second study of the same name gets its folder's name appended.
  const seen = new Map<string, number>();
  return studies.map((s) => {
    const n = seen.get(s.label) ?? 0;
    seen.set(s.label, n + 1);
    return n === 0 ? s : { ...s, label: `${s.label} (${path.relative(runDir, s.dir) || '.'})` };
  });
}

// ---------------------------------------------------------------------------------------------
// Predictors

const QUALITY_FIX = 'restore the file nls profile --validate / nls search --latency-predictor wrote, or delete it';

function qualityRows(results: unknown, file: string, field: string): PredictorValidationRow[] {
  if (!Array.isArray(results)) throw new NlsError(`must be an array of validation results; fix: ${QUALITY_FIX}`, { file, field });
  return results.map((r: unknown, i: number) => {
    const f = `${field}[${i}]`;
    if (!isObject(r) || !isObject(r['quality'])) throw new NlsError(`must be an object with a "quality" object; fix: ${QUALITY_FIX}`, { file, field: f });
    const q = r['quality'];
    const num = (k: string) => numberOrNull(q[k], file, `${f}.quality.${k}`, QUALITY_FIX);
    return {
      predictor: requireString(r['predictor'], file, `${f}.predictor`, QUALITY_FIX),
      fittedOn: typeof r['fittedOn'] === 'string' ? r['fittedOn'] : null,
      evaluatedOn: typeof r['evaluatedOn'] === 'string' ? r['evaluatedOn'] : null,
      n: num('n'),
      mape: num('mape'),
      rmse: num('rmse'),
      within5: num('within5'),
      within10: num('within10'),
      kendallTau: num('kendallTau'),
    };
  });
}

/** The split, targets and rows of an `nls-predictor-quality/1` document (`field` locates it in `file`). */
function qualityDoc(doc: Json, file: string, field: string): Pick<PredictorReport, 'split' | 'targets' | 'rows'> {
  const prefix = field === '' ? '' : `${field}.`;
  const split = isObject(doc['split']) ? doc['split'] : undefined;
  const targets: Record<string, number> = {};
  if (isObject(doc['targets'])) for (const [k, v] of Object.entries(doc['targets'])) if (typeof v === 'number') targets[k] = v;
  return {
    ...(split && typeof split['train'] === 'number' && typeof split['validation'] === 'number'
      ? { split: { train: split['train'], validation: split['validation'], seed: typeof split['seed'] === 'number' || typeof split['seed'] === 'string' ? split['seed'] : 0 } }
      : {}),
    ...(Object.keys(targets).length > 0 ? { targets } : {}),
    rows: qualityRows(doc['results'], file, `${prefix}results`),
  };
}

async function readPredictorsJson(file: string, study: string): Promise<PredictorReport | undefined> {
  const doc = await readJson(file, QUALITY_FIX);
  if (!isObject(doc)) throw new NlsError(`must be a JSON object; fix: ${QUALITY_FIX}`, { file });
  const latency = doc['latency'];
  if (latency === undefined) return undefined;
  if (!isObject(latency)) throw new NlsError(`must be an object; fix: ${QUALITY_FIX}`, { file, field: 'latency' });
  const validation = latency['validation'];
  if (validation !== null && validation !== undefined && !isObject(validation)) {
    throw new NlsError(`must be the predictor-quality document or null; fix: ${QUALITY_FIX}`, { file, field: 'latency.validation' });
  }
  return {
    source: file,
    study,
    ...(typeof latency['file'] === 'string' ? { predictorFile: latency['file'] } : {}),
    ...(typeof latency['kind'] === 'string' ? { kind: latency['kind'] } : {}),
    ...(isObject(validation) ? qualityDoc(validation, file, 'latency.validation') : { rows: [] }),
  };
}

async function readPredictorQuality(file: string): Promise<PredictorReport> {
  const doc = await readJson(file, QUALITY_FIX);
  if (!isObject(doc)) throw new NlsError(`must be a JSON object; fix: ${QUALITY_FIX}`, { file });
  return { source: file, ...qualityDoc(doc, file, '') };
}

// ---------------------------------------------------------------------------------------------
// Demo result

const DEMO_FIX = 'restore the demo-result.json nls demo wrote, or delete it to report without the demo table';

/** Read `demo-result.json` (the `DemoResult` of `runDemo`): its rows, search summary and merge. */
export async function readDemoResult(file: string): Promise<DemoResultData> {
  const doc = await readJson(file, DEMO_FIX);
  if (!isObject(doc)) throw new NlsError(`must be a JSON object; fix: ${DEMO_FIX}`, { file });
  if (!Array.isArray(doc['rows'])) throw new NlsError(`must be an array; fix: ${DEMO_FIX}`, { file, field: 'rows' });
  const rows = doc['rows'].map((r: unknown, i: number): DemoRowData => {
    const field = `rows[${i}]`;
    if (!isObject(r)) throw new NlsError(`must be an object; fix: ${DEMO_FIX}`, { file, field });
    return {
      ...(typeof r['name'] === 'string' ? { name: r['name'] } : {}),
      description: requireString(r['description'], file, `${field}.description`, DEMO_FIX),
      key: requireString(r['key'], file, `${field}.key`, DEMO_FIX),
      adapterParameters: requireNumber(r['adapterParameters'], file, `${field}.adapterParameters`, DEMO_FIX),
      loss: numberOrNull(r['loss'], file, `${field}.loss`, DEMO_FIX),
      accuracy: numberOrNull(r['accuracy'], file, `${field}.accuracy`, DEMO_FIX),
    };
  });
  const task = isObject(doc['task']) ? doc['task'] : undefined;
  const search = isObject(doc['search']) ? doc['search'] : undefined;
  const merge = isObject(doc['merge']) ? doc['merge'] : undefined;
  const pick = (o: Json, keys: readonly string[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const k of keys) {
      const v = optionalNumber(o[k]);
      if (v !== undefined) out[k] = v;
    }
    return out;
  };
  const steps = optionalNumber(doc['steps']);
  const seconds = optionalNumber(doc['seconds']);
  return {
    rows,
    ...(task ? { task: { ...(typeof task['name'] === 'string' ? { name: task['name'] } : {}), ...pick(task, ['train', 'validation', 'majorityAccuracy']) } } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(search ? { search: pick(search, ['paramsBound', 'measured', 'seconds']) } : {}),
    ...(merge ? { merge: { key: requireString(merge['key'], file, 'merge.key', DEMO_FIX), ...pick(merge, ['accuracy', 'params', 'newNonZeros', 'maxLogitDiff']) } } : {}),
  };
}

// ---------------------------------------------------------------------------------------------

/** The spaces the studies may have searched: the supernet's, and any `space` input of the run. */
async function spaceCandidates(supernet: ReportSupernet, runDir: string, manifest: RunManifest | undefined): Promise<{ spec: SearchSpaceSpec; file: string }[]> {
  const out = [{ spec: supernet.spaceSpec, file: path.join(supernet.dir, 'supernet.json') }];
  for (const input of manifest?.inputs ?? []) {
    if (input.name !== 'space' || input.kind !== 'file') continue;
    for (const file of [path.resolve(runDir, input.relative), input.path]) {
      if (!existsSync(file)) continue;
      out.push({ spec: await loadSearchSpace(file), file });
      break;
    }
  }
  return out;
}

/**
 * Read a run folder (see the module comment for the layouts).
 *
 * @throws NlsError when the folder does not exist or holds nothing to report, or when a file in
 * it is malformed (naming the file, the field and the fix).
 */
export async function collectReport(runDir: string, options: CollectOptions = {}): Promise<ReportData> {
  const dir = path.resolve(runDir);
  if (!isDir(dir)) throw new NlsError('no such folder; fix: give the --out folder of nls demo, nls search or nls train', { file: dir });
  const warnings: string[] = [];
  const manifest = existsSync(path.join(dir, RUN_MANIFEST_FILE)) ? await readRunManifest(dir) : undefined;
  if (!manifest) warnings.push(`no ${RUN_MANIFEST_FILE} in the run folder: the settings it records are unknown`);

  let supernet: ReportSupernet | undefined;
  const candidates = supernetCandidates(dir, manifest, options.supernet);
  const found = candidates.find((c) => existsSync(path.join(c, 'supernet.json')));
  if (found) supernet = await readSupernet(found);
  else if (options.supernet !== undefined) {
    throw new NlsError('not a supernet folder (no supernet.json); fix: point --supernet at the --out folder of nls train', { file: path.resolve(options.supernet) });
  } else if (manifest && (manifest.inputs.some((i) => i.name === 'supernet') || typeof manifest.options['supernet'] === 'string')) {
    warnings.push(`the supernet folder the manifest names (${String(manifest.options['supernet'] ?? manifest.inputs.find((i) => i.name === 'supernet')?.given)}) was not found: no search space, rank patterns or training curve; fix: pass --supernet DIR`);
  }

  const studies = await readStudies(dir);
  const predictors: PredictorReport[] = [];
  for (const s of studies) {
    const file = path.join(s.dir, 'predictors.json');
    if (existsSync(file)) {
      const p = await readPredictorsJson(file, s.label);
      if (p) predictors.push(p);
    }
  }
  const qualityFile = path.join(dir, 'predictor-quality.json');
  if (existsSync(qualityFile)) predictors.push(await readPredictorQuality(qualityFile));

  const demoFile = path.join(dir, 'demo-result.json');
  const demo = existsSync(demoFile) ? await readDemoResult(demoFile) : undefined;

  const resultsFile = path.join(dir, 'results.json');
  let replicate: ReplicateResult | undefined;
  if (existsSync(resultsFile)) {
    const r = await readJson(resultsFile, 'run nls replicate again with the same --out to rewrite it');
    if (isObject(r) && r['format'] === 'nls-replicate/1') replicate = r as unknown as ReplicateResult;
  }

  if (!manifest && !supernet && studies.length === 0 && !demo && !replicate) {
    throw new NlsError('nothing to report: no manifest.json, supernet.json, trials.jsonl or search/ here; fix: give the --out folder of nls demo, nls search or nls train', { file: dir });
  }

  // The searched space: the one whose fingerprint the journals record (a sub-space search
  // records the sub-space's), resolved for the base model's number of layers.
  let space: SearchSpace | undefined;
  if (supernet) {
    const numLayers = await numLayersOf(supernet, dir, manifest);
    if (numLayers === undefined) {
      warnings.push(`the number of layers of the supernet's base model (${supernet.baseModel}) is unknown (no config.json, no adapters.safetensors): no search space, heuristic subnets or rank patterns`);
    } else {
      const wanted = studies[0]?.header.space.fingerprint;
      for (const c of await spaceCandidates(supernet, dir, manifest)) {
        const s = resolveSearchSpace(c.spec, { numLayers, file: c.file });
        if (wanted === undefined || s.fingerprint === wanted) {
          space = s;
          break;
        }
      }
      if (!space) warnings.push(`no search space at hand has the fingerprint the journals record (${wanted}): no heuristic subnets or rank patterns`);
    }
  }
  const heuristics: ReportHeuristic[] = space
    ? (
        [
          ['max', space.maxConfig()],
          ['median', space.medianConfig()],
          ['min', space.minConfig()],
        ] as const
      ).map(([name, config]) => ({ name, config, key: space.key(config), ranks: space.decode(config) }))
    : [];

  const fingerprints = new Set(studies.map((s) => s.header.space.fingerprint));
  if (fingerprints.size > 1) warnings.push(`the studies searched ${fingerprints.size} different spaces; rank patterns use the first study's`);

  const layout: ReportLayout =
    manifest?.command === 'replicate' || replicate !== undefined
      ? 'replicate'
      : manifest?.command === 'demo' || (demo !== undefined && studies.length > 0)
      ? 'demo'
      : manifest?.command === 'search' || existsSync(path.join(dir, 'trials.jsonl'))
        ? 'search'
        : manifest?.command === 'train' || existsSync(path.join(dir, 'supernet.json'))
          ? 'train'
          : 'other';

  return {
    runDir: dir,
    layout,
    ...(manifest ? { manifest } : {}),
    ...(supernet ? { supernet } : {}),
    ...(space ? { space } : {}),
    heuristics,
    studies,
    predictors,
    ...(demo ? { demo } : {}),
    ...(replicate ? { replicate } : {}),
    warnings,
  };
}
