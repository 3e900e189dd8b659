/**
 * Shared plumbing of the built-in strategies: option reading and validation, checks of `ask`
 * arguments and trial results, and drawing configurations that were not proposed before.
 * Private to `src/search/strategies`.
 */
import { NlsError } from '../../errors.js';
import type { Config, SearchSpace } from '../../space/index.js';
import type { Rng } from '../../util/rng.js';
import { editDistance } from '../../util/suggest.js';
import type { ObjectiveSpec, StrategyContext, StrategyOptionDoc, TrialResult } from '../contract.js';
import { totalViolation } from '../pareto.js';

/**
 * Reads a strategy's options against its documentation: unknown names are refused, missing
 * values take the documented default, and every accessor throws an {@link NlsError} whose field
 * is the option name. Numbers and booleans are also accepted as strings (`"20"`, `"true"`)
 * because options often come from a command line.
 */
export class OptionReader {
  constructor(
    private readonly strategy: string,
    private readonly docs: readonly StrategyOptionDoc[],
    private readonly raw: Readonly<Record<string, unknown>>,
  ) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new NlsError(`options of strategy "${strategy}" must be an object of name/value pairs`, { field: 'options' });
    }
    const names = docs.map((d) => d.name);
    for (const name of Object.keys(raw)) {
      if (names.includes(name)) continue;
      const near = names.filter((n) => editDistance(n.toLowerCase(), name.toLowerCase()) <= 2);
      const hint = near.length > 0 ? `did you mean ${near.map((n) => `"${n}"`).join(' or ')}? ` : '';
      throw new NlsError(`strategy "${strategy}" has no option "${name}"; fix: ${hint}use one of ${names.map((n) => `"${n}"`).join(', ') || '(none)'}`, {
        field: name,
      });
    }
  }

  private doc(name: string): StrategyOptionDoc {
    const doc = this.docs.find((d) => d.name === name);
    if (!doc) throw new Error(`internal: strategy "${this.strategy}" reads undocumented option "${name}"`);
    return doc;
  }

  /** The user's value, or the documented default; `undefined` when neither exists. */
  private value(name: string): unknown {
    const v = this.raw[name];
    return v === undefined || v === null ? this.doc(name).default : v;
  }

  private fail(name: string, what: string, got: unknown): never {
    throw new NlsError(`option "${name}" of strategy "${this.strategy}" must be ${what}, got ${JSON.stringify(got) ?? String(got)}; fix: set ${name} to ${what}`, {
      field: name,
    });
  }

  /** A finite number in `[min, max]`, or `undefined` when unset and without default. */
  optionalNumber(name: string, range: { min?: number; max?: number; minExclusive?: boolean } = {}): number | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    const lo = range.min === undefined ? '' : range.minExclusive ? ` > ${range.min}` : ` >= ${range.min}`;
    const hi = range.max === undefined ? '' : ` <= ${range.max}`;
    const what = `a finite number${lo}${lo && hi ? ' and' : ''}${hi}`;
    if (typeof x !== 'number' || !Number.isFinite(x)) this.fail(name, what, v);
    if (range.min !== undefined && (range.minExclusive ? x <= range.min : x < range.min)) this.fail(name, what, v);
    if (range.max !== undefined && x > range.max) this.fail(name, what, v);
    return x;
  }

  /** An integer in `[min, max]` (the option must have a default or be set). */
  integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value(name);
    const x = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    const what = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) this.fail(name, what, v);
    return x;
  }

  /** A boolean (also `"true"` / `"false"`). */
  boolean(name: string): boolean {
    const v = this.value(name);
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    return this.fail(name, 'true or false', v);
  }

  /** One of the documented `choices`. */
  choice<T extends string>(name: string): T {
    const v = this.value(name);
    const choices = this.doc(name).choices ?? [];
    if (typeof v !== 'string' || !choices.includes(v)) this.fail(name, `one of ${choices.map((c) => `"${c}"`).join(', ')}`, v);
    return v as T;
  }

  /** A comma-separated list (or an array of strings), trimmed, empty items dropped. */
  list(name: string): string[] {
    const v = this.value(name);
    if (v === undefined) return [];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string' || typeof s === 'number')) return v.map((s) => String(s).trim()).filter((s) => s !== '');
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (typeof v === 'number') return [String(v)];
    return this.fail(name, 'a comma-separated list', v);
  }

  /** A comma-separated list of finite numbers (or an array of numbers). */
  numberList(name: string): number[] {
    return this.list(name).map((s) => {
      const x = Number(s);
      if (!Number.isFinite(x)) this.fail(name, 'a comma-separated list of finite numbers', this.value(name));
      return x;
    });
  }
}

/** Check the batch size given to `ask`: a non-negative integer. */
export function checkAskCount(strategy: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new NlsError(`ask(n) of strategy "${strategy}" needs a non-negative integer n, got ${String(n)}; fix: ask for a whole number of configurations`, { field: 'n' });
  }
}

/** Check that the study has at least `min` objectives. */
export function checkObjectives(strategy: string, objectives: readonly ObjectiveSpec[], min = 1): void {
  if (objectives.length < min) {
    throw new NlsError(`strategy "${strategy}" needs at least ${min} objective${min === 1 ? '' : 's'}, the study has ${objectives.length}; fix: declare the objectives of the study`, {
      field: 'objectives',
    });
  }
}

/**
 * The objective values of a trial when it can be compared at all: a complete trial with one
 * finite value per objective. `undefined` for failed and filtered trials and for malformed values,
 * which strategies treat as infinitely infeasible.
 */
export function usableValues(result: TrialResult, objectives: number): readonly number[] | undefined {
  if (result.state !== 'complete' || !result.values || result.values.length < objectives) return undefined;
  for (let m = 0; m < objectives; m++) if (!Number.isFinite(result.values[m])) return undefined;
  return result.values;
}

/**
 * Total constraint violation of a trial: `Infinity` when it failed, was filtered or has unusable
 * values; otherwise the sum of its positive constraint values (0 = feasible).
 */
export function resultViolation(result: TrialResult, objectives: number): number {
  return usableValues(result, objectives) ? totalViolation(result.constraints) : Infinity;
}


/** Options of {@link UnseenSampler}. */
export interface UnseenSamplerOptions {
  /** Uniform draws tried before falling back to enumeration. */
  readonly maxAttempts: number;
  /** Largest space the sampler enumerates to find the configurations not yet seen. */
  readonly enumerationLimit: number;
}

/** Defaults of {@link UnseenSamplerOptions}. */
export const DEFAULT_UNSEEN_SAMPLER: UnseenSamplerOptions = { maxAttempts: 100, enumerationLimit: 100_000 };

/**
 * Draws configurations uniformly from those whose keys are not in a `seen` set.
 *
 * First by rejection (up to `maxAttempts` uniform draws); when all are rejected in a space of
 * at most `enumerationLimit` configurations, it enumerates the unseen ones once and from then on
 * draws from that list (removing what it hands out and skipping what was seen meanwhile). Each
 * path draws uniformly from the unseen configurations. The list is a cache derived from the calls
 * made, so replaying the same calls rebuilds it exactly.
 */
export class UnseenSampler {
  private unseen: { config: Config; key: string }[] | undefined;

  constructor(private readonly options: UnseenSamplerOptions = DEFAULT_UNSEEN_SAMPLER) {}

  /**
   * A configuration not in `seen` (its key is returned too), or `undefined` when every
   * configuration was seen, or when a space too large to enumerate rejected every attempt.
   */
  draw(space: SearchSpace, rng: Rng, seen: ReadonlySet<string>): { config: Config; key: string } | undefined {
    if (this.unseen) return this.fromList(rng, seen);
    const cardinality = space.cardinality();
    if (BigInt(seen.size) >= cardinality) return undefined;
    for (let attempt = 0; attempt < this.options.maxAttempts; attempt++) {
      const config = space.sample(rng);
      const key = space.key(config);
      if (!seen.has(key)) return { config, key };
    }
    if (cardinality > BigInt(this.options.enumerationLimit)) return undefined;
    this.unseen = [];
    for (const config of space.enumerate({ limit: this.options.enumerationLimit })) {
      const key = space.key(config);
      if (!seen.has(key)) this.unseen.push({ config, key });
    }
    return this.fromList(rng, seen);
  }

  private fromList(rng: Rng, seen: ReadonlySet<string>): { config: Config; key: string } | undefined {
    const list = this.unseen ?? [];
    while (list.length > 0) {
      const i = rng.int(list.length);
      const item = list[i];
      const last = list.pop();
      if (last !== undefined && i < list.length) list[i] = last;
      if (item && !seen.has(item.key)) return item;
    }
    return undefined;
  }
}

/**
 * The start of the model-based strategies (linas, mobo): the max, min and median configurations,
 * then uniform random unseen ones, `size` in all, none in `taken` (each one planned is added to it).
 */
export function heuristicStart(space: SearchSpace, rng: Rng, sampler: UnseenSampler, taken: Set<string>, size: number): { config: Config; key: string }[] {
  const plan: { config: Config; key: string }[] = [];
  for (const config of [space.maxConfig(), space.minConfig(), space.medianConfig()]) {
    if (plan.length >= size) break;
    const key = space.key(config);
    if (taken.has(key)) continue;
    taken.add(key);
    plan.push({ config, key });
  }
  while (plan.length < size) {
    const drawn = sampler.draw(space, rng, taken);
    if (!drawn) break;
    taken.add(drawn.key);
    plan.push(drawn);
  }
  return plan;
}

/** Equality of two configurations. */
export function sameConfig(a: Config, b: Config): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}
