/**
 * The conformance kit (src/search/testing.ts, `nls/testing`) run on every built-in strategy and on
 * the test strategies; and the kit itself checked on deliberately broken strategies.
 */
import { describe, expect, it } from 'vitest';
import type { StrategyFactory } from '../../src/search/contract.js';
import { BUILTIN_STRATEGIES } from '../../src/search/strategies/index.js';
import { ConformanceError, strategyConformance, type ConformanceOptions } from '../../src/search/testing.js';
import { evolutionFactory, hiddenStateFactory, mathRandomFactory, mutatingFactory, outsideFactory, randomFactory } from './fixtures.js';

/** Kit options per strategy, where the defaults do not fit (documented reasons). */
const KIT_OPTIONS: Readonly<Record<string, ConformanceOptions>> = {
  // linas never repeats a configuration, so it must answer [] once a tiny space is exhausted.
  linas: { strictExhaustion: true },
  // mobo never proposes a configuration twice either.
  mobo: { strictExhaustion: true },
};

const factories: StrategyFactory[] = [...BUILTIN_STRATEGIES, randomFactory, evolutionFactory];

for (const factory of factories) {
  describe(`conformance: ${factory.name}`, () => {
    for (const check of strategyConformance(factory, { numRuns: 15, ...KIT_OPTIONS[factory.name] })) it(check.name, check.run);
  });
}

describe('the conformance kit catches broken strategies', () => {
  const outcome = async (factory: StrategyFactory, name: string): Promise<string> => {
    const check = strategyConformance(factory, { numRuns: 10, seed: 1 }).find((c) => c.name.includes(name));
    expect(check, name).toBeDefined();
    try {
      await check!.run();
      return 'passed';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('proposals outside the space', async () => {
    expect(await outcome(outsideFactory, 'inside the space')).toMatch(/proposal 0 = .* is not in the space/);
  });

  it('Math.random', async () => {
    expect(await outcome(mathRandomFactory, 'Math.random')).toMatch(/called Math.random/);
    expect(await outcome(mathRandomFactory, 'same seed')).toMatch(/proposed different configurations/);
    expect(await outcome(mathRandomFactory, 'Study killed')).toMatch(/differs from an uninterrupted run|not deterministic/);
  });

  it('state that does not follow from asks and tells', async () => {
    expect(await outcome(hiddenStateFactory, 'replayed from the journal')).toMatch(/replayed ask at round 0 proposed|rebuilt instance proposes/);
  });

  it('mutating its inputs', async () => {
    expect(await outcome(mutatingFactory, 'inside the space')).toMatch(/read only|read-only|Cannot assign|object is not extensible|frozen/i);
  });

  it('giving up after failures, and not answering [] when strict', async () => {
    const quitter: StrategyFactory = {
      ...randomFactory,
      name: 'test-quitter',
      create: () => {
        let failures = 0;
        return {
          ask: (n, ctx) => (failures > 0 ? [] : Array.from({ length: n }, () => ctx.space.sample(ctx.rng))),
          tell: (results) => void (failures += results.filter((r) => r.state !== 'complete').length),
        };
      },
    };
    expect(await outcome(quitter, 'keeps proposing')).toMatch(/must not make a strategy give up/);
    const strict = strategyConformance(randomFactory, { numRuns: 10, strictExhaustion: true }).find((c) => c.name.includes('exhausted'))!;
    await expect(strict.run()).rejects.toThrow(/still returned/);
  });

  it('errors are ConformanceErrors with the strategy name', async () => {
    const check = strategyConformance(outsideFactory, { numRuns: 5 }).find((c) => c.name.includes('inside the space'))!;
    expect(check.name).toBe('test-outside: proposes at most n configurations, all inside the space');
    const err = await check.run().catch((e: unknown) => e);
    // fast-check wraps the failure; its message carries ours
    expect(String((err as Error).message)).toContain('test-outside 1.0.0');
    expect(ConformanceError).toBeDefined();
  });
});
