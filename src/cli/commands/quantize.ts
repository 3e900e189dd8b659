/** `nls quantize`: round-to-nearest group-wise quantization of a model's decoder linears (SQFT's quantized base). */
import type { CommandModule } from 'yargs';
import { runQuantize } from '../../compress/quantize-run.js';
import type { QuantSpec } from '../../compress/quantize.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface QuantizeArgs extends GlobalOptions {
  model: string;
  bits: number;
  'group-size': number;
  asymmetric: boolean;
  eval?: string;
  'eval-tokens': number;
  'eval-seq': number;
  out: string;
}

export const quantizeCommand: CommandModule<GlobalOptions, QuantizeArgs> = {
  command: 'quantize',
  describe: 'quantize every decoder linear of a model (round to nearest, per group of input weights) and write a quantized model folder',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder (config.json + model.safetensors), or "demo" for the shipped demo model' })
      .option('bits', { ...numberArg('bits', 'positive integer'), default: 4, describe: 'bits per weight: 4 or 8' })
      .option('group-size', { ...numberArg('group-size', 'positive integer'), default: 32, describe: 'consecutive input weights sharing one scale (the last group of a row may be shorter)' })
      .option('asymmetric', { type: 'boolean', default: false, describe: 'scale and integer zero point per group (default: symmetric, scale only)' })
      .option('eval', { type: 'string', describe: 'held-out UTF-8 text file for perplexity before/after (default: the Brown validation documents)' })
      .option('eval-tokens', { ...numberArg('eval-tokens', 'positive integer'), default: 8192, describe: 'tokens evaluated before and after quantization' })
      .option('eval-seq', { ...numberArg('eval-seq', 'positive integer'), default: 128, describe: 'evaluation window length (capped at max_position_embeddings)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder: quantized model + quantization-report.json' }),
  handler: async (argv) => {
    // The spec is validated by runQuantize, which names --bits / --group-size in its errors.
    const spec = { bits: argv.bits, groupSize: argv['group-size'], symmetric: !argv.asymmetric } as QuantSpec;
    const result = await runQuantize({
      model: argv.model,
      out: argv.out,
      spec,
      ...(argv.eval !== undefined ? { evalFile: argv.eval } : {}),
      evalTokens: argv['eval-tokens'],
      evalSeqLen: argv['eval-seq'],
      backend: argv.backend,
      progress: progressFor(argv),
    });
    emit(argv, result, () => {
      const table = formatTable(
        ['layer', 'shape [out, in]', 'rel error', 'max abs error'],
        result.layers.map((l) => [l.key, `${l.rows} x ${l.cols}`, l.relativeError, l.maxAbsError]),
      );
      const e = result.evaluation;
      return [
        table,
        '',
        `${result.spec.bits}-bit ${result.spec.symmetric ? 'symmetric' : 'asymmetric'}, group ${result.spec.groupSize}: ` +
          `${result.parameters.toLocaleString('en-US')} weights, ${(result.floatBytes / 1e6).toFixed(2)} MB float32 -> ${(result.quantizedBytes / 1e6).toFixed(2)} MB; ` +
          `mean relative error ${result.meanRelativeError.toFixed(4)}`,
        `perplexity on ${e.tokens} tokens of ${e.source}: ${e.before.perplexity.toFixed(3)} -> ${e.after.perplexity.toFixed(3)}`,
        `wrote ${result.out}`,
      ].join('\n');
    });
  },
};
