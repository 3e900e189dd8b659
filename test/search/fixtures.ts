/** Test strategies, spaces and evaluators for the study tests (independent of the built-ins). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import type { Config } from '../../src/space/index.js';
import type { SearchStrategy, StrategyContext, StrategyFactory, TrialResult } from '../../src/search/contract.js';
import { smallSpace } from '../../src/search/testing.js';

/** A 4-gene space of 3*3*2*3 = 54 configurations. */
export const SPACE = smallSpace([3, 3, 2, 3], 'fixture');

/** A space of 2 configurations. */
export const TINY = smallSpace([2], 'tiny');

/** Uniform sampling *with* repeats: stateless, never exhausts. */
export const randomFactory: StrategyFactory = {
  name: 'test-random',
  version: '1.0.0',
  description: 'uniform sampling with repeats (test fixture)',
  options: [],
  create(): SearchStrategy {
    return {
      ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.sample(ctx.rng)),
      tell: () => undefined,
    };
  },
};

/**
 * A stateful evolutionary strategy: keeps the `population` best complete feasible trials (by the
 * first objective), proposes unseen mutations of random parents, falls back to random unseen
 * samples, and returns [] once everything was seen.
 */
export const evolutionFactory: StrategyFactory = {
  name: 'test-evolution',
  version: '1.0.0',
  description: 'stateful (mu + lambda) evolution (test fixture)',
  options: [{ name: 'population', type: 'integer', default: 4, description: 'parents kept' }],
  create(options): SearchStrategy {
    const size = Number(options['population'] ?? 4);
    const seen = new Set<string>();
    let parents: TrialResult[] = [];
    return {
      ask(n: number, ctx: StrategyContext): Config[] {
        const out: Config[] = [];
        const total = Number(ctx.space.cardinality());
        for (let i = 0; i < n && seen.size < total; i++) {
          let pick: Config | undefined;
          for (let attempt = 0; attempt < 20 && !pick; attempt++) {
            let c: Config;
            if (parents.length > 0 && ctx.rng.next() < 0.8) {
              const p = parents[ctx.rng.int(parents.length)] as TrialResult;
              const ns = ctx.space.neighbours(p.config);
              c = ns[ctx.rng.int(ns.length)] ?? ctx.space.sample(ctx.rng);
            } else c = ctx.space.sample(ctx.rng);
            if (!seen.has(ctx.space.key(c))) pick = c;
          }
          if (!pick) {
            for (const c of ctx.space.enumerate()) {
              if (!seen.has(ctx.space.key(c))) {
                pick = c;
                break;
              }
            }
          }
          if (!pick) break;
          seen.add(ctx.space.key(pick));
          out.push(pick);
        }
        return out;
      },
      tell(results, ctx) {
        const sign = ctx.objectives[0]?.direction === 'maximize' ? -1 : 1;
        const ok = results.filter((r) => r.state === 'complete' && (r.constraints ?? []).every((c) => c <= 0));
        parents = [...parents, ...ok].sort((a, b) => sign * ((a.values?.[0] ?? 0) - (b.values?.[0] ?? 0)) || a.number - b.number).slice(0, size);
        for (const r of results) seen.add(r.key);
      },
    };
  },
};

/** Uses Math.random: not resumable. */
export const mathRandomFactory: StrategyFactory = {
  name: 'test-math-random',
  version: '1.0.0',
  description: 'draws from Math.random (broken on purpose)',
  options: [],
  create: () => ({
    ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.choiceCounts.map((c) => Math.floor(Math.random() * c))),
    tell: () => undefined,
  }),
};

/** Proposes configurations outside the space (broken on purpose). */
export const outsideFactory: StrategyFactory = {
  name: 'test-outside',
  version: '1.0.0',
  description: 'proposes an out-of-range gene (broken on purpose)',
  options: [],
  create: () => ({ ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.choiceCounts.map((c) => c)), tell: () => undefined }),
};

/** Keeps a counter across instances: state that does not follow from asks and tells (broken on purpose). */
let globalCounter = 0;
export const hiddenStateFactory: StrategyFactory = {
  name: 'test-hidden-state',
  version: '1.0.0',
  description: 'keeps module-level state (broken on purpose)',
  options: [],
  create: () => ({
    ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.choiceCounts.map((c) => globalCounter++ % c)),
    tell: () => undefined,
  }),
};

/** Mutates the results it is told (broken on purpose). */
export const mutatingFactory: StrategyFactory = {
  name: 'test-mutating',
  version: '1.0.0',
  description: 'sorts the results array in place (broken on purpose)',
  options: [],
  create: () => ({
    ask: (n, ctx) => Array.from({ length: n }, () => ctx.space.sample(ctx.rng)),
    tell: (results) => void (results as TrialResult[]).sort((a, b) => b.number - a.number),
  }),
};

/** Deterministic objectives of a configuration: [error-like (min), size-like (max)] and one constraint. */
export function objectivesOf(config: Config): { values: number[]; constraints: number[] } {
  const sum = config.reduce((a, b) => a + b, 0);
  const spread = config.reduce((a, c, i) => a + c * (i + 1), 0);
  return { values: [sum * 0.1 + (spread % 3) * 0.01, 10 - sum + (spread % 2) * 0.5], constraints: [sum - 6] };
}

/** A temporary directory removed after the test file. */
export function tempDir(prefix = 'nls-search-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
