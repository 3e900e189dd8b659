import fc from 'fast-check';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.js';
import { BatchSampler, datasetFromRows, permutation, shuffle, splitDataset, splitLoadedDataset, toPromptExamples, type BatchSamplerState } from '../../src/data/index.js';

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('shuffle', () => {
  it('is a permutation, deterministic per seed', () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), fc.integer(), (xs, seed) => {
        const a = shuffle(xs, seed);
        expect([...a].sort((p, q) => p - q)).toEqual([...xs].sort((p, q) => p - q));
        expect(shuffle(xs, seed)).toEqual(a);
        expect(shuffle(xs, createRng(seed))).toEqual(a);
      }),
    );
  });

  it('is pinned: the same seed gives the same order on every platform', () => {
    // seedrandom ARC4 + Fisher-Yates with Math.floor(next * (i + 1)): a fixed, documented stream.
    expect(permutation(10, 42)).toEqual(permutation(10, '42'));
    expect(permutation(10, 42)).toEqual([5, 2, 9, 7, 8, 6, 3, 1, 4, 0]);
    // Naive reference straight on seedrandom.
    const prng = seedrandom('42');
    const ref = range(10);
    for (let i = ref.length - 1; i > 0; i--) {
      const k = Math.floor(prng.quick() * (i + 1));
      [ref[i], ref[k]] = [ref[k] as number, ref[i] as number];
    }
    expect(permutation(10, 42)).toEqual(ref);
  });

  it('different seeds usually differ', () => {
    expect(permutation(50, 1)).not.toEqual(permutation(50, 2));
  });
});

describe('splitDataset', () => {
  it('partitions the rows (disjoint, union = all) and is deterministic per seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (n, fraction, seed) => {
        const rows = range(n).map((i) => ({ id: i }));
        const s = splitDataset(rows, { validationFraction: fraction, seed });
        expect(s.validationIndices).toHaveLength(Math.round(n * fraction));
        expect(sorted([...s.trainIndices, ...s.validationIndices])).toEqual(range(n));
        expect(new Set([...s.trainIndices, ...s.validationIndices]).size).toBe(n);
        expect(s.train).toEqual(s.trainIndices.map((i) => rows[i]));
        expect(s.validation).toEqual(s.validationIndices.map((i) => rows[i]));
        expect(splitDataset(rows, { validationFraction: fraction, seed })).toEqual(s);
      }),
    );
  });

  it('validationSize is exact; bad sizes are errors', () => {
    const rows = range(10);
    expect(splitDataset(rows, { validationSize: 3, seed: 1 }).validation).toHaveLength(3);
    expect(splitDataset(rows, { seed: 1 }).validation).toHaveLength(1); // default 10%
    expect(() => splitDataset(rows, { validationSize: 11, seed: 1 })).toThrow(/validationSize/);
    expect(() => splitDataset(rows, { validationSize: 1, validationFraction: 0.1, seed: 1 })).toThrow(/not both/);
    expect(() => splitDataset(rows, { validationFraction: 1.5, seed: 1 })).toThrow(/validationFraction/);
  });

  it('stratifies classification rows: each label within one row of proportional', () => {
    const labelled = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 300 });
    fc.assert(
      fc.property(labelled, fc.integer({ min: 0, max: 300 }), fc.integer(), (labels, vRaw, seed) => {
        const rows = labels.map((label, i) => ({ text: `t${i}`, label }));
        const n = rows.length;
        const v = vRaw % (n + 1);
        const s = splitDataset(rows, { validationSize: v, seed });
        expect(s.validation).toHaveLength(v);
        expect(sorted([...s.trainIndices, ...s.validationIndices])).toEqual(range(n));
        for (const label of new Set(labels)) {
          const total = rows.filter((r) => r.label === label).length;
          const held = s.validation.filter((r) => r.label === label).length;
          expect(Math.abs(held - (v * total) / n)).toBeLessThan(1);
        }
        expect(splitDataset(rows, { validationSize: v, seed })).toEqual(s);
      }),
    );
  });

  it('stratify: false or a custom key', () => {
    const rows = range(100).map((i) => ({ label: i < 90 ? 'big' : 'small', group: i % 2 === 0 ? 'even' : 'odd' }));
    const byGroup = splitDataset(rows, { validationSize: 10, seed: 3, stratify: (r) => r.group });
    expect(byGroup.validation.filter((r) => r.group === 'even')).toHaveLength(5);
    const byLabel = splitDataset(rows, { validationSize: 10, seed: 3 });
    expect(byLabel.validation.filter((r) => r.label === 'small')).toHaveLength(1);
    expect(splitDataset(rows, { validationSize: 10, seed: 3, stratify: false }).validation).toHaveLength(10);
  });
});

describe('splitLoadedDataset', () => {
  it('splits a loaded dataset, stratified, keeping the full label set', () => {
    const rows = range(30).map((i) => ({ text: `t${i}`, label: i < 27 ? 'common' : 'rare' }));
    const ds = datasetFromRows('classification', rows);
    const { train, validation } = splitLoadedDataset(ds, { validationSize: 10, seed: 5 });
    expect(train.format).toBe('classification');
    expect(train.rows.length + validation.rows.length).toBe(30);
    expect(validation.rows.filter((r) => (r as { label: string }).label === 'rare')).toHaveLength(1);
    if (train.format !== 'classification') throw new Error('unreachable');
    expect(train.labels).toEqual(['common', 'rare']);
    expect(toPromptExamples(validation)[0]?.candidates).toEqual([' common', ' rare']);
    expect(splitLoadedDataset(ds, { validationSize: 10, seed: 5 })).toEqual({ train, validation });
  });
});

describe('BatchSampler', () => {
  const config = fc.record({
    size: fc.integer({ min: 1, max: 60 }),
    batchSize: fc.integer({ min: 1, max: 16 }),
    seed: fc.oneof(fc.integer(), fc.string()),
    dropLast: fc.boolean(),
  });

  it('covers each index exactly once per epoch', () => {
    fc.assert(
      fc.property(config, ({ size, batchSize, seed, dropLast }) => {
        fc.pre(!dropLast || batchSize <= size);
        const s = new BatchSampler({ size, batchSize, seed, dropLast });
        for (let epoch = 0; epoch < 3; epoch++) {
          const seen: number[] = [];
          for (let b = 0; b < s.batchesPerEpoch; b++) {
            const batch = s.next();
            expect(batch.epoch).toBe(epoch);
            expect(batch.batch).toBe(b);
            expect(batch.step).toBe(epoch * s.batchesPerEpoch + b);
            if (dropLast) expect(batch.indices).toHaveLength(batchSize);
            seen.push(...batch.indices);
          }
          if (dropLast) {
            expect(seen).toHaveLength(Math.floor(size / batchSize) * batchSize);
            expect(new Set(seen).size).toBe(seen.length);
          } else {
            expect(sorted(seen)).toEqual(range(size));
          }
          expect(s.epoch).toBe(epoch + 1);
        }
      }),
    );
  });

  it('resuming from a saved state continues identically', () => {
    fc.assert(
      fc.property(config, fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 20 }), ({ size, batchSize, seed, dropLast }, before, after) => {
        fc.pre(!dropLast || batchSize <= size);
        const a = new BatchSampler({ size, batchSize, seed, dropLast });
        a.take(before);
        const saved = JSON.parse(JSON.stringify(a.state())) as BatchSamplerState;
        const expected = a.take(after);
        const b = BatchSampler.restore(saved);
        expect(b.take(after)).toEqual(expected);
        // A fresh sampler replaying from the start agrees too.
        const c = new BatchSampler({ size, batchSize, seed, dropLast });
        c.take(before);
        expect(c.take(after)).toEqual(expected);
        // Random access by global step agrees with sequential sampling.
        expect(expected.map((x) => c.atStep(x.step))).toEqual(expected);
      }),
    );
  });

  it('epochs differ, depend only on (seed, epoch), and shuffle: false is in order', () => {
    const s = new BatchSampler({ size: 20, batchSize: 5, seed: 'x' });
    expect(s.epochOrder(0)).not.toEqual(s.epochOrder(1));
    expect(new BatchSampler({ size: 20, batchSize: 5, seed: 'x' }).batchAt(7, 2)).toEqual(s.batchAt(7, 2));
    const ordered = new BatchSampler({ size: 7, batchSize: 3, seed: 1, shuffle: false });
    expect(ordered.take(3).map((b) => b.indices)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });

  it('rejects bad configurations and states', () => {
    expect(() => new BatchSampler({ size: 0, batchSize: 1, seed: 1 })).toThrow(/size/);
    expect(() => new BatchSampler({ size: 3, batchSize: 4, seed: 1, dropLast: true })).toThrow(/batchSize/);
    const state = new BatchSampler({ size: 10, batchSize: 5, seed: 1 }).state();
    expect(() => BatchSampler.restore({ ...state, batch: 2 })).toThrow(/past the 2 batches/);
    expect(() => BatchSampler.restore({ ...state, epoch: -1 })).toThrow(/epoch/);
  });
});
