/**
 * Comparing a reproduction's outputs with the original run's: byte for byte first; JSON and
 * JSON-lines files again without their timings (wall-clock times differ on every run); and,
 * where they still differ, number by number within a tolerance, with a per-metric table of the
 * largest differences. Safetensors files are compared tensor by tensor.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../model/safetensors.js';
import { sha256File } from './hash.js';

/**
 * Keys whose values are wall-clock times or durations, dropped before JSON outputs are compared
 * (and by the determinism test): every run has its own. Documented in docs/reproducibility.md.
 */
export const TIMING_KEYS: ReadonlySet<string> = new Set([
  'time',
  'created',
  'started',
  'finished',
  'seconds',
  'elapsed',
  'elapsedSeconds',
  'stepsPerSecond',
  'tokensPerSecond',
  'ms',
  'wallSeconds',
  'cpuSeconds',
  // Latencies measured by nls replicate's LoNAS row, and their ratio.
  'maxLatencyMs',
  'chosenLatencyMs',
  'speedup',
]);

/** Numeric tolerance: |a - b| <= abs + rel * max(|a|, |b|). */
export interface Tolerance {
  readonly abs: number;
  readonly rel: number;
}

/** Default tolerance across backends, and per-metric overrides (by the last key of a value's path). */
export interface ToleranceSpec {
  readonly default: Tolerance;
  /** E.g. `{ accuracy: { abs: 0.02, rel: 0 } }`: accuracy may move by two examples in a hundred. */
  readonly metrics?: Readonly<Record<string, Tolerance>>;
}

/**
 * Tolerances for a reproduction on another backend: float32 kernels differ in summation order,
 * so losses move in their 4th-6th digit; an accuracy moves when one validation example's two
 * log-likelihoods were nearly tied.
 */
export const DEFAULT_TOLERANCE: ToleranceSpec = {
  default: { abs: 1e-4, rel: 1e-3 },
  metrics: { accuracy: { abs: 0.02, rel: 0 }, exact: { abs: 0.02, rel: 0 } },
};

/** How one output compares (`identical-except-timings` also allows the run folder's own path to differ). */
export type FileVerdict = 'identical' | 'identical-except-timings' | 'within-tolerance' | 'differs' | 'missing';

/** One output file's comparison. */
export interface FileComparison {
  readonly path: string;
  readonly verdict: FileVerdict;
  /** The first difference that is not within tolerance (or the reason for `missing`). */
  readonly detail?: string;
}

/** One row of the per-metric difference table. */
export interface MetricDifference {
  /** File and value path with array indices dropped, e.g. `trials.jsonl: objective accuracy`. */
  readonly metric: string;
  /** Values compared. */
  readonly compared: number;
  /** Values that differ at all. */
  readonly differing: number;
  readonly maxAbsDiff: number;
  readonly meanAbsDiff: number;
  readonly tolerance: Tolerance;
  /** True when every value is within `tolerance`. */
  readonly within: boolean;
}

/** The comparison of two runs' outputs. */
export interface RunComparison {
  /** `identical` when every file is (up to timings), `within-tolerance`, else `differs`. */
  readonly verdict: 'identical' | 'within-tolerance' | 'differs';
  readonly files: readonly FileComparison[];
  /** Metrics with at least one differing value. */
  readonly metrics: readonly MetricDifference[];
}

/** A JSON value with every {@link TIMING_KEYS} key removed, at any depth. */
export function withoutTimings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimings);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!TIMING_KEYS.has(k)) out[k] = withoutTimings(v);
    return out;
  }
  return value;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A JSON value with paths inside `dir` written relative to a `<run>` placeholder: outputs that
 * name other outputs (a merge report naming its supernet) say where the run folder was, which
 * differs between a run and its reproduction without the results differing.
 */
export function withRunFolder(value: unknown, dir: string): unknown {
  // Anywhere in a string: messages quote paths too ("the training data of /runs/x/supernet").
  if (typeof value === 'string') return value.split(`${dir}${path.sep}`).join('<run>/').replace(new RegExp(`${escapeRegExp(dir)}(?![^\\s"'),;:])`, 'g'), '<run>');
  if (Array.isArray(value)) return value.map((v) => withRunFolder(v, dir));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRunFolder(v, dir)]));
  return value;
}

/**
 * Records of a JSON-lines file in a canonical order: study trials by trial number (evaluation
 * workers finish a round's trials in any order), everything else as written.
 */
export function canonicalJsonLines(text: string): unknown[] {
  const records = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
  const isTrial = (r: unknown): r is { type: 'trial'; number: number } => typeof r === 'object' && r !== null && (r as { type?: unknown }).type === 'trial' && typeof (r as { number?: unknown }).number === 'number';
  const trials = records.filter(isTrial).sort((a, b) => a.number - b.number);
  let next = 0;
  // Trials keep their slots among the other records; only their order among themselves changes.
  return records.map((r) => (isTrial(r) ? trials[next++] : r));
}

class Differences {
  readonly rows = new Map<string, { compared: number; differing: number; max: number; sum: number; tolerance: Tolerance; within: boolean }>();
  firstFailure: string | undefined;
  constructor(private readonly tolerance: ToleranceSpec) {}

  toleranceFor(key: string): Tolerance {
    return this.tolerance.metrics?.[key] ?? this.tolerance.default;
  }

  number(metric: string, key: string, a: number, b: number, where: string): void {
    const tol = this.toleranceFor(key);
    const row = this.rows.get(metric) ?? { compared: 0, differing: 0, max: 0, sum: 0, tolerance: tol, within: true };
    const d = Object.is(a, b) ? 0 : Math.abs(a - b);
    row.compared++;
    if (d !== 0 || Number.isNaN(d)) {
      row.differing++;
      row.max = Math.max(row.max, Number.isNaN(d) ? Infinity : d);
      row.sum += Number.isNaN(d) ? Infinity : d;
      const ok = d <= tol.abs + tol.rel * Math.max(Math.abs(a), Math.abs(b));
      if (!ok) {
        row.within = false;
        this.firstFailure ??= `${where}: ${a} vs ${b} (tolerance ${tol.abs} + ${tol.rel}·|x|)`;
      }
    }
    this.rows.set(metric, row);
  }

  mismatch(where: string, a: unknown, b: unknown): void {
    this.firstFailure ??= `${where}: ${short(a)} vs ${short(b)}`;
  }
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Walk two JSON values side by side, collecting numeric differences and the first structural one. */
function walk(a: unknown, b: unknown, where: string, pattern: string, key: string, diffs: Differences): void {
  if (typeof a === 'number' && typeof b === 'number') {
    diffs.number(pattern, key, a, b, where);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) diffs.mismatch(`${where}.length`, a.length, b.length);
    for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], `${where}[${i}]`, `${pattern}[]`, key, diffs);
    return;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const k of new Set([...ka, ...kb])) {
      const va = (a as Record<string, unknown>)[k];
      const vb = (b as Record<string, unknown>)[k];
      if (va === undefined || vb === undefined) diffs.mismatch(`${where}.${k}`, va, vb);
      else walk(va, vb, `${where}.${k}`, `${pattern}.${k}`, k, diffs);
    }
    return;
  }
  if (a !== b) diffs.mismatch(where, a, b);
}

/**
 * Names for the numbers of a study journal: a trial's `values[i]` is objective i of the header,
 * `constraints[i]` constraint i, so the table says `objective accuracy`, not `values[]`.
 */
function journalNames(records: readonly unknown[]): { objectives: string[]; constraints: string[] } {
  const header = records.find((r) => typeof r === 'object' && r !== null && (r as { type?: unknown }).type === 'study') as
    | { objectives?: { name: string }[]; constraints?: { name: string }[] }
    | undefined;
  return { objectives: header?.objectives?.map((o) => o.name) ?? [], constraints: header?.constraints?.map((c) => c.name) ?? [] };
}

function compareJsonLines(file: string, a: unknown[], b: unknown[], diffs: Differences): void {
  if (a.length !== b.length) diffs.mismatch(`${file}: records`, a.length, b.length);
  const names = journalNames(a);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const ra = a[i] as Record<string, unknown>;
    const rb = b[i] as Record<string, unknown>;
    const type = typeof ra?.type === 'string' ? ra.type : 'record';
    if (type === 'trial' && typeof ra === 'object' && typeof rb === 'object' && ra !== null && rb !== null) {
      const where = `${file}: trial ${String(ra.number)}`;
      const { values: va, constraints: ca, ...restA } = ra;
      const { values: vb, constraints: cb, ...restB } = rb;
      named(va, vb, names.objectives, 'objective', `${where}`, file, diffs);
      named(ca, cb, names.constraints, 'constraint', `${where}`, file, diffs);
      walk(restA, restB, where, `${file}: trial`, 'trial', diffs);
    } else {
      walk(ra, rb, `${file}: line ${i + 1}`, `${file}: ${type}`, type, diffs);
    }
  }
}

function named(a: unknown, b: unknown, names: readonly string[], kind: string, where: string, file: string, diffs: Differences): void {
  if (!Array.isArray(a) || !Array.isArray(b)) {
    if (a !== undefined || b !== undefined) walk(a, b, `${where}.${kind}s`, `${file}: ${kind}s`, kind, diffs);
    return;
  }
  if (a.length !== b.length) diffs.mismatch(`${where}.${kind}s.length`, a.length, b.length);
  for (let j = 0; j < Math.min(a.length, b.length); j++) {
    const name = names[j] ?? String(j);
    const metric = name.replace(/[<>=].*$/, '');
    walk(a[j], b[j], `${where} ${kind} ${name}`, `${file}: ${kind} ${name}`, metric, diffs);
  }
}

async function compareSafetensors(file: string, fa: string, fb: string, diffs: Differences): Promise<void> {
  const [a, b] = await Promise.all([readSafetensors(fa), readSafetensors(fb)]);
  const names = new Set([...a.tensors.keys(), ...b.tensors.keys()]);
  for (const name of names) {
    const ta = a.tensors.get(name);
    const tb = b.tensors.get(name);
    if (!ta || !tb) {
      diffs.mismatch(`${file}: tensor ${name}`, ta ? 'present' : 'absent', tb ? 'present' : 'absent');
      continue;
    }
    if (ta.shape.join('x') !== tb.shape.join('x')) {
      diffs.mismatch(`${file}: tensor ${name} shape`, ta.shape, tb.shape);
      continue;
    }
    for (let i = 0; i < ta.data.length; i++) diffs.number(`${file}: tensors`, 'tensors', ta.data[i]!, tb.data[i]!, `${file}: ${name}[${i}]`);
  }
}

/**
 * Compare the files `paths` (relative) of the original run folder with the reproduction's.
 */
export async function compareRunOutputs(originalDir: string, reproducedDir: string, paths: readonly string[], tolerance: ToleranceSpec = DEFAULT_TOLERANCE): Promise<RunComparison> {
  const files: FileComparison[] = [];
  const rendered: { md: string; json: string; index: number }[] = [];
  const all = new Differences(tolerance);
  for (const rel of paths) {
    const fa = path.join(originalDir, rel);
    const fb = path.join(reproducedDir, rel);
    if (!existsSync(fa) || !existsSync(fb)) {
      files.push({ path: rel, verdict: 'missing', detail: existsSync(fa) ? 'the reproduction did not write it' : 'missing from the original run folder' });
      continue;
    }
    if ((await sha256File(fa)) === (await sha256File(fb))) {
      files.push({ path: rel, verdict: 'identical' });
      continue;
    }
    const diffs = new Differences(tolerance);
    if (rel.endsWith('.json') || rel.endsWith('.jsonl')) {
      const [ta, tb] = await Promise.all([fsp.readFile(fa, 'utf8'), fsp.readFile(fb, 'utf8')]);
      const parse = (t: string): unknown[] => (rel.endsWith('.jsonl') ? canonicalJsonLines(t) : [JSON.parse(t) as unknown]);
      let pa: unknown[];
      let pb: unknown[];
      try {
        const dirA = path.resolve(originalDir);
        const dirB = path.resolve(reproducedDir);
        pa = parse(ta).map((v) => withRunFolder(withoutTimings(v), dirA));
        pb = parse(tb).map((v) => withRunFolder(withoutTimings(v), dirB));
      } catch {
        files.push({ path: rel, verdict: 'differs', detail: 'not valid JSON in one of the runs' });
        continue;
      }
      if (JSON.stringify(pa) === JSON.stringify(pb)) {
        files.push({ path: rel, verdict: 'identical-except-timings' });
        continue;
      }
      if (rel.endsWith('.jsonl')) compareJsonLines(rel, pa, pb, diffs);
      else walk(pa[0], pb[0], rel, rel, path.basename(rel, '.json'), diffs);
    } else if (rel.endsWith('.safetensors')) {
      await compareSafetensors(rel, fa, fb, diffs);
    } else if (rel.endsWith('.md') && paths.includes(rel.replace(/\.md$/, '.json'))) {
      // A table rendered from the JSON beside it (results.md from results.json) quotes its
      // timings too: it is as reproducible as that JSON, compared there.
      const json = rel.replace(/\.md$/, '.json');
      rendered.push({ md: rel, json, index: files.length });
      files.push({ path: rel, verdict: 'identical-except-timings', detail: `rendered from ${json}` });
      continue;
    } else {
      diffs.mismatch(rel, 'bytes', 'other bytes');
    }
    for (const [k, v] of diffs.rows) all.rows.set(k, v);
    files.push({ path: rel, verdict: diffs.firstFailure === undefined ? 'within-tolerance' : 'differs', ...(diffs.firstFailure !== undefined ? { detail: diffs.firstFailure } : {}) });
  }
  for (const r of rendered) {
    const source = files.find((f) => f.path === r.json);
    if (source && source.verdict !== 'identical' && source.verdict !== 'identical-except-timings') files[r.index] = { path: r.md, verdict: source.verdict, detail: `rendered from ${r.json}, which ${source.verdict === 'within-tolerance' ? 'is within tolerance' : 'differs'}` };
  }
  const metrics: MetricDifference[] = [...all.rows]
    .filter(([, r]) => r.differing > 0)
    .map(([metric, r]) => ({ metric, compared: r.compared, differing: r.differing, maxAbsDiff: r.max, meanAbsDiff: r.sum / r.compared, tolerance: r.tolerance, within: r.within }));
  const verdict = files.some((f) => f.verdict === 'differs' || f.verdict === 'missing')
    ? 'differs'
    : files.some((f) => f.verdict === 'within-tolerance')
      ? 'within-tolerance'
      : 'identical';
  return { verdict, files, metrics };
}
