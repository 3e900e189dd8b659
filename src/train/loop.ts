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
 *
 * The loop is the same on every engine (engine.ts): the engine computes each micro-batch's loss
 * and gradient (tfjs, or the ONNX training graph on onnxruntime) and holds the optimizer state.
 */
import { NlsError } from '../errors.js';
import type { ForwardContext } from '../model/linear.js';
import { currentMachine, type MachineSignature, machineDifferences, sameMachine } from '../run/machine.js';
import { Progress } from '../util/progress.js';
import { createRng, restoreRng, type Rng, type RngState } from '../util/rng.js';
import type { AdamWSlotState } from './adamw.js';
import type { BatchSource } from './batch.js';
import { type CheckpointContents, hasCheckpoint, loadLatestCheckpoint, saveCheckpointDir } from './checkpoint.js';
import type { TrainingEngine, TrainingEngineName, TrainingPass } from './engine.js';
import { cosineWithWarmup } from './schedule.js';

export { batchTensors, type TrainingPass } from './engine.js';

/** What the loop trains: the engine that holds the parameters and computes gradients, and the passes of each step. */
export interface TrainingTask {
  /** Computes losses and gradients and applies AdamW (src/train/engine.ts). */
  readonly engine: TrainingEngine;
  /** The passes of optimizer step `step`, drawing any randomness from `rng`. */
  passes(step: number, rng: Rng): TrainingPass[];
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
  /** Continue from the latest checkpoint in `checkpointDir` (start from step 0, with a note, when it holds none yet). */
  readonly resume?: boolean;
  /** Stop after this step even though `steps` is larger (for tests of resuming; the schedule still spans `steps`). */
  readonly stopAfter?: number;
  /** Progress reporter (stderr). */
  readonly progress?: Progress;
  /** Name shown in progress lines. */
  readonly taskName?: string;
  /** Any JSON the caller wants checked on resume (e.g. the rule and data options): a resume with different values is refused. */
  readonly fingerprint?: unknown;
  /** The machine this process runs on (default {@link currentMachine}; tests pass another). */
  readonly machine?: MachineSignature;
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
  /**
   * The distinct machines the run's parts ran on, the one that ran the latest part last (one
   * unless it was resumed on another machine; runs resumed from checkpoints that did not record
   * machines start with this one).
   */
  readonly machines: readonly MachineSignature[];
}

interface LoopState {
  readonly step: number;
  readonly rng: RngState;
  readonly optimizerSteps: readonly number[];
  readonly records: readonly StepRecord[];
  readonly fingerprint: unknown;
  /** The engine that wrote the checkpoint (absent in checkpoints older than the onnx engine: tfjs). */
  readonly engine?: TrainingEngineName;
  /** The distinct machines the run ran on so far, the checkpoint's writer last (absent in checkpoints older than this record). */
  readonly machines?: readonly MachineSignature[];
}

/** Raised when the loss stops being finite. */
export class TrainingDivergedError extends NlsError {}

/** Run (or resume) a training loop. */
export async function runTrainingLoop(task: TrainingTask, data: BatchSource, options: TrainLoopOptions): Promise<TrainLoopResult> {
  const progress = options.progress ?? new Progress({ quiet: true });
  const accum = options.gradAccum ?? 1;
  const { engine } = task;
  const names = engine.names;
  const schedule = { lr: options.lr, steps: options.steps, warmupSteps: options.warmupSteps, minLrRatio: options.minLrRatio ?? 0.1 };
  const fingerprint = JSON.parse(JSON.stringify(options.fingerprint ?? null)) as unknown;

  const machine = options.machine ?? currentMachine();
  let machines: MachineSignature[] = [machine];
  let rng: Rng = createRng(options.seed);
  let records: StepRecord[] = [];
  let start = 0;
  // A run killed before its first checkpoint has nothing to resume: it starts, as it would have.
  const resume = options.resume === true && (options.checkpointDir === undefined || hasCheckpoint(options.checkpointDir));
  if (options.resume && !resume) progress.log(`nothing to resume in ${options.checkpointDir}: no checkpoint was written yet; starting the run from step 0`);
  if (resume) {
    if (!options.checkpointDir) throw new NlsError('resuming needs a checkpoint folder', { field: '--resume' });
    const ckpt = await loadLatestCheckpoint<LoopState>(options.checkpointDir);
    if (JSON.stringify(ckpt.state.fingerprint) !== JSON.stringify(fingerprint)) {
      throw new NlsError(
        `the checkpoint was written with other settings (${JSON.stringify(ckpt.state.fingerprint)}), not ${JSON.stringify(fingerprint)}; fix: resume with the original options, or start a new run in another folder`,
        { file: options.checkpointDir },
      );
    }
    const current = await engine.weights();
    for (const [name, v] of current) {
      const t = ckpt.weights.get(name);
      if (!t || t.data.length !== v.data.length) throw new NlsError('checkpoint lacks this variable or has another shape', { file: options.checkpointDir, field: name });
    }
    engine.setWeights(ckpt.weights, options.checkpointDir);
    const slotStates: AdamWSlotState[] = names.map((name, i) => ({
      step: ckpt.state.optimizerSteps[i] ?? 0,
      m: ckpt.optimizer.get(`${name}.m`)!.data,
      v: ckpt.optimizer.get(`${name}.v`)!.data,
    }));
    engine.restoreOptimizer(slotStates, options.checkpointDir);
    rng = restoreRng(ckpt.state.rng);
    records = ckpt.state.records.slice();
    start = ckpt.step;
    progress.log(`resumed from step ${start} in ${options.checkpointDir}`);
    const writer = ckpt.state.engine ?? 'tfjs';
    if (writer !== engine.name) {
      progress.log(`note: the checkpoint was written by the ${writer} engine and training continues on ${engine.name}; the result matches an uninterrupted ${writer} run within float32 tolerance, not bit for bit (docs/training.md)`);
    }
    const before = ckpt.state.machines ?? [];
    const last = before[before.length - 1];
    if (last !== undefined && !sameMachine(last, machine)) {
      progress.log(
        `note: the checkpoint was written on another machine (${machineDifferences(last, machine).join(', ')}); native kernels (onnx engine, tfjs-node) choose code by CPU extensions, so the continued run may differ in the last bits from an uninterrupted run on one machine (the wasm backend computes the same bits on any CPU; docs/reproducibility.md, "Across machines")`,
      );
    }
    machines = [...before.filter((m) => !sameMachine(m, machine)), machine];
  } else if (options.checkpointDir && hasCheckpoint(options.checkpointDir)) {
    throw new NlsError('a checkpoint already exists here; fix: add --resume to continue it, or choose a new --out folder', { file: options.checkpointDir });
  }

  const save = async (step: number) => {
    if (!options.checkpointDir) return;
    const optState = await engine.optimizerState();
    const weights = await engine.weights();
    const opt = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    names.forEach((name, i) => {
      const shape = weights.get(name)!.shape;
      opt.set(`${name}.m`, { shape, data: optState[i]!.m });
      opt.set(`${name}.v`, { shape, data: optState[i]!.v });
    });
    const contents: CheckpointContents<LoopState> = {
      step,
      weights,
      optimizer: opt,
      state: { step, rng: rng.state(), optimizerSteps: optState.map((s) => s.step), records, fingerprint, engine: engine.name, machines },
    };
    await saveCheckpointDir(options.checkpointDir, contents);
  };

  const end = Math.min(options.steps, options.stopAfter ?? options.steps);
  const ctx: ForwardContext = { training: true, nextSeed: () => rng.int(2 ** 31 - 1) };
  progress.start(options.taskName ?? 'train', options.steps, start);
  const t0 = performance.now();
  let tokens = 0;
  let lastGood = start;
  const lastGoodNote = () => (options.checkpointDir ? `the last good checkpoint is step ${lastGood} in ${options.checkpointDir}` : 'no checkpoint was written');
  try {
    for (let step = start; step < end; step++) {
      const lr = cosineWithWarmup(schedule, step);
      const passes = task.passes(step, rng);
      const stepRecords: StepRecord[] = [];
      engine.beginStep();
      try {
        for (const pass of passes) {
          let lossSum = 0;
          for (let micro = 0; micro < accum; micro++) {
            const batch = data.batch(step, micro);
            tokens += batch.batchSize * batch.seqLen;
            const loss = await engine.accumulate(pass, batch, 1 / accum, ctx);
            if (!Number.isFinite(loss)) {
              throw new TrainingDivergedError(`loss became ${loss} at step ${step} (${pass.label}); ${lastGoodNote()}; fix: lower --lr or clip gradients harder`);
            }
            lossSum += loss;
          }
          stepRecords.push({ step, label: pass.label, loss: lossSum / accum, lr });
        }
        const gradNorm = await engine.clip(options.clipNorm ?? 1);
        if (!Number.isFinite(gradNorm)) throw new TrainingDivergedError(`gradient norm became ${gradNorm} at step ${step}; ${lastGoodNote()}; fix: lower --lr`);
        engine.apply(lr);
      } catch (err) {
        engine.discardStep();
        throw err;
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
    progress.done();
  }
  return { records, stepsDone: end, seconds: (performance.now() - t0) / 1000, tokens, machines };
}
