/**
 * The NLS papers' findings on the built-in tasks (docs/results.md): `nls replicate` as a
 * benchmark script, printing the summary table, the findings and one JSON line.
 *
 *   npx tsx benchmarks/paper.ts [--budget smoke|small|full] [--out runs/replicate] [--engine auto]
 *
 * The study folder is kept (default runs/replicate): run the same command again to resume it,
 * `nls report runs/replicate` renders it. `nls replicate --out DIR --budget B` does the same
 * with a run manifest, so `nls reproduce DIR` re-runs it.
 */
import * as os from 'node:os';
import { formatResults, REPLICATE_BUDGETS, runReplicate } from '../src/pipeline/replicate.js';
import type { EngineRequest } from '../src/engine/types.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const budget = arg('budget', 'small') as keyof typeof REPLICATE_BUDGETS;
const out = arg('out', 'runs/replicate');
const started = performance.now();
const result = await runReplicate({ out, budget, engine: arg('engine', 'auto') as EngineRequest });
console.log(formatResults(result));
console.log(
  JSON.stringify({
    benchmark: 'paper',
    budget,
    seconds: (performance.now() - started) / 1000,
    loadAverage: os.loadavg(),
    summary: result.summary.map((s) => ({ task: s.task, base: s.base, row: s.row, params: s.params, test: s.test.mean, testHalfWidth: s.test.halfWidth, n: s.test.n })),
    findings: result.findings.map((f) => ({ id: f.id, held: f.checks.filter((c) => c.holds).length, of: f.checks.length })),
  }),
);
