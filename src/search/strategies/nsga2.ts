/**
 * The `nsga2` strategy: evolutionary search over choice-index vectors.
 *
 * - `algorithm: nsga2` (default): NSGA-II (Deb et al. 2002) with constrained domination, binary
 *   crowded tournaments, uniform crossover, per-gene mutation and duplicate elimination.
 * - `algorithm: aging`: regularized (aging) evolution (Real et al. 2019) on the first objective.
 *
 * ## Batches and replay
 *
 * A *round* is `populationSize` evaluations: first the initial population, then one generation
 * of offspring after another. Every offspring of a round is bred from the same parent
 * population, so an ask returns at most what is left of the round (`populationSize` minus what
 * the round has already proposed): with populationSize 20, batches of 7 come back as 7, 7, 6,
 * 7, 7, 6, ...; batches of 1 or of 20 fill exactly. When the results of the whole round have been
 * told, `tell` runs environmental selection and the next round starts. Aging evolution has no
 * rounds after the initial population: every ask breeds from the current queue, which changes
 * only in `tell`.
 *
 * All state (keys seen, the round's results, the population or queue) is updated by asks and
 * tells alone, and every random draw comes from `ctx.rng`, so replaying the asks and tells with
 * the same RNG rebuilds it exactly. `ctx.trials` is deliberately not read.
 */
import { NlsError } from '../../errors.js';
import type { Config, SearchSpace } from '../../space/index.js';
import type { Rng } from '../../util/rng.js';
import type { Direction, SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { OptionReader, UnseenSampler, checkAskCount, checkObjectives, resultViolation, sameConfig, usableValues } from './_common.js';
import { crowdingDistance, nonDominatedSort } from '../pareto.js';

/** Attempts at breeding a configuration not seen before, before drawing an unseen one at random. */
const DUPLICATE_RETRIES = 50;

const OPTIONS: readonly StrategyOptionDoc[] = [
  {
    name: 'algorithm',
    type: 'string',
    default: 'nsga2',
    choices: ['nsga2', 'aging'],
    description: 'nsga2: NSGA-II (multi-objective). aging: regularized evolution on the first objective.',
  },
  { name: 'populationSize', type: 'integer', default: 20, description: 'Individuals in the population (NSGA-II) or in the aging queue; also the size of a round.' },
  {
    name: 'seedHeuristics',
    type: 'boolean',
    default: true,
    description: 'Start the initial population with the max, min and median configurations (the rest is uniform random).',
  },
  { name: 'crossoverProb', type: 'number', default: 0.9, description: 'NSGA-II: probability that a child is a uniform crossover of two parents rather than a copy of one.' },
  {
    name: 'mutationProb',
    type: 'number',
    description: 'Probability that each gene of a child mutates; default 1 / number of genes.',
  },
  {
    name: 'mutation',
    type: 'string',
    default: 'uniform',
    choices: ['uniform', 'adjacent'],
    description: 'uniform: a mutated gene moves to a random other choice. adjacent: to a neighbouring choice (next larger or smaller rank).',
  },
  { name: 'sampleSize', type: 'integer', default: 5, description: 'aging: tournament size S (members sampled, with replacement, from the queue).' },
];

/** A told trial as the population holds it. */
export interface Member {
  readonly config: Config;
  readonly key: string;
  /** Objective values; `undefined` when the trial failed, was filtered or is malformed. */
  readonly values: readonly number[] | undefined;
  /** Total constraint violation; `Infinity` when `values` is undefined. */
  readonly violation: number;
}

/** A member of an NSGA-II population with its non-domination rank and crowding distance. */
export interface Ranked extends Member {
  readonly rank: number;
  readonly crowding: number;
}

type Algorithm = 'nsga2' | 'aging';
type MutationKind = 'uniform' | 'adjacent';

interface EvolutionOptions {
  readonly algorithm: Algorithm;
  readonly populationSize: number;
  readonly seedHeuristics: boolean;
  readonly crossoverProb: number;
  readonly mutationProb: number | undefined;
  readonly mutation: MutationKind;
  readonly sampleSize: number;
}

/**
 * NSGA-II environmental selection: the best `size` members by constrained non-domination rank,
 * the last front cut by descending crowding distance (ties by position). Failed members come
 * last, in position order. Exported for tests.
 */
export function selectSurvivors(members: readonly Member[], size: number, directions: readonly Direction[]): Ranked[] {
  const ok: Member[] = [];
  const failed: Member[] = [];
  for (const m of members) (m.values && m.violation !== Infinity ? ok : failed).push(m);
  const points = ok.map((m) => m.values ?? []);
  const fronts = nonDominatedSort(
    points,
    directions,
    ok.map((m) => m.violation),
  );
  const out: Ranked[] = [];
  for (let rank = 0; rank < fronts.length && out.length < size; rank++) {
    const front = fronts[rank] ?? [];
    const crowding = crowdingDistance(points, front, directions);
    let positions = [...front.keys()];
    if (out.length + front.length > size) {
      positions.sort((a, b) => (crowding[b] ?? 0) - (crowding[a] ?? 0) || a - b);
      positions = positions.slice(0, size - out.length);
    }
    for (const p of positions) out.push({ ...(ok[front[p] ?? 0] as Member), rank, crowding: crowding[p] ?? 0 });
  }
  for (const m of failed) {
    if (out.length >= size) break;
    out.push({ ...m, rank: fronts.length, crowding: 0 });
  }
  return out;
}

/** Move gene `i` of `child` to another choice. */
function mutateGene(child: number[], i: number, count: number, kind: MutationKind, rng: Rng): void {
  const c = child[i] ?? 0;
  if (count <= 1) return;
  if (kind === 'uniform') {
    const r = rng.int(count - 1);
    child[i] = r >= c ? r + 1 : r;
  } else if (c === 0) child[i] = 1;
  else if (c === count - 1) child[i] = c - 1;
  else child[i] = rng.next() < 0.5 ? c - 1 : c + 1;
}

class EvolutionStrategy implements SearchStrategy {
  /** Keys proposed or told: offspring must differ from all of them. */
  private readonly seen = new Set<string>();
  private readonly sampler = new UnseenSampler();
  /** Heuristic seeds not yet proposed; set by the first ask. */
  private seeds: Config[] | undefined;
  /** True until the initial population has been told. */
  private initializing = true;
  /** Configurations proposed in the current round. */
  private roundAsked = 0;
  /** Told members of the current round (initial population or a generation's offspring). */
  private pool: Member[] = [];
  /** NSGA-II parent population and the members eligible as parents. */
  private population: Ranked[] = [];
  private parents: Ranked[] = [];
  /** Aging queue, oldest first. */
  private queue: Member[] = [];

  constructor(private readonly options: EvolutionOptions) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount(this.name, n);
    checkObjectives(this.name, ctx.objectives);
    const rounds = this.initializing || this.options.algorithm === 'nsga2';
    const want = rounds ? Math.min(n, Math.max(0, this.options.populationSize - this.roundAsked)) : n;
    const out: Config[] = [];
    while (out.length < want) {
      const child = this.initializing ? this.initial(ctx) : this.options.algorithm === 'nsga2' ? this.offspring(ctx) : this.agingChild(ctx);
      if (!child) break; // the space is exhausted
      this.seen.add(child.key);
      out.push(child.config);
      this.roundAsked++;
    }
    return out;
  }

  tell(results: readonly TrialResult[], ctx: StrategyContext): void {
    checkObjectives(this.name, ctx.objectives);
    const P = this.options.populationSize;
    for (const r of results) {
      this.seen.add(r.key);
      const member: Member = { config: r.config, key: r.key, values: usableValues(r, ctx.objectives.length), violation: resultViolation(r, ctx.objectives.length) };
      if (!this.initializing && this.options.algorithm === 'aging') {
        this.queue.push(member);
        while (this.queue.length > P) this.queue.shift(); // the oldest dies, however good
      } else this.pool.push(member);
    }
    if ((this.initializing || this.options.algorithm === 'nsga2') && this.pool.length >= P) {
      const directions = ctx.objectives.map((o) => o.direction);
      if (this.options.algorithm === 'aging') this.queue = this.pool.slice(-P);
      else {
        this.population = selectSurvivors(this.initializing ? this.pool : [...this.population, ...this.pool], P, directions);
        const alive = this.population.filter((m) => m.violation !== Infinity);
        this.parents = alive.length > 0 ? alive : this.population;
      }
      this.initializing = false;
      this.pool = [];
      this.roundAsked = 0;
    }
  }

  private get name(): string {
    return this.options.algorithm === 'aging' ? 'nsga2 (aging)' : 'nsga2';
  }

  private initial(ctx: StrategyContext): { config: Config; key: string } | undefined {
    const { space } = ctx;
    this.seeds ??= this.options.seedHeuristics ? [space.maxConfig(), space.minConfig(), space.medianConfig()] : [];
    while (this.seeds.length > 0) {
      const config = this.seeds.shift() as Config;
      const key = space.key(config);
      if (!this.seen.has(key)) return { config, key };
    }
    return this.sampler.draw(space, ctx.rng, this.seen);
  }

  private mutate(child: number[], space: SearchSpace, rng: Rng): void {
    const p = this.options.mutationProb ?? 1 / Math.max(1, space.size);
    for (let i = 0; i < child.length; i++) {
      const count = space.choiceCounts[i] ?? 1;
      if (count > 1 && rng.next() < p) mutateGene(child, i, count, this.options.mutation, rng);
    }
  }

  /** Binary tournament by (rank, crowding); the first drawn wins ties. */
  private tournament(rng: Rng): Ranked {
    const a = this.parents[rng.int(this.parents.length)] as Ranked;
    const b = this.parents[rng.int(this.parents.length)] as Ranked;
    return b.rank < a.rank || (b.rank === a.rank && b.crowding > a.crowding) ? b : a;
  }

  private offspring(ctx: StrategyContext): { config: Config; key: string } | undefined {
    const { space, rng } = ctx;
    for (let attempt = 0; attempt < DUPLICATE_RETRIES; attempt++) {
      const p1 = this.tournament(rng);
      const p2 = this.tournament(rng);
      let child: number[];
      if (rng.next() < this.options.crossoverProb) child = p1.config.map((c, i) => (rng.next() < 0.5 ? c : (p2.config[i] ?? c)));
      else child = [...p1.config];
      this.mutate(child, space, rng);
      const key = space.key(child);
      if (!this.seen.has(key)) return { config: child, key };
    }
    return this.sampler.draw(space, rng, this.seen);
  }

  /** Aging: better = less violation, then a better first objective. */
  private agingBetter(x: Member, y: Member, direction: Direction): boolean {
    if (x.violation !== y.violation) return x.violation < y.violation;
    if (!x.values || !y.values) return false;
    const sign = direction === 'maximize' ? 1 : -1;
    return sign * (x.values[0] ?? 0) > sign * (y.values[0] ?? 0);
  }

  private agingChild(ctx: StrategyContext): { config: Config; key: string } | undefined {
    const { space, rng } = ctx;
    const direction = ctx.objectives[0]?.direction ?? 'maximize';
    const alive = this.queue.filter((m) => m.violation !== Infinity);
    const candidates = alive.length > 0 ? alive : this.queue;
    const multi = space.choiceCounts.flatMap((c, i) => (c > 1 ? [i] : []));
    if (candidates.length === 0 || multi.length === 0) return this.sampler.draw(space, rng, this.seen);
    for (let attempt = 0; attempt < DUPLICATE_RETRIES; attempt++) {
      let best = candidates[rng.int(candidates.length)] as Member;
      for (let s = 1; s < this.options.sampleSize; s++) {
        const m = candidates[rng.int(candidates.length)] as Member;
        if (this.agingBetter(m, best, direction)) best = m;
      }
      const child = [...best.config];
      this.mutate(child, space, rng);
      if (sameConfig(child, best.config)) {
        // A child must differ from its parent (Real et al. always mutate): change one gene.
        const g = multi[rng.int(multi.length)] ?? 0;
        mutateGene(child, g, space.choiceCounts[g] ?? 1, this.options.mutation, rng);
      }
      const key = space.key(child);
      if (!this.seen.has(key)) return { config: child, key };
    }
    return this.sampler.draw(space, rng, this.seen);
  }
}

/** Factory of the `nsga2` strategy (NSGA-II, or aging evolution with `algorithm: aging`). */
export const nsga2Strategy: StrategyFactory = {
  name: 'nsga2',
  version: '1.0.0',
  description: 'Evolutionary search: NSGA-II with constrained domination (multi-objective), or regularized aging evolution (algorithm=aging).',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('nsga2', OPTIONS, options);
    const populationSize = reader.integer('populationSize', 2);
    const algorithm = reader.choice<Algorithm>('algorithm');
    const sampleSize = reader.integer('sampleSize', 1);
    if (algorithm === 'aging' && sampleSize > populationSize) {
      throw new NlsError(`option "sampleSize" (${sampleSize}) of strategy "nsga2" exceeds populationSize (${populationSize}); fix: use a tournament no larger than the population`, {
        field: 'sampleSize',
      });
    }
    return new EvolutionStrategy({
      algorithm,
      populationSize,
      seedHeuristics: reader.boolean('seedHeuristics'),
      crossoverProb: reader.optionalNumber('crossoverProb', { min: 0, max: 1 }) ?? 0.9,
      mutationProb: reader.optionalNumber('mutationProb', { min: 0, max: 1 }),
      mutation: reader.choice<MutationKind>('mutation'),
      sampleSize,
    });
  },
};
