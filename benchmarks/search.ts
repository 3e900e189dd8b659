/**
 * Tabular search benchmark: every configuration of a small sub-space of the demo supernet is
 * evaluated once and kept in a table file; the strategies then run against the table (a lookup per
 * evaluation) for many seeds, so their sample efficiency is compared without evaluation noise or
 * cost. Reports best-so-far feasible accuracy and hypervolume against evaluations (mean and
 * standard error over seeds, one reference point for all) and the evaluations each strategy needs
 * to reach 99% of the table's true hypervolume, with random search as the baseline.
 *
 *   # once: train the demo supernet and keep it, then evaluate the whole sub-space (2 workers)
 *   npm run demo -- --out /tmp/nls-demo --search-budget 0
 *   npx tsx benchmarks/search.ts --build --supernet /tmp/nls-demo/supernet --validation-size 50
 *   # the benchmark (reads benchmarks/data/demo-tabular-table.json)
 *   npx tsx benchmarks/search.ts [--seeds 20] [--budget 150]
 *
 * Prints tables and one JSON line.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSupernetScorer } from '../src/pipeline/scorer.js';
import type { ConstraintSpec, ObjectiveSpec } from '../src/search/contract.js';
import { functionEvaluator } from '../src/search/evaluator.js';
import { hypervolume } from '../src/search/hypervolume.js';
import { Study } from '../src/search/study.js';
import { loadAndResolveSearchSpace, type SearchSpace } from '../src/space/index.js';
import { loadSupernetSpace } from '../src/supernet/artifact.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const SPACE_FILE = path.join(here, 'spaces', 'demo-tabular.json');
const TABLE_FILE = path.resolve(arg('table', path.join(here, 'data', 'demo-tabular-table.json')));

const flag = (name: string) => process.argv.includes(`--${name}`);

/** The table file: one row per configuration of the sub-space. */
interface TableFile {
  readonly format: 'nls-tabular/1';
  readonly space: { readonly file: string; readonly name: string; readonly fingerprint: string; readonly cardinality: number };
  readonly supernet: { readonly training: unknown; readonly data: unknown; readonly baseModelSha256: unknown };
  readonly validationSize: number | null;
  readonly seconds: number;
  readonly rows: readonly { readonly key: string; readonly accuracy: number; readonly loss: number; readonly params: number }[];
}

async function buildTable(supernet: string, workers: number, validationSize: number | undefined): Promise<void> {
  const space = await loadAndResolveSearchSpace(SPACE_FILE, { numLayers: (await loadSupernetSpace(supernet)).numLayers });
  const scorer = await openSupernetScorer(
    { supernet, backend: 'wasm', needs: ['accuracy', 'loss', 'params'], spaceFile: SPACE_FILE, ...(validationSize !== undefined ? { validationSize } : {}) },
    workers,
  );
  const started = performance.now();
  const configs = [...space.enumerate()];
  let done = 0;
  const rows = await Promise.all(
    configs.map(async (config) => {
      const m = await scorer.measure(config);
      done++;
      if (done % 25 === 0) process.stderr.write(`table ${done}/${configs.length} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
      return { key: space.key(config), accuracy: m.accuracy, loss: m.loss, params: m.params };
    }),
  );
  await scorer.close();
  const manifest = JSON.parse(await fsp.readFile(path.join(supernet, 'supernet.json'), 'utf8')) as { training: unknown; data: unknown; baseModelSha256: unknown };
  const table: TableFile = {
    format: 'nls-tabular/1',
    space: { file: path.relative(path.join(here, '..'), SPACE_FILE), name: space.name, fingerprint: space.fingerprint, cardinality: configs.length },
    supernet: { training: manifest.training, data: manifest.data, baseModelSha256: manifest.baseModelSha256 },
    validationSize: validationSize ?? null,
    seconds: (performance.now() - started) / 1000,
    rows,
  };
  await fsp.mkdir(path.dirname(TABLE_FILE), { recursive: true });
  await writeFileAtomic(TABLE_FILE, `${JSON.stringify(table)}\n`);
  console.error(`wrote ${TABLE_FILE}: ${rows.length} configurations in ${table.seconds.toFixed(0)} s`);
}

/** The benchmarked strategies: label, registered name, options. */
function strategies(paramsBound: number): { label: string; strategy: string; options?: Record<string, unknown> }[] {
  return [
    { label: 'random', strategy: 'random' },
    { label: 'nsga2', strategy: 'nsga2', options: { populationSize: 16 } },
    { label: 'aging', strategy: 'nsga2', options: { populationSize: 16, algorithm: 'aging' } },
    { label: 'linas', strategy: 'linas', options: { populationSize: 16 } },
    { label: 'hill-climbing', strategy: 'hill-climbing', options: { scalarization: 'bounded', bound: paramsBound, start: 'random', restarts: 1000 } },
    { label: 'heuristic', strategy: 'heuristic' },
  ];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stderr = (xs: readonly number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) / xs.length);
};

async function runBenchmark(): Promise<void> {
  const table = JSON.parse(await fsp.readFile(TABLE_FILE, 'utf8')) as TableFile;
  const space: SearchSpace = await loadAndResolveSearchSpace(SPACE_FILE, { numLayers: 4 });
  if (space.fingerprint !== table.space.fingerprint) throw new Error(`${TABLE_FILE} was built for another version of ${SPACE_FILE}; rebuild it with --build`);
  const byKey = new Map(table.rows.map((r) => [r.key, r]));
  const seeds = Number(arg('seeds', '10'));
  const budget = Number(arg('budget', String(table.rows.length)));
  const objectives: ObjectiveSpec[] = [
    { name: 'accuracy', direction: 'maximize' },
    { name: 'params', direction: 'minimize' },
  ];
  const params = table.rows.map((r) => r.params);
  const paramsBound = Math.round((Math.min(...params) + Math.max(...params)) / 2);
  const constraints: ConstraintSpec[] = [{ name: `params<=${paramsBound}` }];
  // One reference point for every run: the worst accuracy of the table, the parameter bound.
  const reference = [Math.min(...table.rows.map((r) => r.accuracy)), paramsBound];
  const feasibleRows = table.rows.filter((r) => r.params <= paramsBound);
  const trueHv = hypervolume(
    feasibleRows.map((r) => [r.accuracy, r.params]),
    reference,
    objectives,
  );
  const bestAccuracy = Math.max(...feasibleRows.map((r) => r.accuracy));
  const checkpoints = [5, 10, 25, 50, 100, 200, 400, budget].filter((b, i, a) => b <= budget && a.indexOf(b) === i);
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-bench-search-'));
  type Curve = { bestAcc: number[]; hv: number[]; toTarget: number | undefined; evaluations: number };
  const results = new Map<string, Curve[]>();
  const started = performance.now();
  for (const s of strategies(paramsBound)) {
    const curves: Curve[] = [];
    for (let seed = 0; seed < seeds; seed++) {
      // Curves over evaluations, from the study's own progress snapshots (feasible best and
      // hypervolume of the feasible front, kept incrementally by the study's tracker).
      const bestAcc: number[] = [];
      const hv: number[] = [];
      let toTarget: number | undefined;
      const study = await Study.create({
        journal: path.join(tmp, `${s.label}-${seed}.jsonl`),
        space,
        evaluator: functionEvaluator((config) => {
          const row = byKey.get(space.key(config));
          if (!row) throw new Error(`configuration ${space.key(config)} is not in the table`);
          return { values: [row.accuracy, row.params], constraints: [row.params - paramsBound] };
        }),
        strategy: s.strategy,
        ...(s.options ? { strategyOptions: s.options } : {}),
        objectives,
        constraints,
        seed,
        budget,
        referencePoint: reference,
        fsync: false,
        onProgress: (p) => {
          if (p.evaluations === bestAcc.length) return; // a cached repeat: no evaluation spent
          bestAcc.push(p.best['accuracy'] ?? Number.NaN);
          hv.push(p.hypervolume ?? 0);
          if (toTarget === undefined && hv[hv.length - 1]! >= 0.99 * trueHv) toTarget = p.evaluations;
        },
      });
      await study.run();
      curves.push({ bestAcc, hv, toTarget, evaluations: bestAcc.length });
    }
    results.set(s.label, curves);
  }
  await fsp.rm(tmp, { recursive: true, force: true });

  const at = (xs: number[], n: number) => (xs.length === 0 ? Number.NaN : xs[Math.min(n, xs.length) - 1]!);
  const fmt = (xs: number[], digits: number) => {
    const v = xs.filter(Number.isFinite);
    return v.length === 0 ? '-' : `${mean(v).toFixed(digits)} ± ${stderr(v).toFixed(digits)}`;
  };
  console.log(
    `Tabular benchmark: ${table.space.name} (${table.rows.length} configurations, ${feasibleRows.length} feasible with params <= ${paramsBound}); ` +
      `best feasible accuracy ${(bestAccuracy * 100).toFixed(1)}%; true hypervolume ${trueHv.toFixed(2)} (reference [${reference.join(', ')}]); ${seeds} seeds, budget ${budget}`,
  );
  console.log('\nBest-so-far feasible accuracy (%), mean ± standard error over seeds, after N evaluations');
  console.log(
    formatTable(
      ['strategy', ...checkpoints.map((n) => `N=${n}`)],
      [...results].map(([label, curves]) => [label, ...checkpoints.map((n) => fmt(curves.map((c) => at(c.bestAcc, n) * 100), 1))]),
    ),
  );
  console.log('\nHypervolume as % of the true hypervolume, after N evaluations');
  console.log(
    formatTable(
      ['strategy', ...checkpoints.map((n) => `N=${n}`)],
      [...results].map(([label, curves]) => [label, ...checkpoints.map((n) => fmt(curves.map((c) => (at(c.hv, n) / trueHv) * 100), 1))]),
    ),
  );
  const toTargetRows = [...results].map(([label, curves]) => {
    const reached = curves.filter((c) => c.toTarget !== undefined).map((c) => c.toTarget!);
    return { label, reached: reached.length, runs: curves.length, meanEvaluations: reached.length > 0 ? mean(reached) : null, se: stderr(reached) };
  });
  const randomEvals = toTargetRows.find((r) => r.label === 'random')?.meanEvaluations ?? null;
  console.log('\nEvaluations to reach 99% of the true hypervolume (runs that reached it within the budget)');
  console.log(
    formatTable(
      ['strategy', 'reached', 'evaluations (mean ± SE)', 'vs random'],
      toTargetRows.map((r) => [
        r.label,
        `${r.reached}/${r.runs}`,
        r.meanEvaluations === null ? '-' : `${r.meanEvaluations.toFixed(1)} ± ${r.se.toFixed(1)}`,
        r.meanEvaluations === null || randomEvals === null ? '-' : `${(r.meanEvaluations / randomEvals).toFixed(2)}x`,
      ]),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n${seconds.toFixed(1)} s`);
  console.log(
    JSON.stringify({
      benchmark: 'search-tabular',
      space: table.space,
      paramsBound,
      reference,
      trueHypervolume: trueHv,
      bestFeasibleAccuracy: bestAccuracy,
      seeds,
      budget,
      strategies: Object.fromEntries(
        [...results].map(([label, curves]) => [
          label,
          {
            bestAccuracy: Object.fromEntries(checkpoints.map((n) => [n, mean(curves.map((c) => at(c.bestAcc, n)).filter(Number.isFinite))])),
            hypervolumeFraction: Object.fromEntries(checkpoints.map((n) => [n, mean(curves.map((c) => at(c.hv, n) / trueHv))])),
            toTarget: toTargetRows.find((r) => r.label === label),
          },
        ]),
      ),
      seconds,
    }),
  );
}

if (flag('build')) {
  const v = process.argv.includes('--validation-size') ? Number(arg('validation-size')) : undefined;
  await buildTable(arg('supernet'), Number(arg('workers', '2')), v);
} else await runBenchmark();
