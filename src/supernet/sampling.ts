/**
 * Sampling rules: which configuration(s) of the search space a supernet training step trains.
 * Pure functions of the space and a seeded RNG (no tfjs).
 */
import type { Config, SearchSpace } from '../space/index.js';
import type { Rng } from '../util/rng.js';

/** Names of the built-in sampling rules. */
export const SAMPLING_RULES = ['uniform', 'sandwich', 'shared-layer', 'max'] as const;
/** One of {@link SAMPLING_RULES}. */
export type SamplingRuleName = (typeof SAMPLING_RULES)[number];

/**
 * The configurations trained in one optimizer step:
 * - `uniform`: one configuration, each gene drawn independently and uniformly (NNCF
 *   BootstrapNAS, Shears);
 * - `sandwich`: the max, the min and one uniform configuration, gradients summed (BigNAS / OFA
 *   sandwich rule);
 * - `shared-layer`: one configuration in which all groups of a layer share one choice index,
 *   drawn per layer (SQFT's per-layer elastic rank);
 * - `max`: always the largest configuration, i.e. plain fixed-rank LoRA at r_max (the baseline).
 */
export function configsForStep(rule: SamplingRuleName, space: SearchSpace, rng: Rng): Config[] {
  switch (rule) {
    case 'uniform':
      return [space.sample(rng)];
    case 'sandwich':
      return [space.maxConfig(), space.minConfig(), space.sample(rng)];
    case 'shared-layer':
      return [space.sampleSharedLayer(rng)];
    case 'max':
      return [space.maxConfig()];
  }
}
