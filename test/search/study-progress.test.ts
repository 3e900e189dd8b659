/** The study's progress line names the subnet behind each best value (they are different subnets). */
import { describe, expect, it } from 'vitest';
import type { ObjectiveSpec } from '../../src/search/contract.js';
import type { TrialRecord } from '../../src/search/journal.js';
import { ProgressTracker } from '../../src/search/study-progress.js';
import { Progress } from '../../src/util/progress.js';

const OBJECTIVES: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];

function trial(number: number, accuracy: number, params: number, bound = 102400): TrialRecord {
  const config = [number % 4, 0, 0];
  return {
    type: 'trial',
    batch: number,
    round: 0,
    number,
    config,
    key: config.join('.'),
    state: 'complete',
    values: [accuracy, params],
    constraints: [params - bound],
    attrs: { params },
  };
}

describe('ProgressTracker.metrics', () => {
  it('each best value comes with the other objectives of its own trial', () => {
    const t = new ProgressTracker(OBJECTIVES, undefined, () => 0);
    t.add(trial(0, 0.53, 51200)); // the smallest feasible subnet
    t.add(trial(1, 0.65, 99840)); // the most accurate feasible subnet
    t.add(trial(2, 0.9, 204800)); // infeasible: counts for neither
    const m = t.metrics();
    expect(m['highest accuracy']).toBe('0.6500 (params 99,840)');
    expect(m['lowest params']).toBe('51,200 (accuracy 0.5300)');
    // The old line ("best accuracy 0.65 best params 51200") mixed the two subnets.
    expect(Object.keys(m).filter((k) => k.startsWith('best '))).toEqual([]);
    const lines: string[] = [];
    const p = new Progress({ stream: { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream, now: () => 5000, heartbeatMs: 0 });
    p.start('search', 3);
    p.step(3, m);
    expect(lines[0]).toMatch(/^search 3\/3 {2}trials 3 {2}highest accuracy 0\.6500 \(params 99,840\) {2}lowest params 51,200 \(accuracy 0\.5300\) {2}front 2/);
  });

  it('a single objective has no other values to name', () => {
    const t = new ProgressTracker([{ name: 'loss', direction: 'minimize' }], undefined, () => 0);
    t.add({ ...trial(0, 0.5, 1), values: [0.25], constraints: [] });
    expect(t.metrics()['lowest loss']).toBe(0.25);
  });
});
