import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bestFeasibleTrial } from '../../src/search/results.js';
import type { ObjectiveSpec, TrialResult } from '../../src/search/contract.js';

const objectives: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];
const trial = (number: number, values: number[], violation = 0): TrialResult => ({
  number,
  key: `k${number}`,
  config: [number],
  state: 'complete',
  values,
  constraints: [violation],
});

describe('bestFeasibleTrial', () => {
  it('takes the best first objective among feasible trials, ties broken by the next objective', () => {
    const trials = [trial(0, [0.9, 100], 5), trial(1, [0.8, 50]), trial(2, [0.8, 40]), trial(3, [0.7, 10])];
    expect(bestFeasibleTrial(trials, objectives)?.number).toBe(2);
    expect(bestFeasibleTrial([trial(0, [0.9, 1], 1)], objectives)).toBeUndefined();
  });

  it('property: the result is feasible and no feasible trial beats it lexicographically', () => {
    const arb = fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.boolean()), { maxLength: 30 });
    fc.assert(
      fc.property(arb, (rows) => {
        const trials = rows.map(([a, p, ok], i) => trial(i, [a, p], ok ? 0 : 1));
        const best = bestFeasibleTrial(trials, objectives);
        const feasible = trials.filter((t) => t.constraints![0]! <= 0);
        if (feasible.length === 0) {
          expect(best).toBeUndefined();
          return;
        }
        expect(best!.constraints![0]).toBe(0);
        for (const t of feasible) {
          const better = t.values![0]! > best!.values![0]! || (t.values![0] === best!.values![0] && t.values![1]! < best!.values![1]!);
          expect(better).toBe(false);
        }
      }),
    );
  });
});
