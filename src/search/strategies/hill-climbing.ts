/**
 * The `hill-climbing` strategy: local search on the one-step neighbourhood of
 * `SearchSpace.neighbours` (one gene moved to the adjacent rank), with random restarts.
 *
 * - `mode: steepest`: evaluate every neighbour of the current point, move to the best one if it
 *   improves on the current point.
 * - `mode: first`: visit the neighbours in random order, move to the first that improves.
 *
 * A local optimum (no improving neighbour) ends a climb; the next climb starts from a random
 * configuration not evaluated before, until `restarts` are spent, then the strategy answers `[]`.
 *
 * A climb that ends at an *unusable* point (failed, filtered or without usable objective values,
 * i.e. infinite violation) found nothing to climb: since any usable neighbour would have been a
 * move, that point is the climb's start and all its neighbours are unusable too. Such a climb is
 * not a local optimum; the strategy restarts from a random configuration not seen before, and
 * that restart does not count against `restarts`. So failures never end the search early: it
 * answers `[]` only when the budgeted climbs are done or no unseen configuration is left.
 *
 * ## Scores
 *
 * Every trial gets a scalar score ({@link scalarScore}): a weighted sum of the objectives, or the
 * first objective under a bound on the second; infeasible trials (failed, filtered, violating a
 * study constraint or the bound) score `-Infinity`. So that a climb can start at an infeasible
 * point (the supernet usually breaks a cost bound) and still find its way out, points are compared
 * lexicographically: smaller total violation first (study constraints plus the excess over the
 * bound), then the score.
 *
 * ## Batches and replay
 *
 * An ask returns up to `n` neighbours of the current point that have not been evaluated (fewer
 * when fewer are pending). All decisions (moves, restarts, the random neighbour order) are taken
 * in `ask` from the results told so far; `tell` only records them. So the state follows from the
 * asks and tells, and replaying them with the same RNG rebuilds it.
 */
import { NlsError } from '../../errors.js';
import type { Config, SearchSpace } from '../../space/index.js';
import type { ObjectiveSpec, SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { OptionReader, UnseenSampler, checkAskCount, checkObjectives, usableValues } from './_common.js';
import { shuffleInPlace } from '../../util/rng.js';
import { totalViolation } from '../pareto.js';

type Mode = 'steepest' | 'first';
type Start = 'median' | 'max' | 'min' | 'random';

/** The first climb's start for a non-random `start`. */
function startConfig(space: SearchSpace, start: Exclude<Start, 'random'>): Config {
  return start === 'max' ? space.maxConfig() : start === 'min' ? space.minConfig() : space.medianConfig();
}
type Scalarization = 'weighted' | 'bounded';

/** How trials are scored (see {@link scalarScore}). */
export interface ScalarizationSpec {
  readonly scalarization: Scalarization;
  /** One weight per objective (weighted); empty means every weight is 1. */
  readonly weights: readonly number[];
  /** Upper bound on objective 1 (bounded). */
  readonly bound?: number | undefined;
}

/** A trial's standing: violation first (smaller is better), then score (larger is better). */
export interface Standing {
  readonly violation: number;
  readonly score: number;
}

/** Check that `spec` fits the study's objectives; throws {@link NlsError} naming the option. */
export function checkScalarization(spec: ScalarizationSpec, objectives: readonly ObjectiveSpec[]): void {
  if (spec.scalarization === 'weighted') {
    checkObjectives('hill-climbing', objectives);
    if (spec.weights.length > 0 && spec.weights.length !== objectives.length) {
      throw new NlsError(
        `option "weights" of strategy "hill-climbing" has ${spec.weights.length} weights but the study has ${objectives.length} objectives (${objectives.map((o) => o.name).join(', ')}); fix: give one weight per objective`,
        { field: 'weights' },
      );
    }
  } else checkObjectives('hill-climbing', objectives, 2);
}

/**
 * Standing of a trial. `weighted`: score = sum of weight x value, a maximized objective added,
 * a minimized one subtracted. `bounded`: score = objective 0 (negated when it is minimized), and
 * objective 1 above `bound` counts as violation. Failed, filtered and malformed trials have
 * infinite violation.
 */
export function standing(result: TrialResult, spec: ScalarizationSpec, objectives: readonly ObjectiveSpec[]): Standing {
  const values = usableValues(result, objectives.length);
  if (!values) return { violation: Infinity, score: -Infinity };
  let violation = totalViolation(result.constraints);
  let score = 0;
  const sign = (m: number): number => (objectives[m]?.direction === 'minimize' ? -1 : 1);
  if (spec.scalarization === 'weighted') {
    for (let m = 0; m < objectives.length; m++) score += (spec.weights[m] ?? 1) * sign(m) * (values[m] ?? 0);
  } else {
    score = sign(0) * (values[0] ?? 0);
    violation += Math.max(0, (values[1] ?? 0) - (spec.bound ?? Infinity));
  }
  return { violation, score };
}

/** The scalarised objective of a trial: its score when feasible, `-Infinity` otherwise. */
export function scalarScore(result: TrialResult, spec: ScalarizationSpec, objectives: readonly ObjectiveSpec[]): number {
  const s = standing(result, spec, objectives);
  return s.violation > 0 ? -Infinity : s.score;
}

/** `a` is strictly better than `b`. */
function better(a: Standing, b: Standing): boolean {
  if (a.violation !== b.violation) return a.violation < b.violation;
  if (a.violation === Infinity) return false;
  return a.score > b.score;
}

const OPTIONS: readonly StrategyOptionDoc[] = [
  {
    name: 'mode',
    type: 'string',
    default: 'steepest',
    choices: ['steepest', 'first'],
    description: 'steepest: evaluate all neighbours, move to the best improving one. first: neighbours in random order, move to the first improving one.',
  },
  { name: 'restarts', type: 'integer', default: 0, description: 'Climbs after the first, each from a random configuration not evaluated before (a restart after an unusable, e.g. failed, start is free).' },
  {
    name: 'start',
    type: 'string',
    default: 'median',
    choices: ['median', 'max', 'min', 'random'],
    description:
      'Where the first climb starts: the median heuristic, the supernet (max), the smallest sub-adapter (min: feasible under any cost bound that admits anything, a natural start for accuracy under a bound), or a random configuration.',
  },
  {
    name: 'scalarization',
    type: 'string',
    default: 'weighted',
    choices: ['weighted', 'bounded'],
    description: 'weighted: weighted sum of the objectives. bounded: objective 0 subject to objective 1 <= bound.',
  },
  {
    name: 'weights',
    type: 'string',
    default: '',
    description: 'weighted: comma-separated weight per objective (maximized ones add, minimized ones subtract); empty = all 1.',
  },
  { name: 'bound', type: 'number', description: 'bounded: the largest allowed value of objective 1 (e.g. a parameter budget). Required with scalarization=bounded.' },
];

class HillClimbingStrategy implements SearchStrategy {
  /** Standing of every told trial, by key. */
  private readonly evaluated = new Map<string, Standing>();
  /** Keys proposed or told, to start restarts at configurations never evaluated. */
  private readonly seen = new Set<string>();
  private readonly sampler = new UnseenSampler();
  /** Climbs started so far that count against `restarts` (the first climb included). */
  private climbs = 0;
  /** The last climb ended at an unusable point, so the next one is a free restart. */
  private freeRestart = false;
  private current: { config: Config; key: string } | undefined;
  /** Neighbours of `current`, in visiting order; computed when `current` has been evaluated. */
  private order: { config: Config; key: string }[] | undefined;
  /** first mode: neighbours before this position were evaluated and do not improve. */
  private cursor = 0;
  private done = false;

  constructor(
    private readonly mode: Mode,
    private readonly restarts: number,
    private readonly start: Start,
    private readonly spec: ScalarizationSpec,
  ) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('hill-climbing', n);
    checkScalarization(this.spec, ctx.objectives);
    if (n === 0) return [];
    const out = this.pending(ctx).slice(0, n);
    for (const c of out) this.seen.add(ctx.space.key(c));
    return out;
  }

  tell(results: readonly TrialResult[], ctx: StrategyContext): void {
    checkScalarization(this.spec, ctx.objectives);
    for (const r of results) {
      this.seen.add(r.key);
      this.evaluated.set(r.key, standing(r, this.spec, ctx.objectives));
    }
  }

  /** Advance the climb as far as the told results allow; return what must be evaluated next. */
  private pending(ctx: StrategyContext): Config[] {
    const { space, rng } = ctx;
    for (;;) {
      if (this.done) return [];
      if (!this.current) {
        const free = this.freeRestart;
        this.freeRestart = false;
        if (!free && this.climbs > this.restarts) {
          this.done = true;
          return [];
        }
        const first = this.climbs === 0 && this.start !== 'random';
        const config = first ? startConfig(space, this.start) : this.sampler.draw(space, rng, this.seen)?.config;
        if (!free) this.climbs++;
        if (!config) {
          this.done = true; // every configuration was evaluated
          return [];
        }
        this.current = { config, key: space.key(config) };
        this.order = undefined;
      }
      const here = this.evaluated.get(this.current.key);
      if (!here) return [this.current.config];
      if (!this.order) {
        this.order = space.neighbours(this.current.config).map((config) => ({ config, key: space.key(config) }));
        if (this.mode === 'first') shuffleInPlace(this.order, rng);
        this.cursor = 0;
      }
      let next: { config: Config; key: string } | undefined;
      if (this.mode === 'steepest') {
        const missing = this.order.filter((p) => !this.evaluated.has(p.key));
        if (missing.length > 0) return missing.map((p) => p.config);
        let best = here;
        for (const p of this.order) {
          const s = this.evaluated.get(p.key) as Standing;
          if (better(s, best)) {
            best = s;
            next = p;
          }
        }
      } else {
        for (; this.cursor < this.order.length; this.cursor++) {
          const p = this.order[this.cursor] as { config: Config; key: string };
          const s = this.evaluated.get(p.key);
          if (!s) return this.order.slice(this.cursor).filter((q) => !this.evaluated.has(q.key)).map((q) => q.config);
          if (better(s, here)) {
            next = p;
            break;
          }
        }
      }
      // Move uphill, or end the climb: at a local optimum (a budgeted restart follows), or at an
      // unusable point with no usable neighbour (a free restart follows).
      if (!next && here.violation === Infinity) this.freeRestart = true;
      this.current = next;
      this.order = undefined;
    }
  }
}

/** Factory of the `hill-climbing` strategy. */
export const hillClimbingStrategy: StrategyFactory = {
  name: 'hill-climbing',
  version: '1.0.0',
  description: 'Steepest-ascent or first-improvement hill climbing on one-step rank neighbours, with random restarts, on a scalarised objective.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('hill-climbing', OPTIONS, options);
    const scalarization = reader.choice<Scalarization>('scalarization');
    const weights = reader.numberList('weights');
    const bound = reader.optionalNumber('bound');
    if (scalarization === 'bounded' && bound === undefined) {
      throw new NlsError('option "bound" of strategy "hill-climbing" is required with scalarization=bounded; fix: set bound to the largest allowed value of objective 1', {
        field: 'bound',
      });
    }
    return new HillClimbingStrategy(reader.choice<Mode>('mode'), reader.integer('restarts', 0), reader.choice<Start>('start'), { scalarization, weights, bound });
  },
};
