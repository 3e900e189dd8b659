import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SearchStrategy, StrategyContext, StrategyFactory, TrialResult } from '../../src/search/contract.js';
import { functionEvaluator } from '../../src/search/evaluator.js';
import { Study } from '../../src/search/study.js';
import { fitTrialSurrogate } from '../../src/search/surrogate.js';
import { SPACE, tempDir } from './fixtures.js';

const objectives = [
  { name: 'accuracy', direction: 'maximize' as const },
  { name: 'cost', direction: 'minimize' as const },
];
// A function linear in the rank choices: ridge on one-hot features reproduces it.
const accuracy = (c: readonly number[]) => 0.9 - 0.05 * (c[0] ?? 0) - 0.02 * (c[1] ?? 0) + 0.01 * (c[3] ?? 0);
const trial = (number: number, config: number[], extra: Partial<TrialResult> = {}): TrialResult => ({
  number,
  config,
  key: SPACE.key(config),
  state: 'complete',
  values: [accuracy(config), number],
  ...extra,
});

describe('trial surrogates', () => {
  it('fits an objective by index or name on evaluated trials only, and predicts a linear objective', () => {
    const configs = [...SPACE.enumerate()];
    const trials = configs.map((c, i) => trial(i, [...c]));
    // Failed, cached and non-finite trials are ignored: corrupt values would change the fit.
    const noise = [
      trial(1000, [...configs[0]!], { state: 'failed', values: [99, 0] }),
      trial(1001, [...configs[1]!], { attrs: { cached: true, cachedFrom: 1 }, values: [-99, 0] }),
      trial(1002, [...configs[2]!], { values: [Number.NaN, 0] }),
    ];
    for (const objective of [0, 'accuracy'] as const) {
      const s = fitTrialSurrogate(SPACE, [...trials, ...noise], objectives, objective);
      for (const c of configs) expect(s.predict(c)).toBeCloseTo(accuracy(c), 3);
    }
    expect(() => fitTrialSurrogate(SPACE, trials, objectives, 'latency')).toThrow(/unknown objective "latency"/);
    expect(() => fitTrialSurrogate(SPACE, trials.slice(0, 1), objectives, 0)).toThrow(/at least 2 evaluated trials/);
  });

  it('studies hand strategies a fitSurrogate over the trials of their context', async () => {
    const predictions: number[] = [];
    const factory: StrategyFactory = {
      name: 'surrogate-probe',
      version: '1.0.0',
      description: 'proposes configurations in order and queries the surrogate once it can',
      options: [],
      create: () => {
        let next = 0;
        const all = [...SPACE.enumerate()];
        const s: SearchStrategy = {
          ask: (n: number, ctx: StrategyContext) => {
            if (ctx.trials.length >= 6) predictions.push(ctx.fitSurrogate!('accuracy').predict(all[0]!));
            return all.slice(next, (next += Math.min(n, all.length - next)));
          },
          tell: () => undefined,
        };
        return s;
      },
    };
    const study = await Study.create({
      journal: path.join(tempDir('nls-surrogate-'), 'trials.jsonl'),
      space: SPACE,
      evaluator: functionEvaluator((c) => ({ values: [accuracy(c), 1] })),
      strategy: factory,
      objectives,
      seed: 0,
      budget: 12,
      batchSize: 3,
      fsync: false,
    });
    await study.run();
    expect(predictions.length).toBeGreaterThan(0);
    for (const p of predictions) expect(Number.isFinite(p)).toBe(true);
  });
});
