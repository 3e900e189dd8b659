/**
 * What the report computes from a run's studies: which objectives the Pareto plot shows, the
 * usable trials of every study, the front over all of them, the most accurate feasible subnet,
 * the heuristic subnets' trials, the subnets whose rank patterns are drawn, and the search
 * progression (best-so-far and hypervolume after each evaluation).
 *
 * The definitions are those of src/search/results.ts (docs/search.md): a trial is usable when it
 * is complete, not a cache hit, at full fidelity and the first of its key in its study; the front
 * is the set of usable feasible trials no other usable feasible trial dominates.
 *
 * **Hypervolume normalisation.** Studies may measure objectives on very different scales
 * (accuracy in [0, 1], parameters in the hundreds of thousands), and pareto.json holds a
 * hypervolume only when the study had a reference point. So the report computes its own: each
 * objective is turned into one to minimise and scaled to [0, 1] by the ideal (best) and nadir
 * (worst) value over every usable trial of every study of the run (feasible or not; an objective
 * with a single value maps to 0); the reference point is {@link HV_REFERENCE} (1.1) in every
 * normalised objective, so the largest possible hypervolume is 1.1^d. Hypervolumes are comparable
 * between the strategies of one report, not between reports.
 */
import type { ConstraintSpec, Direction, ObjectiveSpec } from '../search/contract.js';
import { hypervolume } from '../search/hypervolume.js';
import type { TrialRecord } from '../search/journal.js';
import { isCachedTrial } from '../search/middleware/cache.js';
import { directionSigns, dominates, isFeasible, paretoFrontIndices } from '../search/pareto.js';
import { bestFeasibleTrial, usableTrials } from '../search/results.js';
import type { Config } from '../space/index.js';
import type { ReportHeuristic, ReportData, ReportStudy } from './collect.js';

/** The reference point of the normalised hypervolume, in every objective. */
export const HV_REFERENCE = 1.1;

/** At most this many front members get a rank-pattern panel (besides the best and the heuristics). */
export const MAX_FRONT_PATTERNS = 8;

/** One axis of the Pareto plot: an objective, a numeric trial attribute, or the trial number. */
export interface AxisChoice {
  /** Objective index, when the axis is an objective. */
  readonly objective?: number;
  /** Attribute name (`attrs[name]`), when the axis is not an objective. */
  readonly attr?: string;
  /** Name of the quantity: `accuracy`, `params`, ..., or `trial`. */
  readonly name: string;
  /** Axis title. */
  readonly label: string;
  readonly direction: Direction;
}

/** A usable trial of one study, placed on the Pareto plot. */
export interface PlotTrial {
  readonly study: string;
  readonly number: number;
  readonly key: string;
  readonly config: Config;
  readonly values: readonly number[];
  readonly constraints?: readonly number[];
  readonly feasible: boolean;
  readonly x: number;
  readonly y: number;
  readonly attrs?: Readonly<Record<string, unknown>>;
}

/** A member of the front over all studies. */
export interface FrontMember extends PlotTrial {
  /** Studies whose usable trials include this configuration. */
  readonly foundBy: readonly string[];
}

/** One point of a progression line: the state after `evaluations` evaluations. */
export interface ProgressPoint {
  readonly evaluations: number;
  /** Best feasible value of the first objective so far; null before the first feasible trial. */
  readonly best: number | null;
  /** Normalised hypervolume of the feasible front so far (see the module comment). */
  readonly hypervolume: number;
}

/** A study's progression. */
export interface StudyProgression {
  readonly study: string;
  readonly points: readonly ProgressPoint[];
}

/** A subnet whose rank pattern the report draws. */
export interface ChosenSubnet {
  readonly key: string;
  readonly config: Config;
  /** Why it was chosen: `most accurate feasible`, `front`, `max`, `median`, `min`. */
  readonly roles: readonly string[];
  /** Its usable trial, when one was evaluated. */
  readonly trial?: PlotTrial;
}

/** A heuristic subnet and its trial in the search, if any. */
export interface HeuristicPoint extends ReportHeuristic {
  readonly trial?: PlotTrial;
}

/** Summary of one study for the tables. */
export interface StudySummary {
  readonly study: string;
  readonly strategy: string;
  readonly budget: number | null;
  readonly evaluations: number;
  readonly complete: number;
  readonly feasible: number;
  readonly failed: number;
  readonly filtered: number;
  readonly best?: PlotTrial;
  readonly frontSize: number;
  readonly hypervolume: number;
}

/** Everything the search sections show. */
export interface SearchAnalysis {
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** Studies analysed (those with the first study's objectives). */
  readonly studies: readonly ReportStudy[];
  readonly x: AxisChoice;
  readonly y: AxisChoice;
  /** Usable trials of every study (a configuration found by two studies appears twice). */
  readonly points: readonly PlotTrial[];
  /** The front over all studies, sorted by x (best x first). */
  readonly front: readonly FrontMember[];
  /** Front members that are also non-dominated in the two plotted quantities, sorted by x: the step line. */
  readonly staircase: readonly PlotTrial[];
  /** The best usable feasible trial by the first objective (ties: later objectives, lower number). */
  readonly best?: PlotTrial;
  readonly heuristics: readonly HeuristicPoint[];
  readonly chosen: readonly ChosenSubnet[];
  readonly progression: readonly StudyProgression[];
  readonly summaries: readonly StudySummary[];
  /** Normalisation of the hypervolume: per objective, the ideal and nadir in original units. */
  readonly normalisation: { readonly ideal: readonly number[]; readonly nadir: readonly number[]; readonly reference: number };
  /** Notes for the report (dropped studies, ...). */
  readonly notes: readonly string[];
}

const COST_ATTRS = ['params', 'flops', 'latency', 'memory'] as const;

const LABELS: Readonly<Record<string, string>> = {
  accuracy: 'accuracy (validation)',
  exact: 'exact match (validation)',
  loss: 'answer loss (validation, nats/token)',
  params: 'adapter parameters',
  flops: 'FLOPs per token',
  latency: 'latency (ms)',
  memory: 'inference memory (bytes)',
  trial: 'trial number',
};

/** Axis title of a quantity. */
export function quantityLabel(name: string): string {
  return LABELS[name] ?? name;
}

function sameObjectives(a: readonly ObjectiveSpec[], b: readonly ObjectiveSpec[]): boolean {
  return a.length === b.length && a.every((o, i) => o.name === b[i]?.name && o.direction === b[i]?.direction);
}

/** y = the first objective; x = the second, else a cost attribute all trials have, else the trial number. */
function chooseAxes(objectives: readonly ObjectiveSpec[], trials: readonly TrialRecord[]): { x: AxisChoice; y: AxisChoice } {
  const o0 = objectives[0] as ObjectiveSpec;
  const y: AxisChoice = { objective: 0, name: o0.name, label: quantityLabel(o0.name), direction: o0.direction };
  const o1 = objectives[1];
  if (o1) return { x: { objective: 1, name: o1.name, label: quantityLabel(o1.name), direction: o1.direction }, y };
  const attr = COST_ATTRS.find((a) => trials.length > 0 && trials.every((t) => typeof t.attrs?.[a] === 'number' && Number.isFinite(t.attrs[a])));
  if (attr) return { x: { attr, name: attr, label: quantityLabel(attr), direction: 'minimize' }, y };
  return { x: { attr: 'trial', name: 'trial', label: quantityLabel('trial'), direction: 'minimize' }, y };
}

function axisValue(axis: AxisChoice, t: TrialRecord): number {
  if (axis.objective !== undefined) return t.values?.[axis.objective] ?? Number.NaN;
  if (axis.attr === 'trial') return t.number;
  const v = t.attrs?.[axis.attr ?? ''];
  return typeof v === 'number' ? v : Number.NaN;
}

/** Normalised, minimised objective vector. */
function normalise(values: readonly number[], signs: readonly number[], ideal: readonly number[], nadir: readonly number[]): number[] {
  return values.map((v, m) => {
    const s = signs[m] ?? 1;
    const lo = (ideal[m] ?? 0) * s;
    const hi = (nadir[m] ?? 0) * s;
    return hi === lo ? 0 : (s * v - lo) / (hi - lo);
  });
}

/** Sort by x, best x first (ascending for a minimised x). */
function byX<T extends { x: number; y: number; number: number }>(direction: Direction, ySign: number): (a: T, b: T) => number {
  const s = direction === 'maximize' ? -1 : 1;
  return (a, b) => s * (a.x - b.x) || ySign * (a.y - b.y) || a.number - b.number;
}

/**
 * The search sections' numbers for `data`, or undefined when the run has no study with a
 * complete trial... or no study at all.
 */
export function analyseSearch(data: ReportData): SearchAnalysis | undefined {
  const first = data.studies[0];
  if (!first) return undefined;
  const objectives = first.header.objectives;
  const constraints = first.header.constraints;
  const notes: string[] = [];
  const studies = data.studies.filter((s) => {
    const ok = sameObjectives(s.header.objectives, objectives);
    if (!ok) notes.push(`study ${s.label} has other objectives (${s.header.objectives.map((o) => o.name).join(', ')}) and is left out of the plots`);
    return ok;
  });
  const allTrials = studies.flatMap((s) => s.trials);
  const { x, y } = chooseAxes(objectives, usableTrials(allTrials, objectives));
  const signs = directionSigns(objectives);

  const usableByStudy = new Map<string, PlotTrial[]>();
  const points: PlotTrial[] = [];
  for (const s of studies) {
    const list = usableTrials(s.trials, objectives).map(
      (t): PlotTrial => ({
        study: s.label,
        number: t.number,
        key: t.key,
        config: t.config,
        values: t.values ?? [],
        ...(t.constraints ? { constraints: t.constraints } : {}),
        feasible: isFeasible(t.constraints),
        x: axisValue(x, t),
        y: axisValue(y, t),
        ...(t.attrs ? { attrs: t.attrs } : {}),
      }),
    );
    usableByStudy.set(s.label, list);
    points.push(...list);
  }

  // One representative per configuration (the first study's), then the front.
  const unique = new Map<string, PlotTrial>();
  for (const p of points) if (!unique.has(p.key)) unique.set(p.key, p);
  const feasible = [...unique.values()].filter((p) => p.feasible);
  const ySign = y.direction === 'maximize' ? -1 : 1;
  const front: FrontMember[] = paretoFrontIndices(
    feasible.map((p) => p.values),
    objectives,
  )
    .map((i) => feasible[i] as PlotTrial)
    .map((p) => ({ ...p, foundBy: studies.filter((s) => usableByStudy.get(s.label)?.some((q) => q.key === p.key)).map((s) => s.label) }))
    .sort(byX(x.direction, ySign));
  const xy = front.map((p) => [p.x, p.y]);
  const staircase = paretoFrontIndices(xy, [x.direction, y.direction])
    .map((i) => front[i] as FrontMember)
    .sort(byX(x.direction, ySign));
  const best = bestFeasibleTrial([...unique.values()].map((p) => ({ ...p, state: 'complete' as const })), objectives);
  const bestTrial = best ? unique.get(best.key) : undefined;

  const heuristics: HeuristicPoint[] = data.heuristics.map((h) => {
    const trial = unique.get(h.key);
    return trial ? { ...h, trial } : h;
  });

  // Rank patterns: the most accurate feasible subnet, the front (by x), the heuristics.
  const chosen = new Map<string, { key: string; config: Config; roles: string[]; trial?: PlotTrial }>();
  const choose = (key: string, config: Config, role: string, trial?: PlotTrial) => {
    const c = chosen.get(key);
    if (c) c.roles.push(role);
    else chosen.set(key, { key, config, roles: [role], ...(trial ? { trial } : {}) });
  };
  if (bestTrial) choose(bestTrial.key, bestTrial.config, 'most accurate feasible', bestTrial);
  const shownFront = front.slice(0, MAX_FRONT_PATTERNS);
  for (const m of shownFront) choose(m.key, m.config, 'front', m);
  if (front.length > shownFront.length) notes.push(`rank patterns are drawn for ${shownFront.length} of the ${front.length} front members (those with the smallest ${x.name})`);
  for (const h of heuristics) choose(h.key, h.config, h.name, h.trial);

  // Normalisation of the hypervolume over every usable trial of the run.
  const d = objectives.length;
  const ideal: number[] = [];
  const nadir: number[] = [];
  for (let m = 0; m < d; m++) {
    const s = signs[m] ?? 1;
    const vals = [...unique.values()].map((p) => p.values[m] ?? 0);
    if (vals.length === 0) {
      ideal.push(0);
      nadir.push(0);
      continue;
    }
    ideal.push(s > 0 ? Math.min(...vals) : Math.max(...vals));
    nadir.push(s > 0 ? Math.max(...vals) : Math.min(...vals));
  }
  const reference = new Array<number>(d).fill(HV_REFERENCE);
  const minimise = new Array<Direction>(d).fill('minimize');

  const progression: StudyProgression[] = [];
  const summaries: StudySummary[] = [];
  for (const s of studies) {
    const usable = new Set(usableByStudy.get(s.label)?.map((p) => p.number) ?? []);
    let evaluations = 0;
    let bestY: number | null = null;
    let current: number[][] = [];
    const series: ProgressPoint[] = [];
    for (const t of s.trials) {
      const spent = t.state !== 'filtered' && !isCachedTrial(t);
      if (usable.has(t.number) && isFeasible(t.constraints) && t.values) {
        const v = t.values[0] ?? 0;
        if (bestY === null || (signs[0] ?? 1) * (v - bestY) < 0) bestY = v;
        const q = normalise(t.values, signs, ideal, nadir);
        if (!current.some((p) => dominates(p, q, minimise) || p.every((v2, m) => v2 === q[m]))) {
          current = current.filter((p) => !dominates(q, p, minimise));
          current.push(q);
        }
      }
      if (spent) {
        evaluations++;
        series.push({ evaluations, best: bestY, hypervolume: current.length > 0 ? hypervolume(current, reference, minimise) : 0 });
      }
    }
    progression.push({ study: s.label, points: series });
    const own = usableByStudy.get(s.label) ?? [];
    const ownFeasible = own.filter((p) => p.feasible);
    const ownBest = bestFeasibleTrial(ownFeasible.map((p) => ({ ...p, state: 'complete' as const })), objectives);
    summaries.push({
      study: s.label,
      strategy: s.header.strategy.name,
      budget: s.header.budget,
      evaluations,
      complete: s.trials.filter((t) => t.state === 'complete' && !isCachedTrial(t)).length,
      feasible: ownFeasible.length,
      failed: s.trials.filter((t) => t.state === 'failed' && !isCachedTrial(t)).length,
      filtered: s.trials.filter((t) => t.state === 'filtered').length,
      ...(ownBest ? { best: own.find((p) => p.number === ownBest.number) as PlotTrial } : {}),
      frontSize: paretoFrontIndices(
        ownFeasible.map((p) => p.values),
        objectives,
      ).length,
      hypervolume: series[series.length - 1]?.hypervolume ?? 0,
    });
  }

  return {
    objectives,
    constraints,
    studies,
    x,
    y,
    points,
    front,
    staircase,
    ...(bestTrial ? { best: bestTrial } : {}),
    heuristics,
    chosen: [...chosen.values()],
    progression,
    summaries,
    normalisation: { ideal, nadir, reference: HV_REFERENCE },
    notes,
  };
}

/** Per-step mean of the training log's passes (a sandwich rule trains several per step), by step. */
export function stepMeans(log: readonly { readonly step: number; readonly loss: number }[]): { step: number; loss: number }[] {
  const sums = new Map<number, { total: number; n: number }>();
  for (const r of log) {
    if (!Number.isFinite(r.loss)) continue;
    const s = sums.get(r.step) ?? { total: 0, n: 0 };
    s.total += r.loss;
    s.n++;
    sums.set(r.step, s);
  }
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([step, s]) => ({ step, loss: s.total / s.n }));
}

/** Window of the loss curve's moving average: about a twentieth of the steps, odd, at least 1. */
export function smoothingWindow(steps: number): number {
  const w = Math.max(1, Math.round(steps / 20));
  return w % 2 === 0 ? w + 1 : w;
}

/** Centred moving average of `values` over `window` points (shorter at the ends). */
export function movingAverage(values: readonly number[], window: number): number[] {
  const h = Math.floor(window / 2);
  return values.map((_, i) => {
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, i - h); j <= Math.min(values.length - 1, i + h); j++) {
      s += values[j] ?? 0;
      n++;
    }
    return s / n;
  });
}
