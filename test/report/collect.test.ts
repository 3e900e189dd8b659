/** Reading run folders: the three layouts, finding the supernet and its space, and clear errors on malformed files. */
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { collectReport } from '../../src/report/collect.js';
import { DEMO_SPACE, writeRun } from './fixtures.js';
import { tempDir } from './temp.js';

const root = tempDir('nls-report-collect-');
const demo = path.join(root, 'demo');
const search = path.join(root, 'search');
const train = path.join(root, 'train');

beforeAll(async () => {
  await writeRun(demo, 'demo');
  await writeRun(search, 'search');
  await writeRun(train, 'train');
});

/** A fresh copy of the demo fixture to break. */
function copyOf(name: string): string {
  const dir = path.join(root, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(demo, dir, { recursive: true });
  return dir;
}

async function errorOf(p: Promise<unknown>): Promise<NlsError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(NlsError);
  return e as NlsError;
}

describe('collectReport: layouts', () => {
  it('nls demo folder: manifest, supernet/, search/<strategy>/ studies in creation order, predictors, demo result', async () => {
    const d = await collectReport(demo);
    expect(d.layout).toBe('demo');
    expect(d.manifest?.command).toBe('demo');
    expect(d.supernet?.dir).toBe(path.join(demo, 'supernet'));
    expect(d.supernet?.trainingLog).toHaveLength(180);
    expect(d.supernet?.validation?.map((v) => v.name)).toEqual(['max', 'median', 'min']);
    expect(d.studies.map((s) => s.label)).toEqual(['heuristic', 'random', 'nsga2']);
    expect(d.studies.every((s) => s.pareto?.format === 'nls-pareto/1')).toBe(true);
    expect(d.space?.fingerprint).toBe(DEMO_SPACE.fingerprint);
    expect(d.heuristics.map((h) => [h.name, h.key])).toEqual([
      ['max', '000.000.000.000'],
      ['median', '111.111.111.111'],
      ['min', '333.333.333.333'],
    ]);
    expect(d.heuristics[2]?.ranks).toEqual(new Array(12).fill(4));
    expect(d.predictors).toHaveLength(1);
    expect(d.predictors[0]).toMatchObject({ study: 'random', kind: 'lookup-table', split: { train: 30, validation: 10, seed: 0 }, targets: { within10: 0.95, kendallTau: 0.9 } });
    expect(d.predictors[0]?.rows[1]).toMatchObject({ predictor: 'ridge', kendallTau: null, within10: 0.8 });
    expect(d.demo?.rows).toHaveLength(4);
    expect(d.demo?.rows[3]).toMatchObject({ loss: null, accuracy: null });
    expect(d.demo?.merge?.key).toBe('333.333.333.333');
    expect(d.warnings).toEqual([]);
  });

  it('nls search folder: the supernet is found through the manifest, wherever it lives', async () => {
    const d = await collectReport(search);
    expect(d.layout).toBe('search');
    expect(d.studies.map((s) => s.label)).toEqual(['random']);
    expect(d.supernet?.dir).toBe(`${search}-supernet`);
    expect(d.space?.fingerprint).toBe(DEMO_SPACE.fingerprint);
    expect(d.predictors[0]).toMatchObject({ kind: 'lookup-table', rows: [] });
    expect(d.demo).toBeUndefined();
  });

  it('a moved supernet: a warning, then --supernet finds it', async () => {
    const dir = path.join(root, 'moved');
    rmSync(dir, { recursive: true, force: true });
    cpSync(search, dir, { recursive: true });
    // The manifest names search-supernet; pretend the run was recorded elsewhere.
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { options: Record<string, unknown>; inputs: { path: string; relative: string }[] };
    m.options['supernet'] = '/nowhere/supernet';
    m.inputs[0]!.path = '/nowhere/supernet';
    m.inputs[0]!.relative = '../nowhere/supernet';
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    const lost = await collectReport(dir);
    expect(lost.supernet).toBeUndefined();
    expect(lost.space).toBeUndefined();
    expect(lost.warnings.join('\n')).toMatch(/supernet folder .*\/nowhere\/supernet.* was not found.*--supernet/);
    const found = await collectReport(dir, { supernet: `${search}-supernet` });
    expect(found.space?.fingerprint).toBe(DEMO_SPACE.fingerprint);
    expect((await errorOf(collectReport(dir, { supernet: root }))).message).toMatch(/not a supernet folder/);
  });

  it('nls train folder: the supernet itself, no studies', async () => {
    const d = await collectReport(train);
    expect(d.layout).toBe('train');
    expect(d.supernet?.dir).toBe(train);
    expect(d.studies).toEqual([]);
    expect(d.space?.size).toBe(12);
  });

  it('without manifest.json: a warning, and the rest is read', async () => {
    const dir = copyOf('no-manifest');
    rmSync(path.join(dir, 'manifest.json'));
    const d = await collectReport(dir);
    expect(d.manifest).toBeUndefined();
    expect(d.layout).toBe('demo');
    expect(d.warnings[0]).toMatch(/no manifest\.json/);
    expect(d.studies).toHaveLength(3);
  });

  it('the number of layers comes from adapters.safetensors when the base model is gone', async () => {
    const dir = path.join(root, 'no-base');
    rmSync(dir, { recursive: true, force: true });
    cpSync(train, dir, { recursive: true });
    const sj = JSON.parse(readFileSync(path.join(dir, 'supernet.json'), 'utf8')) as Record<string, unknown>;
    sj['baseModel'] = '/nowhere/model';
    writeFileSync(path.join(dir, 'supernet.json'), JSON.stringify(sj));
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, inputs: [] }));
    expect((await collectReport(dir)).warnings.join('\n')).toMatch(/number of layers .* unknown/);
    // A safetensors header naming layers 0..3 (no data needed).
    const header = Buffer.from(JSON.stringify({ 'layers.0.q_proj.lora_A': {}, 'layers.3.down_proj.lora_B': {} }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(path.join(dir, 'adapters.safetensors'), Buffer.concat([len, header]));
    const d = await collectReport(dir);
    expect(d.space?.fingerprint).toBe(DEMO_SPACE.fingerprint);
  });

  it('a sub-space search: the journals’ fingerprint picks the space; an unknown one is a warning', async () => {
    const dir = copyOf('other-space');
    for (const s of ['heuristic', 'random', 'nsga2']) {
      const file = path.join(dir, 'search', s, 'trials.jsonl');
      const lines = readFileSync(file, 'utf8').split('\n');
      const header = JSON.parse(lines[0]!) as { space: { fingerprint: string } };
      header.space.fingerprint = '0000000000000000';
      lines[0] = JSON.stringify(header);
      writeFileSync(file, lines.join('\n'));
    }
    const d = await collectReport(dir);
    expect(d.space).toBeUndefined();
    expect(d.heuristics).toEqual([]);
    expect(d.warnings.join('\n')).toMatch(/fingerprint .*0000000000000000/);
  });
});

describe('collectReport: errors name the file, the field and the fix', () => {
  it('a missing folder, or one with nothing to report', async () => {
    expect((await errorOf(collectReport(path.join(root, 'nope')))).message).toMatch(/no such folder; fix: give the --out folder/);
    const empty = path.join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    const e = await errorOf(collectReport(empty));
    expect(e.file).toBe(empty);
    expect(e.message).toMatch(/nothing to report.*fix:/);
  });

  it('a training log with a line that is not JSON, or a loss that is not a number', async () => {
    const dir = copyOf('bad-log');
    const file = path.join(dir, 'supernet', 'training-log.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = '{"step":2,"label":"x","loss":"high"}';
    writeFileSync(file, lines.join('\n'));
    const e = await errorOf(collectReport(dir));
    expect(e.file).toBe(file);
    expect(e.field).toBe('line 3: loss');
    expect(e.message).toMatch(/must be a finite number, got "high"; fix: restore the training-log\.jsonl/);
    lines[2] = '{"step":2,';
    writeFileSync(file, lines.join('\n'));
    expect((await errorOf(collectReport(dir))).message).toMatch(/line 3 is not valid JSON/);
  });

  it('validation.json without subnets, or a subnet without a key', async () => {
    const dir = copyOf('bad-validation');
    const file = path.join(dir, 'supernet', 'validation.json');
    writeFileSync(file, '{"statistics": []}');
    expect(await errorOf(collectReport(dir))).toMatchObject({ file, field: 'subnets' });
    writeFileSync(file, '{"subnets": [{"name": "max", "adapterParameters": 1, "loss": 1}]}');
    const e = await errorOf(collectReport(dir));
    expect(e.field).toBe('subnets[0].key');
    expect(e.message).toMatch(/fix: restore the validation\.json/);
  });

  it('supernet.json of another format, or with an invalid space', async () => {
    const dir = copyOf('bad-supernet');
    const file = path.join(dir, 'supernet', 'supernet.json');
    const sj = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...sj, format: 'nls-supernet/9' }));
    expect(await errorOf(collectReport(dir))).toMatchObject({ file, field: 'format' });
    writeFileSync(file, JSON.stringify({ ...sj, space: { ...(sj['space'] as object), groups: [] } }));
    expect((await errorOf(collectReport(dir))).message).toMatch(/supernet\.json/);
    writeFileSync(file, '{ not json');
    expect((await errorOf(collectReport(dir))).message).toMatch(/not valid JSON.*fix: restore the supernet\.json/);
  });

  it('pareto.json of another format, a corrupt journal, a malformed manifest', async () => {
    const dir = copyOf('bad-search');
    const pareto = path.join(dir, 'search', 'random', 'pareto.json');
    writeFileSync(pareto, '{"format": "something"}');
    expect(await errorOf(collectReport(dir))).toMatchObject({ file: pareto, field: 'format' });
    rmSync(pareto);
    const journal = path.join(dir, 'search', 'nsga2', 'trials.jsonl');
    writeFileSync(journal, `${readFileSync(journal, 'utf8')}{"type":"trial"}\n`);
    expect((await errorOf(collectReport(dir))).message).toMatch(/trials\.jsonl.*line \d+: trial record lacks/);
    const dir2 = copyOf('bad-manifest');
    writeFileSync(path.join(dir2, 'manifest.json'), '{"format": "nls-run/1", "command": 3}');
    expect(await errorOf(collectReport(dir2))).toMatchObject({ field: 'command' });
  });

  it('demo-result.json and predictors.json with wrong fields', async () => {
    const dir = copyOf('bad-demo');
    const file = path.join(dir, 'demo-result.json');
    writeFileSync(file, '{"rows": [{"description": "x", "key": "", "adapterParameters": "many"}]}');
    expect(await errorOf(collectReport(dir))).toMatchObject({ file, field: 'rows[0].adapterParameters' });
    writeFileSync(file, '{"rows": {}}');
    expect(await errorOf(collectReport(dir))).toMatchObject({ file, field: 'rows' });
    rmSync(file);
    const pj = path.join(dir, 'search', 'random', 'predictors.json');
    writeFileSync(pj, '{"latency": {"validation": {"results": [{"predictor": "ridge", "quality": {"mape": "low"}}]}}}');
    const e = await errorOf(collectReport(dir));
    expect(e).toMatchObject({ file: pj, field: 'latency.validation.results[0].quality.mape' });
    expect(e.message).toMatch(/fix:/);
    // Without demo-result.json the rest is still reported.
    writeFileSync(pj, '{}');
    expect((await collectReport(dir)).demo).toBeUndefined();
  });
});

describe('collectReport: studies in a folder of searches', () => {
  it('finds trials.jsonl one level down and labels each study by its folder', async () => {
    const dir = path.join(root, 'many');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cpSync(path.join(demo, 'search', 'random'), path.join(dir, 'a'), { recursive: true });
    cpSync(path.join(demo, 'search', 'random'), path.join(dir, 'b'), { recursive: true });
    renameSync(path.join(dir, 'b'), path.join(dir, 'c'));
    const d = await collectReport(dir);
    expect(d.studies.map((s) => s.label).sort()).toEqual(['a', 'c']);
    expect(d.layout).toBe('other');
  });
});
