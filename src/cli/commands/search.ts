/** `nls search`: search a trained supernet for the best subnets. */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { constraintName, parseConstraint, parseFidelities, parseObjectives, runSearch, type SearchSettings } from '../../pipeline/search.js';
import { checkStrategySpec } from '../../search/plugins.js';
import { defaultRegistry, resolveStrategyOptions } from '../../search/registry.js';
import { loadAndResolveSearchSpace, type SearchSpace } from '../../space/index.js';
import { loadSupernetSpace } from '../../supernet/artifact.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { givenExplicitly } from '../recorded.js';
import { asUsageError, numberArg } from '../args.js';
import { UsageError } from '../exit.js';

interface SearchArgs extends GlobalOptions {
  supernet: string;
  strategy: string;
  'strategy-option': string[];
  budget: number;
  objectives: string;
  constraint: string[];
  'batch-size': number;
  'validation-size'?: number;
  workers: number;
  queue?: string;
  engine: EngineRequest;
  space?: string;
  'latency-predictor'?: string;
  fidelities?: string;
  'racing-confidence': number;
  out: string;
  resume: boolean;
}

/** The space a study searched: the supernet's, or the sub-space file it was given (resolved for the supernet's layers). */
async function studySpace(supernet: string, subspace: string | undefined): Promise<SearchSpace | undefined> {
  const whole = await loadSupernetSpace(supernet);
  return subspace === undefined ? whole : loadAndResolveSearchSpace(subspace, { numLayers: whole.numLayers }).catch(() => undefined);
}

/** `key=value` pairs to an options object (numbers and booleans parsed). */
function parseStrategyOptions(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--strategy-option ${JSON.stringify(p)}: write NAME=VALUE`);
    const raw = p.slice(i + 1);
    out[p.slice(0, i)] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/**
 * Put the settings a resumed study ran with (the journal's) into the parsed options, so that the
 * run manifest records what ran rather than the flags' defaults (and `nls reproduce` replays it).
 */
function recordResumedSettings(argv: SearchArgs, s: SearchSettings): void {
  argv.strategy = s.strategy;
  argv['strategy-option'] = Object.entries(s.strategyOptions).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  argv.budget = s.budget;
  argv.objectives = s.objectives.join(',');
  argv.constraint = s.constraints.map(constraintName);
  if (typeof s.seed === 'number') argv.seed = s.seed;
  argv['batch-size'] = s.batchSize;
  if (s.validationSize !== undefined) argv['validation-size'] = s.validationSize;
  if (s.space !== undefined) argv.space = s.space;
  if (s.latencyPredictor !== undefined) argv['latency-predictor'] = s.latencyPredictor;
  if (s.fidelities !== undefined) argv.fidelities = s.fidelities.join(',');
  if (s.racingConfidence !== undefined) argv['racing-confidence'] = s.racingConfidence;
}

export const searchCommand: CommandModule<GlobalOptions, SearchArgs> = {
  command: 'search',
  describe: 'search a trained supernet for the subnets that best trade accuracy against cost',
  builder: (y) =>
    y
      .option('supernet', { type: 'string', demandOption: true, describe: 'supernet folder written by nls train' })
      .option('strategy', { type: 'string', default: 'nsga2', describe: 'built-in strategy (see nls strategies) or a plugin: ./my-strategy.js or an npm package name' })
      .option('strategy-option', { type: 'string', array: true, default: [], describe: 'strategy option NAME=VALUE (repeatable), e.g. populationSize=12' })
      .option('budget', { ...numberArg('budget', 'positive integer'), default: 50, describe: 'evaluations at most (repeats answered from the cache are free)' })
      .option('objectives', { type: 'string', default: 'accuracy,params', describe: 'comma list of accuracy, exact (exact match by greedy generation) (max), loss, params, flops, memory (bytes), latency (min; latency needs --latency-predictor)' })
      .option('constraint', { type: 'string', array: true, default: [], describe: "METRIC<=VALUE or METRIC>=VALUE (repeatable), e.g. 'params<=150000'" })
      .option('batch-size', { ...numberArg('batch-size', 'positive integer'), default: 1, describe: 'configurations asked per batch' })
      .option('validation-size', { ...numberArg('validation-size', 'positive integer'), describe: 'score each subnet on the first N validation examples (default: all)' })
      .option('space', { type: 'string', describe: "search only this sub-space of the supernet's space: a search-space file with the same adapters and r_max, and rank choices the supernet trained (a single choice fixes a group)" })
      .option('latency-predictor', { type: 'string', describe: 'latency predictor file for the latency metric (latency-predictor.json from nls profile, fitted on the supernet\'s space)' })
      .option('fidelities', { type: 'string', describe: 'multi-fidelity racing: increasing shares of the validation split ending with 1, e.g. 0.25,0.5,1; a subnet goes on to the next share only while it can still reach the front (trials record their fidelity)' })
      .option('racing-confidence', { ...numberArg('racing-confidence', 'probability'), default: 0.95, describe: 'one-sided confidence of the bounds racing stops subnets by (higher stops fewer)' })
      .option('engine', { choices: ENGINE_REQUESTS, default: 'auto' as EngineRequest, describe: 'evaluation engine: onnx (ONNX Runtime, all cores in one session), tfjs (the --backend), or auto (onnx when onnxruntime-node loads here); trials record it (attrs.engine)' })
      .option('workers', { ...numberArg('workers', 'positive integer'), default: 1, describe: 'evaluation workers. tfjs: worker threads, each with its own backend and supernet copy (2 uses both cores with wasm). onnx: sessions, each in a worker thread with the cores divided among them (1, the default, is one session on every core). Use with --batch-size >= workers' })
      .option('queue', { type: 'string', describe: 'evaluate on nls worker processes through this Redis (redis://[USER:PASSWORD@]HOST:PORT/DB, rediss:// for TLS) instead of local threads; the journal stays here (docs/distributed.md)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder: trials.jsonl (journal) and pareto.json' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the study journaled in OUT, exactly as an uninterrupted run would' })
      // What can be checked without the supernet is checked here, before it is loaded and before OUT is made.
      .check((argv) => {
        const strategyOptions = parseStrategyOptions(argv['strategy-option']);
        asUsageError(() => {
          checkStrategySpec(argv.strategy);
          // On resume without --strategy, the options belong to the journal's strategy (checked then).
          if (defaultRegistry.has(argv.strategy) && (!argv.resume || givenExplicitly('strategy'))) resolveStrategyOptions(defaultRegistry.get(argv.strategy), strategyOptions);
          parseObjectives(argv.objectives);
          argv.constraint.forEach(parseConstraint);
          if (argv.fidelities !== undefined) parseFidelities(argv.fidelities);
        });
        return true;
      }),
  handler: async (argv) => {
    // A resume takes the study's settings from its journal: only the flags typed are checked against it.
    const given = (flag: string): boolean => !argv.resume || givenExplicitly(flag);
    const result = await runSearch({
      supernet: argv.supernet,
      ...(given('strategy') ? { strategy: argv.strategy } : {}),
      ...(given('strategy-option') ? { strategyOptions: parseStrategyOptions(argv['strategy-option']) } : {}),
      ...(given('budget') ? { budget: argv.budget } : {}),
      ...(given('objectives') ? { objectives: parseObjectives(argv.objectives) } : {}),
      ...(given('constraint') ? { constraints: argv.constraint.map(parseConstraint) } : {}),
      ...(given('seed') ? { seed: argv.seed } : {}),
      out: argv.out,
      resume: argv.resume,
      ...(given('batch-size') ? { batchSize: argv['batch-size'] } : {}),
      ...(argv.queue !== undefined ? { queue: argv.queue, ...(givenExplicitly('workers') ? { workers: argv.workers } : {}) } : { workers: argv.workers }),
      engine: argv.engine,
      ...(argv.space !== undefined ? { space: argv.space } : {}),
      ...(argv['latency-predictor'] !== undefined ? { latencyPredictor: argv['latency-predictor'] } : {}),
      ...(argv['validation-size'] !== undefined ? { validationSize: argv['validation-size'] } : {}),
      ...(argv.fidelities !== undefined ? { fidelities: parseFidelities(argv.fidelities) } : {}),
      ...((argv.fidelities !== undefined || argv.resume) && given('racing-confidence') ? { racingConfidence: argv['racing-confidence'] } : {}),
      backend: argv.backend,
      progress: progressFor(argv),
    });
    if (result.settings.resumed) recordResumedSettings(argv, result.settings);
    const names = result.objectives.map((o) => o.name);
    const space = await studySpace(argv.supernet, result.settings.space);
    // Ranks next to each key, when the space resolved here is the one the study searched.
    const ranks = space && space.fingerprint === result.pareto.study?.space.fingerprint ? space : undefined;
    const c = result.choice;
    emit(argv, { stop: result.study.reason, evaluations: result.study.evaluations, engine: result.engine, pareto: result.pareto, ...(c ? { choice: c } : {}) }, () =>
      [
        `${result.study.evaluations} evaluations (${result.study.reason}, engine ${result.engine.name}); Pareto front of ${result.pareto.front.length} feasible subnets:`,
        '',
        formatTable(
          ['trial', 'config key', ...(ranks ? [`ranks (${ranks.rankPatternLegend()})`] : []), ...names],
          result.pareto.front.map((t) => [t.number, t.key, ...(ranks ? [ranks.rankPattern(t.config)] : []), ...t.values.map((v) => v)]),
        ),
        ...(c
          ? [
              '',
              `chosen subnet (best ${c.metric}): trial ${c.trial}, ${c.key}${ranks ? ` (${ranks.rankPattern(c.config)})` : ''}; ${c.metric} ${c.validation.toFixed(4)} on validation (selected on)` +
                (c.test !== undefined ? `, ${c.test.toFixed(4)} on test` : ' (the task has no test split)'),
            ]
          : []),
      ].join('\n'),
    );
  },
};
