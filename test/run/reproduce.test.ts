/**
 * End to end: a short demo run records its manifest; re-running it with the same seed gives the
 * same bytes in every output but timings (the determinism check, compared here independently of
 * src/run/compare.ts); `nls reproduce` replays search runs on the same and another backend,
 * refuses changed inputs and reports results outside tolerance, each with its exit code.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';

let root: string;
let demo: string;
const SHORT_DEMO = ['--steps', '4', '--train-size', '32', '--validation-size', '8', '--test-size', '8', '--search-budget', '3', '--quiet'];

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-reproduce-'));
  demo = path.join(root, 'demo');
  const r = await nls('demo', ...SHORT_DEMO, '--out', demo);
  expect(r.code, r.stderr).toBe(0);
}, 600_000);
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

interface Manifest {
  command: string;
  options: Record<string, unknown>;
  inputs: { name: string; sha256: string; kind: string }[];
  outputs: { path: string; sha256: string }[];
  environment: { backend?: { name: string } };
}
const manifestOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Timing keys the two runs may differ in (docs/reproducibility.md). */
const TIMINGS = new Set(['time', 'created', 'seconds']);
/** A JSON / JSON-lines output with timings removed, the run folder's path replaced, and trials in number order. */
function normalised(file: string, runDir: string): string {
  const text = readFileSync(file, 'utf8').split(runDir).join('<run>');
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => !TIMINGS.has(k)).map(([k, x]) => [k, strip(x)])) : v;
  if (file.endsWith('.jsonl')) {
    const records = text.trim().split('\n').map((l) => strip(JSON.parse(l)) as { type?: string; number?: number });
    const trials = records.filter((r) => r.type === 'trial').sort((a, b) => a.number! - b.number!);
    return JSON.stringify([records.filter((r) => r.type !== 'trial'), trials]);
  }
  return JSON.stringify(strip(JSON.parse(text)));
}

describe('run manifests and nls reproduce', () => {
  it('the demo records a manifest: command, options, hashed inputs (model, space, data) and every output', () => {
    const m = manifestOf(demo);
    expect(m.command).toBe('demo');
    expect(m.options).toMatchObject({ steps: 4, seed: 0, backend: 'wasm', out: demo });
    expect(m.inputs.map((i) => i.name)).toEqual(['model', 'data', 'space', 'corpus']);
    expect(m.environment.backend?.name).toBe('wasm');
    const paths = m.outputs.map((o) => o.path);
    for (const p of ['supernet/adapters.safetensors', 'supernet/supernet.json', 'search/nsga2/trials.jsonl', 'search/pareto.json', 'merged/model.safetensors', 'demo-result.json']) expect(paths).toContain(p);
    // The sparse demo's export is the merged model: no PEFT adapter (it could not express the SparsePEFT delta).
    expect(paths.some((p) => p.startsWith('adapter/'))).toBe(false);
    expect(paths).not.toContain('manifest.json');
    for (const o of m.outputs) expect(sha(path.join(demo, o.path)), o.path).toBe(o.sha256);
  });

  it('determinism: the demo run again with the same seed (nls reproduce) writes the same bytes in every output but timings', async () => {
    const again = path.join(root, 'demo-again');
    const r = await nls('reproduce', demo, '--out', again, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'identical', recordedBackend: 'wasm', backend: 'wasm' });
    const outputs = manifestOf(demo).outputs.map((o) => o.path);
    expect(manifestOf(again).outputs.map((o) => o.path)).toEqual(outputs);
    let bytewise = 0;
    for (const p of outputs) {
      const a = path.join(demo, p);
      const b = path.join(again, p);
      if (sha(a) === sha(b)) {
        bytewise++;
        continue;
      }
      // Only JSON may differ, and only in timings and in naming its own run folder.
      expect(p.endsWith('.json') || p.endsWith('.jsonl'), `${p} differs in bytes`).toBe(true);
      expect(normalised(b, again), p).toBe(normalised(a, demo));
    }
    // Every weight file (the sparse base, the supernet, checkpoints, the merged model) is identical byte for byte.
    for (const p of outputs.filter((o) => o.endsWith('.safetensors'))) expect(sha(path.join(again, p)), p).toBe(sha(path.join(demo, p)));
    expect(bytewise).toBeGreaterThanOrEqual(outputs.filter((o) => !o.endsWith('.json') && !o.endsWith('.jsonl')).length);
  }, 600_000);

  describe('a search run', () => {
    let search: string;
    beforeAll(async () => {
      search = path.join(root, 'search');
      const r = await nls('search', '--supernet', path.join(demo, 'supernet'), '--objectives', 'accuracy,loss', '--strategy', 'random', '--budget', '2', '--batch-size', '2', '--validation-size', '4', '--out', search, '--quiet');
      expect(r.code, r.stderr).toBe(0);
    }, 300_000);

    it('records the supernet and the base model it adapts as inputs', () => {
      const names = manifestOf(search).inputs.map((i) => i.name);
      expect(names).toEqual(['supernet', 'supernet.baseModel']);
    });

    it('reproduces identically on the same backend (exit 0)', async () => {
      const r = await nls('reproduce', search, '--out', path.join(root, 'search-wasm'), '--json');
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { verdict: string; files: { path: string; verdict: string }[]; environmentDifferences: string[] };
      expect(out.verdict).toBe('identical');
      expect(out.files.map((f) => f.path).sort()).toEqual(['choice.json', 'pareto.json', 'trials.jsonl']);
      expect(out.environmentDifferences).toEqual([]);
    }, 300_000);

    it('on another backend (cpu): identical or within tolerance, with a per-metric difference table; the exit code says which', async () => {
      const r = await nls('reproduce', search, '--backend', 'cpu', '--out', path.join(root, 'search-cpu'), '--json');
      const out = JSON.parse(r.stdout) as { verdict: string; backend: string; recordedBackend: string; metrics: { metric: string; maxAbsDiff: number; within: boolean; tolerance: { abs: number; rel: number } }[] };
      expect(out).toMatchObject({ backend: 'cpu', recordedBackend: 'wasm' });
      expect(r.code, r.stderr).toBe(out.verdict === 'identical' ? 0 : 3);
      expect(out.verdict).not.toBe('differs');
      for (const m of out.metrics) {
        expect(m.within).toBe(true);
        expect(m.maxAbsDiff).toBeGreaterThan(0);
      }
      // float32 kernels of two backends sum in different orders: the losses move (slightly).
      if (out.verdict === 'within-tolerance') expect(out.metrics.map((m) => m.metric)).toContain('trials.jsonl: objective loss');
    }, 300_000);

    it('refuses an input whose bytes changed, naming the file (exit 1), and takes a moved copy given with --input', async () => {
      const copy = path.join(root, 'supernet-copy');
      await fsp.cp(path.join(demo, 'supernet'), copy, { recursive: true });
      const run = path.join(root, 'search-on-copy');
      const r0 = await nls('search', '--supernet', copy, '--strategy', 'random', '--budget', '2', '--out', run, '--quiet');
      expect(r0.code, r0.stderr).toBe(0);
      const validation = path.join(copy, 'validation.json');
      await fsp.writeFile(validation, readFileSync(validation, 'utf8').replace('"max"', '"MAX"'));
      const refused = await nls('reproduce', run, '--out', path.join(root, 'refused'));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/input supernet differs from the one the run used: validation\.json has SHA-256/);
      expect(refused.stderr).toContain('--input supernet=PATH');
      // The untouched original has the recorded bytes.
      const moved = await nls('reproduce', run, '--input', `supernet=${path.join(demo, 'supernet')}`, '--out', path.join(root, 'moved'), '--json');
      expect(moved.code, moved.stderr).toBe(0);
    }, 300_000);

    it('reports outputs that differ beyond tolerance (exit 4), naming the trial and metric', async () => {
      const tampered = path.join(root, 'search-tampered');
      await fsp.cp(search, tampered, { recursive: true });
      const journal = path.join(tampered, 'trials.jsonl');
      const lines = readFileSync(journal, 'utf8').trim().split('\n');
      const i = lines.findIndex((l) => l.includes('"type":"trial"'));
      const trial = JSON.parse(lines[i]!) as { number: number; values: number[] };
      trial.values[1] = trial.values[1]! + 0.5;
      lines[i] = JSON.stringify(trial);
      await fsp.writeFile(journal, `${lines.join('\n')}\n`);
      // As if recorded on another CPU type: the reproduction names the difference and what it can explain.
      const manifestFile = path.join(tampered, 'manifest.json');
      const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { environment: { cpus: { count: number; model: string; features?: string[] } } };
      manifest.environment.cpus = { count: 64, model: 'Imaginary CPU', features: ['avx2', 'avx512f', 'fma'] };
      await fsp.writeFile(manifestFile, JSON.stringify(manifest));
      const r = await nls('reproduce', tampered, '--out', path.join(root, 'tampered-again'), '--json');
      expect(r.code, r.stderr).toBe(4);
      const out = JSON.parse(r.stdout) as { verdict: string; files: { path: string; verdict: string; detail?: string }[]; environmentDifferences: string[]; note?: string };
      expect(out.verdict).toBe('differs');
      const file = out.files.find((f) => f.path === 'trials.jsonl')!;
      expect(file.verdict).toBe('differs');
      expect(file.detail).toContain(`trial ${trial.number} objective loss`);
      expect(out.environmentDifferences).toEqual([expect.stringMatching(/^machine: CPU Imaginary CPU -> .+/)]);
      expect(out.note).toMatch(/recorded on another machine.*CPU extensions/);
      const saved = JSON.parse(readFileSync(path.join(root, 'tampered-again', 'reproduction.json'), 'utf8')) as { environmentDifferences: string[] };
      expect(saved.environmentDifferences).toEqual(out.environmentDifferences);
    }, 300_000);
  });
});
