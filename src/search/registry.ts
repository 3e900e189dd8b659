/**
 * The strategy registry: search strategies by name, with their documented options.
 *
 * The built-in strategies (`src/search/strategies/`) are registered when this module loads;
 * plugins add theirs with `loadStrategyPlugin` (src/search/plugins.ts) or {@link registerStrategy}.
 * Options given by a user are merged with the documented defaults and checked against the
 * documentation before a strategy is created: an unknown option or a value of the wrong type is an
 * {@link NlsError} naming the option and the fix.
 */
import { NlsError } from '../errors.js';
import { closest } from '../space/problems.js';
import type { SearchStrategy, StrategyFactory, StrategyOptionDoc } from './contract.js';
import type { StrategySourceRecord } from './journal.js';
import { BUILTIN_STRATEGIES } from './strategies/index.js';

const OPTION_TYPES = ['number', 'integer', 'boolean', 'string'] as const;
/** Registry names: letters, digits and `-_.:@/`, starting with a letter or digit. */
const NAME_PATTERN = /^[A-Za-z0-9@][A-Za-z0-9._:@/-]*$/;
/** A semantic version, e.g. `1.0.0` or `2.1.0-beta.1`. */
const VERSION_PATTERN = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/;

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Check that `value` has the shape of a {@link StrategyFactory}; throw an {@link NlsError} naming
 * `where` (e.g. `plugin ./my.js, default export`) and what is missing or wrong.
 */
export function validateStrategyFactory(value: unknown, where: string): asserts value is StrategyFactory {
  const fail = (what: string, fix: string): never => {
    throw new NlsError(`${where} is not a valid strategy factory: ${what}; fix: ${fix}`);
  };
  if (typeof value !== 'object' || value === null) {
    fail(`expected an object { name, version, description, options, create }, got ${describe(value)}`, 'export a StrategyFactory object (see docs/plugins.md)');
  }
  const f = value as Record<string, unknown>;
  if (typeof f['name'] !== 'string' || !NAME_PATTERN.test(f['name'])) {
    fail(`name is ${describe(f['name'])}`, 'set name to a distinctive string of letters, digits and -_.:@/ (e.g. "acme-local-search")');
  }
  if (typeof f['version'] !== 'string' || !VERSION_PATTERN.test(f['version'])) {
    fail(`version is ${describe(f['version'])}`, 'set version to a semantic version such as "1.0.0"; bump it whenever the proposals change');
  }
  if (typeof f['description'] !== 'string') fail(`description is ${describe(f['description'])}`, 'set description to a one-line string');
  if (typeof f['create'] !== 'function') fail(`create is ${describe(f['create'])}`, 'add create(options) returning { ask(n, ctx), tell(results, ctx) }');
  if (!Array.isArray(f['options'])) fail(`options is ${describe(f['options'])}`, 'set options to an array of { name, type, default?, description } (may be empty)');
  const seen = new Set<string>();
  (f['options'] as unknown[]).forEach((o, i) => {
    const at = `options[${i}]`;
    if (typeof o !== 'object' || o === null) fail(`${at} is ${describe(o)}`, 'describe each option as { name, type, default?, description }');
    const d = o as Record<string, unknown>;
    if (typeof d['name'] !== 'string' || d['name'] === '') fail(`${at}.name is ${describe(d['name'])}`, 'give every option a name');
    const name = d['name'] as string;
    if (seen.has(name)) fail(`option "${name}" is documented twice`, 'keep one entry per option');
    seen.add(name);
    if (!(OPTION_TYPES as readonly unknown[]).includes(d['type'])) fail(`option "${name}" has type ${describe(d['type'])}`, `use one of ${OPTION_TYPES.join(', ')}`);
    if (typeof d['description'] !== 'string') fail(`option "${name}" has no description`, 'add a one-line description');
    if (d['choices'] !== undefined && (!Array.isArray(d['choices']) || !d['choices'].every((c) => typeof c === 'string'))) {
      fail(`option "${name}" has choices ${describe(d['choices'])}`, 'choices must be an array of strings');
    }
    if (d['default'] !== undefined) {
      try {
        checkOptionValue(d as unknown as StrategyOptionDoc, d['default'], name);
      } catch (err) {
        fail(`the default of option "${name}" does not match its type: ${(err as Error).message}`, 'make the default agree with the documented type');
      }
    }
  });
}

/** Check (and normalise: numeric and boolean strings become numbers and booleans) one option value. */
function checkOptionValue(doc: StrategyOptionDoc, value: unknown, strategy: string): unknown {
  const bad = (what: string): never => {
    throw new NlsError(`option "${doc.name}" of strategy "${strategy}" must be ${what}, got ${describe(value)}; fix: set ${doc.name} to ${what}`, { field: doc.name });
  };
  switch (doc.type) {
    case 'number':
    case 'integer': {
      const x = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof x !== 'number' || !Number.isFinite(x)) return bad(doc.type === 'integer' ? 'an integer' : 'a finite number');
      if (doc.type === 'integer' && !Number.isSafeInteger(x)) return bad('an integer');
      return x;
    }
    case 'boolean':
      if (value === true || value === 'true') return true;
      if (value === false || value === 'false') return false;
      return bad('true or false');
    case 'string':
      if (doc.choices && doc.choices.length > 0) {
        if (typeof value !== 'string' || !doc.choices.includes(value)) return bad(`one of ${doc.choices.map((c) => JSON.stringify(c)).join(', ')}`);
        return value;
      }
      // Free strings also carry lists ("0.5,0.3" or an array) for list-valued options.
      if (typeof value === 'string' || typeof value === 'number') return value;
      if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return [...(value as (string | number)[])];
      return bad('a string');
  }
}

/**
 * The user's `options` merged with `factory`'s documented defaults and checked: unknown names and
 * values of the wrong type are refused. Numeric and boolean strings (from command lines) are
 * converted. The result lists options in documentation order, so equal settings serialize equally.
 *
 * @throws NlsError naming the option, what it must be, and (for unknown names) the valid names
 */
export function resolveStrategyOptions(factory: StrategyFactory, options: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new NlsError(`options of strategy "${factory.name}" must be an object of name/value pairs, got ${describe(options)}`, { field: 'options' });
  }
  const names = factory.options.map((d) => d.name);
  for (const name of Object.keys(options)) {
    if (names.includes(name)) continue;
    const near = closest(name, names);
    const valid = names.length > 0 ? `valid options are ${names.map((n) => `"${n}"`).join(', ')}` : 'it takes no options';
    throw new NlsError(`strategy "${factory.name}" has no option "${name}"; fix: ${near ? `did you mean "${near}"? ` : ''}${valid}`, { field: name });
  }
  const out: Record<string, unknown> = {};
  for (const doc of factory.options) {
    const given = options[doc.name];
    const value = given === undefined || given === null ? doc.default : given;
    if (value === undefined) continue;
    out[doc.name] = checkOptionValue(doc, value, factory.name);
  }
  return out;
}

/**
 * `factory.create(options)` with errors made helpful: an error that is not already an
 * {@link NlsError} is wrapped in one naming the strategy (plugins may throw plain errors).
 */
export function instantiateStrategy(factory: StrategyFactory, options: Readonly<Record<string, unknown>>): SearchStrategy {
  let strategy: SearchStrategy;
  try {
    strategy = factory.create(options);
  } catch (err) {
    if (err instanceof NlsError) throw err;
    throw new NlsError(`strategy "${factory.name}" ${factory.version} could not be created: ${(err as Error)?.message ?? String(err)}; fix: check its options`, { field: 'strategyOptions', cause: err });
  }
  if (typeof strategy !== 'object' || strategy === null || typeof strategy.ask !== 'function' || typeof strategy.tell !== 'function') {
    throw new NlsError(`strategy "${factory.name}" ${factory.version}: create() returned ${describe(strategy)}, not an object with ask(n, ctx) and tell(results, ctx)`, { field: 'strategy' });
  }
  return strategy;
}

/** A registered strategy and where it came from. */
export interface RegisteredStrategy {
  readonly factory: StrategyFactory;
  readonly source: StrategySourceRecord;
}

/** Options of {@link StrategyRegistry.register}. */
export interface RegisterOptions {
  /** Where the factory came from (default `{ kind: 'api' }`). */
  readonly source?: StrategySourceRecord;
  /** Replace a strategy already registered under the same name (default false: refuse). */
  readonly replace?: boolean;
}

/** A set of strategy factories by name. */
export class StrategyRegistry {
  private readonly entries = new Map<string, RegisteredStrategy>();

  /** A registry holding the built-in strategies (unless `builtins: false`). */
  constructor(options: { readonly builtins?: boolean } = {}) {
    if (options.builtins ?? true) for (const f of BUILTIN_STRATEGIES) this.register(f, { source: { kind: 'builtin' } });
  }

  /**
   * Add `factory`. Registering the very same factory object again is a no-op; another factory with
   * a taken name is refused unless `replace` is set.
   */
  register(factory: StrategyFactory, options: RegisterOptions = {}): void {
    validateStrategyFactory(factory, `strategy ${typeof (factory as { name?: unknown })?.name === 'string' ? `"${factory.name}"` : '(unnamed)'}`);
    const existing = this.entries.get(factory.name);
    if (existing && existing.factory !== factory && !options.replace) {
      const from = existing.source.module ? ` (from ${existing.source.module})` : ` (${existing.source.kind})`;
      throw new NlsError(`a strategy named "${factory.name}" is already registered${from}; fix: give the plugin's strategy a distinctive name`, { field: factory.name });
    }
    if (existing && existing.factory === factory && !options.replace) return;
    this.entries.set(factory.name, { factory, source: options.source ?? { kind: 'api' } });
  }

  /** True when a strategy of that name is registered. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Where `factory` came from, when this very factory object is registered (a plugin's, a built-in). */
  sourceOf(factory: StrategyFactory): StrategySourceRecord | undefined {
    const e = this.entries.get(factory.name);
    return e && e.factory === factory ? e.source : undefined;
  }

  /** The factory registered as `name`. @throws NlsError listing the registered names */
  get(name: string): StrategyFactory {
    return this.entry(name).factory;
  }

  /** The factory and its source. @throws NlsError listing the registered names */
  entry(name: string): RegisteredStrategy {
    const e = this.entries.get(name);
    if (e) return e;
    const names = [...this.entries.keys()].sort();
    const near = closest(name, names);
    throw new NlsError(
      `unknown search strategy "${name}"; fix: ${near ? `did you mean "${near}"? ` : ''}use one of ${names.join(', ') || '(none registered)'}, or load a plugin with --strategy ./file.js`,
      { field: 'strategy' },
    );
  }

  /** Every registered factory, sorted by name. */
  list(): StrategyFactory[] {
    return [...this.entries.values()].map((e) => e.factory).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Create a strategy: resolve `strategy` (a name or a factory), merge and check `options`, and call
   * the factory. Returns the instance with the factory and the options it was created with.
   */
  create(strategy: string | StrategyFactory, options: Readonly<Record<string, unknown>> = {}): { factory: StrategyFactory; options: Record<string, unknown>; strategy: SearchStrategy } {
    const factory = typeof strategy === 'string' ? this.get(strategy) : strategy;
    const resolved = resolveStrategyOptions(factory, options);
    return { factory, options: resolved, strategy: instantiateStrategy(factory, resolved) };
  }
}

/** The process-wide registry: the built-ins plus every plugin loaded without an explicit registry. */
export const defaultRegistry: StrategyRegistry = new StrategyRegistry();

/** Register a factory in the {@link defaultRegistry}. */
export function registerStrategy(factory: StrategyFactory, options: RegisterOptions = {}): void {
  defaultRegistry.register(factory, options);
}

/** A factory of the {@link defaultRegistry} by name. @throws NlsError listing the registered names */
export function getStrategy(name: string): StrategyFactory {
  return defaultRegistry.get(name);
}

/** The factories of the {@link defaultRegistry}, sorted by name. */
export function listStrategies(): StrategyFactory[] {
  return defaultRegistry.list();
}
