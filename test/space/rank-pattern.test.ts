/**
 * `SearchSpace.rankPattern`: the ranks (and widths) of a configuration in the compact form printed
 * next to its key (issue 18, item 19: the max subnet printed only as `000.000.000.000`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinSearchSpacePath, loadAndResolveSearchSpace, resolveSearchSpace, type Config, type SearchSpace } from '../../src/space/index.js';
import { nlsInProcess } from '../helpers/cli.js';
import { specArb } from './arbitraries.js';

const spaceAndConfig = (spaces: fc.Arbitrary<SearchSpace>) =>
  spaces.chain((space) => fc.tuple(fc.constant(space), fc.tuple(...space.choiceCounts.map((n) => fc.integer({ min: 0, max: n - 1 })))));
const rankSpaces = specArb().map(({ spec, numLayers }) => resolveSearchSpace(spec, { numLayers }));

/** The pattern with its `×n` runs written out: one segment per layer with genes. */
function expand(pattern: string): string[] {
  return pattern.split(' ').flatMap((s) => {
    const m = /^(.+)×(\d+)$/.exec(s);
    return m ? Array.from({ length: Number(m[2]) }, () => m[1]!) : [s];
  });
}

/** Naive reference: per layer, that layer's genes in gene order, `w` before widths. */
function naiveSegments(space: SearchSpace, config: Config): string[] {
  return space.layers.map((layer) =>
    space.instances
      .filter((g) => g.layer === layer)
      .map((g) => `${g.kind === 'width' ? 'w' : ''}${g.choices[config[g.index]!]}`)
      .join('/'),
  );
}

function checkPattern(space: SearchSpace, config: Config): void {
  const pattern = space.rankPattern(config);
  expect(expand(pattern)).toEqual(naiveSegments(space, config));
  // One segment per key segment; the key gives the same pattern.
  expect(expand(pattern)).toHaveLength(space.key(config).split('.').length);
  expect(space.rankPattern(space.key(config))).toBe(pattern);
  // Runs are maximal: no two neighbouring written segments are equal.
  const written = pattern.split(' ').map((s) => s.replace(/×\d+$/, ''));
  for (let i = 1; i < written.length; i++) expect(written[i]).not.toBe(written[i - 1]);
  // The legend has the same layout.
  expect(expand(space.rankPatternLegend()).map((s) => s.split('/').length)).toEqual(expand(pattern).map((s) => s.split('/').length));
}

describe('SearchSpace.rankPattern', () => {
  it('lists every gene value per layer, in key order, with runs collapsed (property over random spaces)', () => {
    fc.assert(fc.property(spaceAndConfig(rankSpaces), ([space, config]) => checkPattern(space, config)));
  });

  it('is injective: two configurations have the same pattern exactly when they have the same key (property)', () => {
    fc.assert(
      fc.property(
        rankSpaces.chain((space) => {
          const config = fc.tuple(...space.choiceCounts.map((n) => fc.integer({ min: 0, max: n - 1 })));
          return fc.tuple(fc.constant(space), config, config);
        }),
        ([space, a, b]) => {
          expect(space.rankPattern(a) === space.rankPattern(b)).toBe(space.key(a) === space.key(b));
        },
      ),
    );
  });

  it('the demo spaces: ranks per layer, widths marked w (property over their configurations)', async () => {
    const demo = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: 4 });
    expect(demo.rankPattern('000.000.000.000')).toBe('16/16/16×4');
    expect(demo.rankPattern(demo.medianConfig())).toBe('12/12/12×4');
    expect(demo.rankPattern('012.333.333.000')).toBe('16/12/8 4/4/4×2 16/16/16');
    expect(demo.rankPatternLegend()).toBe('qkv/up/down×4');
    const widths = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo-widths'), { numLayers: 4, intermediateSizes: [704, 704, 704, 704] });
    expect(widths.rankPattern(widths.maxConfig())).toBe('16/16/16/w704×4');
    expect(widths.rankPatternLegend()).toBe('qkv/up/down/mlp×4');
    for (const space of [demo, widths]) fc.assert(fc.property(spaceAndConfig(fc.constant(space)), ([s, config]) => checkPattern(s, config)));
    expect(() => demo.rankPattern('000.000')).toThrow(/invalid configuration key/);
  });
});

describe('rank patterns in CLI output', () => {
  it('nls space prints each heuristic subnet\'s ranks next to its key, and --json adds them', async () => {
    const { stdout, code } = await nlsInProcess('space', 'demo', '--layers', '4', '--quiet');
    expect(code).toBe(0);
    expect(stdout).toMatch(/subnet\s+key\s+ranks \(qkv\/up\/down×4\)/);
    expect(stdout).toMatch(/max\s+000\.000\.000\.000\s+16\/16\/16×4/);
    expect(stdout).toMatch(/median\s+111\.111\.111\.111\s+12\/12\/12×4/);
    expect(stdout).toMatch(/min\s+333\.333\.333\.333\s+4\/4\/4×4/);
    const json = await nlsInProcess('space', 'demo', '--layers', '4', '--quiet', '--json');
    const summary = JSON.parse(json.stdout) as { heuristics: Record<string, string>; rankPatterns: Record<string, string> };
    expect(summary.heuristics.max).toBe('000.000.000.000');
    expect(summary.rankPatterns).toEqual({ max: '16/16/16×4', median: '12/12/12×4', min: '4/4/4×4' });
  });
});
