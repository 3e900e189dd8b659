/**
 * Several strategies searching one supernet side by side (the demo's search stage): one scorer
 * (in this thread or a worker pool) and one memo of measured configurations shared by every
 * strategy, so a configuration two strategies propose is measured once. Each strategy still runs
 * its own Study with its own journal and budget; the budget counts the strategy's own proposals,
 * whether or not another strategy had measured them already, so the comparison is fair.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { BackendRequest } from '../backend/index.js';
import { resolveEngine } from '../engine/select.js';
import type { EngineInfo, EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
import type { ConstraintSpec, ObjectiveSpec, TrialResult } from '../search/contract.js';
import { functionEvaluator } from '../search/evaluator.js';
import { directionSigns } from '../search/pareto.js';
import { bestFeasibleTrial, type ParetoFile, paretoFront, writeParetoJson } from '../search/results.js';
import { Study } from '../search/study.js';
import type { Config, SearchSpace } from '../space/index.js';
import { Progress } from '../util/progress.js';
import { openSupernetScorer, SEARCH_METRICS, type ScorerSpec, type SearchMetric } from './scorer.js';
import { constraintName, knownParams, type MetricConstraint, metricObjective, resolveStrategy, trainingStatisticsOf } from './search.js';

/** One strategy of a comparison. */
export interface ComparedStrategy {
  /** Built-in strategy name or plugin path / package. */
  readonly strategy: string;
  /** Label in reports and the sub-folder of its journal (default: the strategy name). */
  readonly label?: string;
  readonly options?: Readonly<Record<string, unknown>>;
  /** Evaluations this strategy may spend. */
  readonly budget: number;
}

/** Options of {@link compareStrategies}. */
export interface CompareStrategiesOptions {
  readonly supernet: string;
  readonly strategies: readonly ComparedStrategy[];
  readonly objectives: readonly SearchMetric[];
  readonly constraints?: readonly MetricConstraint[];
  readonly seed: number;
  /** Output folder: `<label>/trials.jsonl`, `<label>/pareto.json`, and the combined `pareto.json`. */
  readonly out: string;
  /** Evaluation worker threads (default 1). */
  readonly workers?: number;
  readonly validationSize?: number;
  /** Search this sub-space of the supernet's space (a search-space file). */
  readonly space?: string;
  readonly backend?: BackendRequest;
  /** Evaluation engine (default `auto`: onnx when it loads here, else tfjs); recorded in each trial's attributes. */
  readonly engine?: EngineRequest;
  readonly progress?: Progress;
  /** Called with each strategy's outcome as soon as its study ends (before the next one starts). */
  readonly onStrategy?: (outcome: StrategyOutcome) => void;
}

/** A trial as reported by a comparison. */
export interface ComparedTrial {
  readonly key: string;
  readonly ranks: readonly number[];
  readonly values: readonly number[];
  readonly metrics: Readonly<Record<string, number>>;
}

/** What one strategy of a comparison found. */
export interface StrategyOutcome {
  readonly label: string;
  readonly strategy: string;
  /** Evaluations the strategy spent (its budget use). */
  readonly evaluations: number;
  /** Of those, configurations no earlier strategy had measured. */
  readonly newlyMeasured: number;
  /** Its best feasible trial by the first objective (ties: better later objectives), if any. */
  readonly best?: ComparedTrial;
  /** Its Pareto front of feasible trials. */
  readonly front: readonly ComparedTrial[];
  readonly pareto: ParetoFile;
  readonly seconds: number;
}

/** What {@link compareStrategies} returns. */
export interface CompareStrategiesResult {
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  readonly strategies: readonly StrategyOutcome[];
  /** The front over every strategy's trials, with the labels of the strategies that found each member. */
  readonly front: readonly (ComparedTrial & { readonly foundBy: readonly string[] })[];
  /** Distinct configurations measured in all. */
  readonly measured: number;
  /** The engine that computed the model metrics. */
  readonly engine: EngineInfo;
}

function compared(space: SearchSpace, t: TrialResult): ComparedTrial {
  return { key: t.key, ranks: space.decode(t.config), values: [...(t.values ?? [])], metrics: numericAttrs(t.attrs) };
}

function numericAttrs(attrs: TrialResult['attrs']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(attrs ?? {})) if (typeof v === 'number') out[k] = v;
  return out;
}

/** Run every strategy in turn against one shared scorer and memo; write each journal and the combined front. */
export async function compareStrategies(options: CompareStrategiesOptions): Promise<CompareStrategiesResult> {
  if (options.strategies.length === 0) throw new NlsError('no strategies to compare', { field: 'strategies' });
  const labels = options.strategies.map((s) => s.label ?? s.strategy);
  if (new Set(labels).size !== labels.length) throw new NlsError(`strategy labels must be unique, got ${labels.join(', ')}; fix: give each a label`, { field: 'strategies' });
  const progress = options.progress ?? new Progress();
  const constraints = options.constraints ?? [];
  const needs = [...new Set<SearchMetric>([...options.objectives, ...constraints.map((c) => c.metric)])];
  const spec: ScorerSpec = {
    supernet: options.supernet,
    backend: options.backend ?? 'wasm',
    engine: await resolveEngine(options.engine ?? 'auto'),
    needs,
    ...(options.validationSize !== undefined ? { validationSize: options.validationSize } : {}),
    ...(options.space !== undefined ? { spaceFile: options.space } : {}),
  };
  const workers = options.workers ?? 1;
  // Workers export and load the model before the first evaluation: seconds with nothing else to say.
  progress.activity(`starting ${workers} evaluation ${workers === 1 ? 'worker' : 'workers'} (${spec.engine} engine)`);
  const scorer = await openSupernetScorer(spec, workers).finally(() => progress.done());
  try {
    const space = scorer.space;
    // One measurement per configuration across all strategies (the scorer is deterministic).
    const memo = new Map<string, Promise<Record<SearchMetric, number>>>();
    const measure = (config: Config) => {
      const key = space.key(config);
      let m = memo.get(key);
      if (m === undefined) {
        m = scorer.measure(config);
        memo.set(key, m);
      }
      return m;
    };
    // Every trial says which engine scored it.
    const withEngine =
      <R extends { attrs: Record<string, number> }>(f: (config: Config) => Promise<R>) =>
      async (config: Config) => {
        const r = await f(config);
        return { ...r, attrs: { ...r.attrs, engine: scorer.engine.name } };
      };
    const objectives: ObjectiveSpec[] = options.objectives.map((name) => ({ name, direction: SEARCH_METRICS[name] }));
    const constraintSpecs: ConstraintSpec[] = constraints.map((c) => ({ name: constraintName(c) }));
    const statistics = await trainingStatisticsOf(options.supernet);
    const known = await knownParams(options.supernet, space, options.objectives, constraints);
    const outcomes: StrategyOutcome[] = [];
    const allTrials: { label: string; trial: TrialResult }[] = [];
    for (const [i, s] of options.strategies.entries()) {
      const label = labels[i]!;
      const dir = path.join(options.out, label);
      await fsp.mkdir(dir, { recursive: true });
      const before = memo.size;
      const started = performance.now();
      progress.log(`search: ${label} (budget ${s.budget})`);
      const study = await Study.create({
        journal: path.join(dir, 'trials.jsonl'),
        space,
        evaluator: functionEvaluator(withEngine(metricObjective(measure, options.objectives, constraints)), { concurrency: scorer.concurrency }),
        strategy: await resolveStrategy(s.strategy),
        ...(s.options ? { strategyOptions: s.options } : {}),
        objectives,
        constraints: constraintSpecs,
        seed: options.seed,
        budget: s.budget,
        batchSize: scorer.concurrency,
        progress,
        ...(statistics ? { trainingStatistics: statistics } : {}),
        ...(known ? { known } : {}),
      });
      const run = await study.run();
      const pareto = await writeParetoJson(path.join(dir, 'pareto.json'), study);
      const best = bestFeasibleTrial(run.trials, objectives);
      const outcome: StrategyOutcome = {
        label,
        strategy: s.strategy,
        evaluations: run.evaluations,
        newlyMeasured: memo.size - before,
        ...(best ? { best: compared(space, best) } : {}),
        front: paretoFront(run.trials, objectives).map((t) => compared(space, t)),
        pareto,
        seconds: (performance.now() - started) / 1000,
      };
      outcomes.push(outcome);
      progress.done();
      options.onStrategy?.(outcome);
      for (const trial of run.trials) allTrials.push({ label, trial });
    }
    // The combined front: number trials globally so paretoFront sees one list.
    const numbered = allTrials.map(({ trial }, n) => ({ ...trial, number: n }));
    const combined = paretoFront(numbered, objectives);
    const foundBy = (key: string) => [...new Set(allTrials.filter((x) => x.trial.key === key).map((x) => x.label))];
    // paretoFront keeps one trial per configuration key (the first), so members are distinct.
    const sign = directionSigns(objectives)[0] ?? 1;
    const front = combined.map((t) => ({ ...compared(space, t), foundBy: foundBy(t.key) })).sort((a, b) => sign * ((a.values[0] ?? 0) - (b.values[0] ?? 0)));
    await writeParetoJson(path.join(options.out, 'pareto.json'), { trials: numbered, objectives, constraints: constraintSpecs, space });
    return { objectives, constraints: constraintSpecs, strategies: outcomes, front, measured: memo.size, engine: scorer.engine };
  } finally {
    await scorer.close();
  }
}
