import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/space/index.js';
import {
  composeEvaluator,
  FatalEvaluationError,
  functionEvaluator,
  type EvaluationContext,
  type EvaluationOutcome,
  type Evaluator,
  type EvaluatorMiddleware,
} from '../../src/search/evaluator.js';
import { cacheMiddleware, TrialCache } from '../../src/search/middleware/cache.js';
import { costFilterMiddleware } from '../../src/search/middleware/cost-filter.js';
import { failureMiddleware } from '../../src/search/middleware/failures.js';
import { timeoutMiddleware } from '../../src/search/middleware/timeout.js';
import { SPACE } from './fixtures.js';

function ctxFor(configs: readonly Config[], extra: Partial<EvaluationContext> = {}): EvaluationContext & { reports: [number, EvaluationOutcome][] } {
  const reports: [number, EvaluationOutcome][] = [];
  return {
    space: SPACE,
    objectives: [{ name: 'f', direction: 'minimize' }],
    constraints: [],
    batch: 0,
    round: 0,
    numbers: configs.map((_, i) => 100 + i),
    keys: configs.map((c) => SPACE.key(c)),
    signal: new AbortController().signal,
    report: (i, o) => reports.push([i, o]),
    reports,
    ...extra,
  };
}

/** Records what reaches it; answers sum of genes. */
function recorder(): Evaluator & { seen: string[][] } {
  const seen: string[][] = [];
  return {
    seen,
    async evaluate(configs, ctx) {
      seen.push([...ctx.keys]);
      return configs.map((c) => ({ state: 'complete', values: [c.reduce((a, b) => a + b, 0)] }));
    },
  };
}

const A: Config = [0, 0, 0, 0];
const B: Config = [1, 0, 0, 0];
const C: Config = [2, 2, 1, 2];

describe('functionEvaluator', () => {
  it('evaluates in order, reports each outcome and turns throws into failures', async () => {
    const ev = functionEvaluator((c) => {
      if (c[0] === 1) throw new Error('boom');
      return c[0] === 2 ? { values: [1, 2], attrs: { x: 1 } } : 7;
    });
    const ctx = ctxFor([A, B, C]);
    const out = await ev.evaluate([A, B, C], ctx);
    expect(out).toEqual([
      { state: 'complete', values: [7] },
      { state: 'failed', message: 'boom' },
      { state: 'complete', values: [1, 2], attrs: { x: 1 } },
    ]);
    expect(ctx.reports.map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it('rejects at once on a fatal error and evaluates no further', async () => {
    const calls: number[] = [];
    const ev = functionEvaluator((c) => {
      calls.push(c[0]!);
      if (c[0] === 1) throw new FatalEvaluationError('kill');
      return 0;
    });
    await expect(ev.evaluate([A, B, C], ctxFor([A, B, C]))).rejects.toThrow('kill');
    expect(calls).toEqual([0, 1]);
  });

  it('runs up to `concurrency` at once', async () => {
    let running = 0;
    let peak = 0;
    const ev = functionEvaluator(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return 1;
      },
      { concurrency: 3 },
    );
    const configs = Array.from({ length: 7 }, () => A);
    const out = await ev.evaluate(configs, ctxFor(configs));
    expect(out).toHaveLength(7);
    expect(peak).toBe(3);
  });
});

describe('composeEvaluator', () => {
  it('puts the first middleware outermost', async () => {
    const order: string[] = [];
    const tag =
      (name: string): EvaluatorMiddleware =>
      (next) => ({
        async evaluate(configs, ctx) {
          order.push(`${name}>`);
          const out = await next.evaluate(configs, ctx);
          order.push(`<${name}`);
          return out;
        },
      });
    await composeEvaluator(recorder(), tag('a'), tag('b')).evaluate([A], ctxFor([A]));
    expect(order).toEqual(['a>', 'b>', '<b', '<a']);
  });
});

describe('cacheMiddleware', () => {
  it('answers recorded keys and repeats within a batch without evaluating them', async () => {
    const cache = new TrialCache();
    cache.record({ number: 3, key: SPACE.key(C), batch: 0, round: 0, state: 'complete', values: [42] });
    const inner = recorder();
    const ev = cacheMiddleware(cache)(inner);
    const configs = [A, C, A, B];
    const ctx = ctxFor(configs, { batch: 1 });
    const out = await ev.evaluate(configs, ctx);
    expect(inner.seen).toEqual([[SPACE.key(A), SPACE.key(B)]]);
    expect(out[1]).toEqual({ state: 'complete', values: [42], attrs: { cached: true, cachedFrom: 3 } });
    expect(out[2]).toEqual({ state: 'complete', values: [0], attrs: { cached: true, cachedFrom: 100 } });
    expect(out[0]).toEqual({ state: 'complete', values: [0] });
    expect(out[3]).toEqual({ state: 'complete', values: [1] });
    expect(ctx.reports.map(([i]) => i).sort()).toEqual([0, 1, 2, 3]);
  });

  it('reuses failures unless retryFailed, and filtered trials only within their round', () => {
    const failed = { number: 0, key: 'k', batch: 0, round: 0, state: 'failed' as const, message: 'x' };
    const keep = new TrialCache();
    keep.record(failed);
    expect(keep.lookup('k', 1, 0)?.number).toBe(0);
    const retry = new TrialCache({ retryFailed: true });
    retry.record(failed);
    expect(retry.lookup('k', 1, 0)).toBeUndefined();
    expect(retry.lookup('k', 0, 0)?.number).toBe(0);
    const filt = new TrialCache();
    filt.record({ ...failed, state: 'filtered' });
    expect(filt.lookup('k', 0, 1)).toBeUndefined();
    expect(filt.lookup('k', 0, 0)?.state).toBe('filtered');
    filt.record({ ...failed, number: 9, attrs: { cached: true, cachedFrom: 0 } });
    expect(filt.lookup('k', 0, 0)?.number).toBe(0);
  });
});

describe('costFilterMiddleware', () => {
  it('filters configurations predicted over the bound and annotates the others', async () => {
    const inner = recorder();
    const ev = costFilterMiddleware({ name: 'genes', bound: 2, predict: (c) => c.reduce((a, b) => a + b, 0) })(inner);
    const out = await ev.evaluate([A, C, B], ctxFor([A, C, B]));
    expect(inner.seen).toEqual([[SPACE.key(A), SPACE.key(B)]]);
    expect(out[1]).toEqual({ state: 'filtered', message: 'predicted genes 7 exceeds the bound 2', attrs: { predictedCost: 7 } });
    expect(out[0]).toEqual({ state: 'complete', values: [0], attrs: { predictedCost: 0 } });
    expect(out[2]?.attrs).toEqual({ predictedCost: 1 });
  });

  it('filters NaN predictions', async () => {
    const out = await costFilterMiddleware({ bound: 1, predict: () => NaN })(recorder()).evaluate([A], ctxFor([A]));
    expect(out[0]).toMatchObject({ state: 'filtered', message: 'predicted cost is NaN' });
  });
});

describe('failureMiddleware', () => {
  const throwing = (reportFirst: boolean): Evaluator => ({
    async evaluate(configs, ctx) {
      if (reportFirst) ctx.report?.(0, { state: 'complete', values: [5] });
      if (configs.some((c) => c[0] === 1)) throw new Error('bad batch');
      return configs.map(() => ({ state: 'complete', values: [1] }));
    },
  });

  it('fail-all marks the unreported configurations failed', async () => {
    const ctx = ctxFor([A, B, C]);
    const out = await failureMiddleware()(throwing(true)).evaluate([A, B, C], ctx);
    expect(out).toEqual([
      { state: 'complete', values: [5] },
      { state: 'failed', message: 'bad batch' },
      { state: 'failed', message: 'bad batch' },
    ]);
    expect(ctx.reports.map(([i]) => i)).toEqual([0, 1, 2]);
  });

  it('isolate re-evaluates one by one so only the culprit fails', async () => {
    const out = await failureMiddleware({ onBatchError: 'isolate' })(throwing(false)).evaluate([A, B, C], ctxFor([A, B, C]));
    expect(out.map((o) => o.state)).toEqual(['complete', 'failed', 'complete']);
  });

  it('rethrows fatal errors', async () => {
    const fatal: Evaluator = {
      evaluate: async () => {
        throw Object.assign(new Error('device lost'), { fatal: true });
      },
    };
    await expect(failureMiddleware()(fatal).evaluate([A], ctxFor([A]))).rejects.toThrow('device lost');
  });
});

describe('timeoutMiddleware', () => {
  it('fails evaluations that take too long, aborts their signal and ignores late results', async () => {
    const aborted: boolean[] = [];
    const slow: Evaluator = {
      evaluate: (configs, ctx) =>
        new Promise((resolve) => {
          const ms = configs[0]![0] === 1 ? 200 : 1;
          setTimeout(() => {
            aborted.push(ctx.signal.aborted);
            resolve([{ state: 'complete', values: [ms] }]);
          }, ms);
        }),
    };
    const ctx = ctxFor([A, B, C]);
    const out = await timeoutMiddleware({ seconds: 0.05, concurrency: 3 })(slow).evaluate([A, B, C], ctx);
    expect(out[0]).toEqual({ state: 'complete', values: [1] });
    expect(out[1]).toEqual({ state: 'failed', message: 'evaluation timed out after 0.05s', attrs: { timedOut: true } });
    expect(out[2]).toEqual({ state: 'complete', values: [1] });
    await new Promise((r) => setTimeout(r, 250));
    expect(aborted).toContain(true);
    expect(ctx.reports.filter(([i]) => i === 1)).toHaveLength(1);
  });

  it('attributes a throw to its configuration and rethrows fatal ones', async () => {
    const ev = timeoutMiddleware({ seconds: 1 })({
      evaluate: async (configs) => {
        if (configs[0]![0] === 1) throw new Error('nope');
        if (configs[0]![0] === 2) throw new FatalEvaluationError('dead');
        return [{ state: 'complete', values: [0] }];
      },
    });
    expect((await ev.evaluate([A, B], ctxFor([A, B]))).map((o) => o.state)).toEqual(['complete', 'failed']);
    await expect(ev.evaluate([A, C], ctxFor([A, C]))).rejects.toThrow('dead');
  });
});
