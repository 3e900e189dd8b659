import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/util/rng.js';
import { resolveSearchSpace, type Config, type SearchSpace } from '../../src/space/index.js';
import { specArb } from './arbitraries.js';

/** A resolved random space together with a configuration in it. */
const spaceArb = specArb().map(({ spec, numLayers }) => resolveSearchSpace(spec, { numLayers }));
const spaceAndConfig = spaceArb.chain((space) =>
  fc.tuple(fc.constant(space), fc.tuple(...space.choiceCounts.map((n) => fc.integer({ min: 0, max: n - 1 })))),
);

/** Naive reference: the product of choice counts. */
function naiveCardinality(space: SearchSpace): number {
  return space.instances.reduce((p, g) => p * g.ranks.length, 1);
}

describe('search-space properties', () => {
  it('decode(encode(ranks)) = ranks and encode(decode(c)) = c', () => {
    fc.assert(
      fc.property(spaceAndConfig, ([space, config]) => {
        const ranks = space.decode(config);
        expect(ranks).toEqual(config.map((c, i) => space.instances[i]!.ranks[c]));
        expect(space.encode(ranks)).toEqual(config);
        expect(space.decode(space.encode(ranks))).toEqual(ranks);
      }),
    );
  });

  it('parseKey(key(c)) = c', () => {
    fc.assert(
      fc.property(spaceAndConfig, ([space, config]) => {
        expect(space.parseKey(space.key(config))).toEqual(config);
      }),
    );
  });

  it('key is injective on samples', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (space, seed) => {
        const rng = createRng(seed);
        const byKey = new Map<string, string>();
        for (let i = 0; i < 50; i++) {
          const c = space.sample(rng);
          const k = space.key(c);
          const id = JSON.stringify(c);
          const prev = byKey.get(k);
          if (prev !== undefined) expect(prev).toBe(id);
          byKey.set(k, id);
        }
      }),
    );
  });

  it('samples, shared-layer samples and neighbours stay in the space', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (space, seed) => {
        const rng = createRng(seed);
        for (let i = 0; i < 10; i++) {
          const c = space.sample(rng);
          expect(space.contains(c)).toBe(true);
          expect(space.contains(space.sampleSharedLayer(rng))).toBe(true);
          for (const n of space.neighbours(c)) expect(space.contains(n)).toBe(true);
        }
      }),
    );
  });

  it('each neighbour differs in exactly one gene by one step, and all such configs are listed', () => {
    fc.assert(
      fc.property(spaceAndConfig, ([space, config]) => {
        const ns = space.neighbours(config);
        for (const n of ns) {
          const diff = n.map((v, i) => v - config[i]!).filter((d) => d !== 0);
          expect(diff).toHaveLength(1);
          expect(Math.abs(diff[0]!)).toBe(1);
        }
        // Naive count: per gene, one neighbour below unless at 0, one above unless at the end.
        const expected = config.reduce((s, c, i) => s + (c > 0 ? 1 : 0) + (c < space.choiceCounts[i]! - 1 ? 1 : 0), 0);
        expect(ns).toHaveLength(expected);
        expect(new Set(ns.map((n) => space.key(n))).size).toBe(ns.length);
      }),
    );
  });

  it('max, min and median configurations are in the space and follow their rules', () => {
    fc.assert(
      fc.property(spaceArb, (space) => {
        for (const c of [space.maxConfig(), space.minConfig(), space.medianConfig()]) expect(space.contains(c)).toBe(true);
        const max = space.decode(space.maxConfig());
        const min = space.decode(space.minConfig());
        const med = space.decode(space.medianConfig());
        space.instances.forEach((g, i) => {
          expect(max[i]).toBe(Math.max(...g.ranks));
          expect(min[i]).toBe(Math.min(...g.ranks));
          // Shears/SQFT heuristic: choices[floor((len - 1) / 2)] of the descending list.
          expect(med[i]).toBe(g.ranks[Math.floor((g.ranks.length - 1) / 2)]);
          expect(med[i]!).toBeLessThanOrEqual(max[i]!);
          expect(med[i]!).toBeGreaterThanOrEqual(min[i]!);
        });
      }),
    );
  });

  it('enumeration count equals cardinality, keys are distinct, order is lexicographic', () => {
    fc.assert(
      fc.property(spaceArb, (space) => {
        fc.pre(naiveCardinality(space) <= 5000);
        expect(space.cardinality()).toBe(BigInt(naiveCardinality(space)));
        const all: Config[] = [...space.enumerate()];
        expect(all.length).toBe(naiveCardinality(space));
        expect(new Set(all.map((c) => space.key(c))).size).toBe(all.length);
        for (const c of all) expect(space.contains(c)).toBe(true);
        expect(all[0]).toEqual(space.maxConfig());
        expect(all[all.length - 1]).toEqual(space.minConfig());
        for (let i = 1; i < all.length; i++) {
          const a = all[i - 1]!;
          const b = all[i]!;
          const k = a.findIndex((v, j) => v !== b[j]);
          expect(a[k]!).toBeLessThan(b[k]!);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('same seed gives the same samples; different streams stay deterministic', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (space, seed) => {
        const a = createRng(seed);
        const b = createRng(seed);
        for (let i = 0; i < 5; i++) {
          expect(space.sample(a)).toEqual(space.sample(b));
          expect(space.sampleSharedLayer(a)).toEqual(space.sampleSharedLayer(b));
        }
      }),
    );
  });

  it('activeRanks and fromActiveRanks are inverse; every module of a gene gets its rank', () => {
    fc.assert(
      fc.property(spaceAndConfig, ([space, config]) => {
        const active = space.activeRanks(config);
        expect(active.size).toBe(space.adapterPlan().length);
        const ranks = space.decode(config);
        for (const entry of space.adapterPlan()) expect(active.get(entry.key)).toBe(ranks[entry.gene]);
        expect(space.fromActiveRanks(active)).toEqual(config);
      }),
    );
  });

  it('shared-layer samples give every gene of a layer the same clamped choice', () => {
    fc.assert(
      fc.property(spaceArb, fc.integer(), (space, seed) => {
        const c = space.sampleSharedLayer(createRng(seed));
        for (const layer of space.layers) {
          const genes = space.genesOfLayer(layer);
          const m = Math.max(...genes.map((g) => space.choiceCounts[g]!));
          // The clamped value of the longest gene is the drawn index itself.
          const drawn = c[genes.find((g) => space.choiceCounts[g] === m)!]!;
          for (const g of genes) expect(c[g]).toBe(Math.min(drawn, space.choiceCounts[g]! - 1));
        }
      }),
    );
  });

  it('genes are in canonical layer-major order', () => {
    fc.assert(
      fc.property(spaceArb, (space) => {
        space.instances.forEach((g, i) => {
          expect(g.index).toBe(i);
          const prev = space.instances[i - 1];
          if (prev) expect(prev.layer < g.layer || (prev.layer === g.layer && prev.groupIndex < g.groupIndex)).toBe(true);
        });
      }),
    );
  });
});
