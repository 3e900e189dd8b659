/**
 * Synthetic run folders for the report tests, written in milliseconds without tfjs: a manifest,
 * a base model's config.json, a supernet folder (supernet.json with the demo space, a sandwich
 * training log, validation.json), real study journals written by `Study` over an analytic
 * objective, predictors.json and demo-result.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { functionEvaluator } from '../../src/search/evaluator.js';
import { writeParetoJson } from '../../src/search/results.js';
import { Study } from '../../src/search/study.js';
import { resolveSearchSpace, type Config, type SearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** The demo space spec (search-spaces/demo.json). */
export const DEMO_SPEC: unknown = JSON.parse(readFileSync(path.join(ROOT, 'search-spaces/demo.json'), 'utf8'));

/** The demo space resolved for 4 layers. */
export const DEMO_SPACE: SearchSpace = resolveSearchSpace(validateSearchSpaceSpec(DEMO_SPEC), { numLayers: 4 });

const PER_RANK: Readonly<Record<string, number>> = { qkv: 1536, up: 832, down: 832 };

/** Adapter parameters of a demo configuration (max 204,800). */
export function paramsOf(config: Config): number {
  const ranks = DEMO_SPACE.decode(config);
  return DEMO_SPACE.instances.reduce((s, g) => s + (ranks[g.index] ?? 0) * (PER_RANK[g.group] ?? 0), 0);
}

/** A smooth accuracy that grows with the ranks (qkv matter most), in [0.55, 0.95]. */
export function accuracyOf(config: Config): number {
  const ranks = DEMO_SPACE.decode(config);
  let s = 0;
  for (const g of DEMO_SPACE.instances) s += Math.sqrt((ranks[g.index] ?? 0) / 16) * (g.group === 'qkv' ? 1.5 : 0.75) * (1 + 0.1 * g.layer);
  const max = DEMO_SPACE.instances.reduce((t, g) => t + (g.group === 'qkv' ? 1.5 : 0.75) * (1 + 0.1 * g.layer), 0);
  return Math.round((0.55 + 0.4 * (s / max)) * 1000) / 1000;
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** A valid nls-run/1 manifest. */
export function manifestOf(command: string, argv: string[], options: Record<string, unknown>, inputs: unknown[] = []): unknown {
  return {
    format: 'nls-run/1',
    command,
    argv,
    options,
    cwd: ROOT,
    seeds: { seed: 0 },
    inputs,
    outputs: [{ path: 'x', bytes: 1, sha256: 'ab'.repeat(32) }],
    environment: {
      nls: { version: '0.1.0', git: { commit: '0123456789abcdef0123456789abcdef01234567', dirty: false } },
      node: '20.0.0',
      platform: 'linux',
      arch: 'x64',
      cpus: { count: 2, model: 'Test CPU <fast> & "cheap"' },
      backend: { name: 'wasm', tfjsBackend: 'wasm', versions: { 'tfjs-core': '4.22.0' }, device: 'wasm (SIMD)', threads: 1 },
    },
    timings: { started: '2026-01-01T00:00:00.000Z', finished: '2026-01-01T00:01:00.000Z', seconds: 60 },
  };
}

/** Write a base model folder holding only config.json (4 layers). */
export function writeModel(dir: string): void {
  writeJson(path.join(dir, 'config.json'), { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: 4, hidden_size: 256 });
}

/** Write a supernet folder trained for `steps` steps with the sandwich rule (3 passes per step). */
export function writeSupernet(dir: string, baseModel: string, steps = 60): void {
  writeJson(path.join(dir, 'supernet.json'), {
    format: 'nls-supernet/1',
    nlsVersion: '0.1.0',
    baseModel,
    baseModelSha256: 'cd'.repeat(32),
    space: DEMO_SPEC,
    training: { rule: 'sandwich', steps, lr: 0.002, warmupSteps: 5, batchSize: 8, gradAccum: 1, maxLength: 64, weightDecay: 0, seed: 0, adapterMode: { sparse: false, quantAware: false }, backend: 'wasm', seconds: 12.5 },
    data: { name: 'spam-demo', train: 480, validation: 100 },
  });
  const lines: string[] = [];
  let seed = 1;
  const noise = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647 - 0.5;
  };
  for (let step = 0; step < steps; step++) {
    for (const [label, offset] of [
      ['000.000.000.000', 0],
      ['333.333.333.333', 0.3],
      ['120.012.201.310', 0.15],
    ] as const) {
      lines.push(JSON.stringify({ step, label, loss: 0.6 + 3 * Math.exp(-step / 15) + offset + 0.2 * noise(), lr: 0.002 }));
    }
  }
  writeFileSync(path.join(dir, 'training-log.jsonl'), `${lines.join('\n')}\n`);
  writeJson(path.join(dir, 'validation.json'), {
    subnets: [
      { name: 'max', key: '000.000.000.000', adapterParameters: 204800, loss: 0.71, accuracy: 0.93 },
      { name: 'median', key: '111.111.111.111', adapterParameters: 153600, loss: 0.74, accuracy: 0.91 },
      { name: 'min', key: '333.333.333.333', adapterParameters: 51200, loss: 0.93, accuracy: 0.84 },
    ],
    statistics: [],
  });
}

/** Run a real study of `strategy` over the analytic objective into `dir` (trials.jsonl, pareto.json). */
export async function writeStudy(dir: string, strategy: string, budget: number, seed = 0): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const bound = 120000;
  const study = await Study.create({
    journal: path.join(dir, 'trials.jsonl'),
    space: DEMO_SPACE,
    strategy,
    evaluator: functionEvaluator((c) => {
      const params = paramsOf(c);
      const accuracy = accuracyOf(c);
      return { values: [accuracy, params], constraints: [params - bound], attrs: { params, accuracy, loss: 1 - accuracy } };
    }),
    objectives: [
      { name: 'accuracy', direction: 'maximize' },
      { name: 'params', direction: 'minimize' },
    ],
    constraints: [{ name: `params<=${bound}` }],
    seed,
    budget,
    batchSize: 2,
    fsync: false,
  });
  await study.run();
  await writeParetoJson(path.join(dir, 'pareto.json'), study);
}

/** A predictor-quality document as nls profile --validate writes it (NaN written as null). */
export const QUALITY_DOC = {
  format: 'nls-predictor-quality/1',
  profile: 'latency-profile.json',
  space: { name: 'demo', fingerprint: DEMO_SPACE.fingerprint },
  backend: 'wasm',
  targets: { within10: 0.95, kendallTau: 0.9 },
  split: { validationFraction: 0.25, seed: 0, train: 30, validation: 10 },
  results: [
    { predictor: 'lookup-table', fittedOn: 'per-gene terms', evaluatedOn: 'all measured', quality: { n: 40, mape: 0.031, rmse: 0.42, within5: 0.8, within10: 0.975, kendallTau: 0.93 } },
    { predictor: 'ridge', fittedOn: 'measured (train split)', evaluatedOn: 'held-out', quality: { n: 10, mape: 0.06, rmse: 0.9, within5: 0.5, within10: 0.8, kendallTau: null } },
  ],
};

/** Layouts {@link writeRun} can write. */
export type FixtureLayout = 'demo' | 'search' | 'train';

/**
 * Write a synthetic run folder of `layout` into `dir`:
 * - demo: manifest, model/, supernet/, search/{heuristic,random,nsga2}/, demo-result.json,
 *   predictors.json in search/random/;
 * - search: manifest naming the supernet (written to `dir/../<name>-supernet`), trials.jsonl,
 *   pareto.json, predictors.json;
 * - train: a supernet folder with a manifest.
 */
export async function writeRun(dir: string, layout: FixtureLayout): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (layout === 'demo') {
    writeModel(path.join(dir, 'model'));
    writeSupernet(path.join(dir, 'supernet'), path.join(dir, 'model'));
    await writeStudy(path.join(dir, 'search', 'heuristic'), 'heuristic', 5);
    await writeStudy(path.join(dir, 'search', 'random'), 'random', 14, 1);
    await writeStudy(path.join(dir, 'search', 'nsga2'), 'nsga2', 14, 2);
    writeJson(path.join(dir, 'search', 'random', 'predictors.json'), { latency: { file: '/somewhere/latency-predictor.json', kind: 'lookup-table', space: { name: 'demo' }, fitted: 40, validation: QUALITY_DOC } });
    writeJson(path.join(dir, 'demo-result.json'), {
      rows: [
        { name: 'base', key: '', adapterParameters: 0, loss: 2.49, accuracy: 0.5, description: 'base model, no adapters' },
        { name: 'lora', key: '000.000.000.000', adapterParameters: 204800, loss: 0.7, accuracy: 0.94, description: 'LoRA | fixed rank r_max' },
        { name: 'max', key: '000.000.000.000', adapterParameters: 204800, loss: 0.71, accuracy: 0.93, description: 'NLS supernet: max subnet' },
        { name: 'median', key: '111.111.111.111', adapterParameters: 153600, loss: null, accuracy: null, description: 'NLS supernet: median <heuristic> subnet' },
      ],
      task: { name: 'spam', train: 480, validation: 100, majorityAccuracy: 0.5 },
      steps: 60,
      search: { paramsBound: 120000, measured: 30, seconds: 10 },
      merge: { key: '333.333.333.333', accuracy: 0.84, params: 51200, nonZerosBefore: 10, nonZerosAfter: 10, newNonZeros: 0, maxLogitDiff: 0 },
      seconds: 100,
    });
    writeJson(path.join(dir, 'manifest.json'), manifestOf('demo', ['demo', '--out', dir, '--note', "it's"], { out: dir, steps: 60, seed: 0 }));
  } else if (layout === 'search') {
    const sn = `${dir}-supernet`;
    writeModel(`${dir}-model`);
    writeSupernet(sn, `${dir}-model`);
    await writeStudy(dir, 'random', 12);
    writeJson(path.join(dir, 'predictors.json'), { latency: { file: '/somewhere/latency-predictor.json', kind: 'lookup-table', fitted: 40, validation: null } });
    writeJson(
      path.join(dir, 'manifest.json'),
      manifestOf('search', ['search', '--supernet', sn, '--out', dir], { supernet: sn, out: dir, strategy: 'random' }, [
        { name: 'supernet', given: sn, kind: 'dir', path: sn, relative: path.relative(dir, sn), sha256: 'ef'.repeat(32), bytes: 100, fileCount: 3 },
      ]),
    );
  } else {
    writeModel(`${dir}-model`);
    writeSupernet(dir, `${dir}-model`);
    writeJson(path.join(dir, 'manifest.json'), manifestOf('train', ['train', '--out', dir], { out: dir, steps: 60 }));
  }
}
