/** `nls train`: train a weight-sharing supernet of elastic LoRA adapters. */
import type { CommandModule } from 'yargs';
import { ENGINE_REQUESTS, type EngineRequest } from '../../engine/types.js';
import { BUILTIN_SPAM_TASK, runSupernetTraining } from '../../pipeline/train-supernet.js';
import { loadSupernetSpace } from '../../supernet/artifact.js';
import { SAMPLING_RULES, type SamplingRuleName } from '../../supernet/sampling.js';
import { modelFolderOf } from '../../model/demo-model.js';
import { searchSpaceFile } from '../../space/index.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface TrainArgs extends GlobalOptions {
  model: string;
  data: string;
  space: string;
  out: string;
  rule: SamplingRuleName;
  steps: number;
  lr: number;
  warmup: number;
  batch: number;
  'grad-accum': number;
  'max-length': number;
  'weight-decay': number;
  'validation-size'?: number;
  'sparse-adapter': boolean;
  'quant-aware': boolean;
  'reorder-widths': boolean;
  engine: EngineRequest;
  threads?: number;
  'checkpoint-every': number;
  resume: boolean;
}

export const trainCommand: CommandModule<GlobalOptions, TrainArgs> = {
  command: 'train',
  describe: 'train a weight-sharing supernet of elastic LoRA adapters (the base model stays frozen)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'base model folder: config.json + model.safetensors (+ tokenizer.json), or demo for the shipped demo model' })
      .option('data', {
        type: 'string',
        demandOption: true,
        describe: `JSONL dataset (instruction, multiple choice, classification or text rows), or "${BUILTIN_SPAM_TASK}" for the built-in SpamAssassin task`,
      })
      .option('space', { type: 'string', demandOption: true, describe: 'search-space JSON, or a shipped one: demo, demo-widths, shears-llama, sqft-qkv, lonas-llama' })
      .option('out', { type: 'string', demandOption: true, describe: 'output supernet folder (adapters, manifest, training log, validation metrics)' })
      .option('rule', {
        choices: SAMPLING_RULES,
        default: 'uniform' as SamplingRuleName,
        describe: 'sampling rule: uniform (a random subnet per step), sandwich (max + min + random per step), shared-layer (one rank per layer, SQFT), max (plain LoRA at r_max)',
      })
      .option('steps', { ...numberArg('steps', 'positive integer'), default: 100, describe: 'optimizer steps' })
      .option('lr', { ...numberArg('lr', 'positive number'), default: 1e-3, describe: 'peak learning rate (AdamW; linear warmup, then cosine decay to 10%)' })
      .option('warmup', { ...numberArg('warmup', 'non-negative integer'), default: 10, describe: 'warmup steps' })
      .option('batch', { ...numberArg('batch', 'positive integer'), default: 8, describe: 'examples per micro-batch' })
      .option('grad-accum', { ...numberArg('grad-accum', 'positive integer'), default: 1, describe: 'micro-batches per optimizer step (one configuration per step)' })
      .option('max-length', { ...numberArg('max-length', 'positive integer'), default: 128, describe: 'maximum tokens per example; longer prompts are cut from the left' })
      .option('weight-decay', { ...numberArg('weight-decay', 'non-negative number'), default: 0, describe: 'AdamW decoupled weight decay' })
      .option('validation-size', { ...numberArg('validation-size', 'positive integer'), describe: 'held-out examples (default: 10% of a file, 200 for the built-in task)' })
      .option('sparse-adapter', { type: 'boolean', default: false, describe: 'SparsePEFT: mask each adapter update by its base weight\'s non-zeros, so merging keeps a sparse base sparse (sparsify the base first: nls sparsify)' })
      .option('quant-aware', { type: 'boolean', default: false, describe: 'QA-SparsePEFT: also fake-quantize the merged weight with the base\'s own scales (straight-through gradient); needs a base quantized by nls quantize; implies --sparse-adapter' })
      .option('reorder-widths', {
        type: 'boolean',
        default: false,
        describe: 'first reorder the base model\'s MLP channels by importance (as nls reorder) into OUT/base and train on it: for search spaces with width groups (docs/widths.md)',
      })
      .option('engine', {
        choices: ENGINE_REQUESTS,
        default: 'auto' as EngineRequest,
        describe: 'training engine: onnx (the ONNX training graph on ONNX Runtime, every core), tfjs (the --backend), or auto (onnx when onnxruntime-node loads here); recorded in supernet.json (docs/training.md)',
      })
      .option('threads', { ...numberArg('threads', 'positive integer'), describe: 'onnx engine: intra-op threads (default: every core)' })
      .option('checkpoint-every', { ...numberArg('checkpoint-every', 'positive integer'), default: 50, describe: 'write a checkpoint every this many steps (and at the end) into OUT/checkpoints' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the checkpoint in OUT/checkpoints, ending with the same weights as an uninterrupted run (same engine, and on onnx the same thread count)' }),
  handler: async (argv) => {
    const result = await runSupernetTraining({
      model: modelFolderOf(argv.model),
      data: argv.data,
      space: searchSpaceFile(argv.space),
      out: argv.out,
      rule: argv.rule,
      steps: argv.steps,
      lr: argv.lr,
      warmupSteps: argv.warmup,
      batchSize: argv.batch,
      gradAccum: argv['grad-accum'],
      maxLength: argv['max-length'],
      weightDecay: argv['weight-decay'],
      seed: argv.seed,
      backend: argv.backend,
      resume: argv.resume,
      adapterMode: { sparse: argv['sparse-adapter'] || argv['quant-aware'], quantAware: argv['quant-aware'] },
      reorderWidths: argv['reorder-widths'],
      engine: argv.engine,
      ...(argv.threads !== undefined ? { threads: argv.threads } : {}),
      checkpointEvery: argv['checkpoint-every'],
      ...(argv['validation-size'] !== undefined ? { taskOptions: { validationSize: argv['validation-size'] } } : {}),
      progress: progressFor(argv),
    });
    const summary = { out: argv.out, engine: result.training.engine, validation: result.validation, seconds: result.training.seconds, steps: result.training.stepsDone };
    // The trained space as resolved for the base (in OUT/base with --reorder-widths), for the ranks column.
    const space = await loadSupernetSpace(argv.out);
    emit(argv, summary, () =>
      formatTable(
        ['subnet', 'config key', `ranks (${space.rankPatternLegend()})`, 'adapter params', 'val loss', 'accuracy'],
        result.validation.map((m) => [m.name, m.key, space.rankPattern(m.key), m.adapterParameters, m.loss, m.accuracy === undefined ? '-' : m.accuracy]),
      ),
    );
  },
};
