/** `nls init-model`: a randomly initialised LLaMA-family model folder of any size. */
import type { CommandModule } from 'yargs';
import { NlsError } from '../../errors.js';
import { INIT_MODEL_DEFAULTS, type InitModelArchitecture, initModelConfig, initModelFolder } from '../../pipeline/init-model.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { UsageError } from '../exit.js';
import { numberArg } from '../args.js';

interface InitModelArgs extends GlobalOptions {
  out: string;
  hidden: number;
  layers: number;
  heads: number;
  'kv-heads'?: number;
  'head-dim'?: number;
  intermediate: number;
  vocab: number;
  'max-positions': number;
  untied: boolean;
}

/** The flag of each architecture option, for usage errors. */
const FLAG_OF: Record<keyof InitModelArchitecture, string> = {
  hiddenSize: '--hidden',
  numHiddenLayers: '--layers',
  numAttentionHeads: '--heads',
  numKeyValueHeads: '--kv-heads',
  headDim: '--head-dim',
  intermediateSize: '--intermediate',
  vocabSize: '--vocab',
  maxPositionEmbeddings: '--max-positions',
  tieWordEmbeddings: '--untied',
};

function architectureOf(argv: InitModelArgs): InitModelArchitecture {
  return {
    hiddenSize: argv.hidden,
    numHiddenLayers: argv.layers,
    numAttentionHeads: argv.heads,
    ...(argv['kv-heads'] !== undefined ? { numKeyValueHeads: argv['kv-heads'] } : {}),
    ...(argv['head-dim'] !== undefined ? { headDim: argv['head-dim'] } : {}),
    intermediateSize: argv.intermediate,
    vocabSize: argv.vocab,
    maxPositionEmbeddings: argv['max-positions'],
    tieWordEmbeddings: !argv.untied,
  };
}

export const initModelCommand: CommandModule<GlobalOptions, InitModelArgs> = {
  command: 'init-model',
  describe: 'write a randomly initialised LLaMA-family model of any size as an HF model folder (F32, byte tokenizer), e.g. to size or time a training run',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'output model folder (must not exist, or be empty): config.json, model.safetensors, MODEL_CARD.md' })
      .option('hidden', { ...numberArg('hidden', 'positive integer'), demandOption: true, describe: 'hidden size' })
      .option('layers', { ...numberArg('layers', 'positive integer'), demandOption: true, describe: 'decoder layers' })
      .option('heads', { ...numberArg('heads', 'positive integer'), demandOption: true, describe: 'attention (query) heads' })
      .option('kv-heads', { ...numberArg('kv-heads', 'positive integer'), describe: 'key/value heads; must divide --heads (default: --heads, no grouped-query attention)' })
      .option('head-dim', { ...numberArg('head-dim', 'positive integer'), describe: 'dimension of each head, even (default: --hidden / --heads)' })
      .option('intermediate', { ...numberArg('intermediate', 'positive integer'), demandOption: true, describe: 'SwiGLU MLP width' })
      .option('vocab', { ...numberArg('vocab', 'positive integer'), default: INIT_MODEL_DEFAULTS.vocabSize, describe: 'vocabulary size, at least 259 (the byte tokenizer: 256 bytes + pad, bos, eos)' })
      .option('max-positions', { ...numberArg('max-positions', 'positive integer'), default: INIT_MODEL_DEFAULTS.maxPositionEmbeddings, describe: 'max_position_embeddings' })
      .option('untied', { type: 'boolean', default: false, describe: 'a separate LM head instead of one tied to the embedding' })
      .check((argv) => {
        for (const flag of Object.values(FLAG_OF)) {
          if (Array.isArray(argv[flag.slice(2)])) throw new UsageError(`${flag} is given more than once`);
        }
        if (!Number.isSafeInteger(argv.seed)) throw new UsageError(`--seed must be an integer, got ${String(argv.seed)}`);
        try {
          initModelConfig(architectureOf(argv), (option) => FLAG_OF[option]);
        } catch (err) {
          if (err instanceof NlsError) throw new UsageError(err.message);
          throw err;
        }
        return true;
      }),
  handler: async (argv) => {
    const result = await initModelFolder({
      ...architectureOf(argv),
      out: argv.out,
      seed: argv.seed,
      backend: argv.backend,
      progress: progressFor(argv),
    });
    const c = result.config;
    emit(
      argv,
      { out: result.out, parameters: result.parameters, breakdown: result.breakdown, bytes: result.bytes, seed: result.seed, config: c, command: result.command },
      () =>
        [
          `${result.parameters.toLocaleString('en-US')} parameters (${(result.parameters / 1e6).toFixed(1)}M): ${c.numHiddenLayers} layers, hidden ${c.hiddenSize}, ` +
            `${c.numAttentionHeads}/${c.numKeyValueHeads} heads of ${c.headDim}, MLP ${c.intermediateSize}, vocab ${c.vocabSize}, ${c.tieWordEmbeddings ? 'tied' : 'untied'}`,
          `random weights (seed ${result.seed}) written to ${result.out}`,
        ].join('\n'),
    );
  },
};
