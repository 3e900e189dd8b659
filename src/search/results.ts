/**
 * Results of a study: the Pareto front of feasible trials, the best trial of a single-objective
 * study, the hypervolume, and the `pareto.json` file.
 *
 * Definitions (see docs/search.md):
 * - A trial is **usable** when it is `complete`, was not answered from the cache (a cached trial
 *   repeats an earlier one), was evaluated at full fidelity (a multi-fidelity evaluator stopped
 *   the others early because they could not reach the front) and is the first usable trial of its
 *   key.
 * - It is **feasible** when every constraint value is `<= 0`.
 * - The **Pareto front** is the set of usable feasible trials that no other usable feasible trial
 *   dominates. Infeasible trials never enter it, even when no trial is feasible.
 */
import type { SearchSpace } from '../space/index.js';
import { NlsError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { ConstraintSpec, ObjectiveSpec, TrialResult } from './contract.js';
import { hypervolume } from './hypervolume.js';
import type { StudyHeaderRecord } from './journal.js';
import { isCachedTrial } from './middleware/cache.js';
import { directionSigns, isFeasible, paretoFrontIndices } from './pareto.js';

/** Value of the `format` field of pareto.json. */
export const PARETO_FORMAT = 'nls-pareto/1';

/** Usable trials (complete, not cached, full fidelity, first of their key), in the given order. */
export function usableTrials<T extends TrialResult>(trials: readonly T[], objectives: readonly ObjectiveSpec[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const t of trials) {
    if (t.state !== 'complete' || isCachedTrial(t) || seen.has(t.key) || (t.fidelity !== undefined && t.fidelity < 1)) continue;
    if (!t.values || t.values.length !== objectives.length || !t.values.every(Number.isFinite)) continue;
    seen.add(t.key);
    out.push(t);
  }
  return out;
}

/** Usable feasible trials. */
export function feasibleTrials<T extends TrialResult>(trials: readonly T[], objectives: readonly ObjectiveSpec[]): T[] {
  return usableTrials(trials, objectives).filter((t) => isFeasible(t.constraints));
}

/** The Pareto front of `trials` (see the module comment), in trial-number order. */
export function paretoFront<T extends TrialResult>(trials: readonly T[], objectives: readonly ObjectiveSpec[]): T[] {
  const feasible = feasibleTrials(trials, objectives);
  const idx = paretoFrontIndices(
    feasible.map((t) => t.values ?? []),
    objectives,
  );
  return idx.map((i) => feasible[i] as T).sort((a, b) => a.number - b.number);
}

/**
 * The best usable feasible trial by objective 0, ties broken by the later objectives in order,
 * then by the lowest trial number; `undefined` when no trial is feasible.
 */
export function bestFeasibleTrial<T extends TrialResult>(trials: readonly T[], objectives: readonly ObjectiveSpec[]): T | undefined {
  const signs = directionSigns(objectives);
  let best: T | undefined;
  for (const t of feasibleTrials(trials, objectives)) {
    if (best === undefined) {
      best = t;
      continue;
    }
    for (let i = 0; i < signs.length; i++) {
      const d = (signs[i] ?? 1) * ((t.values?.[i] ?? 0) - (best.values?.[i] ?? 0));
      if (d < 0) best = t;
      if (d !== 0) break;
    }
  }
  return best;
}

/**
 * The best usable feasible trial of a single-objective study (ties: the lowest trial number), or
 * `undefined` when no trial is feasible.
 *
 * @throws NlsError when the study has more than one objective (use {@link paretoFront} or
 * {@link bestFeasibleTrial})
 */
export function bestTrial<T extends TrialResult>(trials: readonly T[], objectives: readonly ObjectiveSpec[]): T | undefined {
  if (objectives.length !== 1) {
    throw new NlsError(`bestTrial needs a single-objective study, this one has ${objectives.length} objectives; fix: use paretoFront()`, { field: 'objectives' });
  }
  return bestFeasibleTrial(trials, objectives);
}

/** Hypervolume of the Pareto front of `trials` with respect to `referencePoint`. */
export function trialsHypervolume(trials: readonly TrialResult[], objectives: readonly ObjectiveSpec[], referencePoint: readonly number[]): number {
  return hypervolume(
    paretoFront(trials, objectives).map((t) => t.values ?? []),
    referencePoint,
    objectives,
  );
}

/** What {@link paretoJson} needs; a `Study` is one. */
export interface ParetoSource {
  readonly trials: readonly TrialResult[];
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** To add each front member's ranks (rank value per gene). */
  readonly space?: SearchSpace;
  /** To record where the results come from. */
  readonly header?: StudyHeaderRecord;
  /** Journal file, recorded when known. */
  readonly file?: string;
  /** Default reference point. */
  readonly referencePoint?: readonly number[];
}

/** One member of the front in pareto.json. */
export interface ParetoMember {
  readonly number: number;
  readonly key: string;
  readonly config: readonly number[];
  /** Rank of every gene (when the space is known). */
  readonly ranks?: readonly number[];
  readonly values: readonly number[];
  readonly constraints?: readonly number[];
  readonly attrs?: Readonly<Record<string, unknown>>;
}

/** The content of pareto.json (format `nls-pareto/1`). */
export interface ParetoFile {
  readonly format: typeof PARETO_FORMAT;
  readonly study?: {
    readonly journal?: string;
    readonly strategy: StudyHeaderRecord['strategy'];
    readonly seed: number | string;
    readonly space: StudyHeaderRecord['space'];
  };
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  readonly referencePoint?: readonly number[];
  /** Hypervolume of the front w.r.t. `referencePoint`; null without a reference point. */
  readonly hypervolume: number | null;
  readonly counts: {
    readonly trials: number;
    /** Trials that spent budget (not cached, not filtered). */
    readonly evaluations: number;
    readonly complete: number;
    readonly feasible: number;
    readonly failed: number;
    readonly filtered: number;
    readonly cached: number;
  };
  /** The front, best first by the first objective (ties by trial number). */
  readonly front: readonly ParetoMember[];
}

/** Build the pareto.json content of `source`. */
export function paretoJson(source: ParetoSource, options: { readonly referencePoint?: readonly number[] } = {}): ParetoFile {
  const { trials, objectives, constraints, space, header } = source;
  const reference = options.referencePoint ?? source.referencePoint;
  const sign = directionSigns(objectives)[0] ?? 1;
  const front = paretoFront(trials, objectives).sort((a, b) => sign * ((a.values?.[0] ?? 0) - (b.values?.[0] ?? 0)) || a.number - b.number);
  const cached = trials.filter((t) => isCachedTrial(t));
  return {
    format: PARETO_FORMAT,
    ...(header
      ? { study: { ...(source.file ? { journal: source.file } : {}), strategy: header.strategy, seed: header.seed, space: header.space } }
      : {}),
    objectives,
    constraints,
    ...(reference ? { referencePoint: [...reference] } : {}),
    hypervolume: reference ? hypervolume(front.map((t) => t.values ?? []), reference, objectives) : null,
    counts: {
      trials: trials.length,
      evaluations: trials.filter((t) => t.state !== 'filtered' && !isCachedTrial(t)).length,
      complete: trials.filter((t) => t.state === 'complete' && !isCachedTrial(t)).length,
      feasible: feasibleTrials(trials, objectives).length,
      failed: trials.filter((t) => t.state === 'failed' && !isCachedTrial(t)).length,
      filtered: trials.filter((t) => t.state === 'filtered' && !isCachedTrial(t)).length,
      cached: cached.length,
    },
    front: front.map((t) => ({
      number: t.number,
      key: t.key,
      config: [...t.config],
      ...(space && space.contains(t.config) ? { ranks: space.decode(t.config) } : {}),
      values: [...(t.values ?? [])],
      ...(t.constraints && t.constraints.length > 0 ? { constraints: [...t.constraints] } : {}),
      ...(t.attrs && Object.keys(t.attrs).length > 0 ? { attrs: t.attrs } : {}),
    })),
  };
}

/** Write pareto.json for `source` atomically (temp file, fsync, rename). Returns what was written. */
export async function writeParetoJson(file: string, source: ParetoSource, options: { readonly referencePoint?: readonly number[] } = {}): Promise<ParetoFile> {
  const content = paretoJson(source, options);
  await writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`);
  return content;
}
