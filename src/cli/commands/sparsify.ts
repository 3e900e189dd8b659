/** `nls sparsify`: prune the base model (Wanda or magnitude) and save it as a new HF folder. */
import type { CommandModule } from 'yargs';
import { runSparsify } from '../../compress/sparsity-run.js';
import { type NMPattern, parseNMPattern, SPARSITY_METHODS, type SparsityMethod } from '../../compress/sparsity.js';
import type { FloatDtype } from '../../model/safetensors.js';
import { formatTable } from '../../util/table.js';
import { emit, type GlobalOptions, progressFor } from '../common.js';
import { numberArg } from '../args.js';

interface SparsifyArgs extends GlobalOptions {
  model: string;
  method: SparsityMethod;
  sparsity?: number;
  pattern?: string;
  calib?: string;
  samples: number;
  seqlen: number;
  eval?: string;
  'eval-tokens': number;
  dtype?: FloatDtype;
  out: string;
}

export const sparsifyCommand: CommandModule<GlobalOptions, SparsifyArgs> = {
  command: 'sparsify',
  describe: 'sparsify the base model (Wanda or magnitude pruning of the decoder linears) and save it with a sparsity report',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'base model folder (config.json + model.safetensors [+ tokenizer.json]), or "demo" for the shipped demo model' })
      .option('method', { choices: SPARSITY_METHODS, default: 'wanda' as SparsityMethod, describe: 'wanda: score |W|·||X||2 over calibration activations; magnitude: score |W|' })
      .option('sparsity', { ...numberArg('sparsity', 'fraction'), describe: 'fraction of every output row to prune, in [0, 1) (floor(s * in) weights per row); implied by --pattern' })
      .option('pattern', { type: 'string', describe: 'N:M semi-structured sparsity instead, e.g. 2:4 or 4:8 (keep N of every M consecutive input weights)' })
      .option('calib', {
        type: 'string',
        describe: 'calibration text for Wanda: a .txt file, or .jsonl with a "text" field per line (default: the built-in Brown corpus, training documents)',
      })
      .option('samples', { ...numberArg('samples', 'positive integer'), default: 128, describe: 'calibration windows, drawn at random offsets (seeded by --seed)' })
      .option('seqlen', { ...numberArg('seqlen', 'positive integer'), default: 128, describe: 'tokens per calibration window (also the evaluation window)' })
      .option('eval', { type: 'string', describe: 'held-out text for perplexity before/after, .txt or .jsonl (default: the Brown validation documents)' })
      .option('eval-tokens', { ...numberArg('eval-tokens', 'positive integer'), default: 8192, describe: 'evaluation tokens, from the start of the evaluation text' })
      .option('dtype', { choices: ['F32', 'F16', 'BF16'] as const, describe: "dtype of the saved weights (default: the input's torch_dtype, which loses nothing)" })
      .option('out', { type: 'string', demandOption: true, describe: 'output model folder (HF format + sparsity-report.json)' }),
  handler: async (argv) => {
    const pattern: NMPattern | undefined = argv.pattern !== undefined ? parseNMPattern(argv.pattern, 'pattern') : undefined;
    const report = await runSparsify({
      model: argv.model,
      out: argv.out,
      method: argv.method,
      ...(argv.sparsity !== undefined ? { sparsity: argv.sparsity } : {}),
      ...(pattern !== undefined ? { pattern } : {}),
      ...(argv.calib !== undefined ? { calib: argv.calib } : {}),
      samples: argv.samples,
      seqlen: argv.seqlen,
      ...(argv.eval !== undefined ? { eval: argv.eval } : {}),
      evalTokens: argv['eval-tokens'],
      ...(argv.dtype !== undefined ? { dtype: argv.dtype } : {}),
      seed: argv.seed,
      backend: argv.backend,
      progress: progressFor(argv),
    });
    emit(argv, report, () => {
      const rule = report.pattern ? `${report.pattern.n}:${report.pattern.m}` : `ratio ${report.sparsity}`;
      const rows: (string | number)[][] = report.modules.map((m) => [m.key, `${m.shape[0]}x${m.shape[1]}`, m.sparsity]);
      rows.push(['all decoder linears', '', report.overall.sparsity]);
      return [
        formatTable(['module', 'shape [out x in]', 'sparsity'], rows),
        '',
        `${report.method} (${rule}) on ${report.samples} x ${report.seqlen} calibration tokens, ${report.seconds.toFixed(1)}s`,
        `perplexity on ${report.evaluation.tokens} tokens of ${report.evaluation.source}: ${report.perplexity.before.toFixed(3)} before, ${report.perplexity.after.toFixed(3)} after`,
        `saved to ${argv.out} (report: ${argv.out}/sparsity-report.json)`,
      ].join('\n');
    });
  },
};
