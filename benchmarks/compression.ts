/**
 * The Shears / SQFT table on the demo task: validation accuracy of the max, heuristic (median) and
 * searched subnets of an NLS supernet trained on a Wanda-sparsified demo model at several
 * sparsities, with and without int4 quantization of the base (QA-SparsePEFT), and a plain
 * fixed-rank LoRA trained on the same base as reference. Each cell is one run of the demo
 * pipeline (`runDemo`: sparsify -> [quantize] -> train supernet + LoRA -> search -> merge), so the
 * numbers are those `npm run demo -- --sparsity S` prints.
 *
 *   npx tsx benchmarks/compression.ts [--sparsities 0,0.3,0.5,0.7] [--quant none,int4] [--steps 150] [--search-budget 12] [--seed 0]
 *   npx tsx benchmarks/compression.ts --cells int4:0.5,none:0.7   # chosen cells, in this order
 *
 * Prints a table and one JSON line. About 4-6 minutes per cell on two idle cores.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { QuantSpec } from '../src/compress/quantize.js';
import { DEMO_SEARCH_BUDGET, DEMO_STEPS, runDemo } from '../src/pipeline/demo.js';
import { Progress } from '../src/util/progress.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const sparsities = arg('sparsities', '0,0.3,0.5,0.7').split(',').map(Number);
const quants = arg('quant', 'none,int4').split(',');
// --cells int4:0.5,none:0.7,... runs exactly these cells in this order (default: every quant x sparsity).
const cellList = arg('cells', '')
  ? arg('cells', '')
      .split(',')
      .map((c) => {
        const [quant, sparsity] = c.split(':');
        return { quant: quant!, sparsity: Number(sparsity) };
      })
  : quants.flatMap((quant) => sparsities.map((sparsity) => ({ quant, sparsity })));
const steps = Number(arg('steps', String(DEMO_STEPS)));
const searchBudget = Number(arg('search-budget', String(DEMO_SEARCH_BUDGET)));
const seed = Number(arg('seed', '0'));
const INT4: QuantSpec = { bits: 4, groupSize: 32, symmetric: true };

interface Cell {
  sparsity: number;
  quant: string;
  measuredSparsity: number;
  perplexity: number | null;
  base: number;
  lora: number;
  max: number;
  median: number;
  searched: number;
  searchedKey: string;
  searchedParams: number;
  maxParams: number;
  mergeKeptSparsity: boolean | null;
  seconds: number;
}

const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-bench-compression-'));
const cells: Cell[] = [];
const started = performance.now();
for (const { quant, sparsity } of cellList) {
  {
    const t0 = performance.now();
    process.stderr.write(`sparsity ${sparsity}, ${quant}: running the demo pipeline\n`);
    const r = await runDemo({
      sparsity,
      ...(quant === 'int4' ? { quantization: INT4 } : {}),
      steps,
      searchBudget,
      seed,
      out: path.join(tmp, `${quant}-${sparsity}`),
      progress: new Progress({ quiet: true }),
    });
    const acc = (name: string): number => r.rows.find((x) => x.name === name)?.accuracy ?? Number.NaN;
    const best = [...(r.search?.front ?? [])].sort((a, b) => (b.metrics.accuracy ?? 0) - (a.metrics.accuracy ?? 0) || (a.metrics.params ?? 0) - (b.metrics.params ?? 0))[0];
    cells.push({
      sparsity,
      quant,
      measuredSparsity: r.sparsify?.overall.sparsity ?? 0,
      perplexity: r.quantize?.evaluation.after.perplexity ?? r.sparsify?.perplexity.after ?? null,
      base: acc('base'),
      lora: acc('lora'),
      max: acc('max'),
      median: acc('median'),
      searched: best?.metrics.accuracy ?? Number.NaN,
      searchedKey: best?.key ?? '',
      searchedParams: best?.metrics.params ?? Number.NaN,
      maxParams: r.rows.find((x) => x.name === 'max')?.adapterParameters ?? Number.NaN,
      mergeKeptSparsity: r.merge ? r.merge.newNonZeros === 0 : null,
      seconds: (performance.now() - t0) / 1000,
    });
    // Each cell as soon as it is measured, so a long run that is stopped still reports.
    process.stderr.write(`cell ${JSON.stringify(cells[cells.length - 1])}\n`);
    await fsp.rm(path.join(tmp, `${quant}-${sparsity}`), { recursive: true, force: true });
  }
}
await fsp.rm(tmp, { recursive: true, force: true });

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');
console.log(`demo task (SpamAssassin, 100 validation emails), ${steps} steps per training run, search budget ${searchBudget} per strategy, seed ${seed}`);
console.log(
  formatTable(
    ['sparsity', 'base', 'perplexity', 'base acc', 'LoRA (r_max)', 'NLS max', 'NLS heuristic', 'NLS searched', 'searched params', 'merge kept sparsity', 'seconds'],
    cells.map((c) => [
      `${(c.measuredSparsity * 100).toFixed(0)}%`,
      c.quant === 'int4' ? 'int4 (g32, sym)' : 'float',
      c.perplexity === null ? 'float, dense' : c.perplexity.toFixed(3),
      pct(c.base),
      pct(c.lora),
      pct(c.max),
      pct(c.median),
      pct(c.searched),
      `${c.searchedParams.toLocaleString('en-US')} / ${c.maxParams.toLocaleString('en-US')}`,
      c.mergeKeptSparsity === null ? '-' : c.mergeKeptSparsity ? 'yes' : 'NO',
      c.seconds.toFixed(0),
    ]),
  ),
);
console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s`);
console.log(JSON.stringify({ benchmark: 'compression', steps, searchBudget, seed, cells }));
