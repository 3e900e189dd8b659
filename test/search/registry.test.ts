import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import type { StrategyFactory } from '../../src/search/contract.js';
import {
  defaultRegistry,
  getStrategy,
  instantiateStrategy,
  listStrategies,
  registerStrategy,
  resolveStrategyOptions,
  StrategyRegistry,
  validateStrategyFactory,
} from '../../src/search/registry.js';
import { BUILTIN_STRATEGIES } from '../../src/search/strategies/index.js';
import { evolutionFactory, randomFactory } from './fixtures.js';

const documented: StrategyFactory = {
  name: 'documented',
  version: '1.2.3',
  description: 'a strategy with one option of each type',
  options: [
    { name: 'rate', type: 'number', default: 0.5, description: 'a number' },
    { name: 'count', type: 'integer', default: 4, description: 'an integer' },
    { name: 'elitist', type: 'boolean', default: true, description: 'a boolean' },
    { name: 'mode', type: 'string', default: 'fast', choices: ['fast', 'slow'], description: 'a choice' },
    { name: 'weights', type: 'string', description: 'a list, no default' },
  ],
  create: randomFactory.create,
};

describe('resolveStrategyOptions', () => {
  it('merges documented defaults in documentation order', () => {
    expect(resolveStrategyOptions(documented, { mode: 'slow', count: 2 })).toEqual({ rate: 0.5, count: 2, elitist: true, mode: 'slow' });
    expect(Object.keys(resolveStrategyOptions(documented, { weights: '1,2', rate: 1 }))).toEqual(['rate', 'count', 'elitist', 'mode', 'weights']);
  });

  it('converts numeric and boolean strings from command lines', () => {
    expect(resolveStrategyOptions(documented, { rate: '0.25', count: '7', elitist: 'false' })).toMatchObject({ rate: 0.25, count: 7, elitist: false });
    expect(resolveStrategyOptions(documented, { weights: [0.5, 0.5] })).toMatchObject({ weights: [0.5, 0.5] });
  });

  it('refuses unknown options, naming them and listing the valid ones', () => {
    const err = (() => {
      try {
        resolveStrategyOptions(documented, { rte: 1 });
      } catch (e) {
        return e as NlsError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NlsError);
    expect(err!.field).toBe('rte');
    expect(err!.message).toContain('strategy "documented" has no option "rte"');
    expect(err!.message).toContain('did you mean "rate"?');
    expect(err!.message).toContain('"rate", "count", "elitist", "mode", "weights"');
    expect(() => resolveStrategyOptions(randomFactory, { x: 1 })).toThrow(/it takes no options/);
  });

  it('refuses values of the wrong type', () => {
    expect(() => resolveStrategyOptions(documented, { rate: 'fast' })).toThrow(/option "rate" of strategy "documented" must be a finite number, got "fast"/);
    expect(() => resolveStrategyOptions(documented, { count: 2.5 })).toThrow(/must be an integer/);
    expect(() => resolveStrategyOptions(documented, { elitist: 1 })).toThrow(/must be true or false/);
    expect(() => resolveStrategyOptions(documented, { mode: 'medium' })).toThrow(/must be one of "fast", "slow"/);
    expect(() => resolveStrategyOptions(documented, { weights: { a: 1 } })).toThrow(/must be a string/);
    expect(() => resolveStrategyOptions(documented, [] as never)).toThrow(/must be an object/);
  });
});

describe('validateStrategyFactory', () => {
  const bad = (patch: Record<string, unknown>): unknown => ({ ...documented, ...patch });
  it.each([
    [bad({ name: '' }), /name is ""/],
    [bad({ version: undefined }), /version is undefined.*semantic version/],
    [bad({ version: 'v1' }), /version is "v1"/],
    [bad({ description: 3 }), /description is 3/],
    [bad({ create: 'no' }), /create is "no"/],
    [bad({ options: {} }), /options is \{\}/],
    [bad({ options: [{ name: 'a', type: 'float', description: '' }] }), /option "a" has type "float"/],
    [bad({ options: [{ name: 'a', type: 'number', description: 'x' }, { name: 'a', type: 'number', description: 'y' }] }), /documented twice/],
    [bad({ options: [{ name: 'a', type: 'integer', default: 'x', description: 'x' }] }), /default of option "a" does not match its type/],
    [null, /expected an object/],
  ])('refuses %#', (value, message) => {
    expect(() => validateStrategyFactory(value, 'plugin ./x.js, export default')).toThrow(message);
    expect(() => validateStrategyFactory(value, 'plugin ./x.js, export default')).toThrow(/plugin \.\/x\.js, export default is not a valid strategy factory/);
  });

  it('accepts every built-in strategy', () => {
    for (const f of BUILTIN_STRATEGIES) validateStrategyFactory(f, f.name);
  });
});

describe('StrategyRegistry', () => {
  it('holds the built-ins and lists by name', () => {
    const names = listStrategies().map((f) => f.name);
    for (const f of BUILTIN_STRATEGIES) {
      expect(names).toContain(f.name);
      expect(getStrategy(f.name)).toBe(f);
      expect(defaultRegistry.entry(f.name).source).toEqual({ kind: 'builtin' });
    }
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(new StrategyRegistry({ builtins: false }).list()).toEqual([]);
  });

  it('registers, refuses name clashes unless replacing, and suggests names', () => {
    const reg = new StrategyRegistry({ builtins: false });
    reg.register(evolutionFactory);
    reg.register(evolutionFactory); // the same object again: no-op
    expect(() => reg.register({ ...evolutionFactory })).toThrow(/already registered \(api\)/);
    reg.register({ ...evolutionFactory, version: '1.1.0' }, { replace: true });
    expect(reg.get('test-evolution').version).toBe('1.1.0');
    expect(() => reg.get('test-evolutoin')).toThrow(/unknown search strategy "test-evolutoin"; fix: did you mean "test-evolution"\?/);
  });

  it('creates strategies with merged options, wrapping plain errors from create', () => {
    const reg = new StrategyRegistry({ builtins: false });
    reg.register(evolutionFactory);
    const made = reg.create('test-evolution', { population: '2' });
    expect(made.options).toEqual({ population: 2 });
    expect(typeof made.strategy.ask).toBe('function');
    const throwing: StrategyFactory = { ...randomFactory, name: 'throwing', create: () => { throw new Error('alpha must be positive'); } };
    expect(() => instantiateStrategy(throwing, {})).toThrow(/strategy "throwing" 1.0.0 could not be created: alpha must be positive/);
    const broken: StrategyFactory = { ...randomFactory, name: 'broken', create: () => ({}) as never };
    expect(() => instantiateStrategy(broken, {})).toThrow(/not an object with ask/);
  });

  it('registerStrategy adds to the process-wide registry', () => {
    const f = { ...randomFactory, name: 'test-registered-globally' };
    registerStrategy(f);
    expect(getStrategy('test-registered-globally')).toBe(f);
  });
});
