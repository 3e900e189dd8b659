import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertSubspace, isWidthGroup, resolveSearchSpace, type SearchSpaceSpec, subspaceProblems } from '../../src/space/index.js';
import { specArb } from './arbitraries.js';

const base: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'trained',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8, 6, 4] },
    { name: 'up', modules: ['up_proj'], ranks: [8, 4] },
  ],
};
const resolve = (spec: SearchSpaceSpec) => resolveSearchSpace(spec, { numLayers: 2 });
const trained = resolve(base);

describe('sub-spaces of a trained supernet', () => {
  it('accepts fewer choices, a fixed group, and per-layer groups over the same adapters', () => {
    expect(subspaceProblems(trained, trained)).toEqual([]);
    const sub = resolve({
      ...base,
      name: 'sub',
      groups: [
        { name: 'qkv-0', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8], layers: [0] },
        { name: 'qkv-1', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8, 4], layers: [1] },
        { name: 'up', modules: ['up_proj'], ranks: [8, 4] },
      ],
    });
    expect(subspaceProblems(trained, sub)).toEqual([]);
    expect(sub.cardinality()).toBe(8n);
    // Every sub-space configuration is a trained configuration with the same active ranks.
    for (const c of sub.enumerate()) expect(trained.activeRanks(trained.fromActiveRanks(sub.activeRanks(c)))).toEqual(sub.activeRanks(c));
  });

  it('names every mismatch: missing or extra modules, r_max, untrained ranks, a different LoRA scale', () => {
    const sub = resolve({
      ...base,
      name: 'sub',
      alpha: 32,
      groups: [
        { name: 'qk', modules: ['q_proj', 'k_proj'], ranks: [16, 8] },
        { name: 'o', modules: ['o_proj'], ranks: [8] },
        { name: 'up', modules: ['up_proj'], ranks: [8, 5], alpha: 16 },
      ],
    });
    const problems = subspaceProblems(trained, sub).join('\n');
    expect(problems).toMatch(/layers\.0\.v_proj is adapted in the supernet but not in "sub"/);
    expect(problems).toMatch(/layers\.1\.o_proj has no adapter in the supernet/);
    expect(problems).toMatch(/layers\.0\.q_proj: r_max is 16, the supernet's adapter has r_max 8/);
    expect(problems).toMatch(/layers\.0\.q_proj: ranks \[16\] were not trained/);
    expect(problems).toMatch(/layers\.0\.up_proj: ranks \[5\] were not trained/);
    expect(() => assertSubspace(trained, sub, 'spaces/sub.json')).toThrow(/spaces\/sub\.json[\s\S]*not a sub-space/);
    const rescaled = resolve({ ...base, name: 'rescaled', alpha: 32 });
    expect(subspaceProblems(trained, rescaled).join('\n')).toMatch(/LoRA scale at rank 8 differs/);
  });

  it('property: dropping rank choices below r_max always gives a sub-space', () => {
    fc.assert(
      fc.property(specArb({ maxLayers: 3 }), fc.infiniteStream(fc.boolean()), ({ spec, numLayers }, keep) => {
        const full = resolveSearchSpace(spec, { numLayers });
        const narrowed: SearchSpaceSpec = { ...spec, name: 'narrowed', groups: spec.groups.map((g) => (isWidthGroup(g) ? g : { ...g, ranks: g.ranks.filter((_, i) => i === 0 || keep.next().value) })) };
        const sub = resolveSearchSpace(narrowed, { numLayers });
        expect(subspaceProblems(full, sub)).toEqual([]);
        expect(sub.cardinality() <= full.cardinality()).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
