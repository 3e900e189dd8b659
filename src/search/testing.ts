/**
 * The strategy conformance kit (`nls/testing`): property checks every search strategy must pass,
 * runnable from any test runner.
 *
 * ```ts
 * import { strategyConformance } from 'nls/testing';
 * for (const check of strategyConformance(myFactory)) it(check.name, check.run);        // vitest / jest
 * for (const check of strategyConformance(myFactory)) test(check.name, check.run);      // node:test
 * ```
 *
 * The checks (fast-check generates the small search spaces, objectives and seeds):
 * 1. **shape**: the factory is a valid StrategyFactory and `create` accepts its defaults;
 * 2. **proposals in the space, at most n**: every ask returns an array of at most `n` valid
 *    configurations;
 * 3. **failed and filtered results**: `tell` accepts them, and a strategy that would keep
 *    proposing after complete results keeps proposing after failed/filtered ones;
 * 4. **inputs are read-only**: results and contexts are deep-frozen; a strategy must not mutate them;
 * 5. **same seed, same proposals**: two runs with the same seed and results propose the same;
 * 6. **randomness only from ctx.rng**: `Math.random` is not called;
 * 7. **replay**: a fresh instance that is replayed the journaled asks and tells (results
 *    round-tripped through JSON, as the journal stores them) proposes the same next batch as the
 *    original instance;
 * 8. **exhausted space**: in a tiny space the strategy never throws and the search stops — it either
 *    answers `[]` or only repeats, which the study answers from its cache until it stops after
 *    `maxIdleBatches` idle batches (with `strictExhaustion`, it must answer `[]` once every
 *    configuration was proposed);
 * 9. **kill and resume**: a real {@link Study} killed after k evaluations and resumed writes the
 *    same trials as an uninterrupted one.
 *
 * The rule for exhaustion, stated once: *a strategy that cannot propose anything new returns
 * `[]`* (this ends the study); proposing repeats is allowed but wasteful, and the study stops
 * after `maxIdleBatches` consecutive batches that evaluated nothing.
 */
import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { SearchSpace, type Config } from '../space/index.js';
import { createRng, type Rng } from '../util/rng.js';
import type { ConstraintSpec, ObjectiveSpec, SearchStrategy, StrategyContext, StrategyFactory, TrialResult, TrialState } from './contract.js';
import { FatalEvaluationError, functionEvaluator } from './evaluator.js';
import { resolveStrategyOptions, validateStrategyFactory } from './registry.js';
import { Study } from './study.js';

/** One named check; `run` throws (or rejects) with an explanation when the strategy fails it. */
export interface ConformanceCheck {
  readonly name: string;
  run(): Promise<void>;
}

/** Options of {@link strategyConformance}. */
export interface ConformanceOptions {
  /** Strategy options to create it with (merged with its defaults). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** fast-check runs per property (default 25). */
  readonly numRuns?: number;
  /** fast-check seed, to reproduce a failure. */
  readonly seed?: number;
  /** Require `[]` once every configuration of a tiny space was proposed (default false). */
  readonly strictExhaustion?: boolean;
  /** Include the kill-and-resume check through a real Study on disk (default true). */
  readonly studyCheck?: boolean;
  /** Minimum number of objectives the strategy needs (default 1). */
  readonly minObjectives?: number;
  /** Maximum number of objectives the strategy supports (default 3). */
  readonly maxObjectives?: number;
}

/** Thrown by a failed conformance check. */
export class ConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceError';
  }
}

function fail(message: string): never {
  throw new ConformanceError(message);
}

/** A generated test problem: a small space, objectives, constraints and a deterministic outcome. */
export interface Scenario {
  readonly space: SearchSpace;
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  /** Varies the outcome function. */
  readonly salt: number;
  /** Share of trials that fail / are filtered. */
  readonly failRate: number;
  readonly filterRate: number;
}

/** A small space with the given choice counts (one layer per gene, modules q_proj). */
export function smallSpace(choiceCounts: readonly number[], name = 'conformance'): SearchSpace {
  return new SearchSpace({
    name,
    numLayers: choiceCounts.length,
    instances: choiceCounts.map((n, layer) => ({
      layer,
      group: 'g',
      groupIndex: 0,
      modules: ['q_proj'],
      ranks: Array.from({ length: n }, (_, k) => (n - k) * 4),
      alpha: 16,
      dropout: 0,
      scaling: 'alpha/r_max' as const,
    })),
  });
}

/** FNV-1a hash of a string to [0, 1). */
function unit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}

/** The deterministic outcome of `config` in `scenario`. */
export function scenarioOutcome(scenario: Scenario, config: Config, key: string): Pick<TrialResult, 'state' | 'values' | 'constraints' | 'message'> {
  const u = unit(`${scenario.salt}:${key}`);
  if (u < scenario.failRate) return { state: 'failed', message: 'simulated failure' };
  if (u < scenario.failRate + scenario.filterRate) return { state: 'filtered', message: 'simulated filter' };
  const size = scenario.space.size;
  const values = scenario.objectives.map((_, m) => {
    let v = 0;
    config.forEach((c, i) => (v += (c + 1) * (0.5 + unit(`${scenario.salt}:w:${m}:${i}`))));
    return Math.round((v / size + unit(`${scenario.salt}:n:${m}:${key}`)) * 1e6) / 1e6;
  });
  const load = config.reduce((a, c, i) => a + c / Math.max(1, (scenario.space.choiceCounts[i] ?? 1) - 1), 0) / size;
  const constraints = scenario.constraints.map((_, k) => Math.round((0.6 - load - 0.2 * unit(`${scenario.salt}:c:${k}:${key}`)) * 1e6) / 1e6);
  return { state: 'complete', values, ...(constraints.length > 0 ? { constraints } : {}) };
}

function scenarioArb(opts: { minObjectives: number; maxObjectives: number; tiny: boolean }): fc.Arbitrary<Scenario> {
  const counts = opts.tiny
    ? fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }).filter((cs) => cs.reduce((a, b) => a * b, 1) <= 6)
    : fc.array(fc.integer({ min: 2, max: 4 }), { minLength: 3, maxLength: 6 });
  return fc
    .record({
      counts,
      objectives: fc.array(fc.constantFrom<ObjectiveSpec['direction']>('minimize', 'maximize'), { minLength: opts.minObjectives, maxLength: Math.max(opts.minObjectives, opts.maxObjectives) }),
      constraints: fc.integer({ min: 0, max: 2 }),
      salt: fc.integer({ min: 0, max: 1_000_000 }),
      failRate: fc.constantFrom(0, 0.1, 0.3),
      filterRate: fc.constantFrom(0, 0.1, 0.3),
    })
    .map((r) => ({
      // How fast-check prints a counterexample: the generating values, not the SearchSpace object.
      [fc.toStringMethod]: () => `scenario ${JSON.stringify({ ...r, objectives: r.objectives })} (choice counts per gene, objective directions, constraints, salt, rates)`,
      space: smallSpace(r.counts),
      objectives: r.objectives.map((direction, m) => ({ name: `f${m}`, direction })),
      constraints: Array.from({ length: r.constraints }, (_, k) => ({ name: `c${k}` })),
      salt: r.salt,
      failRate: r.failRate,
      filterRate: r.filterRate,
    }));
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
  }
  return v;
}

/** One ask/tell round of a simulated study. */
interface Round {
  readonly n: number;
  readonly keys: readonly string[];
  readonly results: readonly TrialResult[];
}

/** Forced states for the first rounds (`undefined`: the scenario decides). */
type StateOverride = (round: number, index: number) => TrialState | undefined;

/** An in-memory study: the same loop and cache rules as `Study`, without a journal. */
class Simulation {
  readonly rng: Rng;
  readonly strategy: SearchStrategy;
  readonly rounds: Round[] = [];
  readonly trials: TrialResult[] = [];
  private readonly seen = new Map<string, TrialResult>();

  constructor(
    readonly factory: StrategyFactory,
    readonly options: Readonly<Record<string, unknown>>,
    readonly scenario: Scenario,
    seed: number,
    private readonly override?: StateOverride,
  ) {
    this.rng = createRng(seed);
    this.strategy = factory.create(resolveStrategyOptions(factory, options));
  }

  ctx(): StrategyContext {
    return deepFreeze({
      space: this.scenario.space,
      objectives: this.scenario.objectives,
      constraints: this.scenario.constraints,
      rng: this.rng,
      trials: this.trials.slice(),
      remainingBudget: Infinity,
    }) as StrategyContext;
  }

  /** Ask, check the answer, evaluate (with cache rules), tell. Returns the keys proposed. */
  step(n: number): string[] {
    const { space } = this.scenario;
    const where = `${this.factory.name} ${this.factory.version}, round ${this.rounds.length}, ask(${n})`;
    const proposals: unknown = this.strategy.ask(n, this.ctx());
    if (!Array.isArray(proposals)) fail(`${where} returned ${String(proposals)}, not an array`);
    if (proposals.length > n) fail(`${where} returned ${proposals.length} configurations, more than n = ${n}`);
    const configs = proposals.map((c: unknown, i) => {
      if (!Array.isArray(c) || !space.contains(c as number[])) {
        fail(`${where}: proposal ${i} = ${JSON.stringify(c)} is not in the space (choice counts [${space.choiceCounts.join(', ')}])`);
      }
      return [...(c as number[])];
    });
    const keys = configs.map((c) => space.key(c));
    const results: TrialResult[] = configs.map((config, i) => {
      const key = keys[i] ?? '';
      const number = this.trials.length + i;
      const prev = this.seen.get(key);
      if (prev) {
        return { number, config, key, state: prev.state, ...(prev.values ? { values: prev.values } : {}), ...(prev.constraints ? { constraints: prev.constraints } : {}), ...(prev.message ? { message: prev.message } : {}), attrs: { cached: true, cachedFrom: prev.number } };
      }
      const forced = this.override?.(this.rounds.length, i);
      const outcome = forced === 'failed' || forced === 'filtered' ? { state: forced, message: `forced ${forced}` } : scenarioOutcome(this.scenario, config, key);
      const r: TrialResult = { number, config, key, ...outcome };
      if (r.state !== 'filtered') this.seen.set(key, r);
      return r;
    });
    // As the study does: results are what the journal holds, JSON round-tripped and frozen.
    const told = deepFreeze(JSON.parse(JSON.stringify(results)) as TrialResult[]);
    this.trials.push(...told);
    this.rounds.push({ n, keys, results: told });
    this.strategy.tell(told, this.ctx());
    return keys;
  }

  /** Ask without telling (for comparing the next proposals). */
  peek(n: number): string[] {
    const proposals = this.strategy.ask(n, this.ctx());
    return proposals.map((c) => (this.scenario.space.contains(c) ? this.scenario.space.key(c) : JSON.stringify(c)));
  }
}

/** `fc.assert`, but a failure shows the check's own message first, then fast-check's counterexample and seed. */
function assertProperty<Ts>(property: fc.IProperty<Ts>, params: fc.Parameters<Ts>): void {
  try {
    fc.assert(property, params);
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const e = new ConformanceError(`${cause.message}\n\n${(err as Error).message}`);
      throw Object.assign(e, { cause });
    }
    throw err;
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function withoutMathRandom<T>(fn: () => T): T {
  const original = Math.random;
  Math.random = () => fail('the strategy called Math.random(); every random choice must come from ctx.rng so that a study can be resumed exactly');
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/**
 * The conformance checks for `factory` (see the module comment). Each check is independent; run
 * them all in your test suite.
 */
export function strategyConformance(factory: StrategyFactory, options: ConformanceOptions = {}): ConformanceCheck[] {
  const strategyOptions = options.options ?? {};
  const params = { numRuns: options.numRuns ?? 25, ...(options.seed !== undefined ? { seed: options.seed } : {}) };
  const shape = { minObjectives: options.minObjectives ?? 1, maxObjectives: options.maxObjectives ?? 3 };
  const scenarios = scenarioArb({ ...shape, tiny: false });
  const tinyScenarios = scenarioArb({ ...shape, tiny: true });
  const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
  const batchArb = fc.integer({ min: 1, max: 6 });
  const label = `${factory.name}`;
  const check = (name: string, run: () => void | Promise<void>): ConformanceCheck => ({ name: `${label}: ${name}`, run: async () => run() });

  const checks: ConformanceCheck[] = [
    check('is a valid strategy factory and creates with its defaults', () => {
      validateStrategyFactory(factory, `strategy "${String((factory as { name?: unknown }).name)}"`);
      const s = factory.create(resolveStrategyOptions(factory, strategyOptions));
      if (typeof s?.ask !== 'function' || typeof s.tell !== 'function') fail(`${label}: create() must return an object with ask(n, ctx) and tell(results, ctx)`);
    }),
    check('proposes at most n configurations, all inside the space', () => {
      assertProperty(
        fc.property(scenarios, seedArb, fc.array(batchArb, { minLength: 1, maxLength: 6 }), (scenario, seed, sizes) => {
          const sim = new Simulation(factory, strategyOptions, scenario, seed);
          for (const n of sizes) sim.step(n);
        }),
        params,
      );
    }),
    check('accepts failed and filtered results and keeps proposing after them', () => {
      assertProperty(
        fc.property(scenarios, seedArb, batchArb, (scenario, seed, n) => {
          const bad = new Simulation(factory, strategyOptions, scenario, seed, (round, i) => (round < 2 ? (i % 2 === 0 ? 'failed' : 'filtered') : undefined));
          const good = new Simulation(factory, strategyOptions, { ...scenario, failRate: 0, filterRate: 0 }, seed);
          for (let r = 0; r < 2; r++) {
            bad.step(n);
            good.step(n);
          }
          const afterBad = bad.step(n);
          const afterGood = good.step(n);
          if (afterGood.length > 0 && afterBad.length === 0) {
            fail(`${label}: after two rounds of failed/filtered trials ask(${n}) returned [], while after complete trials it proposes; failed and filtered trials must not make a strategy give up`);
          }
        }),
        params,
      );
    }),
    check('same seed and results give the same proposals', () => {
      assertProperty(
        fc.property(scenarios, seedArb, fc.array(batchArb, { minLength: 1, maxLength: 5 }), (scenario, seed, sizes) => {
          const a = new Simulation(factory, strategyOptions, scenario, seed);
          const b = new Simulation(factory, strategyOptions, scenario, seed);
          sizes.forEach((n, r) => {
            const ka = a.step(n);
            const kb = b.step(n);
            if (!sameKeys(ka, kb)) fail(`${label}: two instances with seed ${seed} proposed different configurations at round ${r}: [${ka.join(', ')}] vs [${kb.join(', ')}]`);
          });
        }),
        params,
      );
    }),
    check('draws randomness only from ctx.rng (never Math.random)', () => {
      assertProperty(
        fc.property(scenarios, seedArb, fc.array(batchArb, { minLength: 1, maxLength: 4 }), (scenario, seed, sizes) => {
          withoutMathRandom(() => {
            const sim = new Simulation(factory, strategyOptions, scenario, seed);
            for (const n of sizes) sim.step(n);
          });
        }),
        { ...params, numRuns: Math.max(1, Math.ceil(params.numRuns / 3)) },
      );
    }),
    check('a fresh instance replayed from the journal proposes what the original proposes next', () => {
      assertProperty(
        fc.property(scenarios, seedArb, fc.array(batchArb, { minLength: 1, maxLength: 6 }), batchArb, (scenario, seed, sizes, nextN) => {
          const original = new Simulation(factory, strategyOptions, scenario, seed);
          for (const n of sizes) original.step(n);
          // Replay: fresh instance, fresh RNG from the same seed, the journaled asks and tells.
          const rng = createRng(seed);
          const replayed = factory.create(resolveStrategyOptions(factory, strategyOptions));
          const trials: TrialResult[] = [];
          const ctx = (): StrategyContext =>
            deepFreeze({ space: scenario.space, objectives: scenario.objectives, constraints: scenario.constraints, rng, trials: trials.slice(), remainingBudget: Infinity }) as StrategyContext;
          original.rounds.forEach((round, r) => {
            const keys = replayed.ask(round.n, ctx()).map((c) => scenario.space.key(c));
            if (!sameKeys(keys, round.keys)) fail(`${label}: replayed ask at round ${r} proposed [${keys.join(', ')}], the journal has [${round.keys.join(', ')}]`);
            const results = deepFreeze(JSON.parse(JSON.stringify(round.results)) as TrialResult[]);
            trials.push(...results);
            replayed.tell(results, ctx());
          });
          const a = original.peek(nextN);
          const b = replayed.ask(nextN, ctx()).map((c) => (scenario.space.contains(c) ? scenario.space.key(c) : JSON.stringify(c)));
          if (!sameKeys(a, b)) {
            fail(`${label}: after replaying ${original.rounds.length} rounds the rebuilt instance proposes [${b.join(', ')}] but the original proposes [${a.join(', ')}]; the strategy keeps state that does not follow from its asks and tells`);
          }
        }),
        params,
      );
    }),
    check('stops cleanly on an exhausted space', () => {
      assertProperty(
        fc.property(tinyScenarios, seedArb, batchArb, (scenario, seed, n) => {
          const sim = new Simulation(factory, strategyOptions, scenario, seed);
          const cardinality = Number(scenario.space.cardinality());
          const seen = new Set<string>();
          const maxIdle = 10;
          const limit = cardinality + maxIdle + 50;
          let idle = 0;
          for (let r = 0; r < limit; r++) {
            const exhaustedBefore = seen.size >= cardinality;
            const keys = sim.step(n);
            if (keys.length === 0) return;
            if (options.strictExhaustion && exhaustedBefore) {
              fail(`${label}: every configuration of a ${cardinality}-configuration space was proposed, but ask(${n}) still returned [${keys.join(', ')}] instead of []`);
            }
            const fresh = keys.filter((k) => !seen.has(k));
            for (const k of keys) seen.add(k);
            idle = fresh.length === 0 ? idle + 1 : 0;
            if (idle >= maxIdle) return; // the study's idle rule stops it
          }
          fail(`${label}: on a space of ${cardinality} configurations the search did not stop within ${limit} rounds`);
        }),
        params,
      );
    }),
  ];
  if (options.studyCheck ?? true) {
    checks.push(check('a Study killed after k evaluations and resumed writes the same trials as an uninterrupted one', () => studyResumeCheck(factory, strategyOptions, shape.minObjectives, shape.maxObjectives)));
  }
  return checks;
}

/** Records of a journal without wall-clock fields and resume records, for comparison. */
export async function comparableJournal(file: string): Promise<unknown[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r['type'] !== 'resume')
    .map((r) => {
      const { time: _time, created: _created, ...rest } = r;
      return rest;
    });
}

async function studyResumeCheck(factory: StrategyFactory, strategyOptions: Readonly<Record<string, unknown>>, minObjectives: number, maxObjectives: number): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nls-conformance-'));
  try {
    const nObj = Math.min(Math.max(2, minObjectives), Math.max(1, maxObjectives));
    const scenario: Scenario = {
      space: smallSpace([3, 3, 2, 3]),
      objectives: Array.from({ length: nObj }, (_, m) => ({ name: `f${m}`, direction: m % 2 === 0 ? 'minimize' : 'maximize' })),
      constraints: [{ name: 'c0' }],
      salt: 7,
      failRate: 0.1,
      filterRate: 0,
    };
    const budget = 14;
    const settings = (journal: string, killAt: number) => {
      let evaluations = 0;
      return {
        journal,
        space: scenario.space,
        strategy: factory,
        strategyOptions,
        objectives: scenario.objectives,
        constraints: scenario.constraints,
        seed: 11,
        batchSize: 3,
        budget,
        fsync: false,
        costFilter: { name: 'sum', bound: 6, predict: (c: Config) => c.reduce((a, b) => a + b, 0) },
        evaluator: functionEvaluator((config, t) => {
          evaluations++;
          if (evaluations === killAt) throw new FatalEvaluationError('simulated kill');
          const o = scenarioOutcome(scenario, config, t.key);
          if (o.state === 'failed') throw new Error('simulated failure');
          return { values: o.values ?? [], constraints: o.constraints ?? [] };
        }),
      };
    };
    const reference = path.join(dir, 'reference.jsonl');
    const ref = await Study.create(settings(reference, -1));
    await ref.run();
    const expected = await comparableJournal(reference);
    for (const killAt of [1, 3, 5, 8, 12]) {
      const file = path.join(dir, `kill-${killAt}.jsonl`);
      const first = await Study.create(settings(file, killAt));
      let killed = false;
      await first.run().catch((err: unknown) => {
        if (!(err instanceof FatalEvaluationError)) throw err;
        killed = true;
      });
      if (!killed) continue; // the study ended before k evaluations
      const resumed = await Study.resume(file, settings(file, -1));
      await resumed.run();
      const got = await comparableJournal(file);
      const a = JSON.stringify(expected);
      const b = JSON.stringify(got);
      if (a !== b) {
        const at = expected.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(got[i]));
        fail(`${factory.name}: killed after ${killAt} evaluations and resumed, the journal differs from an uninterrupted run at record ${at}: expected ${JSON.stringify(expected[at])}, got ${JSON.stringify(got[at])}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
