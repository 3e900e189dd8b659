/**
 * The `nls quantize` flow: load a model folder, measure perplexity on held-out text, quantize
 * every decoder linear (RTN, group-wise), measure again, and write the quantized folder with a
 * `quantization-report.json`.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { brownCorpus } from '../data/brown.js';
import { encodeTextStream, packTextStream } from '../data/encode.js';
import { NlsError } from '../errors.js';
import { evaluateLoss, type LossMetrics } from '../evaluate/loss.js';
import { DEMO_MODEL_DIR } from '../model/demo-model.js';
import { readJsonFile } from '../model/hf-config.js';
import { copyTokenizerFiles, loadModelFolder } from '../model/model-folder.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { saveQuantizedModelFolder } from './quantize-folder.js';
import { NLS_QUANT_METHOD, quantizationConfigJson, type NlsQuantizationConfigJson } from './quantize-format.js';
import { type ModelQuantizationReport, quantizeModel, type QuantSpec, validateQuantSpec } from './quantize.js';

/** File name of the report written next to the quantized weights. */
export const QUANTIZATION_REPORT_FILE = 'quantization-report.json';

/** Tokenizer files copied from the source folder unchanged. */

/** Options of {@link runQuantize}. */
export interface QuantizeRunOptions {
  /** Source model folder, or `demo` for the shipped demo model. */
  readonly model: string;
  /** Output folder (must differ from the source). */
  readonly out: string;
  readonly spec: QuantSpec;
  /** Held-out UTF-8 text file (read as one document); default: the Brown validation documents. */
  readonly evalFile?: string;
  /** Target tokens evaluated before and after (default 8192). */
  readonly evalTokens?: number;
  /** Window length of the evaluation (default 128, capped at max_position_embeddings). */
  readonly evalSeqLen?: number;
  /** tfjs backend (default wasm). */
  readonly backend?: BackendRequest;
  readonly progress?: Progress;
}

/** Perplexity of one evaluation. */
export interface PerplexityMetrics {
  readonly loss: number;
  readonly perplexity: number;
  readonly bitsPerToken: number;
}

/** The content of `quantization-report.json`, and the result of {@link runQuantize}. */
export interface QuantizeRunResult extends ModelQuantizationReport {
  /** The source folder. */
  readonly model: string;
  /** The quantized folder written. */
  readonly out: string;
  /** The `quantization_config` written to config.json. */
  readonly quantizationConfig: NlsQuantizationConfigJson;
  readonly evaluation: {
    /** `brown-validation` or the file evaluated. */
    readonly source: string;
    /** Target tokens scored. */
    readonly tokens: number;
    readonly seqLen: number;
    readonly before: PerplexityMetrics;
    readonly after: PerplexityMetrics;
  };
  readonly backend: string;
  readonly seconds: number;
}

function perplexityOf(m: LossMetrics): PerplexityMetrics {
  return { loss: m.loss, perplexity: m.perplexity, bitsPerToken: m.bitsPerToken };
}

function positiveInt(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new NlsError(`must be a positive integer, got ${value}`, { field });
  return value;
}

/**
 * Quantize a model folder (see the module doc). Throws NlsError for a bad spec, a missing or
 * already quantized model, an output folder equal to the source, or evaluation text too short.
 */
export async function runQuantize(options: QuantizeRunOptions): Promise<QuantizeRunResult> {
  const started = performance.now();
  validateQuantSpec(options.spec, { bits: '--bits', groupSize: '--group-size' });
  const evalTokens = positiveInt(options.evalTokens ?? 8192, '--eval-tokens');
  const seqLenOption = positiveInt(options.evalSeqLen ?? 128, '--eval-seq');
  const dir = options.model === 'demo' ? DEMO_MODEL_DIR : options.model;
  if (path.resolve(dir) === path.resolve(options.out)) {
    throw new NlsError('is the source model folder; write the quantized model to another folder', { field: '--out' });
  }
  if (options.evalFile !== undefined && !existsSync(options.evalFile)) {
    throw new NlsError('file does not exist; give a UTF-8 text file of held-out text', { file: options.evalFile, field: '--eval' });
  }
  const progress = options.progress;
  const backend: BackendInfo = await initBackend(options.backend ?? 'wasm', { quiet: true });
  const folder = await loadModelFolder(dir);
  const { model, tokenizer, config } = folder;
  try {
    if (folder.quantization) {
      throw new NlsError(
        `is already quantized (${NLS_QUANT_METHOD}, ${folder.quantization.spec.bits} bits); quantize the original float model instead`,
        { file: dir },
      );
    }
    const texts = options.evalFile !== undefined ? [await fsp.readFile(options.evalFile, 'utf8')] : (await brownCorpus({ split: 'validation' })).map((d) => d.text);
    const source = options.evalFile ?? 'brown-validation';
    const seqLen = Math.min(seqLenOption, config.maxPositionEmbeddings);
    // The first evalTokens + 1 tokens give evalTokens targets (the last window padded).
    const ids = encodeTextStream(texts, tokenizer).slice(0, evalTokens + 1);
    if (ids.length < 2) throw new NlsError('holds too little text to evaluate (fewer than 2 tokens)', { file: source, field: '--eval' });
    const rows = packTextStream(ids, seqLen, { padId: tokenizer.padId ?? 0 });
    progress?.log(`backend ${backend.name}; model ${options.model}; ${config.numHiddenLayers * 7} linears to quantize to ${options.spec.bits} bits (group ${options.spec.groupSize}, ${options.spec.symmetric ? 'symmetric' : 'asymmetric'})`);
    progress?.log(`evaluating the float model on ${ids.length - 1} tokens of ${source}`);
    const before = await evaluateLoss(model, rows);

    progress?.start('quantize', config.numHiddenLayers * 7);
    const { matrices, report } = await quantizeModel(model, options.spec, {
      onLayer: (layer, i) => progress?.step(i, { layer: layer.key, 'rel err': layer.relativeError }),
    });
    progress?.log('evaluating the quantized model');
    const after = await evaluateLoss(model, rows);

    const rawConfig = await readJsonFile(path.join(dir, 'config.json'), 'a model folder needs config.json');
    const raw = typeof rawConfig === 'object' && rawConfig !== null ? (rawConfig as Record<string, unknown>) : {};
    const byteTokenizer = raw.nls_tokenizer === 'bytes';
    // Tensors that stay float keep the source's dtype (they were read exactly from it).
    const dtype = raw.torch_dtype === 'float16' ? 'F16' : raw.torch_dtype === 'bfloat16' ? 'BF16' : 'F32';
    await saveQuantizedModelFolder(options.out, model, matrices, { byteTokenizer, dtype });
    await copyTokenizerFiles(dir, options.out);
    const result: QuantizeRunResult = {
      model: options.model,
      out: options.out,
      spec: report.spec,
      quantizationConfig: quantizationConfigJson(report.spec),
      layers: report.layers,
      meanRelativeError: report.meanRelativeError,
      maxRelativeError: report.maxRelativeError,
      parameters: report.parameters,
      floatBytes: report.floatBytes,
      quantizedBytes: report.quantizedBytes,
      evaluation: { source, tokens: before.tokens, seqLen, before: perplexityOf(before), after: perplexityOf(after) },
      backend: backend.name,
      seconds: (performance.now() - started) / 1000,
    };
    await writeFileAtomic(path.join(options.out, QUANTIZATION_REPORT_FILE), JSON.stringify(result, null, 2) + '\n');
    progress?.log(`wrote ${options.out} (perplexity ${before.perplexity.toFixed(3)} -> ${after.perplexity.toFixed(3)})`);
    return result;
  } finally {
    model.dispose();
  }
}
