/**
 * The `mobo` strategy: Bayesian multi-objective optimisation for searches where evaluations are
 * few and expensive (a candidate on a real supernet costs minutes).
 *
 * 1. **Start**: the max, min and median configurations (the heuristic subnets, evaluated even
 *    when a known constraint rules them out: option `startInfeasible`), then uniform random unseen
 *    configurations a known constraint allows, `initialSamples` in all.
 * 2. **Surrogates**: every objective and constraint is first fitted by least squares on one-hot
 *    gene features; when that fit is exact (an additive cost such as adapter parameters or FLOPs,
 *    known without noise), it is used as is, with no uncertainty. Any other objective gets a
 *    Gaussian process on the genes' choice indices scaled to [0, 1] (rank and width choices are
 *    ordered), Matérn-5/2 with one lengthscale per gene plus a first-order additive term (one
 *    Matérn-5/2 per gene; option `additive`), hyperparameters by marginal likelihood
 *    (src/search/bayes/gp.ts), warm-started from the previous ask's.
 * 3. **Acquisition**: two objectives: log expected hypervolume improvement over the feasible front
 *    of the evaluated configurations (exact, src/search/bayes/ehvi.ts), reference point 10% of the
 *    observed range beyond the worst feasible values; one objective: log expected improvement;
 *    more: log expected improvement of a random Chebyshev scalarisation per ask (ParEGO). Plus the
 *    log probability of satisfying every constraint; with no feasible configuration yet, that
 *    probability alone.
 * 4. **Optimising it over the discrete space**: every unseen configuration when the space has at
 *    most `exhaustiveLimit`; otherwise `candidates` random unseen configurations plus every
 *    single-gene change of up to 8 members of the evaluated front, then best-improvement local
 *    search over single-gene changes from the best `localSearchStarts`. Evaluated or already proposed configurations are never proposed.
 * 5. **Batches**: the proposals of one ask are chosen one after another; each chosen one is added
 *    to the surrogates at its predicted mean (the "kriging believer" fantasy) so the next is chosen
 *    where the first does not already promise the improvement.
 *
 * All state follows from the asks and tells, every random draw comes from `ctx.rng`, and the
 * arithmetic is deterministic: a resumed study replays it exactly.
 */
import { RidgePredictor } from '../../predict/ridge.js';
import type { Config, SearchSpace } from '../../space/index.js';
import { shuffleInPlace } from '../../util/rng.js';
import { prepareEhvi2d } from '../bayes/ehvi.js';
import { fitGaussianProcess, gaussianProcessWith, type GaussianProcess, type GpHyperparameters } from '../bayes/gp.js';
import { logExpectedImprovement, normalLogCdf } from '../bayes/normal.js';
import type { KnownValueFn, SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { paretoFrontIndices } from '../pareto.js';
import { checkAskCount, checkObjectives, heuristicStart, OptionReader, sameConfig, UnseenSampler, usableValues } from './_common.js';

const OPTIONS: readonly StrategyOptionDoc[] = [
  { name: 'initialSamples', type: 'integer', default: 6, description: 'Configurations evaluated before the first surrogate: max, min, median, then uniform random.' },
  { name: 'candidates', type: 'integer', default: 500, description: 'Random unseen configurations scored by the acquisition per proposal, in spaces above exhaustiveLimit.' },
  { name: 'exhaustiveLimit', type: 'integer', default: 5000, description: 'Spaces with at most this many configurations have the acquisition scored on every unseen one.' },
  { name: 'localSearchStarts', type: 'integer', default: 2, description: 'Best candidates that local search over single-gene changes starts from (large spaces).' },
  { name: 'restarts', type: 'integer', default: 1, description: 'Random restarts of the hyperparameter fit, besides the warm start.' },
  {
    name: 'startInfeasible',
    type: 'boolean',
    default: true,
    description: 'Evaluate the heuristic subnets (max, min, median) of the start even when a known constraint rules them out (the max subnet under a parameter bound): infeasible, but informative about the high ranks. false skips them.',
  },
  {
    name: 'additive',
    type: 'boolean',
    default: true,
    description: 'Add a first-order additive term (one Matérn-5/2 per gene) to the Gaussian-process kernel; its weight is fitted by marginal likelihood.',
  },
];

interface MoboOptions {
  readonly initialSamples: number;
  readonly candidates: number;
  readonly exhaustiveLimit: number;
  readonly localSearchStarts: number;
  readonly restarts: number;
  readonly additive: boolean;
  readonly startInfeasible: boolean;
}

/** A usable told trial, objectives turned into minimisation. */
interface Observation {
  readonly config: Config;
  readonly key: string;
  /** Objective values, each to be minimised (maximised ones negated). */
  readonly y: readonly number[];
  readonly constraints: readonly number[];
}

/** A model of one minimised quantity: exact (additive, noiseless) or a Gaussian process. */
interface Model {
  predict(xs: readonly Config[]): { mean: Float64Array; variance: Float64Array };
  /** The same model, also having seen `xs` with values `ys` (fantasies). */
  condition(xs: readonly Config[], ys: readonly number[]): Model;
}

/** Hyperparameters are refitted at every ask up to this many observations... */
const REFIT_ALWAYS = 100;
/** ...and beyond, when the observations grew by this factor since the last fit... */
const REFIT_GROWTH = 1.03;
/** ...from the warm start alone, for at most this many iterations (a fit costs O(n^3) per iteration). */
const LATE_REFIT_ITERATIONS = 3;
/** Evaluated configurations whose single-gene changes join the candidate pool (large spaces). */
const FRONT_NEIGHBOURHOODS = 8;
/** With known constraints, random candidates are drawn until `candidates` are feasible or this many times as many were drawn. */
const KNOWN_INFEASIBLE_DRAWS = 4;
/** Fewest usable observations the surrogates are fitted on. */
const MIN_OBSERVATIONS = 2;
/** Margin of the reference point beyond the worst feasible values, as a share of their range. */
const REFERENCE_MARGIN = 0.1;

/** Choice indices scaled to [0, 1] (ordered choices). */
function encode(space: SearchSpace, config: Config): number[] {
  return config.map((c, i) => {
    const k = space.choiceCounts[i] ?? 1;
    return k > 1 ? c / (k - 1) : 0;
  });
}

/** An exact additive model when least squares on one-hot genes reproduces the data, else undefined. */
function exactAdditive(space: SearchSpace, xs: readonly Config[], ys: readonly number[]): Model | undefined {
  const features = space.choiceCounts.reduce((a, k) => a + Math.max(0, k - 1), 0) + 1;
  if (xs.length < features + 1) return undefined;
  const ridge = new RidgePredictor({ lambda: 1e-10 });
  ridge.fit(
    space,
    xs.map((config, i) => ({ config, value: ys[i]! })),
  );
  const scale = Math.max(1e-12, ...ys.map(Math.abs));
  for (let i = 0; i < xs.length; i++) if (Math.abs(ridge.predict(xs[i]!) - ys[i]!) > 1e-7 * scale) return undefined;
  const model: Model = {
    predict: (configs) => ({ mean: Float64Array.from(configs.map((c) => ridge.predict(c))), variance: new Float64Array(configs.length) }),
    condition: () => model,
  };
  return model;
}

/** A known objective or constraint (`StrategyContext.known`): exact, no uncertainty; `sign` turns maximised into minimised. */
function knownModel(fn: KnownValueFn, sign: number): Model {
  const model: Model = {
    predict: (configs) => ({ mean: Float64Array.from(configs.map((c) => sign * fn(c))), variance: new Float64Array(configs.length) }),
    condition: () => model,
  };
  return model;
}

function gpModel(space: SearchSpace, gp: GaussianProcess): Model {
  return {
    predict: (configs) => gp.predict(configs.map((c) => encode(space, c))),
    condition: (configs, ys) => gpModel(space, gp.condition(configs.map((c) => encode(space, c)), ys)),
  };
}

class MoboStrategy implements SearchStrategy {
  private readonly seen = new Set<string>();
  private readonly observations: Observation[] = [];
  private readonly sampler = new UnseenSampler();
  private initialPlan: Config[] | undefined;
  /** Warm starts of the hyperparameter fits, by model name (`o0`, `c1`, `s`), and the observations they were fitted on. */
  private readonly warm = new Map<string, { hyperparameters: GpHyperparameters; n: number }>();

  constructor(private readonly options: MoboOptions) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('mobo', n);
    checkObjectives('mobo', ctx.objectives);
    const { space, rng } = ctx;
    const out: Config[] = [];
    const take = (config: Config): void => {
      this.seen.add(space.key(config));
      out.push(config);
    };
    if (this.initialPlan === undefined) {
      this.initialPlan = heuristicStart(space, rng, this.sampler, new Set(this.seen), this.options.initialSamples).map((p) => p.config);
    }
    // A heuristic subnet that a known constraint rules out (the max subnet under a parameter
    // bound) is infeasible, yet its accuracy informs the model of the high ranks: on the bounded
    // 4^12 benchmark it is worth its evaluation (docs/benchmarks.md); startInfeasible: false skips
    // it. A random start configuration that a known constraint rules out is always skipped.
    const knownInfeasible = (c: Config) => (ctx.known?.constraints ?? []).some((fn) => fn !== undefined && fn(c) > 0);
    const heuristic = (c: Config) => [space.maxConfig(), space.minConfig(), space.medianConfig()].some((h) => sameConfig(c, h));
    while (out.length < n && this.initialPlan.length > 0) {
      const c = this.initialPlan.shift()!;
      if (this.seen.has(space.key(c))) continue;
      if (!knownInfeasible(c) || (this.options.startInfeasible && heuristic(c))) take(c);
    }
    if (out.length === n) return out;
    if (this.observations.length < MIN_OBSERVATIONS) {
      while (out.length < n) {
        const drawn = this.sampler.draw(space, rng, this.seen);
        if (!drawn) break;
        take(drawn.config);
      }
      return out;
    }
    for (const c of this.proposeBatch(n - out.length, ctx)) take(c);
    return out;
  }

  tell(results: readonly TrialResult[], ctx: StrategyContext): void {
    checkObjectives('mobo', ctx.objectives);
    const M = ctx.objectives.length;
    for (const r of results) {
      this.seen.add(r.key);
      const values = usableValues(r, M);
      if (!values) continue;
      const cons = r.constraints ?? [];
      if (cons.length !== ctx.constraints.length || !cons.every(Number.isFinite)) continue;
      this.observations.push({
        config: [...r.config],
        key: r.key,
        y: ctx.objectives.map((o, m) => (o.direction === 'maximize' ? -values[m]! : values[m]!)),
        constraints: [...cons],
      });
    }
  }

  /** Fit one model per objective and constraint on the observations. */
  private fitModels(ctx: StrategyContext, scalarized?: readonly number[]): { objectives: Model[]; constraints: Model[] } {
    const { space, rng } = ctx;
    const xs = this.observations.map((o) => o.config);
    const fit = (name: string, ys: readonly number[]): Model => {
      const exact = exactAdditive(space, xs, ys);
      if (exact) return exact;
      const warm = this.warm.get(name);
      const encoded = xs.map((c) => encode(space, c));
      // Hyperparameters change little once there are many observations: refit them every ask
      // up to REFIT_ALWAYS observations, then each time the observations grew by REFIT_GROWTH,
      // briefly: small steady refits instead of rare long ones keep every ask short.
      const many = warm !== undefined && xs.length > REFIT_ALWAYS;
      if (many && xs.length < warm.n * REFIT_GROWTH) return gpModel(space, gaussianProcessWith(encoded, ys, warm.hyperparameters));
      const gp = fitGaussianProcess(encoded, ys, {
        rng: () => rng.next(),
        restarts: many ? 0 : this.options.restarts,
        additive: this.options.additive,
        maxIterations: many ? LATE_REFIT_ITERATIONS : warm ? 20 : 50,
        ...(warm ? { warmStart: warm.hyperparameters } : {}),
      });
      this.warm.set(name, { hyperparameters: gp.hyperparameters, n: xs.length });
      return gpModel(space, gp);
    };
    const known = ctx.known;
    const objectives = scalarized
      ? [fit('s', scalarized)]
      : ctx.objectives.map((o, m) => {
          const fn = known?.objectives[m];
          return fn ? knownModel(fn, o.direction === 'maximize' ? -1 : 1) : fit(`o${m}`, this.observations.map((ob) => ob.y[m]!));
        });
    const constraints = ctx.constraints.map((_, k) => {
      const fn = known?.constraints[k];
      return fn ? knownModel(fn, 1) : fit(`c${k}`, this.observations.map((o) => o.constraints[k]!));
    });
    return { objectives, constraints };
  }

  private proposeBatch(q: number, ctx: StrategyContext): Config[] {
    const { space, rng } = ctx;
    const M = ctx.objectives.length;
    // More than two objectives: a random Chebyshev scalarisation per ask (ParEGO).
    let scalarized: number[] | undefined;
    if (M > 2) {
      const w = Array.from({ length: M }, () => rng.next() + 1e-9);
      const sum = w.reduce((a, b) => a + b, 0);
      const lo = Array.from({ length: M }, (_, m) => Math.min(...this.observations.map((o) => o.y[m]!)));
      const hi = Array.from({ length: M }, (_, m) => Math.max(...this.observations.map((o) => o.y[m]!)));
      scalarized = this.observations.map((o) => {
        const z = o.y.map((v, m) => ((w[m]! / sum) * (v - lo[m]!)) / Math.max(1e-12, hi[m]! - lo[m]!));
        return Math.max(...z) + 0.05 * z.reduce((a, b) => a + b, 0);
      });
    }
    let models = this.fitModels(ctx, scalarized);
    const feasible = this.observations.filter((o) => o.constraints.every((c) => c <= 0));
    const targets = scalarized ? [scalarized] : Array.from({ length: M }, (_, m) => this.observations.map((o) => o.y[m]!));
    // Points of the (scalarised) objectives that count: those of feasible observations.
    let points: number[][] = this.observations.flatMap((o, i) => (o.constraints.every((c) => c <= 0) ? [targets.map((t) => t[i]!)] : []));
    const chosen: Config[] = [];
    const taken = new Set(this.seen);
    // The evaluated front (feasible, non-dominated in the minimised targets): its neighbourhoods join the pool.
    const frontIdx = points.length > 0 ? paretoFrontIndices(points, points[0]!.map(() => 'minimize' as const)) : [];
    const pool = this.candidatePool(ctx, taken, frontIdx.map((i) => feasible[i]!.config));
    const reference = targets.map((t, m) => {
      const vals = (points.length > 0 ? points.map((p) => p[m]!) : t).filter(Number.isFinite);
      const lo = Math.min(...vals);
      const hi = Math.max(...vals);
      const margin = REFERENCE_MARGIN * Math.max(hi - lo, 1e-9 * Math.max(1, Math.abs(hi)));
      // A known objective's reference reaches at least the worst value among the candidates (the
      // pool holds what known constraints allow). Otherwise the configurations beyond the feasible
      // observations (under a parameter bound, those nearest it: the most accurate) promise no
      // improvement until one of them happens to be evaluated, and a search can stall there.
      let worst = hi;
      if (!scalarized && ctx.known?.objectives[m] !== undefined) {
        for (const v of models.objectives[m]!.predict(pool).mean) if (v > worst) worst = v;
      }
      return worst + margin;
    });
    for (let b = 0; b < q; b++) {
      // Every constraint known: feasibility is certain, so even before a feasible observation the
      // hypervolume gain (over the reference alone) ranks the feasible candidates.
      const allConstraintsKnown = ctx.constraints.length > 0 && ctx.constraints.every((_, k) => ctx.known?.constraints[k] !== undefined);
      const score = (configs: readonly Config[]): Float64Array => this.acquisition(configs, models, points, reference, feasible.length > 0 || b > 0 || allConstraintsKnown);
      const live = pool.filter((c) => !taken.has(space.key(c)));
      const liveValues = score(live);
      let best = this.bestOf(live, score, liveValues);
      if (!best && live.length === 0) {
        const drawn = this.sampler.draw(space, rng, taken);
        if (!drawn) break;
        best = { config: drawn.config, value: -Infinity };
      }
      if (!best) break;
      if (Number(space.cardinality()) > this.options.exhaustiveLimit) best = this.localSearch(best, live, liveValues, score, taken, ctx);
      chosen.push(best.config);
      taken.add(space.key(best.config));
      if (b + 1 < q) {
        // Kriging believer: the surrogates now also "know" the chosen one at its predicted mean.
        const objMeans = models.objectives.map((m) => m.predict([best!.config]).mean[0]!);
        const conMeans = models.constraints.map((m) => m.predict([best!.config]).mean[0]!);
        models = {
          objectives: models.objectives.map((m, i) => m.condition([best!.config], [objMeans[i]!])),
          constraints: models.constraints.map((m, i) => m.condition([best!.config], [conMeans[i]!])),
        };
        if (conMeans.every((c) => c <= 0)) points = [...points, objMeans];
      }
    }
    return chosen;
  }

  /** The configurations the acquisition is scored on. */
  private candidatePool(ctx: StrategyContext, taken: ReadonlySet<string>, front: readonly Config[]): Config[] {
    const { space, rng } = ctx;
    // Candidates a known constraint rules out are not worth scoring.
    const knownConstraints = (ctx.known?.constraints ?? []).filter((fn): fn is KnownValueFn => fn !== undefined);
    if (Number(space.cardinality()) <= this.options.exhaustiveLimit) {
      return [...space.enumerate()].filter((c) => !taken.has(space.key(c)) && knownConstraints.every((fn) => fn(c) <= 0));
    }
    const out: Config[] = [];
    const keys = new Set(taken);
    const add = (c: Config): boolean => {
      const key = space.key(c);
      if (keys.has(key)) return false;
      keys.add(key);
      if (!knownConstraints.every((fn) => fn(c) <= 0)) return false;
      out.push(c);
      return true;
    };
    // Single-gene changes of (at most FRONT_NEIGHBOURHOODS members of) the evaluated front.
    const members = shuffleInPlace([...front], rng);
    for (const f of members.slice(0, FRONT_NEIGHBOURHOODS)) for (const c of singleGeneChanges(space, f)) add(c);
    // `candidates` random ones (feasible by the known constraints, within a bounded number of draws).
    let accepted = 0;
    for (let draws = 0; accepted < this.options.candidates && draws < KNOWN_INFEASIBLE_DRAWS * this.options.candidates; draws++) {
      const drawn = this.sampler.draw(space, rng, keys);
      if (!drawn) break;
      if (add(drawn.config)) accepted++;
    }
    return out;
  }

  /** The configuration of highest acquisition (`values`: the scores of `configs`, when known). */
  private bestOf(configs: readonly Config[], score: (c: readonly Config[]) => Float64Array, known?: Float64Array): { config: Config; value: number } | undefined {
    if (configs.length === 0) return undefined;
    const values = known ?? score(configs);
    let bi = 0;
    for (let i = 1; i < values.length; i++) if (values[i]! > values[bi]!) bi = i;
    return { config: configs[bi]!, value: values[bi]! };
  }

  /** Best-improvement local search over single-gene changes from the best few of the pool. */
  private localSearch(
    best: { config: Config; value: number },
    pool: readonly Config[],
    values: Float64Array,
    score: (c: readonly Config[]) => Float64Array,
    taken: ReadonlySet<string>,
    ctx: StrategyContext,
  ): { config: Config; value: number } {
    const { space } = ctx;
    const order = [...values.keys()].sort((a, b) => values[b]! - values[a]! || a - b).slice(0, this.options.localSearchStarts);
    let overall = best;
    for (const start of order) {
      let current = { config: pool[start]!, value: values[start]! };
      for (let step = 0; step < 20; step++) {
        const next = singleGeneChanges(space, current.config).filter((c) => !taken.has(space.key(c)));
        const b = this.bestOf(next, score);
        if (!b || !(b.value > current.value)) break;
        current = b;
      }
      if (current.value > overall.value) overall = current;
    }
    return overall;
  }

  /** Log acquisition of each configuration (larger is better). */
  private acquisition(configs: readonly Config[], models: { objectives: Model[]; constraints: Model[] }, points: readonly (readonly number[])[], reference: readonly number[], hasFeasible: boolean): Float64Array {
    const out = new Float64Array(configs.length);
    const ehvi = models.objectives.length === 2 ? prepareEhvi2d(points, reference) : undefined;
    const preds = models.objectives.map((m) => m.predict(configs));
    const cons = models.constraints.map((m) => m.predict(configs));
    for (let i = 0; i < configs.length; i++) {
      let logPof = 0;
      for (const c of cons) {
        const s = Math.sqrt(Math.max(0, c.variance[i]!));
        logPof += s < 1e-12 ? (c.mean[i]! <= 0 ? 0 : -Infinity) : normalLogCdf(-c.mean[i]! / s);
      }
      if (!hasFeasible) {
        out[i] = logPof;
        continue;
      }
      let gain: number;
      if (preds.length === 2) {
        const mu: [number, number] = [preds[0]!.mean[i]!, preds[1]!.mean[i]!];
        const sigma: [number, number] = [Math.sqrt(Math.max(0, preds[0]!.variance[i]!)), Math.sqrt(Math.max(0, preds[1]!.variance[i]!))];
        gain = ehvi!.logEhvi(mu, sigma);
      } else {
        const best = points.length > 0 ? Math.min(...points.map((p) => p[0]!)) : reference[0]!;
        gain = logExpectedImprovement(preds[0]!.mean[i]!, Math.sqrt(Math.max(0, preds[0]!.variance[i]!)), best);
      }
      out[i] = gain + logPof;
    }
    return out;
  }
}

/** Every configuration that differs from `config` in one gene (any other choice of it). */
function singleGeneChanges(space: SearchSpace, config: Config): Config[] {
  const out: Config[] = [];
  for (let i = 0; i < config.length; i++) {
    const k = space.choiceCounts[i] ?? 1;
    for (let v = 0; v < k; v++) {
      if (v === config[i]) continue;
      const c = [...config];
      c[i] = v;
      out.push(c);
    }
  }
  return out;
}

/** Factory of the `mobo` strategy (Gaussian-process surrogates, expected hypervolume improvement). */
export const moboStrategy: StrategyFactory = {
  name: 'mobo',
  // 1.1.0: known objectives and constraints, late refits of 3 iterations at 3% growth,
  // startInfeasible. Proposals differ from 1.0.0's, so a 1.0.0 journal is refused on resume.
  version: '1.1.0',
  description: 'Bayesian multi-objective search: Gaussian-process surrogates (exact models for additive costs), log expected hypervolume improvement with probability of feasibility, batches by fantasies.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('mobo', OPTIONS, options);
    return new MoboStrategy({
      initialSamples: reader.integer('initialSamples', 1),
      candidates: reader.integer('candidates', 1),
      exhaustiveLimit: reader.integer('exhaustiveLimit', 0),
      localSearchStarts: reader.integer('localSearchStarts', 0),
      restarts: reader.integer('restarts', 0),
      additive: reader.boolean('additive'),
      startInfeasible: reader.boolean('startInfeasible'),
    });
  },
};
