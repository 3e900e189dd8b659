import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import {
  LookupTablePredictor,
  MlpPredictor,
  PREDICTOR_FORMAT,
  RidgePredictor,
  loadPredictor,
  predictorKinds,
  registerPredictorKind,
  savePredictor,
  type Predictor,
  type PredictorFile,
} from '../../src/predict/index.js';
import type { Config, SearchSpace } from '../../src/space/index.js';
import { useTestBackend } from '../helpers/backend.js';
import { randomConfigs, samplesOf, smallSpace } from './helpers.js';

let dir: string;
beforeAll(async () => {
  await useTestBackend();
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-predict-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const space = smallSpace();
const f = (c: Config): number => 5 + space.decode(c).reduce((s, r, g) => s + (g + 1) * Math.log1p(r), 0);
const samples = samplesOf(space, 120, 1, f);
const test = randomConfigs(space, 50, 2);

async function fitted(kind: string): Promise<Predictor> {
  const p = kind === 'lookup-table' ? new LookupTablePredictor() : kind === 'ridge' ? new RidgePredictor({ lambda: 1e-2 }) : new MlpPredictor({ epochs: 10, hidden: [8], seed: 4 });
  await p.fit(space, samples);
  return p;
}

/** The NlsError thrown by `promise`, for inspecting file and field. */
async function errorOf(promise: Promise<unknown>): Promise<NlsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(NlsError);
    return err as NlsError;
  }
  throw new Error('expected an NlsError');
}

type Edit = { readonly set: unknown } | { readonly push: unknown } | 'delete' | 'pop';

/** A deep copy of `doc` with `edit` applied at the JSON path `at` (keys and indices). */
function edited(doc: PredictorFile, at: readonly (string | number)[], edit: Edit): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  let parent = copy as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (edit === 'delete') delete parent[last];
  else if (edit === 'pop') (parent[last] as unknown[]).pop();
  else if ('push' in edit) (parent[last] as unknown[]).push(edit.push);
  else parent[last] = edit.set;
  return copy;
}

describe('save → load', () => {
  for (const kind of ['lookup-table', 'ridge', 'mlp']) {
    it(`round-trips ${kind} with identical predictions`, async () => {
      const p = await fitted(kind);
      const file = path.join(dir, `${kind}.json`);
      await savePredictor(file, p);
      const q = await loadPredictor(file, space);
      expect(q.kind).toBe(kind);
      expect(q.predictMany(test)).toEqual(p.predictMany(test));
      expect(q.toJSON()).toEqual(p.toJSON());
      const doc = JSON.parse(await fsp.readFile(file, 'utf8')) as PredictorFile;
      expect(doc.format).toBe(PREDICTOR_FORMAT);
      expect(doc.space).toEqual({ name: space.name, fingerprint: space.fingerprint });
      expect(doc.fitted.samples).toBe(samples.length);
      expect(doc.fitted.seconds).toBeGreaterThanOrEqual(0);
      // No temp files are left behind by the atomic write.
      expect((await fsp.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    });
  }

  it('loads an explicit table and an already parsed document', async () => {
    const p = LookupTablePredictor.fromTable(space, 1, space.choiceCounts.map((n) => Array.from({ length: n }, (_, c) => c * 0.5)));
    const q = await loadPredictor(p.toJSON(), space);
    expect(q.predictMany(test)).toEqual(p.predictMany(test));
  });

  it('accepts a space with the same structure under another name (same fingerprint)', async () => {
    const renamed = smallSpace('another-name');
    expect(renamed.fingerprint).toBe(space.fingerprint);
    const q = await loadPredictor((await fitted('ridge')).toJSON(), renamed);
    expect(q.predict([0, 1, 2, 0])).toBeTypeOf('number');
  });
});

describe('loading errors', () => {
  it('a different space fingerprint names the file, the field and the fix', async () => {
    const file = path.join(dir, 'fp.json');
    await savePredictor(file, await fitted('lookup-table'));
    const other: SearchSpace = smallSpace('pred-other', [32, 16, 8]);
    const err = await errorOf(loadPredictor(file, other));
    expect(err.file).toBe(file);
    expect(err.field).toBe('space.fingerprint');
    expect(err.message).toContain(space.fingerprint);
    expect(err.message).toContain(other.fingerprint);
    expect(err.message).toMatch(/fix: load it with the search space it was fitted on, or refit/);
  });

  it('a missing file and invalid JSON name the file', async () => {
    const missing = path.join(dir, 'nope.json');
    expect((await errorOf(loadPredictor(missing, space))).file).toBe(missing);
    const bad = path.join(dir, 'bad.json');
    await fsp.writeFile(bad, '{ "format": ');
    const err = await errorOf(loadPredictor(bad, space));
    expect(err.file).toBe(bad);
    expect(err.message).toMatch(/not valid JSON/);
  });

  it('malformed documents name the field', async () => {
    const doc = (await fitted('lookup-table')).toJSON();
    const cases: [unknown, string, RegExp][] = [
      [[1, 2], '(root)', /expected an object/],
      [edited(doc, ['format'], { set: 'nls-predictor/0' }), 'format', /unsupported format/],
      [edited(doc, ['kind'], 'delete'), 'kind', /expected a string, missing/],
      [edited(doc, ['kind'], { set: 'gbdt' }), 'kind', /unknown predictor kind "gbdt".*lookup-table, ridge, mlp/],
      [edited(doc, ['space'], 'delete'), 'space', /expected an object/],
      [edited(doc, ['fitted', 'samples'], { set: -1 }), 'fitted.samples', />= 0/],
      [edited(doc, ['params'], 'delete'), 'params', /expected an object/],
      [edited(doc, ['params', 'base'], { set: 'x' }), 'params.base', /finite number/],
      [edited(doc, ['params', 'terms', 1], 'pop'), 'params.terms[1]', /3 elements, got 2/],
      [edited(doc, ['params', 'terms', 2, 3], { set: null }), 'params.terms[2][3]', /finite number/],
    ];
    for (const [json, field, message] of cases) {
      const err = await errorOf(loadPredictor(json, space, { file: 'table.json' }));
      expect(err.file).toBe('table.json');
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/fix:/);
    }
  });

  it('malformed ridge and mlp parameters name the field', async () => {
    const ridge = (await fitted('ridge')).toJSON();
    const mlp = (await fitted('mlp')).toJSON();
    const cases: [unknown, string][] = [
      [edited(ridge, ['params', 'weights'], { push: 1 }), 'params.weights'],
      [edited(ridge, ['params', 'featureScales', 0], { set: 0 }), 'params.featureScales[0]'],
      [edited(ridge, ['params', 'lambda'], { set: -1 }), 'params.lambda'],
      [edited(mlp, ['params', 'options', 'hidden'], { set: [8, 0] }), 'params.options.hidden[1]'],
      [edited(mlp, ['params', 'layers', 0, 'kernel'], 'pop'), 'params.layers[0].kernel'],
      [edited(mlp, ['params', 'layers', 1, 'bias'], { set: [] }), 'params.layers[1].bias'],
      [edited(mlp, ['params', 'layers', 0, 'kernel', 2, 3], { set: 'w' }), 'params.layers[0].kernel[2][3]'],
      [edited(mlp, ['params', 'backend'], 'delete'), 'params.backend'],
    ];
    for (const [json, field] of cases) expect((await errorOf(loadPredictor(json, space))).field).toBe(field);
  });
});

describe('predictor kind registry', () => {
  it('loads registered kinds and refuses duplicates', async () => {
    class Constant implements Predictor {
      readonly kind = 'test-constant';
      constructor(
        private readonly s: SearchSpace,
        readonly value: number,
      ) {}
      fit(): void {}
      predict(): number {
        return this.value;
      }
      predictMany(configs: readonly Config[]): number[] {
        return configs.map(() => this.value);
      }
      toJSON(): PredictorFile {
        return { format: PREDICTOR_FORMAT, kind: this.kind, space: { name: this.s.name, fingerprint: this.s.fingerprint }, params: { value: this.value }, fitted: { samples: 0, seconds: 0 } };
      }
    }
    registerPredictorKind('test-constant', (_file, s, params) => new Constant(s, params.field('value').number()));
    expect(predictorKinds()).toEqual(['lookup-table', 'ridge', 'mlp', 'test-constant']);
    const q = await loadPredictor(new Constant(space, 9).toJSON(), space);
    expect(q.predict([0, 0, 0, 0])).toBe(9);
    expect(() => registerPredictorKind('test-constant', () => new Constant(space, 1))).toThrow(/already registered/);
    expect(() => registerPredictorKind('ridge', () => new Constant(space, 1))).toThrow(/already registered/);
    expect(() => registerPredictorKind('', () => new Constant(space, 1))).toThrow(/not a valid name/);
  });
});
