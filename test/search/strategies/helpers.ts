/** Test harness for search strategies: a tiny study loop with synthetic objectives, and replay. */
import type { ConstraintSpec, ObjectiveSpec, SearchStrategy, StrategyContext, TrialResult } from '../../../src/search/contract.js';
import { resolveSearchSpace, type Config, type SearchSpace, type SearchSpaceSpec } from '../../../src/space/index.js';
import { createRng, type Rng } from '../../../src/util/rng.js';

/** A small space: `layers` layers, groups with the given rank choices (one module each). */
export function smallSpace(ranks: readonly (readonly number[])[], layers = 1): SearchSpace {
  const modules = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
  const spec: SearchSpaceSpec = {
    format: 'nls-search-space/1',
    name: 'test',
    alpha: 16,
    groups: ranks.map((r, i) => ({ name: `g${i}`, modules: [modules[i % modules.length]!], ranks: r })),
  };
  return resolveSearchSpace(spec, { numLayers: layers });
}

/** What a synthetic evaluation returns. */
export type Outcome = { values: number[]; constraints?: number[] } | 'failed' | 'filtered';

/** A synthetic evaluation function. */
export type Evaluate = (config: Config, space: SearchSpace) => Outcome;

/** Everything needed to run a strategy against a synthetic problem. */
export interface Problem {
  readonly space: SearchSpace;
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints?: readonly ConstraintSpec[];
  readonly evaluate: Evaluate;
  /** Supernet-training statistics handed to strategies. */
  readonly statistics?: StrategyContext['trainingStatistics'];
}

/** One ask/tell round as a journal would store it. */
export interface Round {
  readonly n: number;
  readonly asked: Config[];
  readonly told: TrialResult[];
}

/** A minimal study: the context and the trial list. */
export class MiniStudy {
  readonly trials: TrialResult[] = [];
  readonly rounds: Round[] = [];

  constructor(
    readonly problem: Problem,
    readonly rng: Rng,
    readonly budget = Infinity,
  ) {}

  ctx(): StrategyContext {
    return {
      space: this.problem.space,
      objectives: this.problem.objectives,
      constraints: this.problem.constraints ?? [],
      rng: this.rng,
      trials: this.trials,
      remainingBudget: this.budget - this.trials.length,
      ...(this.problem.statistics ? { trainingStatistics: this.problem.statistics } : {}),
    };
  }

  /** Evaluate configurations into trial results (the study's job). */
  results(configs: readonly Config[]): TrialResult[] {
    const { space, evaluate } = this.problem;
    return configs.map((config, i) => {
      const key = space.key(config);
      const number = this.trials.length + i;
      const outcome = evaluate(config, space);
      if (outcome === 'failed' || outcome === 'filtered') return { number, config, key, state: outcome, message: 'synthetic' };
      return { number, config, key, state: 'complete', values: outcome.values, ...(outcome.constraints ? { constraints: outcome.constraints } : {}) };
    });
  }

  /** One round: ask(n), evaluate, tell. Returns what was asked. */
  round(strategy: SearchStrategy, n: number): Config[] {
    const asked = strategy.ask(n, this.ctx());
    const told = this.results(asked);
    this.trials.push(...told);
    if (asked.length > 0) strategy.tell(told, this.ctx());
    this.rounds.push({ n, asked, told });
    return asked;
  }

  /** Rounds until the budget is spent or the strategy answers []. */
  run(strategy: SearchStrategy, batch: number | ((round: number) => number), maxRounds = 10_000): void {
    for (let r = 0; r < maxRounds && this.trials.length < this.budget; r++) {
      const n = Math.min(typeof batch === 'number' ? batch : batch(r), this.budget - this.trials.length);
      if (this.round(strategy, n).length === 0) return;
    }
  }
}

/** Replay `rounds` into a fresh strategy with a fresh RNG of `seed`; returns the study to continue. */
export function replay(strategy: SearchStrategy, problem: Problem, seed: number, rounds: readonly Round[]): MiniStudy {
  const study = new MiniStudy(problem, createRng(seed));
  for (const r of rounds) {
    const asked = strategy.ask(r.n, study.ctx());
    if (JSON.stringify(asked) !== JSON.stringify(r.asked)) throw new Error(`replayed ask(${r.n}) differs: ${JSON.stringify(asked)} vs ${JSON.stringify(r.asked)}`);
    study.trials.push(...r.told);
    if (asked.length > 0) strategy.tell(r.told, study.ctx());
    study.rounds.push(r);
  }
  return study;
}

/** Deterministic pseudo-hash of a key, for failure injection. */
export function keyHash(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A two-objective proxy: "accuracy" (maximize, concave in each rank) and "params" (minimize,
 * linear in the ranks), with gene-specific weights so the front is not trivial.
 */
export function accuracyParams(config: Config, space: SearchSpace): number[] {
  const ranks = space.decode(config);
  let acc = 0;
  let params = 0;
  ranks.forEach((r, i) => {
    const rMax = space.instances[i]?.ranks[0] ?? 1;
    acc += (1 + ((i * 7) % 5)) * Math.sqrt(r / rMax);
    params += (1 + ((i * 3) % 4)) * r;
  });
  return [acc, params];
}

/** {@link accuracyParams} as a clean bi-objective problem (accuracy up, params down) on `space`. */
export function biObjectiveProblem(space: SearchSpace): Problem {
  return {
    space,
    objectives: [
      { name: 'accuracy', direction: 'maximize' },
      { name: 'params', direction: 'minimize' },
    ],
    evaluate: (c, sp) => ({ values: accuracyParams(c, sp) }),
  };
}

/** A 3600-configuration space (3 groups x 2 layers) for the evolutionary strategies' tests. */
export const EVOLUTION_SPACE = smallSpace([[32, 24, 16, 8], [32, 24, 16, 8, 0], [32, 16, 8]], 2);

/** accuracyParams with some failed and filtered trials and a constraint on params. */
export function noisyProblem(space: SearchSpace): Problem {
  return {
    space,
    objectives: [
      { name: 'accuracy', direction: 'maximize' },
      { name: 'params', direction: 'minimize' },
    ],
    constraints: [{ name: 'params<=bound' }],
    evaluate: (config, sp) => {
      const h = keyHash(sp.key(config));
      if (h % 7 === 0) return 'failed';
      if (h % 11 === 0) return 'filtered';
      const [acc, params] = accuracyParams(config, sp);
      const maxParams = accuracyParams(sp.maxConfig(), sp)[1] ?? 0;
      return { values: [acc ?? 0, params ?? 0], constraints: [(params ?? 0) - 0.7 * maxParams] };
    },
  };
}

/** Synthetic training statistics for up to `count` configurations of `space`. */
export function syntheticStatistics(space: SearchSpace, count = 6): NonNullable<StrategyContext['trainingStatistics']> {
  const out: { key: string; activations: number; meanLoss: number }[] = [];
  for (const config of space.enumerate({ limit: 1e9 })) {
    if (out.length >= count) break;
    const key = space.key(config);
    const h = keyHash(key);
    out.push({ key, activations: h % 5, meanLoss: 1 + (h % 97) / 10 });
  }
  return out;
}

/** Hypervolume of 2-D points, both objectives minimized, w.r.t. reference point `ref`. */
export function hypervolume2d(points: readonly (readonly [number, number])[], ref: readonly [number, number]): number {
  const inside = points.filter(([a, b]) => a < ref[0] && b < ref[1]).sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  let hv = 0;
  let bestB = ref[1];
  for (const [a, b] of inside) {
    if (b < bestB) {
      hv += (ref[0] - a) * (bestB - b);
      bestB = b;
    }
  }
  return hv;
}
