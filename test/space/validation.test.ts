import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import {
  SearchSpaceError,
  loadAndResolveSearchSpace,
  loadSearchSpace,
  parseSearchSpace,
  resolveSearchSpace,
  validateSearchSpaceSpec,
  type SearchSpaceSpec,
} from '../../src/space/index.js';

const FILE = 'spaces/bad.json';

/** A valid spec to break one field at a time. */
function base(): Record<string, unknown> {
  return {
    format: 'nls-search-space/1',
    name: 'test',
    alpha: 64,
    groups: [
      { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [32, 24, 16] },
      { name: 'up', modules: ['up_proj'], ranks: [32, 24, 16] },
      { name: 'down', modules: ['down_proj'], ranks: [32, 24, 16] },
    ],
  };
}

function groups(spec: Record<string, unknown>): Record<string, unknown>[] {
  return spec.groups as Record<string, unknown>[];
}

/** The error `resolveSearchSpace` throws for `spec` (structure and layer ranges in one pass). */
function errorFor(spec: unknown, numLayers = 32): SearchSpaceError {
  try {
    resolveSearchSpace(spec as SearchSpaceSpec, { numLayers, file: FILE });
  } catch (err) {
    expect(err).toBeInstanceOf(SearchSpaceError);
    expect(err).toBeInstanceOf(NlsError);
    return err as SearchSpaceError;
  }
  throw new Error('expected a SearchSpaceError');
}

/** Assert the message names the file, the JSON path and the fix. */
function expectProblem(err: SearchSpaceError, jsonPath: string, ...fragments: string[]): void {
  expect(err.message).toContain(FILE);
  expect(err.file).toBe(FILE);
  const line = err.message.split('\n').find((l) => l.includes(`${jsonPath} (line`) || l.includes(`${jsonPath}:`));
  expect(line, `no line for ${jsonPath} in:\n${err.message}`).toBeDefined();
  expect(line).toContain('Fix:');
  for (const f of fragments) expect(line).toContain(f);
  expect(err.problems.some((p) => p.path === jsonPath)).toBe(true);
}

describe('search-space validation errors', () => {
  it('accepts the base spec', () => {
    const spec = parseSearchSpace(JSON.stringify(base()), FILE);
    expect(resolveSearchSpace(spec, { numLayers: 32 }).size).toBe(96);
  });

  it('unknown module, with a suggestion and the list of modules', () => {
    const spec = base();
    groups(spec)[0]!.modules = ['q_proj', 'kproj', 'v_proj'];
    const err = errorFor(spec);
    expectProblem(err, 'groups[0].modules[1]', 'unknown module "kproj"', 'did you mean "k_proj"', '"gate_proj"');
  });

  it('empty rank choices', () => {
    const spec = base();
    groups(spec)[1]!.ranks = [];
    expectProblem(errorFor(spec), 'groups[1].ranks', 'empty', 'largest first');
  });

  it('non-descending rank choices, with the sorted list as fix', () => {
    const spec = base();
    groups(spec)[2]!.ranks = [16, 24, 32];
    expectProblem(errorFor(spec), 'groups[2].ranks', 'strictly descending', 'write them as [32, 24, 16]');
  });

  it('repeated rank choice', () => {
    const spec = base();
    groups(spec)[2]!.ranks = [32, 16, 16];
    expectProblem(errorFor(spec), 'groups[2].ranks', 'no repeats', 'write them as [32, 16]');
  });

  it('non-integer, negative and non-number rank choices', () => {
    const spec = base();
    groups(spec)[0]!.ranks = [32, 24.5, 16];
    groups(spec)[1]!.ranks = [32, -8];
    groups(spec)[2]!.ranks = [32, '16'];
    const err = errorFor(spec);
    expectProblem(err, 'groups[0].ranks[1]', 'must be an integer', 'whole numbers');
    expectProblem(err, 'groups[1].ranks[1]', 'negative');
    expectProblem(err, 'groups[2].ranks[1]', 'the string "16"');
  });

  it('rank 0 (adapter off) is allowed only as the last choice', () => {
    const ok = base();
    groups(ok)[0]!.ranks = [32, 16, 0];
    const space = resolveSearchSpace(parseSearchSpace(JSON.stringify(ok), FILE), { numLayers: 2 });
    expect(space.decode(space.minConfig())[0]).toBe(0);

    const spec = base();
    groups(spec)[0]!.ranks = [32, 0, 16];
    groups(spec)[1]!.ranks = [0];
    const err = errorFor(spec);
    expectProblem(err, 'groups[0].ranks[1]', 'only allowed as the last choice', 'move 0 to the end');
    expectProblem(err, 'groups[1].ranks[0]', 'r_max', 'largest rank first');
  });

  it('layer out of range for the model, naming the model size', () => {
    const spec = base();
    groups(spec)[2]!.layers = [0, 1, 4];
    const err = errorFor(spec, 4);
    expectProblem(err, 'groups[2].layers[2]', 'layer 4 is out of range', 'the model has 4 layers (0..3)', 'integers in 0..3');
  });

  it('top-level layers out of range, empty, repeated or malformed', () => {
    const spec = { ...base(), layers: [0, 40] };
    expectProblem(errorFor(spec), 'layers[1]', 'out of range', '0..31');
    expectProblem(errorFor({ ...base(), layers: [] }), 'layers', 'empty list');
    expectProblem(errorFor({ ...base(), layers: [1, 1] }), 'layers[1]', 'listed twice');
    expectProblem(errorFor({ ...base(), layers: 'every' }), 'layers', 'must be "all" or a list');
    expectProblem(errorFor({ ...base(), layers: [-1] }), 'layers[0]', 'non-negative integer');
  });

  it('layer ranges are only checked when the model is known', () => {
    const spec = { ...base(), layers: [0, 40] };
    expect(() => validateSearchSpaceSpec(spec, { file: FILE })).not.toThrow();
    const parsed = parseSearchSpace(JSON.stringify(spec), FILE);
    expect(() => resolveSearchSpace(parsed, { numLayers: 41 })).not.toThrow();
    expect(() => resolveSearchSpace(parsed, { numLayers: 40 })).toThrow(/layers\[1\].*out of range/);
  });

  it('module named twice within a group', () => {
    const spec = base();
    groups(spec)[0]!.modules = ['q_proj', 'k_proj', 'q_proj'];
    expectProblem(errorFor(spec), 'groups[0].modules[2]', 'named twice', 'remove the repeated name');
  });

  it('module in two groups on the same layer', () => {
    const spec = base();
    groups(spec)[1]!.modules = ['up_proj', 'q_proj'];
    expectProblem(errorFor(spec), 'groups[1].modules[1]', '"q_proj" is already in group "qkv" (groups[0]) on every layer', 'disjoint "layers"');
  });

  it('module in two groups on overlapping explicit layers names the common layers', () => {
    const spec = base();
    groups(spec).push({ name: 'q-late', modules: ['q_proj'], ranks: [8], layers: [2, 3, 30] });
    groups(spec)[0]!.layers = [0, 1, 2, 3];
    expectProblem(errorFor(spec), 'groups[3].modules[0]', 'on layers 2, 3');
  });

  it('a module may be in two groups on disjoint layers', () => {
    const spec = base();
    groups(spec)[0]!.layers = [0, 1];
    groups(spec).push({ name: 'qkv-late', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [16, 8], layers: [2, 3] });
    const space = resolveSearchSpace(parseSearchSpace(JSON.stringify(spec), FILE), { numLayers: 4 });
    expect(space.activeRanks(space.maxConfig()).get('layers.3.q_proj')).toBe(16);
    expect(space.activeRanks(space.maxConfig()).get('layers.0.q_proj')).toBe(32);
  });

  it('unknown keys (typos) at the top level and in groups, with suggestions', () => {
    const spec = base();
    spec.dropuot = 0.1;
    groups(spec)[0]!.rank = [32];
    groups(spec)[1]!.colour = 'red';
    const err = errorFor(spec);
    expectProblem(err, 'dropuot', 'unknown key "dropuot"', 'did you mean "dropout"?');
    expectProblem(err, 'groups[0].rank', 'unknown key "rank"', 'did you mean "ranks"?');
    expectProblem(err, 'groups[1].colour', 'unknown key "colour"', 'remove it', '"modules"');
  });

  it('the $schema key is allowed', () => {
    expect(() => parseSearchSpace(JSON.stringify({ $schema: './schema.json', ...base() }), FILE)).not.toThrow();
  });

  it('wrong format string and unsupported versions', () => {
    expectProblem(errorFor({ ...base(), format: 'nls-search-space/2' }), 'format', 'unsupported format version "nls-search-space/2"', 'nls-search-space/1');
    expectProblem(errorFor({ ...base(), format: 'shears' }), 'format', 'format must be "nls-search-space/1"', 'set "format": "nls-search-space/1"');
  });

  it('missing required fields', () => {
    const spec = base();
    delete spec.format;
    delete spec.alpha;
    delete groups(spec)[1]!.ranks;
    delete groups(spec)[2]!.modules;
    const err = errorFor(spec);
    expectProblem(err, 'format', 'missing required field "format"', 'add "format": "nls-search-space/1"');
    expectProblem(err, 'alpha', 'missing required field "alpha"', 'add "alpha": 64');
    expectProblem(err, 'groups[1].ranks', 'missing required field "ranks"', 'add "ranks": [32, 24, 16]');
    expectProblem(err, 'groups[2].modules', 'missing required field "modules"');
    expect(errorFor({ format: 'nls-search-space/1', name: 'x', alpha: 1 }).problems.map((p) => p.path)).toEqual(['groups']);
  });

  it('bad values of scalar fields', () => {
    const err = errorFor({ ...base(), alpha: -1, dropout: 1, scaling: 'alpha/rmax', name: 'has space', description: 3 });
    expectProblem(err, 'alpha', 'positive number');
    expectProblem(err, 'dropout', '[0, 1)');
    expectProblem(err, 'scaling', '"alpha/r_max", "alpha/r"');
    expectProblem(err, 'name', 'letters, digits');
    expectProblem(err, 'description', 'must be a string');
  });

  it('empty groups, empty modules, duplicate group names, non-object groups', () => {
    expectProblem(errorFor({ ...base(), groups: [] }), 'groups', 'nothing to search');
    const spec = base();
    groups(spec)[1]!.modules = [];
    groups(spec)[2]!.name = 'qkv';
    (spec.groups as unknown[]).push(7);
    const err = errorFor(spec);
    expectProblem(err, 'groups[1].modules', 'at least one target module');
    expectProblem(err, 'groups[2].name', 'already used by groups[0]', 'different name');
    expectProblem(err, 'groups[3]', 'must be an object');
  });

  it('the document must be an object', () => {
    expectProblem(errorFor([1, 2]), '(root)', 'must be a JSON object');
  });

  it('collects every problem into one message with one line per problem', () => {
    const spec = base();
    spec.format = 'v1';
    groups(spec)[0]!.modules = ['q_prj'];
    groups(spec)[1]!.ranks = [8, 16];
    groups(spec)[2]!.layers = [99];
    const err = errorFor(spec);
    expect(err.problems.map((p) => p.path)).toEqual(['format', 'groups[0].modules[0]', 'groups[1].ranks', 'groups[2].layers[0]']);
    expect(err.message).toMatch(/^spaces\/bad\.json: invalid search space \(4 problems\):\n/);
    expect(err.message.split('\n')).toHaveLength(5);
  });

  it('problems carry the line and column of the offending value', () => {
    const text = [
      '{',
      '  "format": "nls-search-space/1",',
      '  "name": "t",',
      '  "alpha": 8,',
      '  "groups": [',
      '    { "name": "a", "modules": ["q_proj"], "ranks": [4, 8] }',
      '  ]',
      '}',
    ].join('\n');
    let err: unknown;
    try {
      parseSearchSpace(text, FILE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SearchSpaceError);
    expect((err as SearchSpaceError).problems[0]?.position).toEqual({ line: 6, column: 52 });
    expect((err as Error).message).toContain('groups[0].ranks (line 6, column 52)');
  });

  it('JSON syntax errors name file, line and column', () => {
    const text = '{\n  "format": "nls-search-space/1",\n  "name": "t"\n  "alpha": 8\n}';
    expect(() => parseSearchSpace(text, FILE)).toThrow(NlsError);
    expect(() => parseSearchSpace(text, FILE)).toThrow(/spaces\/bad\.json: invalid JSON at line 4, column 3: expected ',' or '\}'.*Fix:/);
    expect(() => parseSearchSpace('{"a": [1, 2,]}', FILE)).toThrow(/line 1, column 13: trailing comma/);
    expect(() => parseSearchSpace('', FILE)).toThrow(/line 1, column 1: expected a JSON value, got end of file/);
  });

  it('duplicate keys are reported with both positions', () => {
    const text = '{\n  "format": "nls-search-space/1",\n  "name": "t",\n  "alpha": 8,\n  "alpha": 16,\n  "groups": [{ "name": "a", "modules": ["q_proj"], "ranks": [4] }]\n}';
    let err: unknown;
    try {
      parseSearchSpace(text, FILE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SearchSpaceError);
    expect((err as Error).message).toContain('alpha (line 5, column 3): key is given twice (first at line 4, column 3). Fix: keep only one of them');
  });

  it('numLayers must be a positive integer', () => {
    const spec = validateSearchSpaceSpec(base());
    expect(() => resolveSearchSpace(spec, { numLayers: 0 })).toThrow(/numLayers must be a positive integer/);
    expect(() => resolveSearchSpace(spec, { numLayers: 2.5 })).toThrow(NlsError);
  });

  it('in-memory specs are validated by resolveSearchSpace too', () => {
    const spec = { ...base(), alpha: 'big' } as unknown as SearchSpaceSpec;
    expect(() => resolveSearchSpace(spec, { numLayers: 2, file: 'inline' })).toThrow(/^inline: invalid search space: alpha: alpha must be a positive number/);
  });
});

describe('loading search-space files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nls-space-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolve errors of a loaded spec name the file and the line', async () => {
    const file = path.join(dir, 'layers.json');
    const spec = base();
    groups(spec)[1]!.layers = [0, 7];
    await writeFile(file, JSON.stringify(spec, null, 2));
    const loaded = await loadSearchSpace(file);
    expect(() => resolveSearchSpace(loaded, { numLayers: 4 })).toThrow(`${file}: invalid search space: groups[1].layers[1] (line 31, column 9): layer 7 is out of range`);
    await expect(loadAndResolveSearchSpace(file, { numLayers: 4 })).rejects.toThrow(/groups\[1\]\.layers\[1\] \(line 31, column 9\)/);
    expect((await loadAndResolveSearchSpace(file, { numLayers: 8 })).size).toBe(8 + 2 + 8);
  });

  it('missing files give an NlsError naming the file and the shipped spaces', async () => {
    const file = path.join(dir, 'nope.json');
    await expect(loadSearchSpace(file)).rejects.toThrow(NlsError);
    await expect(loadSearchSpace(file)).rejects.toThrow(/nope\.json: cannot read search-space file \(ENOENT\); fix: check the path, or use a shipped space: shears-llama/);
  });

  it('loadAndResolveSearchSpace reports structural and layer problems together', async () => {
    const file = path.join(dir, 'both.json');
    const spec = base();
    groups(spec)[0]!.ranks = [8, 16];
    groups(spec)[1]!.layers = [9];
    await writeFile(file, JSON.stringify(spec, null, 2));
    const err = await loadAndResolveSearchSpace(file, { numLayers: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SearchSpaceError);
    expect((err as SearchSpaceError).problems.map((p) => p.path)).toEqual(['groups[0].ranks', 'groups[1].layers[0]']);
    expect((err as Error).message).toContain(file);
  });

  it('syntax errors in files name the file', async () => {
    const file = path.join(dir, 'syntax.json');
    await writeFile(file, '{ "format": "nls-search-space/1", }');
    await expect(loadSearchSpace(file)).rejects.toThrow(`${file}: invalid JSON at line 1, column 35: trailing comma`);
  });
});
