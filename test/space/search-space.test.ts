import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { createRng } from '../../src/util/rng.js';
import { SearchSpace, loraScale, moduleKey, resolveSearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';

/** 3 layers; `down` only on layers 0 and 2, with its own alpha and dropout. */
const SPEC: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'unit',
  alpha: 64,
  dropout: 0.05,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [32, 24, 16] },
    { name: 'up', modules: ['up_proj'], ranks: [8, 0] },
    { name: 'down', modules: ['down_proj'], ranks: [16, 12, 8, 4], layers: [2, 0], alpha: 32, dropout: 0 },
  ],
};
const space = resolveSearchSpace(SPEC, { numLayers: 3 });

describe('SearchSpace', () => {
  it('expands groups into genes in layer-major order', () => {
    expect(space.instances.map((g) => space.label(g.index))).toEqual([
      'layers.0/qkv',
      'layers.0/up',
      'layers.0/down',
      'layers.1/qkv',
      'layers.1/up',
      'layers.2/qkv',
      'layers.2/up',
      'layers.2/down',
    ]);
    expect(space.size).toBe(8);
    expect(space.choiceCounts).toEqual([3, 2, 4, 3, 2, 3, 2, 4]);
    expect(space.layers).toEqual([0, 1, 2]);
    expect(space.genesOfLayer(1)).toEqual([3, 4]);
    expect(space.cardinality()).toBe(3n * 2n * 4n * 3n * 2n * 3n * 2n * 4n);
  });

  it('keys have one segment per layer and parse back', () => {
    const c = [2, 1, 3, 0, 1, 1, 0, 2];
    expect(space.key(c)).toBe('213.01.102');
    expect(space.parseKey('213.01.102')).toEqual(c);
    expect(space.key(space.maxConfig())).toBe('000.00.000');
  });

  it('rejects malformed keys with a clear error', () => {
    expect(() => space.parseKey('213.01')).toThrow(/expected 3 '\.'-separated layer segments, got 2/);
    expect(() => space.parseKey('213.011.102')).toThrow(/segment for layer 1 must have 2 characters/);
    expect(() => space.parseKey('2x3.01.102')).toThrow(NlsError);
    expect(() => space.parseKey('2A3.01.102')).toThrow(/not a base-36 choice index/);
    expect(() => space.parseKey('313.01.102')).toThrow(/gene 0 \(layers\.0\/qkv\) has choice index 3, but only 3 choices/);
  });

  it('uses wider key digits when a group has more than 36 choices', () => {
    const ranks = Array.from({ length: 40 }, (_, i) => 40 - i);
    const wide = resolveSearchSpace({ format: 'nls-search-space/1', name: 'wide', alpha: 1, groups: [{ name: 'q', modules: ['q_proj'], ranks }] }, { numLayers: 2 });
    expect(wide.keyWidth).toBe(2);
    expect(wide.key([39, 5])).toBe('13.05');
    expect(wide.parseKey('13.05')).toEqual([39, 5]);
  });

  it('encode and decode convert between ranks and choice indices', () => {
    expect(space.decode(space.maxConfig())).toEqual([32, 8, 16, 32, 8, 32, 8, 16]);
    expect(space.decode(space.minConfig())).toEqual([16, 0, 4, 16, 0, 16, 0, 4]);
    expect(space.decode(space.medianConfig())).toEqual([24, 8, 12, 24, 8, 24, 8, 12]);
    expect(space.encode([24, 0, 4, 32, 8, 16, 0, 12])).toEqual([1, 1, 3, 0, 0, 2, 1, 1]);
    expect(() => space.encode([20, 0, 4, 32, 8, 16, 0, 12])).toThrow(/gene 0 \(layers\.0\/qkv\): rank 20 is not a choice; fix: use one of \[32, 24, 16\]/);
    expect(() => space.encode([32])).toThrow(/expected 8 ranks/);
  });

  it('contains / assertContains check length, integrality and range', () => {
    expect(space.contains([0, 0, 0, 0, 0, 0, 0, 0])).toBe(true);
    expect(space.contains([0, 0, 0, 0, 0, 0, 0])).toBe(false);
    expect(space.contains([0, 2, 0, 0, 0, 0, 0, 0])).toBe(false);
    expect(space.contains([0, 0.5, 0, 0, 0, 0, 0, 0])).toBe(false);
    expect(space.contains([-1, 0, 0, 0, 0, 0, 0, 0])).toBe(false);
    expect(() => space.assertContains([0, 2, 0, 0, 0, 0, 0, 0])).toThrow(/gene 1 \(layers\.0\/up\) is 2, not a choice index in 0\.\.1/);
    expect(() => space.key([0])).toThrow(/has 1 genes but search space "unit" has 8/);
  });

  it('neighbours step one gene by one index, larger rank first', () => {
    const c = [1, 0, 3, 0, 1, 2, 0, 0];
    const ns = space.neighbours(c).map((n) => space.key(n));
    expect(space.key(c)).toBe('103.01.200');
    expect(ns).toEqual(['003.01.200', '203.01.200', '113.01.200', '102.01.200', '103.11.200', '103.00.200', '103.01.100', '103.01.210', '103.01.201']);
  });

  it('enumerate is lexicographic and refuses large spaces eagerly', () => {
    const small = resolveSearchSpace({ format: 'nls-search-space/1', name: 's', alpha: 1, groups: [{ name: 'a', modules: ['q_proj'], ranks: [4, 2, 1] }, { name: 'b', modules: ['v_proj'], ranks: [2, 0] }] }, { numLayers: 1 });
    expect([...small.enumerate()].map((c) => small.key(c))).toEqual(['00', '01', '10', '11', '20', '21']);
    expect(() => space.enumerate({ limit: 100 })).toThrow(/search space "unit" has 3456 configurations, more than the enumeration limit 100; fix: use a sampling search strategy/);
    expect([...space.enumerate({ limit: 3456n })]).toHaveLength(3456);
  });

  it('activeRanks keys modules as layers.{i}.{module}, including rank 0', () => {
    const ranks = space.activeRanks([2, 1, 3, 0, 0, 1, 0, 2]);
    expect([...ranks.entries()]).toEqual([
      ['layers.0.q_proj', 16],
      ['layers.0.k_proj', 16],
      ['layers.0.v_proj', 16],
      ['layers.0.up_proj', 0],
      ['layers.0.down_proj', 4],
      ['layers.1.q_proj', 32],
      ['layers.1.k_proj', 32],
      ['layers.1.v_proj', 32],
      ['layers.1.up_proj', 8],
      ['layers.2.q_proj', 24],
      ['layers.2.k_proj', 24],
      ['layers.2.v_proj', 24],
      ['layers.2.up_proj', 8],
      ['layers.2.down_proj', 8],
    ]);
    expect(moduleKey(3, 'q_proj')).toBe('layers.3.q_proj');
  });

  it('fromActiveRanks inverts activeRanks and explains bad maps', () => {
    const c = [2, 1, 3, 0, 0, 1, 0, 2];
    const ranks = space.activeRanks(c);
    expect(space.fromActiveRanks(ranks)).toEqual(c);
    const split = new Map(ranks).set('layers.0.k_proj', 32);
    expect(() => space.fromActiveRanks(split)).toThrow(/layers\.0\.k_proj has rank 32 but its group "qkv" on layer 0 has rank 16/);
    const missing = new Map(ranks);
    missing.delete('layers.1.up_proj');
    expect(() => space.fromActiveRanks(missing)).toThrow(/no rank for layers\.1\.up_proj/);
    expect(() => space.fromActiveRanks(new Map(ranks).set('layers.1.down_proj', 8))).toThrow(/layers\.1\.down_proj is not adapted/);
    expect(() => space.fromActiveRanks(new Map(ranks).set('layers.0.up_proj', 4))).toThrow(/rank 4 is not a choice of layers\.0\/up/);
  });

  it('adapterPlan gives r_max, alpha, dropout and scaling per module, with group overrides', () => {
    const plan = space.adapterPlan();
    expect(plan).toHaveLength(14);
    expect(plan.find((e) => e.key === 'layers.2.down_proj')).toEqual({
      key: 'layers.2.down_proj',
      layer: 2,
      module: 'down_proj',
      group: 'down',
      gene: 7,
      ranks: [16, 12, 8, 4],
      rMax: 16,
      alpha: 32,
      dropout: 0,
      scaling: 'alpha/r_max',
    });
    expect(plan.find((e) => e.key === 'layers.1.v_proj')).toMatchObject({ rMax: 32, alpha: 64, dropout: 0.05, gene: 3 });
    expect(space.adapterPlan()).toBe(plan);
  });

  it('loraScale follows the scaling rule', () => {
    expect(loraScale({ alpha: 64, rMax: 32, scaling: 'alpha/r_max' }, 16)).toBe(2);
    expect(loraScale({ alpha: 64, rMax: 32, scaling: 'alpha/r' }, 16)).toBe(4);
    expect(loraScale({ alpha: 64, rMax: 32, scaling: 'alpha/r' }, 0)).toBe(0);
    const perRank = resolveSearchSpace({ ...SPEC, scaling: 'alpha/r' }, { numLayers: 3 });
    expect(perRank.adapterPlan().every((e) => e.scaling === 'alpha/r')).toBe(true);
  });

  it('sampleSharedLayer clamps the layer index to each gene and reaches every choice', () => {
    const rng = createRng('shared');
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const c = space.sampleSharedLayer(rng);
      // Layer 0: qkv (3 choices), up (2), down (4): the drawn index d in 0..3 is clamped.
      const d = c[2]!;
      expect(c.slice(0, 2)).toEqual([Math.min(d, 2), Math.min(d, 1)]);
      seen.add(space.key(c).split('.')[0]!);
    }
    expect([...seen].sort()).toEqual(['000', '111', '212', '213']);
  });

  it('withLayerChoice sets every gene of one layer', () => {
    const c = space.withLayerChoice(space.maxConfig(), 2, 3);
    expect(space.key(c)).toBe('000.00.213');
    expect(space.withLayerChoice(c, 1, 1)).toEqual(space.parseKey('000.11.213'));
    expect(space.withLayerChoice(c, 7, 1)).toEqual(c);
    expect(() => space.withLayerChoice(c, 0, -1)).toThrow(NlsError);
  });

  it('sampling is deterministic for a seed', () => {
    const a = createRng(42);
    const keys = [space.key(space.sample(a)), space.key(space.sample(a))];
    const b = createRng(42);
    expect([space.key(space.sample(b)), space.key(space.sample(b))]).toEqual(keys);
    const c = createRng(43);
    expect([space.key(space.sample(c)), space.key(space.sample(c))]).not.toEqual(keys);
  });

  it('describe prints one line per layer', () => {
    expect(space.describe(space.maxConfig())).toBe('layers.0: qkv=32 up=8 down=16\nlayers.1: qkv=32 up=8\nlayers.2: qkv=32 up=8 down=16');
  });

  it('fingerprint identifies the resolved structure', () => {
    const again = resolveSearchSpace(JSON.parse(JSON.stringify(SPEC)) as SearchSpaceSpec, { numLayers: 3 });
    expect(again.fingerprint).toBe(space.fingerprint);
    expect(space.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(resolveSearchSpace(SPEC, { numLayers: 4 }).fingerprint).not.toBe(space.fingerprint);
    expect(resolveSearchSpace({ ...SPEC, alpha: 16 }, { numLayers: 3 }).fingerprint).not.toBe(space.fingerprint);
  });

  it('can be built directly from instances, which are sorted into canonical order', () => {
    const s = new SearchSpace({
      name: 'direct',
      numLayers: 2,
      instances: [
        { layer: 1, group: 'a', groupIndex: 0, modules: ['q_proj'], ranks: [4, 2], alpha: 8, dropout: 0, scaling: 'alpha/r_max' },
        { layer: 0, group: 'a', groupIndex: 0, modules: ['q_proj'], ranks: [4, 2], alpha: 8, dropout: 0, scaling: 'alpha/r_max' },
      ],
    });
    expect(s.instances.map((g) => g.layer)).toEqual([0, 1]);
    expect(() => new SearchSpace({ name: 'empty', numLayers: 1, instances: [] })).toThrow(NlsError);
  });
});
