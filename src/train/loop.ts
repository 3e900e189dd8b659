/**
 * The training loop shared by supernet training and pre-training.
 *
 * One optimizer step = one or more *passes* (a pass activates one configuration; the supernet's
 * sampling rule decides how many: one for `uniform`, three for `sandwich`) x `gradAccum`
 * micro-batches. Gradients are averaged over micro-batches and summed over passes (as OFA and
 * NNCF's sandwich rule do), clipped by global norm, and applied by AdamW with a cosine schedule.
 *
 * Every random choice (configurations, dropout) comes from one seeded RNG whose state is saved
 * in each checkpoint with the weights, the optimizer moments and the step records, so a resumed
 * run ends with exactly the weights an uninterrupted one would.
 */
import * as tf from '@tensorflow/tfjs';
import { NlsError } from '../errors.js';
import type { ForwardContext } from '../model/linear.js';
import { Progress } from '../util/progress.js';
import { createRng, restoreRng, type Rng, type RngState } from '../util/rng.js';
import { AdamW, type AdamWSlotState, clipByGlobalNorm } from './adamw.js';
import type { BatchSource, TokenBatch } from './batch.js';
import { type CheckpointContents, hasCheckpoint, loadLatestCheckpoint, saveCheckpointDir } from './checkpoint.js';
import { cosineWithWarmup } from './schedule.js';

/** One configuration trained within an optimizer step. */
export interface TrainingPass {
  /** What is trained, e.g. a configuration key; recorded per step. */
  readonly label: string;
  /** Make this pass's configuration active. */
  activate(): void;
}

/** What the loop trains: its variables, the passes of each step, and the loss. */
export interface TrainingTask {
  /** Trainable variables by stable name (the names used in checkpoints). */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** The passes of optimizer step `step`, drawing any randomness from `rng`. */
  passes(step: number, rng: Rng): TrainingPass[];
  /** The loss of a micro-batch under the active configuration. */
  loss(batch: TokenBatch, ctx: ForwardContext): tf.Scalar;
}

/** Hyper-parameters and bookkeeping of a run. */
export interface TrainLoopOptions {
  /** Optimizer steps. */
  readonly steps: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Linear warmup steps. */
  readonly warmupSteps: number;
  /** Final learning rate as a fraction of `lr` (default 0.1). */
  readonly minLrRatio?: number;
  /** Decoupled weight decay (default 0.01). */
  readonly weightDecay?: number;
  /** Clip the global gradient norm to this (default 1; 0 = off). */
  readonly clipNorm?: number;
  /** Micro-batches per optimizer step (default 1). */
  readonly gradAccum?: number;
  /** Seed of the run's RNG. */
  readonly seed: number;
  /** Checkpoint folder; no checkpoints when absent. */
  readonly checkpointDir?: string;
  /** Checkpoint every this many steps (default: only at the end). */
  readonly checkpointEvery?: number;
  /** Continue from the latest checkpoint in `checkpointDir`. */
  readonly resume?: boolean;
  /** Stop after this step even though `steps` is larger (for tests of resuming; the schedule still spans `steps`). */
  readonly stopAfter?: number;
  /** Progress reporter (stderr). */
  readonly progress?: Progress;
  /** Name shown in progress lines. */
  readonly taskName?: string;
  /** Any JSON the caller wants checked on resume (e.g. the rule and data options): a resume with different values is refused. */
  readonly fingerprint?: unknown;
}

/** What was trained in one pass of one step. */
export interface StepRecord {
  /** Optimizer step, 0-based. */
  readonly step: number;
  /** The pass's label (configuration key). */
  readonly label: string;
  /** Mean loss over the pass's micro-batches. */
  readonly loss: number;
  /** Learning rate of the step. */
  readonly lr: number;
}

/** The result of {@link runTrainingLoop}. */
export interface TrainLoopResult {
  /** One record per pass per step, from step 0 (including steps before a resume). */
  readonly records: readonly StepRecord[];
  /** Steps completed. */
  readonly stepsDone: number;
  /** Wall-clock seconds of this process's part of the run. */
  readonly seconds: number;
  /** Tokens (batch x sequence positions) processed by this process. */
  readonly tokens: number;
}

interface LoopState {
  readonly step: number;
  readonly rng: RngState;
  readonly optimizerSteps: readonly number[];
  readonly records: readonly StepRecord[];
  readonly fingerprint: unknown;
}

/** Raised when the loss stops being finite. */
export class TrainingDivergedError extends NlsError {}

function batchTensors(b: TokenBatch): { ids: tf.Tensor2D; targets: tf.Tensor2D; weights: tf.Tensor2D } {
  return {
    ids: tf.tensor2d(b.inputIds, [b.batchSize, b.seqLen], 'int32'),
    targets: tf.tensor2d(b.targets, [b.batchSize, b.seqLen], 'int32'),
    weights: tf.tensor2d(b.weights, [b.batchSize, b.seqLen], 'float32'),
  };
}

/** A batch's tensors, for tasks' loss functions. */
export { batchTensors };

function addInto(acc: Record<string, tf.Tensor>, grads: Record<string, tf.Tensor>, scale: number): void {
  for (const [name, g] of Object.entries(grads)) {
    const scaled = scale === 1 ? g : tf.mul(g, scale);
    if (scaled !== g) g.dispose();
    const prev = acc[name];
    if (prev) {
      acc[name] = tf.add(prev, scaled);
      prev.dispose();
      scaled.dispose();
    } else {
      acc[name] = scaled;
    }
  }
}

/**
 * `tf.variableGrads`, except that a loss reaching none of the variables (every adapter of the
 * configuration switched off) gives no gradients instead of an error.
 */
function gradsOf(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  try {
    return tf.variableGrads(f, vars);
  } catch (err) {
    if (!(err instanceof Error) || !/Cannot find a connection between any variable/.test(err.message)) throw err;
    return { value: tf.tidy(f), grads: {} };
  }
}

/** Run (or resume) a training loop. */
export async function runTrainingLoop(task: TrainingTask, data: BatchSource, options: TrainLoopOptions): Promise<TrainLoopResult> {
  const progress = options.progress ?? new Progress({ quiet: true });
  const accum = options.gradAccum ?? 1;
  const names = [...task.variables.keys()];
  const vars = names.map((n) => task.variables.get(n)!);
  // tfjs names gradients by variable.name; map back to our stable names.
  const byTfName = new Map(vars.map((v, i) => [v.name, names[i]!]));
  const optimizer = new AdamW(vars, { weightDecay: options.weightDecay ?? 0.01 });
  const schedule = { lr: options.lr, steps: options.steps, warmupSteps: options.warmupSteps, minLrRatio: options.minLrRatio ?? 0.1 };
  const fingerprint = JSON.parse(JSON.stringify(options.fingerprint ?? null)) as unknown;

  let rng: Rng = createRng(options.seed);
  let records: StepRecord[] = [];
  let start = 0;
  if (options.resume) {
    if (!options.checkpointDir) throw new NlsError('resuming needs a checkpoint folder', { field: '--resume' });
    const ckpt = await loadLatestCheckpoint<LoopState>(options.checkpointDir);
    if (JSON.stringify(ckpt.state.fingerprint) !== JSON.stringify(fingerprint)) {
      throw new NlsError(
        `the checkpoint was written with other settings (${JSON.stringify(ckpt.state.fingerprint)}), not ${JSON.stringify(fingerprint)}; fix: resume with the original options, or start a new run in another folder`,
        { file: options.checkpointDir },
      );
    }
    for (const [name, v] of task.variables) {
      const t = ckpt.weights.get(name);
      if (!t || t.data.length !== v.size) throw new NlsError('checkpoint lacks this variable or has another shape', { file: options.checkpointDir, field: name });
      tf.tidy(() => v.assign(tf.tensor(t.data, v.shape)));
    }
    const slotStates: AdamWSlotState[] = names.map((name, i) => ({
      step: ckpt.state.optimizerSteps[i] ?? 0,
      m: ckpt.optimizer.get(`${name}.m`)!.data,
      v: ckpt.optimizer.get(`${name}.v`)!.data,
    }));
    optimizer.restore(slotStates, options.checkpointDir);
    rng = restoreRng(ckpt.state.rng);
    records = ckpt.state.records.slice();
    start = ckpt.step;
    progress.log(`resumed from step ${start} in ${options.checkpointDir}`);
  } else if (options.checkpointDir && hasCheckpoint(options.checkpointDir)) {
    throw new NlsError('a checkpoint already exists here; fix: add --resume to continue it, or choose a new --out folder', { file: options.checkpointDir });
  }

  const save = async (step: number) => {
    if (!options.checkpointDir) return;
    const optState = await optimizer.state();
    const weights = new Map<string, { shape: number[]; data: Float32Array }>();
    const opt = new Map<string, { shape: number[]; data: Float32Array }>();
    for (let i = 0; i < names.length; i++) {
      const v = vars[i]!;
      weights.set(names[i]!, { shape: v.shape.slice(), data: (await v.data()) as Float32Array });
      opt.set(`${names[i]}.m`, { shape: v.shape.slice(), data: optState[i]!.m });
      opt.set(`${names[i]}.v`, { shape: v.shape.slice(), data: optState[i]!.v });
    }
    const contents: CheckpointContents<LoopState> = {
      step,
      weights,
      optimizer: opt,
      state: { step, rng: rng.state(), optimizerSteps: optState.map((s) => s.step), records, fingerprint },
    };
    await saveCheckpointDir(options.checkpointDir, contents);
  };

  const end = Math.min(options.steps, options.stopAfter ?? options.steps);
  const ctx: ForwardContext = { training: true, nextSeed: () => rng.int(2 ** 31 - 1) };
  progress.start(options.taskName ?? 'train', options.steps, start);
  const t0 = performance.now();
  let tokens = 0;
  let lastGood = start;
  try {
    for (let step = start; step < end; step++) {
      const lr = cosineWithWarmup(schedule, step);
      const passes = task.passes(step, rng);
      const acc: Record<string, tf.Tensor> = {};
      const stepRecords: StepRecord[] = [];
      try {
        for (const pass of passes) {
          pass.activate();
          let lossSum = 0;
          for (let micro = 0; micro < accum; micro++) {
            const batch = data.batch(step, micro);
            tokens += batch.batchSize * batch.seqLen;
            const trainable = vars.filter((v) => v.trainable);
            const { value, grads } = gradsOf(() => task.loss(batch, ctx), trainable);
            const loss = (await value.data())[0]!;
            value.dispose();
            if (!Number.isFinite(loss)) {
              tf.dispose(grads);
              throw new TrainingDivergedError(
                `loss became ${loss} at step ${step} (${pass.label}); ` +
                  (options.checkpointDir ? `the last good checkpoint is step ${lastGood} in ${options.checkpointDir}` : 'no checkpoint was written') +
                  '; fix: lower --lr or clip gradients harder',
              );
            }
            lossSum += loss;
            const renamed: Record<string, tf.Tensor> = {};
            for (const [tfName, g] of Object.entries(grads)) renamed[byTfName.get(tfName) ?? tfName] = g;
            addInto(acc, renamed, 1 / accum);
          }
          stepRecords.push({ step, label: pass.label, loss: lossSum / accum, lr });
        }
        const gradNorm = await clipByGlobalNorm(acc, options.clipNorm ?? 1);
        if (!Number.isFinite(gradNorm)) {
          throw new TrainingDivergedError(
            `gradient norm became ${gradNorm} at step ${step}; ` +
              (options.checkpointDir ? `the last good checkpoint is step ${lastGood} in ${options.checkpointDir}` : 'no checkpoint was written') +
              '; fix: lower --lr',
          );
        }
        const byVarName: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => {
          if (acc[n]) byVarName[vars[i]!.name] = acc[n]!;
        });
        optimizer.apply(byVarName, lr);
      } finally {
        tf.dispose(Object.values(acc));
      }
      records.push(...stepRecords);
      const meanLoss = stepRecords.reduce((s, r) => s + r.loss, 0) / stepRecords.length;
      const tokensPerStep = tokens / (step + 1 - start);
      progress.step(step + 1, { loss: meanLoss, lr }, { tokens: tokensPerStep });
      const isLast = step + 1 === end;
      if (options.checkpointDir && (isLast || (options.checkpointEvery && (step + 1) % options.checkpointEvery === 0))) {
        await save(step + 1);
        lastGood = step + 1;
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { records, stepsDone: end, seconds: (performance.now() - t0) / 1000, tokens };
}
