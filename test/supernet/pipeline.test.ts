import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { runSupernetTraining } from '../../src/pipeline/train-supernet.js';
import { loadSupernet } from '../../src/supernet/artifact.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

let root = '';
beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-supernet-'));
  const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 });
  const model = LlamaModel.random(cfg, 3);
  await saveModelFolder(path.join(root, 'model'), model, { byteTokenizer: true });
  model.dispose();
  // A learnable toy classification task: the label is the first word.
  const rows = Array.from({ length: 60 }, (_, i) => {
    const label = i % 2 === 0 ? 'yes' : 'no';
    return JSON.stringify({ text: `${label === 'yes' ? 'sunny' : 'rainy'} day number ${i}`, label });
  });
  await fsp.writeFile(path.join(root, 'data.jsonl'), rows.join('\n'));
  await fsp.writeFile(
    path.join(root, 'space.json'),
    JSON.stringify({ format: 'nls-search-space/1', name: 'toy', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] }, { name: 'up', modules: ['up_proj'], ranks: [4, 2] }] }),
  );
});
/** The trials of a study journal (number, key, values), in trial-number order. */
async function trialsOf(dir: string): Promise<{ number?: number; key?: string; values?: number[] }[]> {
  type Line = { type: string; number?: number; key?: string; values?: number[] };
  return (await fsp.readFile(path.join(dir, 'trials.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.type === 'trial')
    .map((l) => ({ number: l.number, key: l.key, values: l.values }))
    .sort((a, b) => a.number! - b.number!);
}

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

describe('supernet training pipeline', () => {
  it('trains, evaluates the heuristic subnets and writes a supernet folder that loads back exactly', async () => {
    const out = path.join(root, 'supernet');
    const result = await runSupernetTraining({
      model: path.join(root, 'model'),
      data: path.join(root, 'data.jsonl'),
      space: path.join(root, 'space.json'),
      out,
      rule: 'sandwich',
      steps: 12,
      lr: 5e-3,
      warmupSteps: 2,
      batchSize: 4,
      gradAccum: 1,
      maxLength: 48,
      weightDecay: 0,
      seed: 0,
      progress: new Progress({ quiet: true }),
    });
    expect(result.validation.map((m) => m.name)).toEqual(['max', 'median', 'min']);
    for (const m of result.validation) {
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(m.loss)).toBe(true);
    }
    expect(result.training.records).toHaveLength(36);
    for (const f of ['supernet.json', 'adapters.safetensors', 'training-log.jsonl', 'validation.json']) expect(existsSync(path.join(out, f)), f).toBe(true);

    const loaded = await loadSupernet(out);
    expect(loaded.space.size).toBe(4);
    // The loaded supernet evaluates to the same validation loss as the trained one.
    const { evaluateSubnets, prepareValidation, loadTaskData } = await import('../../src/pipeline/train-supernet.js');
    const task = await loadTaskData(path.join(root, 'data.jsonl'), { seed: 0 });
    const again = await evaluateSubnets(loaded.model, loaded.adapters, loaded.space, prepareValidation(task, loaded.tokenizer, 48), [
      { name: 'max', config: loaded.space.maxConfig() },
    ]);
    expect(again[0]!.loss).toBe(result.validation[0]!.loss);
    loaded.adapters.dispose();
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(50);
  });

  it('refuses a base model whose weights changed since training', async () => {
    const out = path.join(root, 'supernet');
    const modelFile = path.join(root, 'model', 'model.safetensors');
    const original = await fsp.readFile(modelFile);
    const changed = Buffer.from(original);
    changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 0x01, changed.length - 1);
    await fsp.writeFile(modelFile, changed);
    try {
      await expect(loadSupernet(out)).rejects.toThrow(/weights differ from the ones the supernet was trained on/);
    } finally {
      await fsp.writeFile(modelFile, original);
    }
  });

  it('nls search: a study over the supernet writes its journal and a feasible Pareto front, and analytic params match', async () => {
    const { runSearch, parseConstraint, parseObjectives } = await import('../../src/pipeline/search.js');
    const { adapterParameters } = await import('../../src/predict/cost.js');
    const out = path.join(root, 'search');
    const result = await runSearch({
      supernet: path.join(root, 'supernet'),
      strategy: 'random',
      budget: 6,
      objectives: parseObjectives('accuracy,params'),
      // Per layer: q/k/v at r4 cost 768 (r2: 384), up at r4 320 (r2: 160); the bound splits the 16 subnets.
      constraints: [parseConstraint('params<=1800')],
      seed: 1,
      out,
      progress: new Progress({ quiet: true }),
    });
    expect(result.study.evaluations).toBe(6);
    const lines = (await fsp.readFile(path.join(out, 'trials.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.filter((l) => l.type === 'trial')).toHaveLength(6);
    // Adapter parameters are known to the study (StudyOptions.known), which checks every trial against them.
    expect(lines[0]).toMatchObject({ known: { objectives: ['params'], constraints: ['params<=1800'] } });
    expect(lines.filter((l) => l.type === 'trial' && (l as { state?: string }).state !== 'complete')).toEqual([]);
    const pareto = JSON.parse(await fsp.readFile(path.join(out, 'pareto.json'), 'utf8')) as { front: { config: number[]; values: number[]; constraints: number[] }[] };
    const loaded = await loadSupernet(path.join(root, 'supernet'));
    expect(pareto.front.length).toBeGreaterThan(0);
    for (const t of pareto.front) {
      // The analytic count equals the adapters' own count from their tensor shapes.
      loaded.adapters.setActiveRanks(loaded.space.activeRanks(t.config));
      expect(t.values[1]).toBe(loaded.adapters.activeParameterCount());
      expect(adapterParameters(loaded.config, loaded.space, t.config)).toBe(t.values[1]);
      expect(t.values[1]).toBeLessThanOrEqual(1800);
      expect(t.values[0]).toBeGreaterThanOrEqual(0);
    }
    loaded.adapters.dispose();
    loaded.model.dispose();
    await expect(
      runSearch({ supernet: path.join(root, 'supernet'), strategy: 'random', budget: 6, objectives: ['accuracy'], constraints: [], seed: 1, out, progress: new Progress({ quiet: true }) }),
    ).rejects.toThrow(/--resume/);
    expect(() => parseConstraint('parms<=3')).toThrow(/METRIC<=VALUE/);
  });

  it('nls search with 2 evaluation workers records exactly the trials of 1 worker', async () => {
    const { runSearch } = await import('../../src/pipeline/search.js');
    const run = (workers: number) =>
      runSearch({
        supernet: path.join(root, 'supernet'),
        strategy: 'nsga2',
        strategyOptions: { populationSize: 4 },
        budget: 8,
        batchSize: 4,
        workers,
        objectives: ['accuracy', 'params'],
        constraints: [],
        seed: 3,
        out: path.join(root, `search-w${workers}`),
        progress: new Progress({ quiet: true }),
      });
    await run(1);
    await run(2);
    expect(await trialsOf(path.join(root, 'search-w2'))).toEqual(await trialsOf(path.join(root, 'search-w1')));
  });

  it('nls search --resume continues a stopped study to exactly the trials of an uninterrupted one', async () => {
    const { runSearch } = await import('../../src/pipeline/search.js');
    const base = {
      supernet: path.join(root, 'supernet'),
      strategy: 'nsga2',
      strategyOptions: { populationSize: 4 },
      batchSize: 3,
      objectives: ['accuracy', 'params'] as const,
      constraints: [],
      seed: 5,
      progress: new Progress({ quiet: true }),
    };
    await runSearch({ ...base, objectives: [...base.objectives], budget: 9, out: path.join(root, 'search-full') });
    // Stopped after 5 evaluations (mid-generation, mid-batch), then resumed to the full budget.
    await runSearch({ ...base, objectives: [...base.objectives], budget: 5, out: path.join(root, 'search-cut') });
    await runSearch({ ...base, objectives: [...base.objectives], budget: 9, out: path.join(root, 'search-cut'), resume: true });
    expect(await trialsOf(path.join(root, 'search-cut'))).toEqual(await trialsOf(path.join(root, 'search-full')));
    const pareto = (dir: string) => fsp.readFile(path.join(dir, 'pareto.json'), 'utf8').then((t) => (JSON.parse(t) as { front: unknown }).front);
    expect(await pareto(path.join(root, 'search-cut'))).toEqual(await pareto(path.join(root, 'search-full')));
  });
  it('nls search --space: a sub-space of the supernet is searched, and a space that is not one is refused', async () => {
    const { runSearch } = await import('../../src/pipeline/search.js');
    const sub = path.join(root, 'sub-space.json');
    // q/k/v fixed at r4; up_proj free: 2 layers x 2 choices = 4 configurations.
    await fsp.writeFile(
      sub,
      JSON.stringify({ format: 'nls-search-space/1', name: 'toy-sub', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4] }, { name: 'up', modules: ['up_proj'], ranks: [4, 2] }] }),
    );
    const result = await runSearch({
      supernet: path.join(root, 'supernet'),
      space: sub,
      strategy: 'exhaustive',
      budget: 10,
      objectives: ['accuracy', 'params'],
      constraints: [],
      seed: 0,
      out: path.join(root, 'search-sub'),
      progress: new Progress({ quiet: true }),
    });
    expect(result.study.evaluations).toBe(4);
    // The full space's configuration with the same ranks scores the same.
    const { createSupernetScorer } = await import('../../src/pipeline/scorer.js');
    const full = await createSupernetScorer({ supernet: path.join(root, 'supernet'), backend: 'wasm', needs: ['accuracy', 'params'] });
    const restricted = await createSupernetScorer({ supernet: path.join(root, 'supernet'), backend: 'wasm', needs: ['accuracy', 'params'], spaceFile: sub });
    for (const config of restricted.space.enumerate()) {
      const same = full.space.fromActiveRanks(restricted.space.activeRanks(config));
      expect(await restricted.measure(config)).toEqual(await full.measure(same));
    }
    full.dispose();
    restricted.dispose();

    const bad = path.join(root, 'bad-space.json');
    await fsp.writeFile(bad, JSON.stringify({ format: 'nls-search-space/1', name: 'bad', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 3] }] }));
    await expect(
      runSearch({ supernet: path.join(root, 'supernet'), space: bad, strategy: 'random', budget: 2, objectives: ['params'], constraints: [], seed: 0, out: path.join(root, 'search-bad'), progress: new Progress({ quiet: true }) }),
    ).rejects.toThrow(/bad-space\.json[\s\S]*not a sub-space[\s\S]*up_proj is adapted in the supernet[\s\S]*ranks \[3\] were not trained/);
  });

  it('compareStrategies: strategies share one measurement per configuration, each keeps its own journal and budget', async () => {
    const { compareStrategies } = await import('../../src/pipeline/compare-strategies.js');
    const out = path.join(root, 'compare');
    const result = await compareStrategies({
      supernet: path.join(root, 'supernet'),
      strategies: [
        { strategy: 'heuristic', budget: 3 },
        { strategy: 'exhaustive', budget: 16 },
        { strategy: 'random', label: 'random-again', budget: 5 },
      ],
      objectives: ['accuracy', 'params'],
      constraints: [{ metric: 'params', op: '<=', bound: 1800 }],
      seed: 2,
      out,
      progress: new Progress({ quiet: true }),
    });
    expect(result.strategies.map((s) => [s.label, s.evaluations])).toEqual([
      ['heuristic', 3],
      ['exhaustive', 16],
      ['random-again', 5],
    ]);
    // Exhaustive measured what heuristic had not; random found everything measured already.
    expect(result.strategies.map((s) => s.newlyMeasured)).toEqual([3, 13, 0]);
    expect(result.measured).toBe(16);
    for (const s of result.strategies) {
      expect(existsSync(path.join(out, s.label, 'trials.jsonl'))).toBe(true);
      // Each study knows the parameter count and found it equal to every measurement.
      const journal = (await fsp.readFile(path.join(out, s.label, 'trials.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; state?: string });
      expect(journal[0]).toMatchObject({ known: { objectives: ['params'], constraints: ['params<=1800'] } });
      expect(journal.filter((l) => l.type === 'trial' && l.state !== 'complete')).toEqual([]);
      if (s.best) expect(s.best.metrics.params).toBeLessThanOrEqual(1800);
    }
    // Exhaustive saw every configuration: its front is the combined front, and its best is the best.
    const exhaustive = result.strategies[1]!;
    expect(result.front.map((m) => m.key).sort()).toEqual(exhaustive.front.map((m) => m.key).sort());
    for (const m of result.front) expect(m.foundBy).toContain('exhaustive');
    const combined = JSON.parse(await fsp.readFile(path.join(out, 'pareto.json'), 'utf8')) as { front: { key: string }[] };
    expect(combined.front.map((m) => m.key).sort()).toEqual(result.front.map((m) => m.key).sort());
    await expect(
      compareStrategies({ supernet: path.join(root, 'supernet'), strategies: [{ strategy: 'random', budget: 1 }, { strategy: 'random', budget: 1 }], objectives: ['params'], seed: 0, out }),
    ).rejects.toThrow(/labels must be unique/);
  });
  it('nls search --objectives accuracy,latency scores latency with a predictor file and records it', async () => {
    const { runSearch } = await import('../../src/pipeline/search.js');
    const { LookupTablePredictor, savePredictor } = await import('../../src/predict/index.js');
    const loaded = await loadSupernet(path.join(root, 'supernet'));
    const space = loaded.space;
    loaded.adapters.dispose();
    loaded.model.dispose();
    // A known table: 1 ms base, each gene's larger rank costs (gene + 1) ms more.
    const table = LookupTablePredictor.fromTable(space, 1, space.choiceCounts.map((n, g) => Array.from({ length: n }, (_, c) => (c === 0 ? g + 1 : 0))));
    const file = path.join(root, 'profile', 'latency-predictor.json');
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await savePredictor(file, table);
    const out = path.join(root, 'search-latency');
    const result = await runSearch({
      supernet: path.join(root, 'supernet'),
      strategy: 'exhaustive',
      budget: 20,
      objectives: ['accuracy', 'latency'],
      constraints: [],
      latencyPredictor: file,
      seed: 0,
      out,
      progress: new Progress({ quiet: true }),
    });
    expect(result.study.evaluations).toBe(16);
    for (const t of result.study.trials) expect(t.values![1]).toBeCloseTo(table.predict(t.config), 12);
    const recorded = JSON.parse(await fsp.readFile(path.join(out, 'predictors.json'), 'utf8')) as { latency: { file: string; kind: string } };
    expect(recorded.latency).toMatchObject({ file, kind: 'lookup-table' });
    await expect(
      runSearch({ supernet: path.join(root, 'supernet'), strategy: 'random', budget: 1, objectives: ['latency'], constraints: [], seed: 0, out: path.join(root, 'search-nolat'), progress: new Progress({ quiet: true }) }),
    ).rejects.toThrow(/--latency-predictor/);
  });

  it('nls search --objectives exact,params scores exact-match accuracy by greedy generation', async () => {
    const { createSupernetScorer } = await import('../../src/pipeline/scorer.js');
    const { evaluateExactMatch } = await import('../../src/evaluate/exact-match.js');
    const { loadTaskData } = await import('../../src/pipeline/train-supernet.js');
    const scorer = await createSupernetScorer({ supernet: path.join(root, 'supernet'), backend: 'wasm', needs: ['exact', 'params'] });
    const config = scorer.space.maxConfig();
    const m = await scorer.measure(config);
    scorer.dispose();
    expect(m.exact).toBeGreaterThanOrEqual(0);
    expect(m.exact).toBeLessThanOrEqual(1);
    // The same number from the evaluator directly, on the supernet's validation split.
    const loaded = await loadSupernet(path.join(root, 'supernet'));
    const task = await loadTaskData(path.join(root, 'data.jsonl'), { seed: 0 });
    loaded.adapters.setActiveRanks(loaded.space.activeRanks(config));
    const tokens = Math.max(...task.validation.map((e) => loaded.tokenizer.encode(e.answer).length)) + 1;
    const direct = await evaluateExactMatch(loaded.model, loaded.tokenizer, task.validation, { maxNewTokens: tokens, maxLength: 48 });
    expect(m.exact).toBe(direct.accuracy);
    loaded.adapters.dispose();
    loaded.model.dispose();
  });
  it('nls search --fidelities: slices add up to the full evaluation exactly, trials record their fidelity, and the front is scored in full', async () => {
    const { createSupernetScorer } = await import('../../src/pipeline/scorer.js');
    const { parseFidelities, runSearch } = await import('../../src/pipeline/search.js');
    const supernet = path.join(root, 'supernet');
    // The engine nls search uses by default (auto: onnx here), so the full values are comparable bit for bit.
    const { resolveEngine } = await import('../../src/engine/select.js');
    const scorer = await createSupernetScorer({ supernet, backend: 'wasm', needs: ['accuracy', 'loss', 'exact', 'params'], engine: await resolveEngine('auto') });
    const n = scorer.validationExamples;
    expect(n).toBeGreaterThan(3);
    const full = new Map<string, Record<string, number>>();
    for (const config of scorer.space.enumerate()) {
      const m = await scorer.measure(config);
      full.set(scorer.space.key(config), m);
      // Per-example results of two slices, combined as racing combines them, equal the full evaluation bit for bit.
      const cut = Math.floor(n / 3);
      const a = await scorer.measureSlice(config, 0, cut);
      const b = await scorer.measureSlice(config, cut, n);
      const sum = (xs: number[]) => xs.reduce((p, q) => p + q, 0);
      expect(sum([...a.correct!, ...b.correct!]) / n).toBe(m.accuracy);
      expect(sum([...a.exact!, ...b.exact!]) / n).toBe(m.exact);
      expect(-sum([...a.logLikelihood!, ...b.logLikelihood!]) / sum([...a.tokens!, ...b.tokens!])).toBe(m.loss);
      expect(a.cost.params).toBe(m.params);
    }
    await expect(scorer.measureSlice(scorer.space.maxConfig(), 2, 2)).rejects.toThrow(/slice/);
    scorer.dispose();

    const run = (workers: number, out: string) =>
      runSearch({
        supernet,
        // Random without replacement: all 16 subnets, cheap ones not always last.
        strategy: 'random',
        budget: 16,
        workers,
        batchSize: 2,
        // Every subnet of the toy task has 50% accuracy on its 6 validation examples; the answer loss differs.
        objectives: ['loss', 'params'],
        constraints: [],
        // A low confidence so that the short validation split stops some subnets.
        fidelities: parseFidelities('0.25,0.5,1'),
        racingConfidence: 0.6,
        seed: 1,
        out: path.join(root, out),
        progress: new Progress({ quiet: true }),
      });
    const result = await run(1, 'search-racing');
    const trials = result.study.trials;
    expect(trials).toHaveLength(16);
    const stopped = trials.filter((t) => t.fidelity! < 1);
    expect(stopped.length).toBeGreaterThan(0);
    for (const t of trials) {
      const examples = t.attrs?.['examples'] as number;
      if (t.fidelity === 1) {
        expect(t.values).toEqual([full.get(t.key)!.loss, full.get(t.key)!.params]);
        expect(examples).toBe(n);
      } else {
        expect(examples).toBeLessThan(n);
        expect(t.fidelity).toBeLessThan(1);
      }
    }
    for (const t of result.pareto.front) expect(trials.find((x) => x.number === t.number)!.fidelity).toBe(1);
    // Decisions use earlier rounds only: two workers race exactly as one.
    await run(2, 'search-racing-w2');
    expect(await trialsOf(path.join(root, 'search-racing-w2'))).toEqual(await trialsOf(path.join(root, 'search-racing')));
    expect(() => parseFidelities('0.5,0.25,1')).toThrow(/--fidelities/);
    await expect(
      runSearch({ supernet, strategy: 'random', budget: 2, objectives: ['params'], constraints: [], fidelities: [0.5, 1], seed: 1, out: path.join(root, 'racing-cost-only'), progress: new Progress({ quiet: true }) }),
    ).rejects.toThrow(/--fidelities needs/);
  });
});
