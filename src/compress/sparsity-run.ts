/**
 * The `nls sparsify` flow as a library call: load a model folder, draw calibration windows,
 * measure perplexity, prune, measure again, save the pruned folder and its report.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendRequest, initBackend } from '../backend/index.js';
import { brownCorpus } from '../data/brown.js';
import { encodeTextStream, packTextStream } from '../data/encode.js';
import { NlsError } from '../errors.js';
import { evaluateLoss, type LossMetrics } from '../evaluate/loss.js';
import { DEMO_MODEL_DIR, hasPretrainedDemoModel } from '../model/demo-model.js';
import type { LlamaModel } from '../model/llama.js';
import { copyTokenizerFiles, loadModelFolder, saveModelFolder } from '../model/model-folder.js';
import type { FloatDtype } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { type CalibrationRows, randomWindows, readTextDocuments } from './calibration.js';
import { type ModuleSparsity, type NMPattern, resolvePruneRule, type SparsityMethod, sparsifyModel } from './sparsity.js';

/** Options of {@link runSparsify}. */
export interface RunSparsifyOptions {
  /** Model folder, or `demo` for the shipped demo model. */
  readonly model: string;
  /** Output model folder (must differ from the input). */
  readonly out: string;
  readonly method: SparsityMethod;
  /** Unstructured ratio in [0, 1); optional with a pattern. */
  readonly sparsity?: number;
  readonly pattern?: NMPattern;
  /** Calibration text (.txt, or .jsonl with a `text` field); default: the Brown training split. */
  readonly calib?: string;
  /** Calibration windows (default 128). */
  readonly samples?: number;
  /** Tokens per calibration window, also the evaluation window length (default 128). */
  readonly seqlen?: number;
  /** Evaluation text (.txt or .jsonl); default: the Brown validation documents. */
  readonly eval?: string;
  /** Evaluation target tokens, from the start of the evaluation stream (default 8192). */
  readonly evalTokens?: number;
  /**
   * dtype of the saved weights (default: the input's `torch_dtype`, which is lossless: every
   * kept weight was read exactly from that dtype and pruned ones are 0).
   */
  readonly dtype?: FloatDtype;
  /** Seed of the calibration window offsets. */
  readonly seed?: number;
  readonly backend?: BackendRequest;
  readonly progress?: Progress;
}

/** Perplexity and loss on the evaluation text. */
export interface EvalSummary {
  readonly loss: number;
  readonly perplexity: number;
}

/** The content of `sparsity-report.json`. */
export interface SparsityFolderReport {
  /** The input model folder. */
  readonly model: string;
  readonly method: SparsityMethod;
  /** Fraction pruned per row (`1 - n/m` for a pattern). */
  readonly sparsity: number;
  readonly pattern: NMPattern | null;
  /** Calibration windows and their length (0 for magnitude pruning, which reads no data). */
  readonly samples: number;
  readonly seqlen: number;
  /** Where the calibration text came from. */
  readonly calibration: string;
  readonly seed: number;
  /** Seconds spent pruning (statistics included, evaluation excluded). */
  readonly seconds: number;
  readonly evaluation: { readonly source: string; readonly tokens: number; readonly seqlen: number };
  readonly perplexity: { readonly before: number; readonly after: number };
  readonly loss: { readonly before: number; readonly after: number };
  /** Over all decoder linears. */
  readonly overall: { readonly zeros: number; readonly params: number; readonly sparsity: number };
  readonly modules: ModuleSparsity[];
}

const BROWN_TRAIN = 'Brown corpus (training documents)';
const BROWN_VALIDATION = 'Brown corpus (validation documents)';

/** Name of the report file written next to the pruned model. */
export const SPARSITY_REPORT_FILE = 'sparsity-report.json';

function summary(m: LossMetrics): EvalSummary {
  return { loss: m.loss, perplexity: m.perplexity };
}

/**
 * Sparsify a model folder (see {@link sparsifyModel}) and save the result as an HF folder at
 * `out` with the input's tokenizer and a `sparsity-report.json` (perplexity before and after
 * on a fixed evaluation text). Every option is validated before the model is loaded.
 */
export async function runSparsify(options: RunSparsifyOptions): Promise<SparsityFolderReport> {
  const samples = options.samples ?? 128;
  const seqlen = options.seqlen ?? 128;
  const evalTokens = options.evalTokens ?? 8192;
  const seed = options.seed ?? 0;
  const { sparsity } = resolvePruneRule(options);
  for (const [field, v] of [
    ['samples', samples],
    ['seqlen', seqlen],
    ['eval-tokens', evalTokens],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new NlsError(`must be a positive integer, got ${v}`, { field });
  }
  let dir = options.model;
  if (dir === 'demo') {
    if (!hasPretrainedDemoModel()) {
      throw new NlsError('the pre-trained demo model is not in this install. Fix: run `nls pretrain --out models/demo` or pass a model folder', {
        file: DEMO_MODEL_DIR,
      });
    }
    dir = DEMO_MODEL_DIR;
  }
  if (path.resolve(dir) === path.resolve(options.out)) {
    throw new NlsError('is the input model folder; sparsify never overwrites its input. Fix: pass another --out folder', { field: 'out', file: options.out });
  }
  // Read the text files first: a missing file should fail before minutes of loading.
  const calibDocs = options.method === 'wanda' && options.calib !== undefined ? await readTextDocuments(options.calib, 'calib') : undefined;
  const evalDocs = options.eval !== undefined ? await readTextDocuments(options.eval, 'eval') : undefined;

  await initBackend(options.backend ?? 'wasm', { quiet: true });
  const folder = await loadModelFolder(dir);
  const { model, tokenizer } = folder;
  try {
    if (seqlen > model.config.maxPositionEmbeddings) {
      throw new NlsError(`${seqlen} exceeds the model's max_position_embeddings ${model.config.maxPositionEmbeddings}. Fix: lower --seqlen`, {
        field: 'seqlen',
      });
    }
    const progress = options.progress;
    const evalSource = options.eval ?? BROWN_VALIDATION;
    const evalText = evalDocs ?? (await brownCorpus({ split: 'validation' })).map((d) => d.text);
    const evalStream = encodeTextStream(evalText, tokenizer);
    // n targets need n + 1 tokens; a shorter text is evaluated whole.
    const evalRows = packTextStream(evalStream.slice(0, evalTokens + 1), seqlen, { padId: tokenizer.padId ?? 0 });
    if (evalRows.batchSize === 0) {
      throw new NlsError(`the evaluation text has ${evalStream.length} tokens; at least 2 are needed. Fix: pass a longer --eval file`, {
        field: 'eval',
        file: options.eval ?? '',
      });
    }

    let calibSource = 'none (magnitude pruning reads no data)';
    let calibration: CalibrationRows | undefined;
    if (options.method === 'wanda') {
      calibSource = options.calib ?? BROWN_TRAIN;
      const docs = calibDocs ?? (await brownCorpus({ split: 'train' })).map((d) => d.text);
      calibration = randomWindows(encodeTextStream(docs, tokenizer), samples, seqlen, seed, calibSource);
    }

    // One progress step per forward pass: a pass blocks this thread, so only steps can report.
    const evaluate = async (when: string): Promise<LossMetrics> => {
      progress?.log(`evaluating ${evalSource} ${when} pruning`);
      progress?.start(`perplexity ${when} pruning`, evalRows.batchSize);
      try {
        return await evaluateLoss(model, evalRows, 16, (rows) => progress?.step(rows));
      } finally {
        progress?.done();
      }
    };
    const before = await evaluate('before');
    const pruned = await sparsifyModel(model, {
      method: options.method,
      ...(options.pattern !== undefined ? { pattern: options.pattern } : { sparsity }),
      ...(calibration !== undefined ? { calibration } : {}),
      ...(progress !== undefined ? { progress } : {}),
    });
    const after = await evaluate('after');

    const report: SparsityFolderReport = {
      model: options.model,
      method: pruned.method,
      sparsity: pruned.sparsity,
      pattern: pruned.pattern,
      samples: pruned.samples,
      seqlen: pruned.seqlen,
      calibration: calibSource,
      seed,
      seconds: pruned.seconds,
      evaluation: { source: evalSource, tokens: before.tokens, seqlen },
      perplexity: { before: summary(before).perplexity, after: summary(after).perplexity },
      loss: { before: before.loss, after: after.loss },
      overall: pruned.overall,
      modules: pruned.modules,
    };
    await saveSparseFolder(dir, options.out, folder.model, options.dtype ?? (await sourceDtype(dir)), report);
    return report;
  } finally {
    model.dispose();
  }
}

/** The dtype a model folder's weights were saved in, from config.json's `torch_dtype`. */
async function sourceDtype(dir: string): Promise<FloatDtype> {
  const raw: unknown = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8'));
  const t = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).torch_dtype : undefined;
  return t === 'float16' ? 'F16' : t === 'bfloat16' ? 'BF16' : 'F32';
}

/** Save the pruned model with the input folder's tokenizer setup, then the report. */
async function saveSparseFolder(
  inputDir: string,
  out: string,
  model: LlamaModel,
  dtype: FloatDtype,
  report: SparsityFolderReport,
): Promise<void> {
  const copied = await copyTokenizerFiles(inputDir, out);
  // Without tokenizer.json the input uses the built-in byte tokenizer (loadTokenizer accepts
  // nothing else), so the output records it the same way.
  const byteTokenizer = !copied.includes('tokenizer.json');
  await saveModelFolder(out, model, {
    dtype,
    byteTokenizer,
    metadata: { nls_sparsity_method: report.method, nls_sparsity: String(report.sparsity) },
  });
  await writeFileAtomic(path.join(out, SPARSITY_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
}
