/**
 * Progress of a running study: counts, best value so far per objective, the hypervolume of the
 * current front (with a reference point), rate and ETA. Maintained incrementally, one trial at a
 * time, so reporting stays cheap however long the study runs.
 */
import type { ObjectiveSpec } from './contract.js';
import { hypervolume } from './hypervolume.js';
import type { TrialRecord } from './journal.js';
import { isCachedTrial } from './middleware/cache.js';
import { directionSigns, dominates, isFeasible } from './pareto.js';

/** A snapshot of a study's progress, given to `onProgress` after every new trial. */
export interface StudyProgress {
  /** Trials so far (all states, cached included). */
  readonly trials: number;
  /** Evaluations spent (trials neither cached nor filtered). */
  readonly evaluations: number;
  /** The budget (`Infinity` when unlimited). */
  readonly budget: number;
  readonly complete: number;
  /** Complete trials stopped early at partial fidelity (estimates: never best, never on the front). */
  readonly partial: number;
  readonly feasible: number;
  readonly failed: number;
  readonly filtered: number;
  readonly cached: number;
  /** Best feasible value of each objective so far (each on its own), `null` before any. */
  readonly best: Readonly<Record<string, number | null>>;
  /** Size of the current Pareto front. */
  readonly frontSize: number;
  /** Hypervolume of the current front, when the study has a reference point. */
  readonly hypervolume?: number;
  /** Seconds since this run started. */
  readonly elapsedSeconds: number;
  /** Evaluations per second in this run. */
  readonly evaluationsPerSecond: number;
  /** Estimated seconds until the budget is spent (`null` without budget or rate). */
  readonly etaSeconds: number | null;
  /** The trial that triggered this report. */
  readonly lastTrial: TrialRecord;
}

/** A metric value for a progress line: integers grouped by thousands, others to 4 significant digits. */
function formatMetric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

/** Something with the shape of `Progress` (src/util/progress.ts). */
export interface ProgressLike {
  start(task: string, total: number, firstStep?: number): void;
  step(step: number, metrics?: Record<string, number | string>): void;
}

/** Accumulates progress; `add` every trial in number order. */
export class ProgressTracker {
  private trials = 0;
  private evaluations = 0;
  private complete = 0;
  private partial = 0;
  private feasible = 0;
  private failed = 0;
  private filtered = 0;
  private cached = 0;
  private readonly best: (number | null)[];
  /** For each objective, every objective value of the trial that is best in it (another trial per objective). */
  private readonly bestTrial: (readonly number[] | null)[];
  private readonly signs: number[];
  private front: (readonly number[])[] = [];
  private hv: number | undefined;
  private startTime = 0;
  private evaluationsAtStart = 0;

  constructor(
    private readonly objectives: readonly ObjectiveSpec[],
    private readonly referencePoint: readonly number[] | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.best = objectives.map(() => null);
    this.bestTrial = objectives.map(() => null);
    this.signs = directionSigns(objectives);
    if (referencePoint) this.hv = 0;
  }

  /** Evaluations counted so far. */
  get evaluationCount(): number {
    return this.evaluations;
  }

  /** Mark the start of live work (after replaying the journal). */
  begin(): void {
    this.startTime = this.now();
    this.evaluationsAtStart = this.evaluations;
  }

  /** Count one trial. */
  add(t: TrialRecord): void {
    this.trials++;
    if (isCachedTrial(t)) {
      this.cached++;
      return;
    }
    if (t.state === 'filtered') {
      this.filtered++;
      return;
    }
    this.evaluations++;
    if (t.state === 'failed') {
      this.failed++;
      return;
    }
    this.complete++;
    if (t.fidelity !== undefined && t.fidelity < 1) {
      this.partial++;
      return;
    }
    const values = t.values ?? [];
    if (!isFeasible(t.constraints)) return;
    this.feasible++;
    values.forEach((v, m) => {
      const b = this.best[m];
      const s = this.signs[m] ?? 1;
      if (b === null || b === undefined || s * v < s * b) {
        this.best[m] = v;
        this.bestTrial[m] = values;
      }
    });
    if (this.front.some((p) => dominates(p, values, this.objectives) || p.every((x, m) => x === values[m]))) return;
    this.front = this.front.filter((p) => !dominates(values, p, this.objectives));
    this.front.push(values);
    if (this.referencePoint) this.hv = hypervolume(this.front, this.referencePoint, this.objectives);
  }

  /** The current snapshot. */
  snapshot(budget: number, lastTrial: TrialRecord): StudyProgress {
    const elapsed = (this.now() - this.startTime) / 1000;
    const done = this.evaluations - this.evaluationsAtStart;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = Number.isFinite(budget) && rate > 0 ? Math.max(0, budget - this.evaluations) / rate : null;
    const best: Record<string, number | null> = {};
    this.objectives.forEach((o, m) => (best[o.name] = this.best[m] ?? null));
    return {
      trials: this.trials,
      evaluations: this.evaluations,
      budget,
      complete: this.complete,
      partial: this.partial,
      feasible: this.feasible,
      failed: this.failed,
      filtered: this.filtered,
      cached: this.cached,
      best,
      frontSize: this.front.length,
      ...(this.hv !== undefined ? { hypervolume: this.hv } : {}),
      elapsedSeconds: elapsed,
      evaluationsPerSecond: rate,
      etaSeconds: eta,
      lastTrial,
    };
  }

  /**
   * Metrics for a `Progress` line: trials, the best feasible trial in each objective with its
   * other objectives (`highest accuracy 0.6500 (params 99,840)`, `lowest params 51,200 (accuracy
   * 0.5300)`: with several objectives these are different subnets, and each says what it is),
   * front size, hypervolume.
   */
  metrics(): Record<string, number | string> {
    const m: Record<string, number | string> = { trials: this.trials };
    this.objectives.forEach((o, i) => {
      const b = this.best[i];
      const trial = this.bestTrial[i];
      if (b === null || b === undefined || !trial) return;
      const label = `${o.direction === 'maximize' ? 'highest' : 'lowest'} ${o.name}`;
      const others = this.objectives.flatMap((q, j) => (j === i ? [] : [`${q.name} ${formatMetric(trial[j] ?? Number.NaN)}`]));
      m[label] = others.length === 0 ? b : `${formatMetric(b)} (${others.join(', ')})`;
    });
    m['front'] = this.front.length;
    if (this.hv !== undefined) m['hv'] = this.hv;
    if (this.failed > 0) m['failed'] = this.failed;
    if (this.cached > 0) m['cached'] = this.cached;
    if (this.partial > 0) m['stopped early'] = this.partial;
    if (this.filtered > 0) m['filtered'] = this.filtered;
    return m;
  }
}
