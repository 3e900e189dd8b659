import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSubnet, subnetSelectionFromOptions } from '../../src/export/subnet.js';
import { resolveSearchSpace, type SearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';

const SPEC = {
  format: 'nls-search-space/1',
  name: 'subnet-test',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2, 0] },
    { name: 'o', modules: ['o_proj'], ranks: [4, 3] },
    { name: 'mlp', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [6, 5, 2] },
  ],
};
const SUB_SPEC = {
  format: 'nls-search-space/1',
  name: 'narrow',
  alpha: 16,
  groups: [
    { name: 'attn', modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], ranks: [4] },
    { name: 'mlp', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [6, 2] },
  ],
};

let root = '';
let space: SearchSpace;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-subnet-'));
  space = resolveSearchSpace(validateSearchSpaceSpec(structuredClone(SPEC)), { numLayers: 2 });
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function writeJson(name: string, value: unknown): Promise<string> {
  const file = path.join(root, name);
  await fsp.writeFile(file, JSON.stringify(value));
  return file;
}

function pareto(fingerprint: string, front: { number: number; config: number[]; values: number[] }[], spaceName = 'subnet-test'): unknown {
  return {
    format: 'nls-pareto/1',
    study: { strategy: { name: 'random', version: '1.0.0', options: {} }, seed: 0, space: { name: spaceName, fingerprint, genes: front[0]?.config.length ?? 0, cardinality: '0' } },
    objectives: [
      { name: 'params', direction: 'minimize' },
      { name: 'accuracy', direction: 'maximize' },
    ],
    constraints: [],
    hypervolume: null,
    counts: { trials: 3, evaluations: 3, complete: 3, feasible: 3, failed: 0, filtered: 0, cached: 0 },
    front: front.map((m) => ({ ...m, key: 'x' })),
  };
}

describe('resolveSubnet', () => {
  it('heuristics and keys', async () => {
    expect((await resolveSubnet(space, { kind: 'heuristic', name: 'max' })).config).toEqual(space.maxConfig());
    expect((await resolveSubnet(space, { kind: 'heuristic', name: 'median' })).config).toEqual(space.medianConfig());
    const min = await resolveSubnet(space, { kind: 'heuristic', name: 'min' });
    expect(min.config).toEqual(space.minConfig());
    expect(min.ranks.get('layers.1.q_proj')).toBe(0);
    expect(min.source).toBe('heuristic min');
    const r = await resolveSubnet(space, { kind: 'key', key: '112.001' });
    expect(r.config).toEqual([1, 1, 2, 0, 0, 1]);
    expect(r.key).toBe('112.001');
    expect(r.ranks.get('layers.0.gate_proj')).toBe(2);
    await expect(resolveSubnet(space, { kind: 'key', key: '11.001' })).rejects.toThrow(/--subnet.*segment for layer 0.*keys like 000\.000/);
  });

  it('a pareto.json front member: by trial number, by default the most accurate, across a sub-space', async () => {
    const file = await writeJson('pareto.json', pareto(space.fingerprint, [
      { number: 3, config: [2, 1, 2, 2, 1, 2], values: [100, 0.5] },
      { number: 8, config: [0, 0, 0, 0, 0, 0], values: [900, 0.9] },
      { number: 5, config: [1, 0, 1, 1, 0, 1], values: [400, 0.7] },
    ]));
    const best = await resolveSubnet(space, { kind: 'pareto', file });
    expect(best.config).toEqual([0, 0, 0, 0, 0, 0]);
    expect(best.source).toBe(`${file} trial 8`);
    expect((await resolveSubnet(space, { kind: 'pareto', file, trial: 5 })).config).toEqual([1, 0, 1, 1, 0, 1]);
    await expect(resolveSubnet(space, { kind: 'pareto', file, trial: 4 })).rejects.toThrow(/pareto\.json: front: trial 4 is not on the front.*\[3, 8, 5\]/);

    const bad = await writeJson('bad-pareto.json', pareto(space.fingerprint, [{ number: 1, config: [0, 0, 3, 0, 0, 0], values: [1, 1] }]));
    await expect(resolveSubnet(space, { kind: 'pareto', file: bad })).rejects.toThrow(/bad-pareto\.json: front\[0\]\.config\[2\].*not a choice index/);
    await expect(resolveSubnet(space, { kind: 'pareto', file: await writeJson('not.json', { format: 'x' }) })).rejects.toThrow(/not\.json: format: not a pareto\.json/);

    // A study over a sub-space (nls search --space): its genes differ, the ranks carry over.
    const sub = resolveSearchSpace(validateSearchSpaceSpec(structuredClone(SUB_SPEC)), { numLayers: 2 });
    const subFile = await writeJson('narrow.json', SUB_SPEC);
    const subPareto = await writeJson('sub-pareto.json', pareto(sub.fingerprint, [{ number: 2, config: [0, 1, 0, 0], values: [1, 1] }], 'narrow'));
    await expect(resolveSubnet(space, { kind: 'pareto', file: subPareto })).rejects.toThrow(/sub-pareto\.json: study\.space: .*searched space "narrow".*--space FILE/);
    const mapped = await resolveSubnet(space, { kind: 'pareto', file: subPareto, space: subFile });
    expect(space.decode(mapped.config)).toEqual([4, 4, 2, 4, 4, 6]);
    await expect(resolveSubnet(space, { kind: 'pareto', file: subPareto, space: await writeJson('other.json', SPEC) })).rejects.toThrow(/other\.json: its fingerprint/);
  });

  it('a configuration file: config, key, ranks by module or by gene; errors name the file and field', async () => {
    expect((await resolveSubnet(space, { kind: 'file', file: await writeJson('c1.json', { config: [1, 1, 2, 0, 0, 1] }) })).key).toBe('112.001');
    expect((await resolveSubnet(space, { kind: 'file', file: await writeJson('c2.json', { key: '112.001', fingerprint: space.fingerprint }) })).config).toEqual([1, 1, 2, 0, 0, 1]);
    expect((await resolveSubnet(space, { kind: 'file', file: await writeJson('c3.json', { ranks: [2, 3, 2, 4, 4, 5] }) })).key).toBe('112.001');
    const byModule = Object.fromEntries(space.activeRanks([1, 1, 2, 0, 0, 1]));
    expect((await resolveSubnet(space, { kind: 'file', file: await writeJson('c4.json', { ranks: byModule }) })).key).toBe('112.001');

    await expect(resolveSubnet(space, { kind: 'file', file: await writeJson('e1.json', { ranks: { ...byModule, 'layers.0.q_proj': 3 } }) })).rejects.toThrow(
      /e1\.json: ranks\.layers\.0\.k_proj: layers\.0\.k_proj has rank 2 but its group "qkv"/,
    );
    await expect(resolveSubnet(space, { kind: 'file', file: await writeJson('e2.json', { config: [1, 1, 2, 0, 0, 7] }) })).rejects.toThrow(/e2\.json: config\[5\]: gene 5/);
    await expect(resolveSubnet(space, { kind: 'file', file: await writeJson('e3.json', { config: [0], key: '000.000' }) })).rejects.toThrow(/e3\.json: must have exactly one of .*"config" and "key"/);
    await expect(resolveSubnet(space, { kind: 'file', file: await writeJson('e4.json', { key: '000.000', fingerprint: 'abc' }) })).rejects.toThrow(/e4\.json: fingerprint: is "abc"/);
    await expect(resolveSubnet(space, { kind: 'file', file: await writeJson('e5.json', { ranks: [4, 4, 6, 4, 4, 1] }) })).rejects.toThrow(/e5\.json: ranks\[5\]: .*rank 1 is not a choice/);
    await expect(resolveSubnet(space, { kind: 'file', file: path.join(root, 'missing.json') })).rejects.toThrow(/missing\.json: file does not exist/);
  });

  it('command-line options name exactly one way of choosing', () => {
    expect(subnetSelectionFromOptions({ subnet: 'median' })).toEqual({ kind: 'heuristic', name: 'median' });
    expect(subnetSelectionFromOptions({ subnet: '000.000' })).toEqual({ kind: 'key', key: '000.000' });
    expect(subnetSelectionFromOptions({ pareto: 'p.json', trial: 3 })).toEqual({ kind: 'pareto', file: 'p.json', trial: 3 });
    expect(subnetSelectionFromOptions({ config: 'c.json' })).toEqual({ kind: 'file', file: 'c.json' });
    expect(() => subnetSelectionFromOptions({})).toThrow(/exactly one of --subnet/);
    expect(() => subnetSelectionFromOptions({ subnet: 'max', config: 'c.json' })).toThrow(/--config: .*got --subnet, --config/);
    expect(() => subnetSelectionFromOptions({ subnet: 'max', trial: 2 })).toThrow(/--trial: .*add --pareto/);
  });
});
