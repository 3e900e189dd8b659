/** fast-check arbitraries for search spaces (shared by the property tests). */
import fc from 'fast-check';
import { KNOWN_MODULES, type GroupSpec, type KnownModule, type SearchSpaceSpec } from '../../src/space/index.js';

/** Strictly descending rank choices of length 1..maxLen, optionally ending in 0. */
export function ranksArb(maxLen = 4): fc.Arbitrary<number[]> {
  return fc
    .tuple(fc.uniqueArray(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: maxLen }), fc.boolean())
    .map(([rs, off]) => {
      const sorted = [...rs].sort((a, b) => b - a);
      return off && sorted.length < maxLen ? [...sorted, 0] : sorted;
    });
}

/** A valid spec and the number of layers to resolve it with. */
export function specArb(options: { maxLayers?: number; maxGroups?: number; maxChoices?: number } = {}): fc.Arbitrary<{ spec: SearchSpaceSpec; numLayers: number }> {
  const { maxLayers = 3, maxGroups = 3, maxChoices = 4 } = options;
  return fc.integer({ min: 1, max: maxLayers }).chain((numLayers) =>
    fc
      .tuple(
        // Disjoint module sets: shuffle the modules and cut them into groups.
        fc.shuffledSubarray([...KNOWN_MODULES], { minLength: 1, maxLength: KNOWN_MODULES.length }),
        fc.integer({ min: 1, max: maxGroups }),
        fc.array(
          fc.record({
            ranks: ranksArb(maxChoices),
            layers: fc.option(fc.uniqueArray(fc.integer({ min: 0, max: numLayers - 1 }), { minLength: 1, maxLength: numLayers }), { nil: undefined }),
            alpha: fc.option(fc.integer({ min: 1, max: 128 }), { nil: undefined }),
          }),
          { minLength: maxGroups, maxLength: maxGroups },
        ),
        fc.constantFrom<'alpha/r_max' | 'alpha/r'>('alpha/r_max', 'alpha/r'),
      )
      .map(([modules, wanted, extras, scaling]) => {
        const n = Math.min(wanted, modules.length);
        const groups: GroupSpec[] = [];
        for (let g = 0; g < n; g++) {
          const mods = modules.filter((_, i) => i % n === g) as KnownModule[];
          const extra = extras[g]!;
          groups.push({
            name: `g${g}`,
            modules: mods,
            ranks: extra.ranks,
            ...(extra.layers ? { layers: extra.layers } : {}),
            ...(extra.alpha !== undefined ? { alpha: extra.alpha } : {}),
          });
        }
        const spec: SearchSpaceSpec = { format: 'nls-search-space/1', name: 'random', alpha: 16, scaling, groups };
        return { spec, numLayers };
      }),
  );
}
