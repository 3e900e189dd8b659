/**
 * The `random` strategy: uniform random sampling without replacement. It never proposes a key
 * twice and answers `[]` once every configuration has been proposed.
 */
import type { Config } from '../../space/index.js';
import type { SearchStrategy, StrategyContext, StrategyFactory, StrategyOptionDoc, TrialResult } from '../contract.js';
import { DEFAULT_UNSEEN_SAMPLER, OptionReader, UnseenSampler, checkAskCount } from './_common.js';

const OPTIONS: readonly StrategyOptionDoc[] = [
  {
    name: 'maxAttempts',
    type: 'integer',
    default: DEFAULT_UNSEEN_SAMPLER.maxAttempts,
    description: 'Uniform draws tried per proposal before a draw counts as a repeat of the seen configurations.',
  },
  {
    name: 'enumerationLimit',
    type: 'integer',
    default: DEFAULT_UNSEEN_SAMPLER.enumerationLimit,
    description:
      'When every attempt hit a seen configuration in a space with at most this many configurations, enumerate the unseen ones and draw from them (so small spaces are exhausted exactly).',
  },
];

class RandomStrategy implements SearchStrategy {
  /** Keys proposed or told; rebuilt by replaying asks and tells. */
  private readonly seen = new Set<string>();
  private readonly sampler: UnseenSampler;

  constructor(maxAttempts: number, enumerationLimit: number) {
    this.sampler = new UnseenSampler({ maxAttempts, enumerationLimit });
  }

  ask(n: number, ctx: StrategyContext): Config[] {
    checkAskCount('random', n);
    const out: Config[] = [];
    while (out.length < n) {
      const drawn = this.sampler.draw(ctx.space, ctx.rng, this.seen);
      if (!drawn) break;
      this.seen.add(drawn.key);
      out.push(drawn.config);
    }
    return out;
  }

  tell(results: readonly TrialResult[], _ctx: StrategyContext): void {
    // Results do not steer sampling; keys are remembered so none is proposed again.
    for (const r of results) this.seen.add(r.key);
  }
}

/** Factory of the `random` strategy. */
export const randomStrategy: StrategyFactory = {
  name: 'random',
  version: '1.0.0',
  description: 'Uniform random sampling without replacement; stops when the space is exhausted.',
  options: OPTIONS,
  create(options) {
    const reader = new OptionReader('random', OPTIONS, options);
    return new RandomStrategy(reader.integer('maxAttempts', 1), reader.integer('enumerationLimit', 0));
  },
};
