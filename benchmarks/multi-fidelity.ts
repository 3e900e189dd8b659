/**
 * Multi-fidelity savings: the same search of a trained supernet with every subnet scored on the
 * full validation split, and with racing (`--fidelities`), side by side in one run. Reports the
 * validation examples scored (the work racing saves), wall time, trials stopped early, and the
 * final Pareto front (hypervolume; for random search, which proposes the same subnets in both
 * modes, also whether the fronts are identical).
 *
 *   # once: train the demo supernet and keep it
 *   npm run demo -- --out /tmp/nls-demo --search-budget 0
 *   npx tsx benchmarks/multi-fidelity.ts --supernet /tmp/nls-demo/supernet [--budget 40] [--seeds 3] [--fidelities 0.25,0.5,1] [--confidence 0.95]
 *
 * Prints a table and one JSON line.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFidelities, runSearch } from '../src/pipeline/search.js';
import { trialsHypervolume } from '../src/search/results.js';
import type { TrialResult } from '../src/search/contract.js';
import { Progress } from '../src/util/progress.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

const supernet = path.resolve(arg('supernet'));
const budget = Number(arg('budget', '40'));
const seeds = Number(arg('seeds', '3'));
const fidelities = parseFidelities(arg('fidelities', '0.25,0.5,1'));
const confidence = Number(arg('confidence', '0.95'));
const strategies = arg('strategies', 'random,nsga2').split(',');
const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-bench-mf-'));

interface Row {
  strategy: string;
  seed: number;
  mode: 'full' | 'racing';
  seconds: number;
  trials: number;
  stopped: number;
  examples: number;
  fullExamples: number;
  hypervolume: number;
  front: string[];
}

const objectives = [
  { name: 'accuracy', direction: 'maximize' as const },
  { name: 'params', direction: 'minimize' as const },
];

const rows: Row[] = [];
let reference: number[] | undefined;
const started = performance.now();
for (const strategy of strategies) {
  for (let seed = 0; seed < seeds; seed++) {
    // Alternate which mode runs first, so slow drift of a shared machine does not favour one.
    const modes: ('full' | 'racing')[] = seed % 2 === 0 ? ['full', 'racing'] : ['racing', 'full'];
    for (const mode of modes) {
      const t0 = performance.now();
      const result = await runSearch({
        supernet,
        strategy,
        budget,
        objectives: ['accuracy', 'params'],
        constraints: [],
        seed,
        out: path.join(tmp, `${strategy}-${seed}-${mode}`),
        ...(mode === 'racing' ? { fidelities, racingConfidence: confidence } : {}),
        progress: new Progress({ quiet: true }),
      });
      const seconds = (performance.now() - t0) / 1000;
      const trials = result.study.trials.filter((t) => t.attrs?.['cached'] !== true);
      // Reference point: zero accuracy and the largest adapter (all trials of a space share it).
      reference ??= [0, Math.max(...trials.map((t) => t.values?.[1] ?? 0)) * 1.01];
      const examplesOf = (t: TrialResult, field: 'examples' | 'validationExamples'): number => Number(t.attrs?.[field]);
      rows.push({
        strategy,
        seed,
        mode,
        seconds,
        trials: trials.length,
        stopped: trials.filter((t) => (t.fidelity ?? 1) < 1).length,
        examples: trials.reduce((a, t) => a + examplesOf(t, 'examples'), 0),
        fullExamples: trials.reduce((a, t) => a + examplesOf(t, 'validationExamples'), 0),
        hypervolume: trialsHypervolume(result.study.trials, objectives, reference),
        front: result.pareto.front.map((t) => t.key).sort(),
      });
    }
  }
}

const pairs = rows.filter((r) => r.mode === 'racing').map((racing) => ({ racing, full: rows.find((x) => x.mode === 'full' && x.strategy === racing.strategy && x.seed === racing.seed)! }));
console.log(`supernet ${supernet}; budget ${budget}; fidelities ${fidelities.join(', ')}; confidence ${confidence}; reference [${reference?.map((v) => v.toFixed(0)).join(', ')}]`);
console.log(
  formatTable(
    ['strategy', 'seed', 'stopped early', 'examples scored (racing / full)', 'saved', 'seconds (racing / full)', 'speedup', 'hypervolume (racing / full)', 'same front'],
    pairs.map(({ racing, full }) => [
      racing.strategy,
      racing.seed,
      `${racing.stopped} / ${racing.trials}`,
      `${racing.examples} / ${full.examples}`,
      `${((1 - racing.examples / full.examples) * 100).toFixed(1)}%`,
      `${racing.seconds.toFixed(1)} / ${full.seconds.toFixed(1)}`,
      `${(full.seconds / racing.seconds).toFixed(2)}x`,
      `${racing.hypervolume.toFixed(0)} / ${full.hypervolume.toFixed(0)}`,
      racing.front.join(' ') === full.front.join(' ') ? 'yes' : 'no',
    ]),
  ),
);
const summary = strategies.map((strategy) => {
  const ps = pairs.filter((p) => p.racing.strategy === strategy);
  const sum = (f: (p: (typeof ps)[number]) => number) => ps.reduce((a, p) => a + f(p), 0);
  return {
    strategy,
    examplesSaved: 1 - sum((p) => p.racing.examples) / sum((p) => p.full.examples),
    speedup: sum((p) => p.full.seconds) / sum((p) => p.racing.seconds),
    stoppedShare: sum((p) => p.racing.stopped) / sum((p) => p.racing.trials),
    hypervolumeRatio: sum((p) => p.racing.hypervolume) / sum((p) => p.full.hypervolume),
    sameFront: ps.filter((p) => p.racing.front.join(' ') === p.full.front.join(' ')).length,
    runs: ps.length,
  };
});
console.log(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(JSON.stringify({ benchmark: 'multi-fidelity', budget, fidelities, confidence, seeds, summary, rows }));
await fsp.rm(tmp, { recursive: true, force: true });
