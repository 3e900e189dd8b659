/**
 * The `linas` strategy: predictor-guided NSGA-II in the style of LINAS (Lightweight Iterative
 * Neural Architecture Search; Muñoz et al., "Searching for Efficient Neural Architectures",
 * Intel Labs).
 *
 * 1. **Initial samples:** `initialSamples` configurations are evaluated before any predictor is
 *    fitted: the max, min and median configurations first (duplicates dropped), the rest uniform
 *    random without replacement.
 * 2. **Each later round** of `populationSize` proposals: one {@link RidgePredictor} per objective
 *    and per constraint is fitted on every usable told trial (complete, finite values); an inner
 *    NSGA-II (`innerGenerations` generations of `innerPopulation`) runs entirely on predicted
 *    values, with constrained domination on the predicted constraints. It starts from the
 *    evaluated non-dominated set plus random configurations. Every configuration the inner search
 *    visited and that was neither proposed nor told before is ranked by predicted non-domination
 *    rank, then larger predicted crowding distance; the best `populationSize` are proposed (when
 *    there are fewer, the rest are uniform random unseen configurations).
 *
 * ## Batches and replay
 *
 * A round's proposals are planned by the first ask of the round, from the results told so far;
 * an ask returns at most what is left of the round, and never crosses its end (like `nsga2`).
 * With fewer than two usable told trials (e.g. everything failed) a round is uniform random.
 * All state (keys seen, usable results, the current plan) follows from the asks and tells, and
 * every random draw comes from `ctx.rng`; `ctx.trials` is not read.
 */
import type { Config, SearchSpace } from '../../space/index.js';
import type { Rng } from '../../util/rng.js';
import { RidgePredictor } from '../../predict/ridge.js';
import type { Direction, SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { crowdingDistance, nonDominatedSort, totalViolation } from '../pareto.js';
import { OptionReader, UnseenSampler, checkAskCount, checkObjectives, heuristicStart, resultViolation, usableValues } from './_common.js';
import { selectSurvivors, type Member, type Ranked } from './nsga2.js';

/** Attempts at breeding an offspring not already in the inner population. */
const INNER_DUPLICATE_RETRIES = 20;
/** Fewest usable told trials the predictors are fitted on; below, a round is uniform random. */
const MIN_TRAINING_SAMPLES = 2;

const OPTIONS: readonly StrategyOptionDoc[] = [
  { name: 'populationSize', type: 'integer', default: 16, description: 'Configurations proposed (and evaluated) per round.' },
  {
    name: 'initialSamples',
    type: 'integer',
    description: 'Configurations evaluated before the first predictor is fitted: max, min, median, then uniform random; default populationSize.',
  },
  { name: 'innerGenerations', type: 'integer', default: 20, description: 'Generations of the inner NSGA-II run on the predictors each round.' },
  { name: 'innerPopulation', type: 'integer', default: 50, description: 'Population of the inner NSGA-II.' },
  { name: 'lambda', type: 'number', default: 1e-3, description: 'Ridge penalty of the per-objective (and per-constraint) predictors.' },
  { name: 'crossoverProb', type: 'number', default: 0.9, description: 'Inner NSGA-II: probability that a child is a uniform crossover of two parents rather than a copy of one.' },
  { name: 'mutationProb', type: 'number', description: 'Inner NSGA-II: probability that each gene of a child mutates; default 1 / number of genes.' },
];

interface LinasOptions {
  readonly populationSize: number;
  readonly initialSamples: number;
  readonly innerGenerations: number;
  readonly innerPopulation: number;
  readonly lambda: number;
  readonly crossoverProb: number;
  readonly mutationProb: number | undefined;
}

/** A usable told trial: training data of the predictors. */
interface Observation {
  readonly config: Config;
  readonly key: string;
  readonly values: readonly number[];
  readonly constraints: readonly number[] | undefined;
  readonly violation: number;
}

interface Planned {
  readonly config: Config;
  readonly key: string;
}

/** Predicted objective values and total violation of configurations, cached by key. */
class Surrogate {
  private readonly cache = new Map<string, Member>();

  constructor(
    private readonly space: SearchSpace,
    private readonly objectives: readonly RidgePredictor[],
    private readonly constraints: readonly (RidgePredictor | undefined)[],
  ) {}

  member(config: Config, key = this.space.key(config)): Member {
    let m = this.cache.get(key);
    if (!m) {
      const values = this.objectives.map((p) => p.predict(config));
      const constraints = this.constraints.map((p) => (p ? p.predict(config) : 0));
      const ok = values.every((v) => Number.isFinite(v));
      m = { config, key, values: ok ? values : undefined, violation: ok ? totalViolation(constraints) : Infinity };
      this.cache.set(key, m);
    }
    return m;
  }

  /** Every configuration predicted so far, in the order first predicted. */
  visited(): Member[] {
    return [...this.cache.values()];
  }
}

class LinasStrategy implements SearchStrategy {
  /** Keys proposed or told: never proposed again. */
  private readonly seen = new Set<string>();
  private readonly sampler = new UnseenSampler();
  /** Usable told trials, in the order told. */
  private readonly observations: Observation[] = [];
  /** Proposals of the current round not yet handed out. */
  private plan: Planned[] = [];
  /** True until the initial samples have been planned. */
  private initialPlanned = false;

  constructor(private readonly options: LinasOptions) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('linas', n);
    checkObjectives('linas', ctx.objectives);
    const out: Config[] = [];
    if (n === 0) return out;
    while (out.length < n) {
      const next = this.plan.shift();
      if (next) {
        if (this.seen.has(next.key)) continue;
        this.seen.add(next.key);
        out.push(next.config);
        continue;
      }
      if (out.length > 0) break; // one ask never crosses the end of a round
      this.plan = this.newRound(ctx);
      if (this.plan.length === 0) break; // the space is exhausted
    }
    return out;
  }

  tell(results: readonly TrialResult[], ctx: StrategyContext): void {
    checkObjectives('linas', ctx.objectives);
    const M = ctx.objectives.length;
    for (const r of results) {
      this.seen.add(r.key);
      const values = usableValues(r, M);
      if (!values) continue;
      this.observations.push({ config: [...r.config], key: r.key, values: values.slice(0, M), constraints: r.constraints ? [...r.constraints] : undefined, violation: resultViolation(r, M) });
    }
  }

  /** Plan the next round: the initial samples, or predictor-guided proposals. */
  private newRound(ctx: StrategyContext): Planned[] {
    const { space, rng } = ctx;
    if (BigInt(this.seen.size) >= space.cardinality()) return [];
    if (!this.initialPlanned) {
      this.initialPlanned = true;
      return heuristicStart(space, rng, this.sampler, new Set(this.seen), this.options.initialSamples);
    }
    if (this.observations.length < MIN_TRAINING_SAMPLES) return this.fillRandom([], new Set(this.seen), this.options.populationSize, space, rng);
    return this.guidedRound(ctx);
  }

  /** Top `plan` up to `size` with uniform random configurations not in `taken`. */
  private fillRandom(plan: Planned[], taken: Set<string>, size: number, space: SearchSpace, rng: Rng): Planned[] {
    while (plan.length < size) {
      const drawn = this.sampler.draw(space, rng, taken);
      if (!drawn) break;
      taken.add(drawn.key);
      plan.push(drawn);
    }
    return plan;
  }

  private fitPredictors(space: SearchSpace, objectives: number, constraints: number): Surrogate {
    const obs = this.observations;
    const objectivePredictors = Array.from({ length: objectives }, (_, m) => {
      const p = new RidgePredictor({ lambda: this.options.lambda });
      p.fit(
        space,
        obs.map((o) => ({ config: o.config, value: o.values[m] ?? 0 })),
      );
      return p;
    });
    const constraintPredictors = Array.from({ length: constraints }, (_, k) => {
      const samples = obs.flatMap((o) => {
        const v = o.constraints?.[k];
        return v !== undefined && Number.isFinite(v) ? [{ config: o.config, value: v }] : [];
      });
      if (samples.length === 0) return undefined;
      const p = new RidgePredictor({ lambda: this.options.lambda });
      p.fit(space, samples);
      return p;
    });
    return new Surrogate(space, objectivePredictors, constraintPredictors);
  }

  private guidedRound(ctx: StrategyContext): Planned[] {
    const { space, rng } = ctx;
    const directions = ctx.objectives.map((o) => o.direction);
    const surrogate = this.fitPredictors(space, ctx.objectives.length, ctx.constraints.length);
    const P = this.options.innerPopulation;

    // Initial inner population: the evaluated non-dominated set (by measured values), then random.
    const evaluated: Member[] = this.observations.map((o) => ({ config: o.config, key: o.key, values: o.values, violation: o.violation }));
    const front = selectSurvivors(evaluated, P, directions).filter((m) => m.rank === 0);
    let population: Member[] = [];
    const inPopulation = new Set<string>();
    for (const m of front) {
      if (inPopulation.has(m.key)) continue;
      inPopulation.add(m.key);
      population.push(surrogate.member(m.config, m.key));
    }
    for (let attempt = 0; population.length < P && attempt < 4 * P; attempt++) {
      const config = space.sample(rng);
      const key = space.key(config);
      if (inPopulation.has(key)) continue;
      inPopulation.add(key);
      population.push(surrogate.member(config, key));
    }

    // Inner NSGA-II on predicted values.
    let ranked: Ranked[] = selectSurvivors(population, P, directions);
    for (let g = 0; g < this.options.innerGenerations; g++) {
      const parents = ranked.filter((m) => m.violation !== Infinity);
      const pool = parents.length > 0 ? parents : ranked;
      if (pool.length === 0) break;
      const members = new Set(ranked.map((m) => m.key));
      const offspring: Member[] = [];
      for (let i = 0; i < P; i++) {
        for (let attempt = 0; attempt < INNER_DUPLICATE_RETRIES; attempt++) {
          const child = this.breed(pool, space, rng);
          const key = space.key(child);
          if (members.has(key)) continue;
          members.add(key);
          offspring.push(surrogate.member(child, key));
          break;
        }
      }
      population = [...ranked, ...offspring];
      ranked = selectSurvivors(population, P, directions);
    }

    // Rank every visited, unseen configuration by predicted (rank, crowding) and take the best.
    const candidates = surrogate.visited().filter((m) => !this.seen.has(m.key));
    const plan = this.best(candidates, this.options.populationSize, directions);
    return this.fillRandom(plan, new Set([...this.seen, ...plan.map((p) => p.key)]), this.options.populationSize, space, rng);
  }

  /** The best `size` candidates by constrained non-domination rank, then descending crowding. */
  private best(candidates: readonly Member[], size: number, directions: readonly Direction[]): Planned[] {
    return selectSurvivors(candidates, size, directions).map((m) => ({ config: m.config, key: m.key }));
  }

  /** Binary tournament by (rank, crowding); the first drawn wins ties. */
  private tournament(pool: readonly Ranked[], rng: Rng): Ranked {
    const a = pool[rng.int(pool.length)] as Ranked;
    const b = pool[rng.int(pool.length)] as Ranked;
    return b.rank < a.rank || (b.rank === a.rank && b.crowding > a.crowding) ? b : a;
  }

  private breed(pool: readonly Ranked[], space: SearchSpace, rng: Rng): number[] {
    const p1 = this.tournament(pool, rng);
    const p2 = this.tournament(pool, rng);
    const child = rng.next() < this.options.crossoverProb ? p1.config.map((c, i) => (rng.next() < 0.5 ? c : (p2.config[i] ?? c))) : [...p1.config];
    const p = this.options.mutationProb ?? 1 / Math.max(1, space.size);
    for (let i = 0; i < child.length; i++) {
      const count = space.choiceCounts[i] ?? 1;
      if (count > 1 && rng.next() < p) {
        const r = rng.int(count - 1);
        child[i] = r >= (child[i] ?? 0) ? r + 1 : r;
      }
    }
    return child;
  }
}

/** Factory of the `linas` strategy (predictor-guided NSGA-II, LINAS style). */
export const linasStrategy: StrategyFactory = {
  name: 'linas',
  version: '1.0.0',
  description: 'LINAS-style predictor-guided search: ridge predictors per objective/constraint, an inner NSGA-II on predicted values, the best unseen proposed each round.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('linas', OPTIONS, options);
    const populationSize = reader.integer('populationSize', 1);
    const rawInitial = options['initialSamples'];
    return new LinasStrategy({
      populationSize,
      initialSamples: rawInitial === undefined || rawInitial === null ? populationSize : reader.integer('initialSamples', 1),
      innerGenerations: reader.integer('innerGenerations', 0),
      innerPopulation: reader.integer('innerPopulation', 2),
      lambda: reader.optionalNumber('lambda', { min: 0 }) ?? 1e-3,
      crossoverProb: reader.optionalNumber('crossoverProb', { min: 0, max: 1 }) ?? 0.9,
      mutationProb: reader.optionalNumber('mutationProb', { min: 0, max: 1 }),
    });
  },
};
