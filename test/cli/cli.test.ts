import { describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';

describe('nls CLI', () => {
  it('demo --json runs the pipeline (short run) and writes one JSON document to stdout, JSON lines to stderr', async () => {
    const { stdout, stderr, code } = await nls('demo', '--json', '--steps', '2', '--train-size', '32', '--validation-size', '8', '--test-size', '8', '--search-budget', '3');
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as {
      rows: { name: string; adapterParameters: number; loss: number; accuracy: number }[];
      backend: { name: string };
      task: { majorityAccuracy: number };
      search: {
        paramsBound: number;
        strategies: { label: string; evaluations: number; best?: { metrics: { params: number; accuracy: number } } }[];
        front: { key: string; metrics: { params: number; accuracy: number }; foundBy: string[] }[];
      };
      sparsify: { method: string; overall: { sparsity: number }; perplexity: { before: number; after: number } };
      merge: { key: string; nonZerosBefore: number; nonZerosAfter: number; newNonZeros: number; maxLogitDiff: number };
    };
    // The search stage: four strategies within their budgets, feasible bests, a non-empty front.
    // (heuristic: at most its five named subnets; two of them may be the same configuration)
    expect(result.search.strategies.map((s) => [s.label, s.label === 'heuristic' ? Math.min(s.evaluations, 5) : s.evaluations])).toEqual([
      ['heuristic', result.search.strategies[0]!.evaluations],
      ['random', 3],
      ['nsga2', 3],
      ['hill-climbing', 3],
    ]);
    expect(result.search.strategies[0]!.evaluations).toBeGreaterThanOrEqual(3);
    for (const s of result.search.strategies) if (s.best) expect(s.best.metrics.params).toBeLessThanOrEqual(result.search.paramsBound);
    expect(result.search.front.length).toBeGreaterThan(0);
    for (const m of result.search.front) expect(m.metrics.params).toBeLessThanOrEqual(result.search.paramsBound);
    expect(result.backend.name).toBe('wasm');
    expect(result.rows.map((s) => s.name)).toEqual(['base', 'lora', 'max', 'median', 'min']);
    const params = Object.fromEntries(result.rows.map((r) => [r.name, r.adapterParameters]));
    expect(params.base).toBe(0);
    expect(params.lora).toBe(params.max);
    expect(params.max).toBeGreaterThan(params.median!);
    expect(params.median).toBeGreaterThan(params.min!);
    for (const r of result.rows) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
    }
    expect(result.task.majorityAccuracy).toBe(0.5);
    // Shears / SQFT stages: a 50%-sparse base, and the chosen front member merged into it with
    // not one new non-zero and the logits of base + adapter.
    expect(result.sparsify.method).toBe('wanda');
    expect(result.sparsify.overall.sparsity).toBe(0.5);
    expect(Number.isFinite(result.sparsify.perplexity.after)).toBe(true);
    expect(result.search.front.map((m) => m.key)).toContain(result.merge.key);
    expect(result.merge.nonZerosAfter).toBe(result.merge.nonZerosBefore);
    expect(result.merge.newNonZeros).toBe(0);
    expect(result.merge.maxLogitDiff).toBeLessThan(1e-3);
    for (const line of stderr.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it('--quiet keeps stderr empty', async () => {
    const { stderr, code } = await nls('space', 'demo', '--layers', '4', '--quiet');
    expect(code).toBe(0);
    expect(stderr).toBe('');
  });

  it('space reports heuristics of a shipped space', async () => {
    const { stdout, code } = await nls('space', 'shears-llama', '--layers', '32', '--json');
    expect(code).toBe(0);
    const s = JSON.parse(stdout) as { genes: number; cardinality: string; heuristics: Record<string, string> };
    expect(s.genes).toBe(96);
    expect(BigInt(s.cardinality)).toBe(3n ** 96n);
  });

  it('bad input exits 1 with an error naming the file and the fix', async () => {
    const { stderr, code } = await nls('space', '/no/such/space.json', '--layers', '4');
    expect(code).toBe(1);
    expect(stderr).toMatch(/\/no\/such\/space\.json: .*fix: /);
  });

  it('usage errors exit 2', async () => {
    const { stderr, code } = await nls('no-such-command');
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command 'no-such-command'/);
  });

  it('an unavailable backend is refused with install instructions', async () => {
    const { stderr, code } = await nls('demo', '--backend', 'gpu');
    expect(code).toBe(1);
    expect(stderr).toMatch(/npm install @tensorflow\/tfjs-node-gpu/);
  });
});
