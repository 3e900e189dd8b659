/** Learning-rate schedules. */

/** Options of {@link cosineWithWarmup}. */
export interface CosineScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  readonly lr: number;
  /** Total optimizer steps. */
  readonly steps: number;
  /** Linear warmup steps (0 = none). */
  readonly warmupSteps: number;
  /** Learning rate at the end, as a fraction of `lr` (default 0). */
  readonly minLrRatio?: number;
}

/**
 * Learning rate of optimizer step `step` (0-based): linear warmup from lr/warmup to lr over
 * `warmupSteps`, then cosine decay to `minLrRatio * lr` at the last step (as HF's
 * get_cosine_schedule_with_warmup, with an optional floor).
 */
export function cosineWithWarmup(options: CosineScheduleOptions, step: number): number {
  const { lr, steps, warmupSteps } = options;
  const floor = (options.minLrRatio ?? 0) * lr;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const decaySteps = Math.max(1, steps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return floor + (lr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
