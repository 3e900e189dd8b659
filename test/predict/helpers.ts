/** Shared fixtures of the predictor tests: small search spaces and sample sets. */
import { resolveSearchSpace, type Config, type SearchSpace, type SearchSpaceSpec } from '../../src/space/index.js';
import type { PredictorSample } from '../../src/predict/index.js';
import { createRng } from '../../src/util/rng.js';

/** A small space: 2 layers × (qkv: 4 choices, mlp: 3 choices with an "off") = 4 genes. */
export function smallSpace(name = 'pred-small', ranks: readonly number[] = [32, 24, 16, 8]): SearchSpace {
  const spec: SearchSpaceSpec = {
    format: 'nls-search-space/1',
    name,
    alpha: 16,
    groups: [
      { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [...ranks] },
      { name: 'mlp', modules: ['up_proj', 'down_proj'], ranks: [16, 8, 0] },
    ],
  };
  return resolveSearchSpace(spec, { numLayers: 2 });
}

/** `n` uniform random configurations of `space` (with repeats). */
export function randomConfigs(space: SearchSpace, n: number, seed: number | string): Config[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => space.sample(rng));
}

/** Samples of `f` at `n` random configurations. */
export function samplesOf(space: SearchSpace, n: number, seed: number | string, f: (config: Config) => number): PredictorSample[] {
  return randomConfigs(space, n, seed).map((config) => ({ config, value: f(config) }));
}

/** Largest relative difference |a - b| / max(|b|, floor). */
export function maxRelDiff(a: readonly number[], b: readonly number[], floor = 1): number {
  let m = 0;
  a.forEach((v, i) => (m = Math.max(m, Math.abs(v - b[i]!) / Math.max(Math.abs(b[i]!), floor))));
  return m;
}
