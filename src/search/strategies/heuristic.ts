/**
 * The `heuristic` strategy: a handful of named sub-adapters that are known to be good first
 * guesses, proposed in order: the supernet (max), the smallest sub-adapter (min), the
 * Shears/SQFT median heuristic, and two picks from supernet-training statistics (NNCF v2.17):
 * the most frequently activated configuration and the one with the lowest running training loss.
 */
import { NlsError } from '../../errors.js';
import type { Config, SearchSpace } from '../../space/index.js';
import type { SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { OptionReader, checkAskCount } from './_common.js';

/** Names of the heuristic sub-adapters, in their default order. */
export const HEURISTIC_SUBNETS = ['max', 'min', 'median', 'most-activated', 'lowest-loss'] as const;

/** One of {@link HEURISTIC_SUBNETS}. */
export type HeuristicSubnet = (typeof HEURISTIC_SUBNETS)[number];

/** Training statistics as the study hands them to strategies. */
export type TrainingStatistics = NonNullable<StrategyContext['trainingStatistics']>;

/**
 * The configuration a named heuristic stands for, or `undefined` when it needs training
 * statistics that are absent (or no configuration qualifies).
 *
 * - `max`: every gene at its largest rank (the supernet).
 * - `min`: every gene at its smallest rank.
 * - `median`: every gene at choice `choices[(len - 1) // 2]` (Shears/SQFT).
 * - `most-activated`: the configuration activated most often during supernet training; ties go
 *   to the lower mean loss, then to the smaller key.
 * - `lowest-loss`: among configurations activated at least `minActivations` times, the one with
 *   the lowest mean training loss; ties go to more activations, then to the smaller key.
 *
 * @throws NlsError when a statistics key is not a configuration of `space`.
 */
export function heuristicSubnet(name: HeuristicSubnet, space: SearchSpace, statistics: TrainingStatistics | undefined, minActivations = 1): Config | undefined {
  switch (name) {
    case 'max':
      return space.maxConfig();
    case 'min':
      return space.minConfig();
    case 'median':
      return space.medianConfig();
    case 'most-activated':
    case 'lowest-loss': {
      if (!statistics || statistics.length === 0) return undefined;
      let best: TrainingStatistics[number] | undefined;
      for (const s of statistics) {
        if (name === 'most-activated' ? !(s.activations > 0) : !(s.activations >= minActivations && Number.isFinite(s.meanLoss))) continue;
        if (!best || better(name, s, best)) best = s;
      }
      if (!best) return undefined;
      try {
        return space.parseKey(best.key);
      } catch (cause) {
        throw new NlsError(
          `training statistics name configuration ${JSON.stringify(best.key)}, which is not in search space "${space.name}"; fix: search the space the supernet was trained with`,
          { field: 'trainingStatistics', cause },
        );
      }
    }
  }
}

function better(name: 'most-activated' | 'lowest-loss', a: TrainingStatistics[number], b: TrainingStatistics[number]): boolean {
  const lossA = Number.isFinite(a.meanLoss) ? a.meanLoss : Infinity;
  const lossB = Number.isFinite(b.meanLoss) ? b.meanLoss : Infinity;
  if (name === 'most-activated') {
    if (a.activations !== b.activations) return a.activations > b.activations;
    if (lossA !== lossB) return lossA < lossB;
  } else {
    if (lossA !== lossB) return lossA < lossB;
    if (a.activations !== b.activations) return a.activations > b.activations;
  }
  return a.key < b.key;
}

/**
 * Every named heuristic of `names` that resolves, in order, with its configuration; names whose
 * configuration equals an earlier one are dropped (e.g. `max` = `median` when every gene has at
 * most two choices). Useful to label the trials of a heuristic study.
 */
export function namedHeuristicSubnets(
  space: SearchSpace,
  statistics: TrainingStatistics | undefined,
  names: readonly HeuristicSubnet[] = HEURISTIC_SUBNETS,
  minActivations = 1,
): { name: HeuristicSubnet; config: Config; key: string }[] {
  const out: { name: HeuristicSubnet; config: Config; key: string }[] = [];
  const keys = new Set<string>();
  for (const name of names) {
    const config = heuristicSubnet(name, space, statistics, minActivations);
    if (!config) continue;
    const key = space.key(config);
    if (keys.has(key)) continue;
    keys.add(key);
    out.push({ name, config, key });
  }
  return out;
}

const OPTIONS: readonly StrategyOptionDoc[] = [
  {
    name: 'subnets',
    type: 'string',
    default: HEURISTIC_SUBNETS.join(','),
    description: `Comma-separated heuristic sub-adapters to propose, in this order; any of ${HEURISTIC_SUBNETS.join(', ')}.`,
  },
  {
    name: 'minActivations',
    type: 'integer',
    default: 1,
    description: 'lowest-loss only considers configurations activated at least this many times during supernet training.',
  },
];

class HeuristicStrategy implements SearchStrategy {
  /** Position in `names` of the next heuristic to consider; advanced by asks only. */
  private next = 0;
  private readonly proposed = new Set<string>();

  constructor(
    private readonly names: readonly HeuristicSubnet[],
    private readonly minActivations: number,
  ) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('heuristic', n);
    const out: Config[] = [];
    while (out.length < n && this.next < this.names.length) {
      const name = this.names[this.next++] as HeuristicSubnet;
      const config = heuristicSubnet(name, ctx.space, ctx.trainingStatistics, this.minActivations);
      if (!config) continue; // needs statistics the study does not have
      const key = ctx.space.key(config);
      if (this.proposed.has(key)) continue;
      this.proposed.add(key);
      out.push(config);
    }
    return out;
  }

  tell(_results: readonly TrialResult[], _ctx: StrategyContext): void {
    // Nothing to learn: the proposals do not depend on results.
  }
}

/** Factory of the `heuristic` strategy. */
export const heuristicStrategy: StrategyFactory = {
  name: 'heuristic',
  version: '1.0.0',
  description: 'Named heuristic sub-adapters: max, min, median (Shears/SQFT), most-activated and lowest-loss (NNCF); then stops.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('heuristic', OPTIONS, options);
    const names = reader.list('subnets');
    if (names.length === 0) {
      throw new NlsError(`option "subnets" of strategy "heuristic" is empty; fix: list at least one of ${HEURISTIC_SUBNETS.join(', ')}`, { field: 'subnets' });
    }
    const seen = new Set<string>();
    for (const name of names) {
      if (!(HEURISTIC_SUBNETS as readonly string[]).includes(name)) {
        throw new NlsError(`option "subnets" of strategy "heuristic" names unknown heuristic "${name}"; fix: use ${HEURISTIC_SUBNETS.join(', ')}`, { field: 'subnets' });
      }
      if (seen.has(name)) throw new NlsError(`option "subnets" of strategy "heuristic" lists "${name}" twice; fix: list each heuristic once`, { field: 'subnets' });
      seen.add(name);
    }
    return new HeuristicStrategy(names as HeuristicSubnet[], reader.integer('minActivations', 0));
  },
};
