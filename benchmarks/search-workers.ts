/**
 * Parallel evaluation: candidates scored per second with 1 and 2 evaluation worker threads
 * (each its own tfjs-wasm instance and supernet copy), start-up excluded, alternating rounds.
 *
 *   npx tsx benchmarks/search-workers.ts --supernet DIR [--candidates 8] [--rounds 2] [--validation-size 40]
 *
 * DIR is a supernet folder from `nls train`. Prints a table and one JSON line.
 */
import { startScorerPool, type ScorerSpec } from '../src/pipeline/scorer.js';
import type { Config } from '../src/space/index.js';
import { loadSupernetSpace } from '../src/supernet/artifact.js';
import { createRng } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}
const supernet = arg('supernet');
const candidates = Number(arg('candidates', '8'));
const rounds = Number(arg('rounds', '2'));
const spec: ScorerSpec = { supernet, backend: 'wasm', needs: ['accuracy', 'params'], validationSize: Number(arg('validation-size', '40')) };

const space = await loadSupernetSpace(supernet);
const rng = createRng(0);
const pools = { 1: await startScorerPool(spec, 1), 2: await startScorerPool(spec, 2) };
const rate: Record<1 | 2, number[]> = { 1: [], 2: [] };
for (let r = 0; r < rounds; r++) {
  for (const n of r % 2 === 0 ? ([1, 2] as const) : ([2, 1] as const)) {
    const configs: Config[] = Array.from({ length: candidates }, () => space.sample(rng));
    const t = performance.now();
    await Promise.all(configs.map((c) => pools[n].measure(c)));
    rate[n].push(candidates / ((performance.now() - t) / 1000));
  }
}
await pools[1].close();
await pools[2].close();
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = ([1, 2] as const).map((n) => ({ workers: n, candidatesPerSecond: mean(rate[n]) }));
console.log(formatTable(['workers', 'candidates/s'], rows.map((r) => [r.workers, r.candidatesPerSecond])));
const speedup = rows[1]!.candidatesPerSecond / rows[0]!.candidatesPerSecond;
console.log(`2 workers / 1 worker = ${speedup.toFixed(2)}x`);
console.log(JSON.stringify({ benchmark: 'search-workers', supernet, candidates, rounds, validationSize: spec.validationSize, rows, speedup }));
