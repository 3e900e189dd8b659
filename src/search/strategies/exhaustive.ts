/**
 * The `exhaustive` strategy: every configuration once, in canonical order (lexicographic in
 * choice indices, from the supernet to the smallest sub-adapter). Refuses spaces larger than
 * `maxCardinality` rather than starting a search that cannot finish.
 */
import { NlsError } from '../../errors.js';
import type { Config } from '../../space/index.js';
import type { SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { OptionReader, checkAskCount } from './_common.js';

const OPTIONS: readonly StrategyOptionDoc[] = [
  {
    name: 'maxCardinality',
    type: 'integer',
    default: 100_000,
    description: 'Refuse spaces with more configurations than this.',
  },
];

class ExhaustiveStrategy implements SearchStrategy {
  /** The enumeration, started by the first ask; its position follows from the asks made. */
  private configs: Iterator<Config, void, undefined> | undefined;
  private done = false;

  constructor(private readonly maxCardinality: number) {}

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('exhaustive', n);
    if (!this.configs) {
      const cardinality = ctx.space.cardinality();
      if (cardinality > BigInt(this.maxCardinality)) {
        throw new NlsError(
          `search space "${ctx.space.name}" has ${cardinality} configurations, more than maxCardinality ${this.maxCardinality} of strategy "exhaustive"; fix: use the random, nsga2 or hill-climbing strategy, or raise maxCardinality if you really mean to evaluate all of them`,
          { field: 'maxCardinality' },
        );
      }
      this.configs = ctx.space.enumerate({ limit: this.maxCardinality });
    }
    const out: Config[] = [];
    while (!this.done && out.length < n) {
      const next = this.configs.next();
      if (next.done) this.done = true;
      else out.push(next.value);
    }
    return out;
  }

  tell(_results: readonly TrialResult[], _ctx: StrategyContext): void {
    // The order is fixed; results change nothing.
  }
}

/** Factory of the `exhaustive` strategy. */
export const exhaustiveStrategy: StrategyFactory = {
  name: 'exhaustive',
  version: '1.0.0',
  description: 'Every configuration once, in canonical order; refuses spaces larger than maxCardinality.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('exhaustive', OPTIONS, options);
    return new ExhaustiveStrategy(reader.integer('maxCardinality', 1));
  },
};
