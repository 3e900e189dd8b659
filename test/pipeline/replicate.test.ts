/**
 * nls replicate on a tiny model: the study folder (bases, cells, results.json / results.md),
 * resuming a cell to the same result, the report's results section, and the findings logic on
 * synthetic cells (paired tests over seeds).
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModelFolder } from '../../src/pipeline/init-model.js';
import { type CellResult, formatResults, REPLICATE_BUDGETS, type ReplicateBudget, replicatePlan, runReplicate, studyPace, summarize } from '../../src/pipeline/replicate.js';
import { Progress } from '../../src/util/progress.js';
import { nls } from '../helpers/cli.js';

let dir: string;
let model: string;
// spam's own step count (taskSteps) overrides steps, as arith's does in the full budget.
const budget: ReplicateBudget = { ...REPLICATE_BUDGETS.smoke, seeds: 2, steps: 6, taskSteps: { spam: 5 }, searchBudget: 4, validationSize: 24, testSize: 24, trainSize: 64, maxLength: 64, widthTasks: ['spam'] };

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-replicate-'));
  model = path.join(dir, 'model');
  await initModelFolder({ out: model, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, intermediateSize: 704, seed: 1, backend: 'wasm' });
}, 120_000);
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('nls replicate', () => {
  it('runs every cell of the budget, writes results.json / results.md, resumes a cell to the same result, and nls report renders it', async () => {
    const out = path.join(dir, 'study');
    const quiet = new Progress({ quiet: true });
    const r = await runReplicate({ out, budget, model, engine: 'onnx', progress: quiet });
    // Run seed by seed, reported in (task, base, seed) order; complete.
    expect(r.cells.map((c) => `${c.task}/${c.base}/${c.seed}`)).toEqual(['spam/dense/0', 'spam/dense/1', 'spam/sparse50/0', 'spam/sparse50/1']);
    expect(r.progress).toEqual({ done: 4, planned: 4 });
    expect(await fsp.readFile(path.join(out, 'results.md'), 'utf8')).not.toContain('Partial');
    for (const c of r.cells) {
      expect(c.lora!.params).toBe(c.max.params);
      expect(c.max.params).toBeGreaterThan(c.median.params);
      expect(c.searched.length).toBeGreaterThan(0);
      for (const s of c.searched) expect(s.params).toBeLessThanOrEqual(s.share * c.max.params);
      for (const m of [c.baseModel, c.max, c.median, c.min, ...c.searched]) {
        expect(m.test).toBeGreaterThanOrEqual(0);
        expect(m.test).toBeLessThanOrEqual(1);
      }
      if (c.base === 'dense') {
        // LoNAS: the chosen width subnet has no more FLOPs than the max, and both were timed.
        expect(c.widths!.flopsShare).toBeLessThanOrEqual(1);
        expect(c.widths!.speedup).toBeGreaterThan(0);
        expect(c.widths!.chosen.test).toBeGreaterThanOrEqual(0);
        expect(c.widths!.chosen.params).toBeGreaterThan(0);
        expect(c.widths!.chosen.params).toBeLessThanOrEqual(c.widths!.max.params);
      } else expect(c.widths).toBeUndefined();
      if (c.base === 'sparse50') {
        // SQFT: the merge keeps every zero of the sparse base.
        expect(c.merge!.newNonZeros).toBe(0);
        expect(c.merge!.nonZerosAfter).toBe(c.merge!.nonZerosBefore);
      }
    }
    expect(r.findings.map((f) => f.checks.length)).toEqual([2, 2, 2, 1, 1]);
    // nls search's final choice: selected on validation, measured again on test.
    const choice = JSON.parse(await fsp.readFile(path.join(out, 'cells', 'spam', 'dense', 'seed-0', 'search-nsga2', 'choice.json'), 'utf8')) as { metric: string; validation: number; test?: number };
    expect(choice.metric).toBe('accuracy');
    expect(choice.test).toBeGreaterThanOrEqual(0);
    expect(await fsp.readFile(path.join(out, 'results.md'), 'utf8')).toMatch(/## LoNAS row[^]*## Findings/);
    expect(await fsp.readFile(path.join(out, 'results.md'), 'utf8')).toContain('Budget: 2 seeds, 6 steps (spam 5), ');
    const trainedSteps = async (run: string) => (JSON.parse(await fsp.readFile(path.join(out, 'cells', 'spam', 'dense', 'seed-0', run, 'supernet.json'), 'utf8')) as { training: { steps: number } }).training.steps;
    expect([await trainedSteps('lora'), await trainedSteps('supernet'), await trainedSteps('widths-supernet')]).toEqual([5, 5, 10]);

    // Resume: a cell without its result.json is run again (from its finished supernets and
    // searches) to the same result; the others are read back.
    const cellDir = path.join(out, 'cells', 'spam', 'dense', 'seed-1');
    const before = await fsp.readFile(path.join(cellDir, 'result.json'), 'utf8');
    await fsp.rm(path.join(cellDir, 'result.json'));
    await fsp.rm(path.join(cellDir, 'search-linas'), { recursive: true });
    const trainedAt = async () => Promise.all(['lora', 'supernet', 'widths-supernet'].map(async (run) => (await fsp.stat(path.join(cellDir, run, 'supernet.json'))).mtimeMs));
    const trainedBefore = await trainedAt();
    const again = await runReplicate({ out, budget, model, engine: 'onnx', progress: quiet });
    // Finished trainings are read back, not resumed and evaluated again.
    expect(await trainedAt()).toEqual(trainedBefore);
    // Everything but the LoNAS row's timings (measured again) is the same.
    const untimed = (json: string) => {
      const c = JSON.parse(json) as CellResult & { widths?: Record<string, unknown> };
      return c.widths ? { ...c, widths: { ...c.widths, maxLatencyMs: 0, chosenLatencyMs: 0, speedup: 0 } } : c;
    };
    expect(untimed(await fsp.readFile(path.join(cellDir, 'result.json'), 'utf8'))).toEqual(untimed(before));
    expect(again.summary).toEqual(r.summary);
    // A budget whose cells would differ is refused before any work, naming each difference.
    await expect(runReplicate({ out, budget: { ...budget, steps: 7, testSize: 30 }, model, engine: 'onnx', progress: quiet })).rejects.toThrow(/study\.json: .*steps: 6 -> 7; testSize: 24 -> 30.*fix: /);
    await expect(runReplicate({ out, budget: { ...budget, taskSteps: {} }, model, engine: 'onnx', progress: quiet })).rejects.toThrow(/study\.json: .*steps of spam: 5 -> 6.*fix: /);

    const report = await nls('report', out, '--out', path.join(dir, 'report'));
    expect(report.code, report.stderr).toBe(0);
    const md = await fsp.readFile(path.join(dir, 'report', 'report.md'), 'utf8');
    expect(md).toMatch(/## 1\. Results over seeds/);
    const svg = await fsp.readFile(path.join(dir, 'report', 'report', 'results.svg'), 'utf8');
    expect(svg.match(/class="error-bar"/g)!.length).toBeGreaterThan(0);
    expect(existsSync(path.join(out, 'bases', 'sparse50', 'config.json'))).toBe(true);
    // A study stopped part-way: the report says how far it got.
    const results = JSON.parse(await fsp.readFile(path.join(out, 'results.json'), 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(path.join(out, 'results.json'), JSON.stringify({ ...results, progress: { done: 3, planned: 4 } }));
    const partial = await nls('report', out, '--out', path.join(dir, 'report-partial'));
    expect(partial.code, partial.stderr).toBe(0);
    expect(await fsp.readFile(path.join(dir, 'report-partial', 'report.md'), 'utf8')).toContain('Partial: 3 of 4 cells done.');
  }, 600_000);

  it('nls replicate from the CLI records a manifest, and nls reproduce re-runs the study to the same results', async () => {
    const out = path.join(dir, 'cli-study');
    const r = await nls('replicate', '--out', out, '--budget', 'smoke', '--seeds', '1', '--model', model, '--engine', 'onnx', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(await fsp.readFile(path.join(out, 'manifest.json'), 'utf8')) as { command: string; outputs: { path: string }[] };
    expect(manifest.command).toBe('replicate');
    expect(manifest.outputs.map((o) => o.path)).toEqual(expect.arrayContaining(['results.json', 'results.md', 'study.json', 'cells/spam/dense/seed-0/result.json']));
    const again = await nls('reproduce', out, '--out', path.join(dir, 'cli-study-again'), '--json');
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { verdict: string }).verdict).toBe('identical');
  }, 600_000);

  it('nls replicate --tasks / --seeds: a subset of the budget; an unknown task is a usage error naming the choices', async () => {
    const r = await nls('replicate', '--out', path.join(dir, 'bad'), '--budget', 'smoke', '--tasks', 'spam,arth', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tasks: unknown task "arth"; choose from spam, arith, brown-cloze/);
    const seeds = await nls('replicate', '--out', path.join(dir, 'bad'), '--budget', 'smoke', '--seeds', '0', '--quiet');
    expect(seeds.code).toBe(2);
    expect(seeds.stderr).toMatch(/--seeds must be a positive integer, got '0'/);
    expect(existsSync(path.join(dir, 'bad'))).toBe(false);
  });
});

describe('replicate findings', () => {
  const cell = (seed: number, base: 'dense' | 'sparse50', v: { lora: number; max: number; median: number; min: number; half: number; baseModel: number }): CellResult => ({
    task: 'spam',
    base,
    seed,
    baseModel: { key: '', params: 0, validation: v.baseModel, test: v.baseModel },
    lora: { key: 'a', params: 100, validation: v.lora, test: v.lora },
    max: { key: 'a', params: 100, validation: v.max, test: v.max },
    median: { key: 'b', params: 60, validation: v.median, test: v.median },
    min: { key: 'c', params: 20, validation: v.min, test: v.min },
    searched: [{ strategy: 'nsga2', share: 0.5, key: 'd', params: 50, validation: v.half, test: v.half }],
    ...(base === 'sparse50' ? { merge: { key: 'd', nonZerosBefore: 10, nonZerosAfter: 10, newNonZeros: 0, unmergedTest: v.half, mergedTest: v.half } } : {}),
  });

  it('plans the cells seed by seed: every task and base gets seed s before any gets s + 1', () => {
    const plan = replicatePlan(REPLICATE_BUDGETS.full).map((c) => `${c.task}/${c.base}/${c.seed}`);
    expect(plan).toHaveLength(30);
    expect(plan.slice(0, 7)).toEqual(['spam/dense/0', 'spam/sparse50/0', 'spam/sparse50-int4/0', 'arith/dense/0', 'arith/sparse50/0', 'arith/sparse50-int4/0', 'spam/dense/1']);
    expect(new Set(plan).size).toBe(30);
  });

  it('says how many cells are left and, at the pace of the cells run here, about how long', () => {
    expect(studyPace([1800, 2400], 10)).toBe('10 cells left, about 5h50m at the mean pace of the 2 cells run here');
    expect(studyPace([600], 1)).toBe('1 cell left, about 10m00s at the mean pace of the 1 cell run here');
    expect(studyPace([600], 0)).toBe('no cells left');
  });

  it('a partial study says so, keeps the canonical order, and tests a finding only where its rows have two seeds', () => {
    const v = { lora: 0.8, max: 0.8, median: 0.79, min: 0.6, half: 0.79, baseModel: 0.5 };
    // Seed-major: dense 0, sparse 0, dense 1 done; sparse 1 not yet.
    const done = [cell(0, 'dense', v), cell(0, 'sparse50', v), cell(1, 'dense', { ...v, max: 0.81 })];
    const r = summarize({ ...REPLICATE_BUDGETS.smoke, seeds: 2 }, {}, done, 4);
    expect(r.progress).toEqual({ done: 3, planned: 4 });
    expect(r.cells.map((c) => `${c.base}/${c.seed}`)).toEqual(['dense/0', 'dense/1', 'sparse50/0']);
    // Dense has two seeds (findings 1-3 tested); sparse has one (not tested, finding 4 has one pair); merging needs no statistics.
    expect(r.findings.map((f) => f.checks.map((c) => c.base))).toEqual([['dense'], ['dense'], ['dense'], [], ['sparse50']]);
    const md = formatResults(r);
    expect(md).toContain('**Partial: 3 of 4 cells done.');
    expect(md).toMatch(/4\. \*\*on the sparse base[^*]*\*\*: not tested/);
  });

  it('states each finding per task and base, with the paired evidence', () => {
    const dense = [0, 1, 2, 3, 4].map((s) => cell(s, 'dense', { lora: 0.8 + s * 0.002, max: 0.8 + s * 0.002 + (s % 2 ? 0.004 : -0.004), median: 0.79, min: 0.6, half: 0.79 + (s % 2 ? 0.003 : -0.003), baseModel: 0.5 }));
    const sparse = [0, 1, 2, 3, 4].map((s) => cell(s, 'sparse50', { lora: 0.75, max: 0.74 + s * 0.002, median: 0.6, min: 0.55, half: 0.5, baseModel: 0.45 }));
    const r = summarize({ ...REPLICATE_BUDGETS.smoke, seeds: 5 }, {}, [...dense, ...sparse]);
    const check = (id: number, base: string) => r.findings[id - 1]!.checks.find((c) => c.base === base)!;
    expect(check(1, 'dense').holds).toBe(true);
    expect(check(2, 'dense').holds).toBe(true); // 0.79 / ~0.804 >= 0.95
    expect(check(2, 'sparse50').holds).toBe(false); // 0.6 / 0.744
    expect(check(3, 'dense').holds).toBe(true);
    expect(check(3, 'sparse50').holds).toBe(false); // 0.5 vs 0.6, always lower
    expect(check(4, 'sparse50').holds).toBe(true); // (0.744 - 0.45) / (0.804 - 0.45) = 83%
    expect(check(5, 'sparse50').holds).toBe(true);
    expect(check(5, 'sparse50').evidence).toMatch(/^5 merges: no pruned weight filled in; /);
    // A quantized base: re-quantizing can round kept weights to zero (reported; sparsity kept), while
    // one pruned weight filled in breaks the finding.
    const merged = (m: Partial<NonNullable<CellResult['merge']>>) => ({ ...sparse[0]!, merge: { ...sparse[0]!.merge!, ...m } });
    const zeroed = summarize({ ...REPLICATE_BUDGETS.smoke, seeds: 5 }, {}, [merged({ nonZerosAfter: 7 })]).findings[4]!.checks[0]!;
    expect(zeroed.holds).toBe(true);
    expect(zeroed.evidence).toMatch(/no pruned weight filled in, 3 weights rounded to zero by re-quantization/);
    const filled = summarize({ ...REPLICATE_BUDGETS.smoke, seeds: 5 }, {}, [merged({ newNonZeros: 1, nonZerosAfter: 11 })]).findings[4]!.checks[0]!;
    expect(filled.holds).toBe(false);
    expect(filled.evidence).toMatch(/1 PRUNED WEIGHTS FILLED IN/);
    const row = r.summary.find((s) => s.base === 'dense' && s.row === 'supernet max')!;
    expect(row.test.n).toBe(5);
    expect(row.test.low).toBeLessThan(row.test.mean);
  });
});
