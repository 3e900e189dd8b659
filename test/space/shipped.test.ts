import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_SEARCH_SPACES,
  GROUP_KEYS,
  KNOWN_MODULES,
  LORA_SCALINGS,
  SEARCH_SPACE_FORMAT,
  SPEC_KEYS,
  WIDTH_GROUP_KEYS,
  builtinSearchSpacePath,
  isWidthGroup,
  loadAndResolveSearchSpace,
  loadSearchSpace,
} from '../../src/space/index.js';

const DIR = fileURLToPath(new URL('../../search-spaces/', import.meta.url));

/** Expected shape of each shipped space (from the papers / the demo model): rank groups [name, modules, ranks], width groups [name, 'width', widths]. */
type Expected = { numLayers: number; alpha: number; groups: readonly (readonly [string, readonly string[], readonly number[]] | readonly [string, 'width', readonly number[]])[] };
const EXPECTED: Record<(typeof BUILTIN_SEARCH_SPACES)[number], Expected> = {
  'shears-llama': { numLayers: 32, alpha: 64, groups: [['qkv', ['q_proj', 'k_proj', 'v_proj'], [32, 24, 16]], ['up', ['up_proj'], [32, 24, 16]], ['down', ['down_proj'], [32, 24, 16]]] },
  'sqft-qkv': { numLayers: 32, alpha: 64, groups: [['qkv', ['q_proj', 'k_proj', 'v_proj'], [32, 24, 16]]] },
  'lonas-llama': {
    numLayers: 32,
    alpha: 64,
    groups: [['qkv', ['q_proj', 'k_proj', 'v_proj'], [32, 28]], ['gate_up', ['gate_proj', 'up_proj'], [32, 28]], ['mlp', 'width', [11008, 9632, 8256, 6880, 5504]]],
  },
  demo: { numLayers: 4, alpha: 32, groups: [['qkv', ['q_proj', 'k_proj', 'v_proj'], [16, 12, 8, 4]], ['up', ['up_proj'], [16, 12, 8, 4]], ['down', ['down_proj'], [16, 12, 8, 4]]] },
  'demo-widths': {
    numLayers: 4,
    alpha: 32,
    groups: [['qkv', ['q_proj', 'k_proj', 'v_proj'], [16, 12, 8, 4]], ['up', ['up_proj'], [16, 12, 8, 4]], ['down', ['down_proj'], [16, 12, 8, 4]], ['mlp', 'width', [704, 616, 528, 440, 352]]],
  },
};

describe('shipped search spaces', () => {
  it('the built-in list matches the files in search-spaces/', async () => {
    const files = (await readdir(DIR)).filter((f) => f.endsWith('.json') && f !== 'schema.json').map((f) => f.replace(/\.json$/, ''));
    expect([...files].sort()).toEqual([...BUILTIN_SEARCH_SPACES].sort());
    expect(() => builtinSearchSpacePath('nope')).toThrow(/unknown built-in search space "nope"; fix: use one of shears-llama/);
  });

  for (const name of BUILTIN_SEARCH_SPACES) {
    it(`${name} validates, resolves and has the published shape`, async () => {
      const expected = EXPECTED[name];
      const file = builtinSearchSpacePath(name);
      const spec = await loadSearchSpace(file);
      expect(spec.$schema).toBe('./schema.json');
      expect(spec.format).toBe(SEARCH_SPACE_FORMAT);
      expect(spec.name).toBe(name);
      expect(spec.alpha).toBe(expected.alpha);
      expect(spec.scaling ?? 'alpha/r_max').toBe('alpha/r_max');
      expect(spec.groups.map((g) => (isWidthGroup(g) ? [g.name, 'width', g.widths] : [g.name, g.modules, g.ranks]))).toEqual(expected.groups);

      const space = await loadAndResolveSearchSpace(file, { numLayers: expected.numLayers });
      expect(space.size).toBe(expected.numLayers * expected.groups.length);
      const perLayer = expected.groups.reduce((p, g) => p * BigInt(g[2].length), 1n);
      expect(space.cardinality()).toBe(perLayer ** BigInt(expected.numLayers));
      const modulesPerLayer = expected.groups.reduce((n, g) => n + (g[1] === 'width' ? 0 : g[1].length), 0);
      expect(space.adapterPlan()).toHaveLength(expected.numLayers * modulesPerLayer);
      for (const e of space.adapterPlan()) {
        expect(e.alpha).toBe(expected.alpha);
        expect(e.scaling).toBe('alpha/r_max');
        expect(e.rMax).toBe(e.ranks[0]);
      }
      // A LLaMA space fits any deeper model, and the demo model's layers.
      await expect(loadAndResolveSearchSpace(file, { numLayers: 1 })).resolves.toBeDefined();
    });
  }

  it('demo-widths fits the demo model (intermediate size 704) and lonas-llama fits LLaMA-7B (11008), not the demo model', async () => {
    const demo = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo-widths'), { numLayers: 4, intermediateSizes: [704, 704, 704, 704] });
    expect(demo.widthPlan().map((w) => w.layer)).toEqual([0, 1, 2, 3]);
    expect(demo.key(demo.medianConfig())).toBe('1112.1112.1112.1112');
    expect([...demo.activeWidths(demo.medianConfig()).values()]).toEqual([528, 528, 528, 528]);
    await expect(loadAndResolveSearchSpace(builtinSearchSpacePath('lonas-llama'), { numLayers: 32, intermediateSizes: new Array(32).fill(11008) })).resolves.toBeDefined();
    await expect(loadAndResolveSearchSpace(builtinSearchSpacePath('lonas-llama'), { numLayers: 4, intermediateSizes: [704, 704, 704, 704] })).rejects.toThrow(
      /groups\[2\]\.widths\[0\] \(line \d+, column \d+\): width 11008 exceeds the model's intermediate size 704 \(layers 0, 1, 2, 3\)/,
    );
  });

  it('the demo space: 4 layers x 3 groups, 4^12 configurations, readable keys', async () => {
    const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: 4 });
    expect(space.cardinality()).toBe(16_777_216n);
    expect(space.key(space.maxConfig())).toBe('000.000.000.000');
    expect(space.key(space.medianConfig())).toBe('111.111.111.111');
    expect(space.key(space.minConfig())).toBe('333.333.333.333');
    expect(space.decode(space.medianConfig())).toEqual(new Array(12).fill(12));
    expect(space.activeRanks(space.maxConfig()).get('layers.3.q_proj')).toBe(16);
  });

  it('the Shears heuristic (median) sub-adapter has rank 24 everywhere', async () => {
    const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('shears-llama'), { numLayers: 32 });
    expect(new Set(space.decode(space.medianConfig()))).toEqual(new Set([24]));
    expect(space.cardinality()).toBe(3n ** 96n);
    expect(() => space.enumerate()).toThrow(/has 6362685441135942358474828762538534230890216321 configurations, more than the enumeration limit 1000000/);
  });
});

describe('search-spaces/schema.json', () => {
  it('is draft 2020-12 and agrees with the validator on keys, modules, scalings and format', async () => {
    const schema = JSON.parse(await readFile(`${DIR}/schema.json`, 'utf8')) as {
      $schema: string;
      required: string[];
      properties: Record<string, { const?: string; enum?: string[] }>;
      additionalProperties: boolean;
      $defs: {
        module: { enum: string[] };
        group: { oneOf: { $ref: string }[] };
        rankGroup: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
        widthGroup: { properties: Record<string, { const?: string }>; required: string[]; additionalProperties: boolean };
      };
    };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties).sort()).toEqual([...SPEC_KEYS].sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required.sort()).toEqual(['alpha', 'format', 'groups', 'name']);
    expect(schema.properties.format?.const).toBe(SEARCH_SPACE_FORMAT);
    expect(schema.properties.scaling?.enum).toEqual([...LORA_SCALINGS]);
    expect(schema.$defs.module.enum).toEqual([...KNOWN_MODULES]);
    expect(schema.$defs.group.oneOf.map((r) => r.$ref)).toEqual(['#/$defs/rankGroup', '#/$defs/widthGroup']);
    expect(Object.keys(schema.$defs.rankGroup.properties).sort()).toEqual([...GROUP_KEYS].sort());
    expect(schema.$defs.rankGroup.required.sort()).toEqual(['modules', 'name', 'ranks']);
    expect(schema.$defs.rankGroup.additionalProperties).toBe(false);
    expect(Object.keys(schema.$defs.widthGroup.properties).sort()).toEqual([...WIDTH_GROUP_KEYS].sort());
    expect(schema.$defs.widthGroup.required.sort()).toEqual(['kind', 'name', 'widths']);
    expect(schema.$defs.widthGroup.properties.kind?.const).toBe('width');
    expect(schema.$defs.widthGroup.additionalProperties).toBe(false);
  });
});

describe('src/space stays pure', () => {
  it('imports no tfjs and nothing outside errors, util/rng, util/suggest and node built-ins', async () => {
    const dir = fileURLToPath(new URL('../../src/space/', import.meta.url));
    for (const f of await readdir(dir)) {
      const text = await readFile(`${dir}/${f}`, 'utf8');
      const imports = [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      for (const i of imports) {
        expect(i.startsWith('./') || i.startsWith('node:') || i === '../errors.js' || i === '../util/rng.js' || i === '../util/suggest.js', `${f} imports ${i}`).toBe(true);
      }
      expect(text).not.toContain('@tensorflow');
    }
  });
});
