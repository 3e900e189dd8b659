/** `nls pretrain`: build the demo base model from the Brown corpus. */
import type { CommandModule } from 'yargs';
import { defaultThreads } from '../../engine/onnx/session.js';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { pretrainDemoModel } from '../../pipeline/pretrain-demo.js';
import { resolveTrainingEngine } from '../../train/engines.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface PretrainArgs extends GlobalOptions {
  out: string;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  'min-lr-ratio': number;
  'weight-decay': number;
  'validation-windows': number;
  engine: EngineRequest;
  threads?: number;
  resume: boolean;
}

export const pretrainCommand: CommandModule<GlobalOptions, PretrainArgs> = {
  command: 'pretrain',
  describe: 'pre-train the demo base model (a small LLaMA with a byte vocabulary) on the Brown corpus',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'output model folder (HF format + MODEL_CARD.md)' })
      .option('steps', { ...numberArg('steps', 'positive integer'), default: 1200, describe: 'optimizer steps' })
      .option('batch', { ...numberArg('batch', 'positive integer'), default: 16, describe: 'windows per step' })
      .option('seq', { ...numberArg('seq', 'positive integer'), default: 128, describe: 'window length in bytes' })
      .option('lr', { ...numberArg('lr', 'positive number'), default: 1e-3, describe: 'peak learning rate (AdamW)' })
      .option('warmup', { ...numberArg('warmup', 'non-negative integer'), default: 50, describe: 'linear warmup steps' })
      .option('min-lr-ratio', {
        ...numberArg('min-lr-ratio', 'ratio'),
        default: 1,
        describe: 'final learning rate of the cosine decay as a fraction of --lr; 1 keeps it constant after warmup, so the checkpoint at step N is the run with --steps N',
      })
      .option('weight-decay', { ...numberArg('weight-decay', 'non-negative number'), default: 0, describe: 'AdamW decoupled weight decay' })
      .option('validation-windows', { ...numberArg('validation-windows', 'positive integer'), default: 256, describe: 'held-out windows evaluated for the model card' })
      .option('engine', {
        choices: ENGINE_REQUESTS,
        default: 'auto' as EngineRequest,
        describe: 'training engine: onnx (ONNX Runtime training graph, every core), tfjs (the --backend), or auto (onnx when onnxruntime-node loads here); the shipped models/demo was trained with tfjs',
      })
      .option('threads', { ...numberArg('threads', 'positive integer'), describe: 'onnx engine: intra-op threads (default: every core)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the checkpoint in OUT/checkpoints' }),
  handler: async (argv) => {
    const engine = await resolveTrainingEngine(argv.engine);
    const result = await pretrainDemoModel({
      engine,
      ...(argv.threads !== undefined ? { threads: argv.threads } : {}),
      out: argv.out,
      steps: argv.steps,
      batchSize: argv.batch,
      seqLen: argv.seq,
      lr: argv.lr,
      warmupSteps: argv.warmup,
      minLrRatio: argv['min-lr-ratio'],
      weightDecay: argv['weight-decay'],
      seed: argv.seed,
      validationWindows: argv['validation-windows'],
      backend: argv.backend,
      resume: argv.resume,
      progress: progressFor(argv),
      command: `npx nls pretrain --out ${argv.out} --steps ${argv.steps} --batch ${argv.batch} --seq ${argv.seq} --lr ${argv.lr} --warmup ${argv.warmup} --min-lr-ratio ${argv['min-lr-ratio']} --weight-decay ${argv['weight-decay']} --seed ${argv.seed} --backend ${argv.backend} --engine ${engine}${engine === 'onnx' ? ` --threads ${argv.threads ?? defaultThreads()}` : ''}`,
    });
    emit(argv, result, () =>
      `validation loss ${result.validation.loss.toFixed(4)} nats/byte (${result.validation.bitsPerToken.toFixed(3)} bits/byte, perplexity ${result.validation.perplexity.toFixed(2)}); was ${result.validationBefore.loss.toFixed(4)} at initialisation`,
    );
  },
};
