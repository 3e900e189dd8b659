import fc from 'fast-check';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/model/safetensors.js';
import { canonicalJsonLines, compareRunOutputs, TIMING_KEYS, withoutTimings, withRunFolder } from '../../src/run/compare.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-compare-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** Two run folders holding `files` (path -> [original content, reproduced content]). */
async function pair(name: string, files: Record<string, [string | Uint8Array, string | Uint8Array]>): Promise<[string, string]> {
  const a = path.join(root, name, 'a');
  const b = path.join(root, name, 'b');
  for (const [rel, [ca, cb]] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(a, rel)), { recursive: true });
    await fsp.mkdir(path.dirname(path.join(b, rel)), { recursive: true });
    await fsp.writeFile(path.join(a, rel), ca);
    await fsp.writeFile(path.join(b, rel), cb);
  }
  return [a, b];
}

const journal = (trials: { number: number; acc: number; loss: number; seconds: number }[]) =>
  [
    JSON.stringify({ type: 'study', created: `2026-01-0${trials.length}T00:00:00Z`, objectives: [{ name: 'accuracy' }, { name: 'loss' }], constraints: [{ name: 'params<=10' }] }),
    ...trials.map((t) => JSON.stringify({ type: 'trial', number: t.number, key: `k${t.number}`, values: [t.acc, t.loss], constraints: [-1], time: { seconds: t.seconds } })),
    '',
  ].join('\n');

const ZERO = { default: { abs: 0, rel: 0 } };

describe('withoutTimings / withRunFolder / canonicalJsonLines', () => {
  it('drops every timing key at any depth and nothing else', () => {
    expect(withoutTimings({ a: 1, seconds: 2, b: [{ time: 'x', c: 3 }], d: { created: 'y', e: null } })).toEqual({ a: 1, b: [{ c: 3 }], d: { e: null } });
  });

  it('property: idempotent, no timing key survives, and values without timing keys come back unchanged', () => {
    const safeKey = fc.string({ maxLength: 6 }).filter((k) => !TIMING_KEYS.has(k) && k !== '__proto__');
    const json = (key: fc.Arbitrary<string>) =>
      fc.letrec((tie) => ({
        value: fc.oneof({ depthSize: 'small' }, fc.double({ noNaN: true }), fc.string(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 4 })),
      })).value;
    const keys = (v: unknown): string[] => (Array.isArray(v) ? v.flatMap(keys) : v !== null && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)]) : []);
    fc.assert(
      fc.property(json(fc.oneof(fc.constantFrom(...TIMING_KEYS), safeKey)), (v) => {
        const once = withoutTimings(v);
        expect(withoutTimings(once)).toEqual(once);
        expect(keys(once).filter((k) => TIMING_KEYS.has(k))).toEqual([]);
      }),
    );
    fc.assert(
      fc.property(json(safeKey), (v) => {
        expect(withoutTimings(v)).toEqual(v);
      }),
    );
  });

  it('writes paths inside the run folder relative to <run>, and leaves other strings alone', () => {
    expect(withRunFolder({ a: '/r/x/supernet', b: ['/r/x'], c: '/r/xy', d: 3 }, '/r/x')).toEqual({ a: '<run>/supernet', b: ['<run>'], c: '/r/xy', d: 3 });
    // Paths quoted inside messages too, and only whole path components.
    expect(withRunFolder({ m: 'rows (the training data of /r/x/supernet could not be loaded)', n: 'in /r/x, then /r/xy and /r/x.' }, '/r/x')).toEqual({
      m: 'rows (the training data of <run>/supernet could not be loaded)',
      n: 'in <run>, then /r/xy and /r/x.',
    });
  });

  it('property: trials in any completion order give one canonical order; other records keep their place', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }))), ([n, order]) => {
        const lines = [JSON.stringify({ type: 'study' }), JSON.stringify({ type: 'ask', keys: n }), ...order.map((i) => JSON.stringify({ type: 'trial', number: i })), JSON.stringify({ type: 'end' })];
        const canon = canonicalJsonLines(lines.join('\n'));
        expect(canon.map((r) => (r as { type: string }).type)).toEqual(['study', 'ask', ...Array(n).fill('trial'), 'end']);
        expect(canon.filter((r) => (r as { type: string }).type === 'trial').map((r) => (r as { number: number }).number)).toEqual([...Array(n).keys()]);
      }),
    );
  });
});

describe('compareRunOutputs', () => {
  it('a .md table rendered from the .json beside it follows that JSON (its timings are not differences); alone it is compared by bytes', async () => {
    const [a, b] = await pair('rendered', {
      'results.json': [JSON.stringify({ acc: 0.5, speedup: 1.31, maxLatencyMs: 4 }), JSON.stringify({ acc: 0.5, speedup: 1.29, maxLatencyMs: 5 })],
      'results.md': ['speedup 1.31x', 'speedup 1.29x'],
      'other/results.json': [JSON.stringify({ acc: 0.5 }), JSON.stringify({ acc: 0.7 })],
      'other/results.md': ['acc 50%', 'acc 70%'],
      'notes.md': ['a', 'b'],
    });
    const c = await compareRunOutputs(a, b, ['results.json', 'results.md', 'other/results.json', 'other/results.md', 'notes.md'], ZERO);
    expect(c.files.map((f) => f.verdict)).toEqual(['identical-except-timings', 'identical-except-timings', 'differs', 'differs', 'differs']);
    expect(c.files[1]!.detail).toBe('rendered from results.json');
    expect(c.files[3]!.detail).toBe('rendered from other/results.json, which differs');
  });

  it('identical bytes are identical; timings, completion order and the run folder path are not differences', async () => {
    const [a, b] = await pair('same', {
      'x.bin': ['abc', 'abc'],
      'trials.jsonl': [
        journal([
          { number: 0, acc: 0.5, loss: 1, seconds: 1 },
          { number: 1, acc: 0.6, loss: 2, seconds: 2 },
        ]),
        journal([
          { number: 1, acc: 0.6, loss: 2, seconds: 7 },
          { number: 0, acc: 0.5, loss: 1, seconds: 9 },
        ]),
      ],
    });
    await fsp.writeFile(path.join(a, 'report.json'), JSON.stringify({ supernet: path.join(a, 'supernet'), seconds: 1 }));
    await fsp.writeFile(path.join(b, 'report.json'), JSON.stringify({ supernet: path.join(b, 'supernet'), seconds: 2 }));
    const c = await compareRunOutputs(a, b, ['x.bin', 'trials.jsonl', 'report.json'], ZERO);
    expect(c.files.map((f) => f.verdict)).toEqual(['identical', 'identical-except-timings', 'identical-except-timings']);
    expect(c.verdict).toBe('identical');
    expect(c.metrics).toEqual([]);
  });

  it('numbers that moved within tolerance: verdict within-tolerance, a per-metric row named after the objective', async () => {
    const [a, b] = await pair('near', {
      'trials.jsonl': [journal([{ number: 0, acc: 0.5, loss: 1.0, seconds: 1 }]), journal([{ number: 0, acc: 0.5, loss: 1.00005, seconds: 1 }])],
    });
    const c = await compareRunOutputs(a, b, ['trials.jsonl'], { default: { abs: 1e-4, rel: 0 } });
    expect(c.verdict).toBe('within-tolerance');
    expect(c.metrics).toHaveLength(1);
    expect(c.metrics[0]).toMatchObject({ metric: 'trials.jsonl: objective loss', compared: 1, differing: 1, within: true });
    expect(c.metrics[0]!.maxAbsDiff).toBeCloseTo(5e-5, 10);
  });

  it('beyond tolerance, a per-metric override, changed strings and missing files make it differ, naming where', async () => {
    const [a, b] = await pair('far', {
      'trials.jsonl': [journal([{ number: 0, acc: 0.5, loss: 1, seconds: 1 }]), journal([{ number: 0, acc: 0.51, loss: 1, seconds: 1 }])],
      'p.json': ['{"front":[{"key":"a"}]}', '{"front":[{"key":"b"}]}'],
    });
    await fsp.writeFile(path.join(a, 'only-a.txt'), 'x');
    const strict = await compareRunOutputs(a, b, ['trials.jsonl', 'p.json', 'only-a.txt'], { default: { abs: 1e-4, rel: 1e-3 } });
    expect(strict.verdict).toBe('differs');
    expect(strict.files[0]).toMatchObject({ verdict: 'differs' });
    expect(strict.files[0]!.detail).toContain('trial 0 objective accuracy');
    expect(strict.files[1]!.detail).toContain('front[0].key');
    expect(strict.files[2]).toMatchObject({ verdict: 'missing' });
    const loose = await compareRunOutputs(a, b, ['trials.jsonl'], { default: { abs: 1e-4, rel: 1e-3 }, metrics: { accuracy: { abs: 0.02, rel: 0 } } });
    expect(loose.verdict).toBe('within-tolerance');
  });

  it('safetensors files compare tensor by tensor', async () => {
    const dir = path.join(root, 'st');
    await fsp.mkdir(path.join(dir, 'a'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'b'), { recursive: true });
    await writeSafetensors(path.join(dir, 'a', 'w.safetensors'), { w: { shape: [2], data: new Float32Array([1, 2]) } });
    await writeSafetensors(path.join(dir, 'b', 'w.safetensors'), { w: { shape: [2], data: new Float32Array([1, 2.001]) } });
    const c = await compareRunOutputs(path.join(dir, 'a'), path.join(dir, 'b'), ['w.safetensors'], { default: { abs: 1e-2, rel: 0 } });
    expect(c.verdict).toBe('within-tolerance');
    expect(c.metrics[0]).toMatchObject({ metric: 'w.safetensors: tensors', compared: 2, differing: 1 });
    const exact = await compareRunOutputs(path.join(dir, 'a'), path.join(dir, 'b'), ['w.safetensors'], ZERO);
    expect(exact.verdict).toBe('differs');
  });
});
