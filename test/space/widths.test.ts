/** Width groups (elastic MLP widths, LoNAS mode B): format, validation, genes, keys, heuristics, properties. */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertSubspace,
  builtinSearchSpacePath,
  loadAndResolveSearchSpace,
  parseSearchSpace,
  resolveSearchSpace,
  SearchSpaceError,
  type SearchSpaceSpec,
  subspaceProblems,
} from '../../src/space/index.js';
import { createRng } from '../../src/util/rng.js';
import { specArb } from './arbitraries.js';

const SPEC: SearchSpaceSpec = {
  format: 'nls-search-space/1',
  name: 'w',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8, 4] },
    { name: 'mlp', kind: 'width', widths: [64, 48, 32] },
    { name: 'up', modules: ['up_proj', 'down_proj'], ranks: [8, 4, 0] },
  ],
};

function problemsOf(text: string): string[] {
  try {
    parseSearchSpace(text, 'x.json');
  } catch (err) {
    if (err instanceof SearchSpaceError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const withGroups = (groups: unknown[]) => JSON.stringify({ format: 'nls-search-space/1', name: 'x', alpha: 8, groups });

describe('width groups: validation', () => {
  it('accepts a width group next to rank groups, alone, and on a layer subset', () => {
    expect(problemsOf(JSON.stringify(SPEC))).toEqual([]);
    expect(problemsOf(withGroups([{ name: 'mlp', kind: 'width', widths: [10] }]))).toEqual([]);
    expect(problemsOf(withGroups([{ name: 'mlp', kind: 'width', widths: [10, 5], layers: [1] }]))).toEqual([]);
  });

  it('checks widths as rank groups check ranks: list, integers, positive, strictly descending, non-empty', () => {
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: 8 }]))).toEqual(['groups[0].widths: widths must be a list of MLP width choices, got the number 8']);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: [] }]))).toEqual(['groups[0].widths: widths is empty: a width group needs at least one width choice']);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: [8, 4.5] }]))).toEqual(['groups[0].widths[1]: width choice must be an integer, got the number 4.5']);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: [8, 0] }]))).toEqual(['groups[0].widths[1]: width choice must be positive, got 0']);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: [4, 8, 8] }]))).toEqual([
      'groups[0].widths: width choices must be strictly descending (largest first, no repeats), got [4, 8, 8]',
    ]);
  });

  it('refuses unknown kinds, rank-group keys in a width group, a missing widths field and overlapping width groups', () => {
    expect(problemsOf(withGroups([{ name: 'm', kind: 'depth', widths: [8] }]))).toEqual(['groups[0].kind: kind must be one of "rank", "width", got the string "depth"']);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width', widths: [8], modules: ['up_proj'], ranks: [4] }]))[0]).toMatch(/^groups\[0\]\.modules: unknown key "modules" in width group 0/);
    expect(problemsOf(withGroups([{ name: 'm', kind: 'width' }]))).toEqual(['groups[0].widths: missing required field "widths" in group 0']);
    expect(problemsOf(withGroups([{ name: 'a', kind: 'width', widths: [8] }, { name: 'b', kind: 'width', widths: [6], layers: [0, 2] }]))).toEqual([
      'groups[1].layers: width group "b" overlaps width group "a" (groups[0]) on layers 0, 2',
    ]);
    expect(problemsOf(withGroups([{ name: 'a', kind: 'width', widths: [8], layers: [1] }, { name: 'b', kind: 'width', widths: [6], layers: [0, 2] }]))).toEqual([]);
    // A rank group may say kind "rank" explicitly.
    expect(problemsOf(withGroups([{ name: 'r', kind: 'rank', modules: ['q_proj'], ranks: [4] }]))).toEqual([]);
  });

  it('checks widths against the model when its intermediate sizes are known', () => {
    expect(() => resolveSearchSpace(SPEC, { numLayers: 2, intermediateSizes: [64, 48] })).toThrow(/groups\[1\]\.widths\[0\]: width 64 exceeds the model's intermediate size 48 \(layer 1\)/);
    expect(() => resolveSearchSpace(SPEC, { numLayers: 2, intermediateSizes: [64, 64] })).not.toThrow();
    // Only the layers the group covers count.
    const one: SearchSpaceSpec = { ...SPEC, groups: [{ name: 'mlp', kind: 'width', widths: [64, 32], layers: [0] }] };
    expect(() => resolveSearchSpace(one, { numLayers: 2, intermediateSizes: [64, 48] })).not.toThrow();
  });
});

describe('width genes', () => {
  const space = resolveSearchSpace(SPEC, { numLayers: 2 });

  it('are expanded per layer in the canonical layer-major order, with their own kind and choices', () => {
    expect(space.size).toBe(6);
    expect(space.instances.map((g) => `${g.layer}/${g.group}/${g.kind}`)).toEqual(['0/qkv/rank', '0/mlp/width', '0/up/rank', '1/qkv/rank', '1/mlp/width', '1/up/rank']);
    expect(space.instances[1]!.choices).toEqual([64, 48, 32]);
    expect(space.instances[1]!.ranks).toEqual([]);
    expect(space.instances[1]!.modules).toEqual(['gate_proj', 'up_proj', 'down_proj']);
    expect(space.widthGenes).toEqual([1, 4]);
    expect(space.hasWidths).toBe(true);
    expect(space.cardinality()).toBe(BigInt((2 * 3 * 3) ** 2));
  });

  it('sit in the same configuration vector and key as rank genes; heuristics apply the same rule', () => {
    expect(space.key(space.maxConfig())).toBe('000.000');
    expect(space.key(space.medianConfig())).toBe('011.011');
    expect(space.key(space.minConfig())).toBe('122.122');
    expect(space.decode(space.medianConfig())).toEqual([8, 48, 4, 8, 48, 4]);
    expect([...space.activeWidths(space.minConfig())]).toEqual([
      [0, 32],
      [1, 32],
    ]);
    expect(space.describe(space.medianConfig())).toBe('layers.0: qkv=8 mlp=w48 up=4\nlayers.1: qkv=8 mlp=w48 up=4');
  });

  it('adapt no module: activeRanks and adapterPlan cover the rank genes only', () => {
    const ranks = space.activeRanks(space.maxConfig());
    expect([...ranks.keys()]).toEqual(['layers.0.q_proj', 'layers.0.k_proj', 'layers.0.v_proj', 'layers.0.up_proj', 'layers.0.down_proj', 'layers.1.q_proj', 'layers.1.k_proj', 'layers.1.v_proj', 'layers.1.up_proj', 'layers.1.down_proj']);
    expect(space.adapterPlan().map((e) => e.gene)).toEqual([0, 0, 0, 2, 2, 3, 3, 3, 5, 5]);
    expect(space.widthPlan()).toEqual([
      { layer: 0, gene: 1, group: 'mlp', widths: [64, 48, 32] },
      { layer: 1, gene: 4, group: 'mlp', widths: [64, 48, 32] },
    ]);
  });

  it('fromActiveRanks needs the widths of a width space and inverts activeRanks + activeWidths', () => {
    const c = [1, 2, 0, 0, 1, 2];
    expect(space.fromActiveRanks(space.activeRanks(c), space.activeWidths(c))).toEqual(c);
    expect(() => space.fromActiveRanks(space.activeRanks(c))).toThrow(/no MLP width for layer 0; fix: give the width of every layer with a width gene/);
    expect(() => space.fromActiveRanks(space.activeRanks(c), new Map([[0, 48], [1, 50]]))).toThrow(/width 50 is not a choice of layers.1\/mlp/);
    expect(() => space.fromActiveRanks(space.activeRanks(c), new Map([[0, 48], [1, 48], [2, 48]]))).toThrow(/layer 2 has no width gene/);
    expect(space.encode([8, 32, 0, 4, 64, 8])).toEqual([0, 2, 2, 1, 0, 0]);
    expect(() => space.encode([8, 30, 0, 4, 64, 8])).toThrow(/width 30 is not a choice; fix: use one of \[64, 48, 32\]/);
  });

  it('keeps the fingerprint of rank-only spaces as it was before width genes existed', async () => {
    const demo = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: 4 });
    const structure = demo.instances.map((g) => [g.layer, g.group, g.modules, g.ranks, g.alpha, g.dropout, g.scaling]);
    expect(demo.fingerprint).toBe(createHash('sha256').update(JSON.stringify(structure)).digest('hex').slice(0, 16));
    // Width choices enter the fingerprint of a width space.
    const other = resolveSearchSpace({ ...SPEC, groups: SPEC.groups.map((g) => (g.kind === 'width' ? { ...g, widths: [64, 40] } : g)) }, { numLayers: 2 });
    expect(other.fingerprint).not.toBe(space.fingerprint);
  });

  it('sub-spaces keep the width layers and may only narrow the trained widths', () => {
    const narrowed = resolveSearchSpace({ ...SPEC, groups: SPEC.groups.map((g) => (g.kind === 'width' ? { ...g, widths: [64, 32] } : g)) }, { numLayers: 2 });
    expect(subspaceProblems(space, narrowed)).toEqual([]);
    const untrained = resolveSearchSpace({ ...SPEC, groups: SPEC.groups.map((g) => (g.kind === 'width' ? { ...g, widths: [64, 40] } : g)) }, { numLayers: 2 });
    expect(subspaceProblems(space, untrained)).toEqual(['layer 0: widths [40] were not trained; fix: use widths from [64, 48, 32]', 'layer 1: widths [40] were not trained; fix: use widths from [64, 48, 32]']);
    const noWidths = resolveSearchSpace({ ...SPEC, groups: SPEC.groups.filter((g) => g.kind !== 'width') }, { numLayers: 2 });
    expect(() => assertSubspace(space, noWidths)).toThrow(/layer 0 has an elastic MLP width in the supernet but not in "w"/);
    expect(subspaceProblems(noWidths, space)).toContain('layer 1 has no elastic MLP width in the supernet; fix: remove the width group from "w" on that layer');
  });
});

/** Random rank specs with a width group added on random layers. */
const widthSpaceArb = specArb()
  .chain(({ spec, numLayers }) =>
    fc.tuple(
      fc.constant(spec),
      fc.constant(numLayers),
      fc.uniqueArray(fc.integer({ min: 1, max: 512 }), { minLength: 1, maxLength: 6 }),
      fc.option(fc.uniqueArray(fc.integer({ min: 0, max: numLayers - 1 }), { minLength: 1, maxLength: numLayers }), { nil: undefined }),
      fc.integer({ min: 0, max: spec.groups.length }),
    ),
  )
  .map(([spec, numLayers, widths, layers, at]) => {
    const groups = [...spec.groups];
    groups.splice(at, 0, { name: 'mlp', kind: 'width', widths: [...widths].sort((a, b) => b - a), ...(layers ? { layers } : {}) });
    return resolveSearchSpace({ ...spec, groups }, { numLayers });
  });

describe('width genes: properties', () => {
  it('encoding, keys, sampling, neighbours and mutation stay in the space', () => {
    fc.assert(
      fc.property(widthSpaceArb, fc.integer(), (space, seed) => {
        const rng = createRng(seed);
        expect(space.hasWidths).toBe(true);
        for (let i = 0; i < 8; i++) {
          const c = i % 2 === 0 ? space.sample(rng) : space.sampleSharedLayer(rng);
          expect(space.contains(c)).toBe(true);
          expect(space.parseKey(space.key(c))).toEqual(c);
          expect(space.encode(space.decode(c))).toEqual(c);
          expect(space.fromActiveRanks(space.activeRanks(c), space.activeWidths(c))).toEqual(c);
          for (const n of space.neighbours(c)) {
            expect(space.contains(n)).toBe(true);
            expect(n.filter((v, g) => v !== c[g])).toHaveLength(1);
          }
          // A mutation of one gene to any of its choices (what evolutionary strategies do).
          const g = rng.int(space.size);
          const mutated = [...c];
          mutated[g] = rng.int(space.choiceCounts[g]!);
          expect(space.contains(mutated)).toBe(true);
          for (const [layer, w] of space.activeWidths(c)) expect(space.instances[space.widthGenes.find((x) => space.instances[x]!.layer === layer)!]!.choices).toContain(w);
        }
        const median = space.medianConfig();
        for (const i of space.widthGenes) expect(median[i]).toBe(Math.floor((space.choiceCounts[i]! - 1) / 2));
      }),
    );
  });
});
