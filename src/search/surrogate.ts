/**
 * Accuracy (or any objective) surrogates fitted on a study's evaluated trials, for strategies that
 * want a cheap model of an objective (predictor-guided search). Pure TypeScript: a ridge
 * regression on configuration features (src/predict/ridge.ts), deterministic and independent of
 * trial order, so strategies that use it stay replayable from the journal.
 */
import { NlsError } from '../errors.js';
import type { Predictor, PredictorSample } from '../predict/predictor.js';
import { DEFAULT_RIDGE_LAMBDA, RidgePredictor } from '../predict/ridge.js';
import type { SearchSpace } from '../space/index.js';
import type { ObjectiveSpec, TrialResult } from './contract.js';
import { isCachedTrial } from './middleware/cache.js';

/** Options of {@link fitTrialSurrogate}. */
export interface SurrogateOptions {
  /** Ridge penalty (default 1e-3). */
  readonly lambda?: number;
}

/**
 * Fit a ridge surrogate of objective `objective` (index or name) on the complete, evaluated
 * (not cached) trials with a finite value for it; each configuration counts once.
 *
 * @throws NlsError for an unknown objective, or when fewer than 2 trials qualify.
 */
export function fitTrialSurrogate(
  space: SearchSpace,
  trials: readonly TrialResult[],
  objectives: readonly ObjectiveSpec[],
  objective: number | string,
  options: SurrogateOptions = {},
): Predictor {
  const index = typeof objective === 'number' ? objective : objectives.findIndex((o) => o.name === objective);
  if (!Number.isInteger(index) || index < 0 || index >= objectives.length) {
    throw new NlsError(`unknown objective ${JSON.stringify(objective)}; fix: use an index below ${objectives.length} or one of ${objectives.map((o) => o.name).join(', ')}`, {
      field: 'objective',
    });
  }
  const seen = new Set<string>();
  const samples: PredictorSample[] = [];
  for (const t of trials) {
    const v = t.values?.[index];
    if (t.state !== 'complete' || isCachedTrial(t) || v === undefined || !Number.isFinite(v) || seen.has(t.key)) continue;
    seen.add(t.key);
    samples.push({ config: t.config, value: v });
  }
  if (samples.length < 2) throw new NlsError(`a surrogate needs at least 2 evaluated trials, got ${samples.length}; fix: evaluate more configurations first`, { field: 'trials' });
  const predictor = new RidgePredictor({ lambda: options.lambda ?? DEFAULT_RIDGE_LAMBDA });
  predictor.fit(space, samples);
  return predictor;
}
