/**
 * Search strategies on a suite of synthetic problems of the kind nls searches, plus the demo
 * tabular table (docs/benchmarks.md, issue 21).
 *
 * Each synthetic problem is generated from a seed: G rank genes of K ordered choices; accuracy is
 * a sum of concave per-gene gains plus interactions between neighbouring genes plus evaluation
 * noise; the cost is the adapter parameter count (linear in the ranks); optionally a parameter
 * constraint. Because the interactions form a chain, the true Pareto front (and the worst
 * accuracy, for the reference point) is computed exactly by dynamic programming over (gene,
 * choice, parameters), at every size, 4^6 to 3^24. Strategies see noisy accuracy; the hypervolume
 * of a run is that of the true values of the feasible configurations it evaluated, as a fraction
 * of the true front's.
 *
 *   npx tsx benchmarks/strategies.ts [--seeds 10] [--budget 200] [--problems all|NAME,...] [--strategies mobo,linas,nsga2,random (also: mobo-surrogate)]
 *       [--write-problems FILE]   # the problems as JSON, for benchmarks/peers/optuna_strategies.py
 *       [--peers FILE]            # that script's output: compared with, and Mann-Whitney tests
 *       [--curves FILE]           # keep each run's curve there; runs already in it are not run again
 *       [--mobo-options JSON]     # also run "mobo+": mobo with these options (to compare settings)
 *
 * Cost per proposal: the wall time between one evaluation and the next (the strategy's ask and
 * tell plus the study's bookkeeping; the evaluations themselves cost microseconds), mean and
 * maximum over windows of the trial number, printed per strategy.
 *
 * Prints tables and one JSON line.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConstraintSpec, ObjectiveSpec } from '../src/search/contract.js';
import { functionEvaluator } from '../src/search/evaluator.js';
import { Study } from '../src/search/study.js';
import { smallSpace } from '../src/search/testing.js';
import { type Config, loadAndResolveSearchSpace, type SearchSpace } from '../src/space/index.js';
import { hypervolume } from '../src/search/hypervolume.js';
import { exactFront, noiseOf, type SyntheticProblem, syntheticSuite, trueValues } from '../src/search/synthetic-problems.js';
import { formatTable } from '../src/util/table.js';
import { mannWhitneyU } from '../src/evaluate/statistics.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}
const here = path.dirname(fileURLToPath(import.meta.url));

/** A problem the runner can drive: its space, true values, observed values, front and reference. */
interface Problem {
  readonly name: string;
  readonly space: SearchSpace;
  readonly bound: number | null;
  readonly truth: (x: readonly number[]) => [number, number];
  readonly observe: (x: readonly number[], key: string, seed: number) => [number, number];
  readonly trueHv: number;
  readonly reference: [number, number];
  readonly synthetic?: SyntheticProblem;
}

function fromSynthetic(p: SyntheticProblem): Problem {
  const space = smallSpace(Array.from({ length: p.genes }, () => p.choices), p.name);
  const { front, worstAccuracy, maxParams } = exactFront(p);
  const reference: [number, number] = [worstAccuracy, p.bound ?? maxParams];
  return {
    name: p.name,
    space,
    bound: p.bound,
    truth: (x) => trueValues(p, x),
    observe: (x, key, seed) => {
      const [a, c] = trueValues(p, x);
      return [a + noiseOf(p, seed, key), c];
    },
    trueHv: hv2(front, reference),
    reference,
    synthetic: p,
  };
}

async function demoTable(): Promise<Problem> {
  const table = JSON.parse(await fsp.readFile(path.join(here, 'data', 'demo-tabular-table.json'), 'utf8')) as { rows: { key: string; accuracy: number; params: number }[] };
  const space = await loadAndResolveSearchSpace(path.join(here, 'spaces', 'demo-tabular.json'), { numLayers: 4 });
  const byKey = new Map(table.rows.map((r) => [r.key, r]));
  const get = (x: readonly number[]): [number, number] => {
    const r = byKey.get(space.key(x as Config))!;
    return [r.accuracy, r.params];
  };
  const reference: [number, number] = [Math.min(...table.rows.map((r) => r.accuracy)), Math.max(...table.rows.map((r) => r.params))];
  return { name: 'demo-tabular (3^6)', space, bound: null, truth: get, observe: (x) => get(x), trueHv: hv2(table.rows.map((r) => [r.accuracy, r.params]), reference), reference };
}

/** Strategy settings benchmarked: label, registered name, options. */
/**
 * `known`: the study is told that params (and the parameter constraint) are analytic
 * (`StudyOptions.known`), as `nls search` does for adapter parameters; strategies that model
 * objectives use that instead of a surrogate. `mobo-surrogate` (run only when asked for) models
 * them like any other objective, as Optuna's GPSampler does.
 */
const STRATEGIES: Record<string, { strategy: string; options?: Record<string, unknown>; known?: boolean }> = {
  mobo: { strategy: 'mobo', known: true },
  linas: { strategy: 'linas', options: { populationSize: 8 } },
  nsga2: { strategy: 'nsga2', options: { populationSize: 16 } },
  random: { strategy: 'random' },
};
const ON_REQUEST: Record<string, { strategy: string; options?: Record<string, unknown>; known?: boolean }> = {
  'mobo-surrogate': { strategy: 'mobo' },
};

/** Hypervolume fraction after each evaluation of one run. */
async function runOnce(problem: Problem, label: string, seed: number, budget: number, scratch: string): Promise<Run> {
  const s = STRATEGIES[label]!;
  const objectives: ObjectiveSpec[] = [
    { name: 'accuracy', direction: 'maximize' },
    { name: 'params', direction: 'minimize' },
  ];
  const constraints: ConstraintSpec[] = problem.bound !== null ? [{ name: `params<=${problem.bound}` }] : [];
  const evaluated: [number, number][] = [];
  const curve: number[] = [];
  const proposalMs: number[] = [];
  let last = performance.now();
  const study = await Study.create({
    journal: path.join(scratch, `${label}-${seed}-${Math.random().toString(36).slice(2)}.jsonl`),
    space: problem.space,
    evaluator: functionEvaluator((config, t) => {
      const now = performance.now();
      proposalMs.push(now - last);
      const [acc, params] = problem.observe(config, t.key, seed);
      const truth = problem.truth(config);
      if (problem.bound === null || truth[1] <= problem.bound) evaluated.push(truth);
      curve.push(hv2(evaluated, problem.reference) / problem.trueHv);
      last = performance.now();
      return { values: [acc, params], ...(problem.bound !== null ? { constraints: [params - problem.bound] } : {}) };
    }),
    strategy: s.strategy,
    ...(s.options ? { strategyOptions: s.options } : {}),
    objectives,
    constraints,
    seed,
    budget,
    fsync: false,
    ...(s.known
      ? {
          known: {
            objectives: { params: (x: Config) => problem.truth(x)[1] },
            ...(problem.bound !== null ? { constraints: { [constraints[0]!.name]: (x: Config) => problem.truth(x)[1] - problem.bound! } } : {}),
          },
        }
      : {}),
  });
  const t = performance.now();
  last = t;
  await study.run();
  return { curve, seconds: (performance.now() - t) / 1000, proposalMs };
}

/** One run: hypervolume fraction after each evaluation, wall time, time before each evaluation. */
interface Run {
  readonly curve: number[];
  readonly seconds: number;
  /** Absent in curves files written before it was recorded. */
  readonly proposalMs?: number[];
}

/** Trial-number windows of the cost-per-proposal table. */
const COST_WINDOWS: readonly [number, number][] = [
  [1, 50],
  [51, 100],
  [101, 200],
  [201, 400],
];

/** Hypervolume of (accuracy: maximise, params: minimise) points. */
const hv2 = (points: readonly (readonly number[])[], ref: readonly [number, number]) => hypervolume(points, ref, ['maximize', 'minimize']);

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  // At a whole position no interpolation: Infinity (a level never reached) times 0 would be NaN.
  if (pos === lo) return s[lo]!;
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
};
const at = (curve: readonly number[], n: number) => curve[Math.min(n, curve.length) - 1] ?? 0;
const firstReach = (curve: readonly number[], level: number) => {
  const i = curve.findIndex((v) => v >= level);
  return i < 0 ? Infinity : i + 1;
};

async function main(): Promise<void> {
  const suite = syntheticSuite();
  if (process.argv.includes('--write-problems')) {
    const file = arg('write-problems');
    // The demo table goes as a lookup: every configuration (choice indices) with its values.
    const table = await demoTable();
    const rows = [...table.space.enumerate()].map((config) => {
      const [accuracy, params] = table.truth(config);
      return { config, accuracy, params };
    });
    const tableProblem = { name: table.name, choiceCounts: table.space.choiceCounts, bound: null, table: rows };
    const problems = [...suite.map((p) => ({ ...p, front: exactFront(p) })), tableProblem];
    await fsp.writeFile(file, `${JSON.stringify({ format: 'nls-synthetic-problems/1', problems })}\n`);
    console.error(`wrote ${problems.length} problems to ${file}`);
    return;
  }
  const seeds = Number(arg('seeds', '10'));
  const budget = Number(arg('budget', '200'));
  if (process.argv.includes('--mobo-options')) STRATEGIES['mobo+'] = { strategy: 'mobo', options: JSON.parse(arg('mobo-options')) as Record<string, unknown>, known: true };
  const labels = arg('strategies', Object.keys(STRATEGIES).join(',')).split(',');
  for (const l of labels) {
    const entry = STRATEGIES[l] ?? ON_REQUEST[l];
    if (!entry) throw new Error(`unknown strategy label ${l}; use ${[...Object.keys(STRATEGIES), ...Object.keys(ON_REQUEST)].join(', ')}`);
    STRATEGIES[l] = entry;
  }
  const wanted = arg('problems', 'all');
  const problems: Problem[] = [...suite.map(fromSynthetic), await demoTable()].filter((p) => wanted === 'all' || wanted.split(',').includes(p.name));
  const budgets = [25, 50, 100, 200, 400].filter((b) => b <= budget);
  const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-bench-strategies-'));
  const peers = process.argv.includes('--peers')
    ? (JSON.parse(await fsp.readFile(arg('peers'), 'utf8')) as { runs: { problem: string; sampler: string; seed: number; configs: number[][] }[] })
    : undefined;
  // horizon: the budget a peer's runs were made with (its values beyond it are unknown, not flat).
  const results: Record<string, Record<string, { curves: number[][]; seconds: number[]; proposalMs: number[][]; horizon?: number }>> = {};
  const known = (r: { horizon?: number }, b: number) => r.horizon === undefined || b <= r.horizon;
  // Runs are deterministic: a curves file lets a later invocation (e.g. with --peers) reuse them.
  const curvesFile = process.argv.includes('--curves') ? arg('curves') : undefined;
  type Saved = Record<string, Run>;
  const saved: Saved = curvesFile ? ((await fsp.readFile(curvesFile, 'utf8').then((t) => JSON.parse(t) as Saved, () => ({}))) as Saved) : {};
  for (const problem of problems) {
    results[problem.name] = {};
    for (const label of labels) {
      const curves: number[][] = [];
      const seconds: number[] = [];
      const proposalMs: number[][] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const id = `${problem.name}|${label}|${JSON.stringify(STRATEGIES[label])}|${seed}|${budget}`;
        const r = saved[id] ?? (await runOnce(problem, label, seed, budget, scratch));
        if (curvesFile && !saved[id]) {
          saved[id] = r;
          await fsp.writeFile(curvesFile, JSON.stringify(saved));
        }
        curves.push(r.curve);
        seconds.push(r.seconds);
        if (r.proposalMs) proposalMs.push(r.proposalMs);
      }
      results[problem.name]![label] = { curves, seconds, proposalMs };
      process.stderr.write(`${problem.name} ${label}: median HV fraction at ${budget} ${quantile(curves.map((c) => at(c, budget)), 0.5).toFixed(3)}, ${(seconds.reduce((a, b) => a + b, 0) / seeds).toFixed(1)} s per run\n`);
    }
    // Peers: the configurations each sampler evaluated, scored here with the same code.
    for (const run of peers?.runs.filter((r) => r.problem === problem.name) ?? []) {
      const entry = (results[problem.name]![`optuna ${run.sampler}`] ??= { curves: [], seconds: [], proposalMs: [] });
      entry.horizon = Math.min(entry.horizon ?? Infinity, run.configs.length);
      const evaluated: [number, number][] = [];
      const curve: number[] = [];
      for (const x of run.configs.slice(0, budget)) {
        const truth = problem.truth(x);
        if (problem.bound === null || truth[1] <= problem.bound) evaluated.push(truth);
        curve.push(hv2(evaluated, problem.reference) / problem.trueHv);
      }
      entry.curves.push(curve);
    }
  }
  await fsp.rm(scratch, { recursive: true, force: true });

  const summary: Record<string, unknown> = {};
  for (const [name, byStrategy] of Object.entries(results)) {
    console.log(`\n${name}: hypervolume as a fraction of the true front's, median [IQR] over ${seeds} seeds`);
    const rows: string[][] = [];
    for (const [label, r] of Object.entries(byStrategy)) {
      const cells = budgets.map((b) => {
        if (!known(r, b)) return '-';
        const xs = r.curves.map((c) => at(c, b));
        return `${quantile(xs, 0.5).toFixed(3)} [${quantile(xs, 0.25).toFixed(3)}, ${quantile(xs, 0.75).toFixed(3)}]`;
      });
      const reach = (level: number) => {
        const xs = r.curves.map((c) => firstReach(c, level));
        const m = quantile(xs, 0.5);
        return Number.isFinite(m) ? String(m) : `>${Math.min(budget, r.horizon ?? Infinity)}`;
      };
      rows.push([r.curves.length === seeds ? label : `${label} (${r.curves.length} runs)`, ...cells, reach(0.95), reach(0.99)]);
    }
    console.log(formatTable(['strategy', ...budgets.map((b) => `N=${b}`), 'to 95%', 'to 99%'], rows));
    const tests: Record<string, Record<number, { median: number; peerMedian: number; p: number; peerRuns: number }>> = {};
    for (const peer of Object.keys(byStrategy).filter((l) => l.startsWith('optuna '))) {
      for (const label of Object.keys(byStrategy).filter((l) => !l.startsWith('optuna '))) {
        for (const b of budgets.filter((b) => known(byStrategy[peer]!, b))) {
          const mine = byStrategy[label]!.curves.map((c) => at(c, b));
          const theirs = byStrategy[peer]!.curves.map((c) => at(c, b));
          (tests[`${label} vs ${peer}`] ??= {})[b] = { median: quantile(mine, 0.5), peerMedian: quantile(theirs, 0.5), p: mannWhitneyU(mine, theirs).p, peerRuns: theirs.length };
        }
      }
    }
    const costs: Record<string, Record<string, { meanMs: number; maxMs: number }>> = {};
    for (const [label, r] of Object.entries(byStrategy)) {
      for (const [from, to] of COST_WINDOWS.filter(([f]) => f <= budget)) {
        const xs = r.proposalMs.flatMap((ms) => ms.slice(from - 1, to));
        if (xs.length === 0) continue;
        (costs[label] ??= {})[`${from}-${to}`] = { meanMs: xs.reduce((a, b) => a + b, 0) / xs.length, maxMs: Math.max(...xs) };
      }
    }
    if (Object.keys(costs).length > 0) {
      const windows = COST_WINDOWS.filter(([f]) => f <= budget).map(([f, t]) => `${f}-${t}`);
      console.log('Cost per proposal (ms between evaluations), mean / max, by trial number');
      console.log(formatTable(['strategy', ...windows], Object.entries(costs).map(([label, c]) => [label, ...windows.map((w) => (c[w] ? `${c[w].meanMs.toFixed(0)} / ${c[w].maxMs.toFixed(0)}` : '-'))])));
    }
    if (Object.keys(tests).length > 0) {
      console.log('Against the peers: median vs peer median (ratio), two-sided Mann-Whitney U p (exact without ties)');
      console.log(
        formatTable(
          ['comparison', ...budgets.map((b) => `N=${b}`)],
          Object.entries(tests).map(([k, v]) => [k, ...budgets.map((b) => (v[b] ? `${v[b].median.toFixed(3)} vs ${v[b].peerMedian.toFixed(3)} (x${(v[b].median / v[b].peerMedian).toFixed(3)}), p=${v[b].p.toFixed(3)}` : '-'))]),
        ),
      );
    }
    summary[name] = {
      strategies: Object.fromEntries(
        Object.entries(byStrategy).map(([label, r]) => [
          label,
          {
            median: Object.fromEntries(budgets.filter((b) => known(r, b)).map((b) => [b, quantile(r.curves.map((c) => at(c, b)), 0.5)])),
            iqr: Object.fromEntries(budgets.filter((b) => known(r, b)).map((b) => [b, [quantile(r.curves.map((c) => at(c, b)), 0.25), quantile(r.curves.map((c) => at(c, b)), 0.75)]])),
            runs: r.curves.length,
            to95: quantile(r.curves.map((c) => firstReach(c, 0.95)), 0.5),
            to99: quantile(r.curves.map((c) => firstReach(c, 0.99)), 0.5),
            secondsPerRun: r.seconds.length > 0 ? r.seconds.reduce((a, b) => a + b, 0) / r.seconds.length : null,
          },
        ]),
      ),
      tests,
      costPerProposal: costs,
    };
  }
  console.log(JSON.stringify({ benchmark: 'strategies', seeds, budget, results: summary }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
