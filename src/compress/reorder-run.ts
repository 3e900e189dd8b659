/**
 * The `nls reorder` flow as a library call: load a model folder, draw calibration windows, reorder
 * every layer's MLP channels by importance (src/compress/reorder.ts), check that the logits did
 * not change, and save the reordered folder with `reorder-report.json`.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type BackendRequest, initBackend } from '../backend/index.js';
import { brownCorpus } from '../data/brown.js';
import { encodeTextStream } from '../data/encode.js';
import { NlsError } from '../errors.js';
import { DEMO_MODEL_DIR, hasPretrainedDemoModel } from '../model/demo-model.js';
import { copyTokenizerFiles, loadModelFolder, saveModelFolder } from '../model/model-folder.js';
import type { FloatDtype } from '../model/safetensors.js';
import { NLS_VERSION } from '../package-info.js';
import { maxAbsDiff } from '../util/compare.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { randomWindows, readTextDocuments } from './calibration.js';
import { type LayerReordering, reorderMlpChannels } from './reorder.js';

/** Name of the report written next to the reordered model. */
export const REORDER_REPORT_FILE = 'reorder-report.json';
/** `format` of reorder-report.json. */
export const REORDER_REPORT_FORMAT = 'nls-reorder-report/1';
/** config.json key of a reordered folder: `{ method, report }` (docs/formats.md). */
export const REORDERED_CONFIG_KEY = 'nls_mlp_reordered';

/** Options of {@link runReorder}. */
export interface RunReorderOptions {
  /** Model folder, or `demo` for the shipped demo model. */
  readonly model: string;
  /** Output model folder (must differ from the input). */
  readonly out: string;
  /** Calibration text (.txt, or .jsonl with a `text` field); default: the Brown training split. */
  readonly calib?: string;
  /** Calibration windows (default 64). */
  readonly samples?: number;
  /** Tokens per calibration window (default 128, or the model's max_position_embeddings if smaller). */
  readonly seqlen?: number;
  /** Seed of the calibration window offsets (default 0). */
  readonly seed?: number;
  /** dtype of the saved weights (default: the input's `torch_dtype`, lossless: a permutation moves values only). */
  readonly dtype?: FloatDtype;
  readonly backend?: BackendRequest;
  readonly progress?: Progress;
}

/** The `reorder-report.json` document. */
export interface ReorderReport {
  readonly format: typeof REORDER_REPORT_FORMAT;
  readonly nlsVersion: string;
  /** The input model folder, as given. */
  readonly model: string;
  readonly method: 'wanda-down';
  readonly calibration: string;
  readonly samples: number;
  readonly seqlen: number;
  readonly seed: number;
  /** Calibration tokens counted. */
  readonly tokens: number;
  readonly seconds: number;
  /** Logits of the reordered model against the original on the first calibration windows: equal up to float32 summation order. */
  readonly logits: { readonly rows: number; readonly positions: number; readonly maxAbsDiff: number };
  /** Per layer: the permutation (`order[k]` = original channel at position k), importance in the new order, channels moved. */
  readonly layers: readonly LayerReordering[];
}

const BROWN_TRAIN = 'Brown corpus (training documents)';

/** The dtype a model folder's weights were saved in, from config.json's `torch_dtype`. */
async function sourceDtype(dir: string): Promise<FloatDtype> {
  const raw: unknown = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8'));
  const t = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).torch_dtype : undefined;
  return t === 'float16' ? 'F16' : t === 'bfloat16' ? 'BF16' : 'F32';
}

/**
 * Reorder a model folder's MLP channels by importance and save the result at `out` (with the
 * input's tokenizer, `nls_mlp_reordered` in config.json, and `reorder-report.json`). The
 * reordered model computes the same logits (checked, reported as `logits.maxAbsDiff`).
 */
export async function runReorder(options: RunReorderOptions): Promise<ReorderReport> {
  const started = performance.now();
  const samples = options.samples ?? 64;
  const seed = options.seed ?? 0;
  for (const [field, v] of [
    ['samples', samples],
    ['seqlen', options.seqlen ?? 1],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new NlsError(`must be a positive integer, got ${v}`, { field });
  }
  let dir = options.model;
  if (dir === 'demo') {
    if (!hasPretrainedDemoModel()) throw new NlsError('the pre-trained demo model is not in this install. Fix: run `nls pretrain --out models/demo` or pass a model folder', { file: DEMO_MODEL_DIR });
    dir = DEMO_MODEL_DIR;
  }
  if (path.resolve(dir) === path.resolve(options.out)) {
    throw new NlsError('is the input model folder; reorder never overwrites its input. Fix: pass another --out folder', { field: 'out', file: options.out });
  }
  const calibDocs = options.calib !== undefined ? await readTextDocuments(options.calib, 'calib') : undefined;
  await initBackend(options.backend ?? 'wasm', { quiet: true });
  const folder = await loadModelFolder(dir);
  const { model, tokenizer } = folder;
  const seqlen = options.seqlen ?? Math.min(128, model.config.maxPositionEmbeddings);
  try {
    if (folder.quantization) {
      throw new NlsError('is quantized (nls-rtn); reorder the float model first, then quantize the reordered folder', { file: dir, field: 'quantization_config' });
    }
    if (seqlen > model.config.maxPositionEmbeddings) {
      throw new NlsError(`${seqlen} exceeds the model's max_position_embeddings ${model.config.maxPositionEmbeddings}. Fix: lower --seqlen`, { field: 'seqlen' });
    }
    const calibSource = options.calib ?? BROWN_TRAIN;
    const docs = calibDocs ?? (await brownCorpus({ split: 'train' })).map((d) => d.text);
    const calibration = randomWindows(encodeTextStream(docs, tokenizer), samples, seqlen, seed, calibSource);
    const compareRows = Math.min(4, samples);
    const ids = tf.tensor2d(calibration.inputIds.slice(0, compareRows * seqlen), [compareRows, seqlen], 'int32');
    let logitsDiff = 0;
    let reordering;
    try {
      const before = await model.logitsData(ids);
      reordering = await reorderMlpChannels(model, calibration, options.progress ? { progress: options.progress } : {});
      logitsDiff = maxAbsDiff(await model.logitsData(ids), before);
    } finally {
      ids.dispose();
    }
    const report: ReorderReport = {
      format: REORDER_REPORT_FORMAT,
      nlsVersion: NLS_VERSION,
      model: options.model,
      method: reordering.method,
      calibration: calibSource,
      samples,
      seqlen,
      seed,
      tokens: reordering.tokens,
      seconds: (performance.now() - started) / 1000,
      logits: { rows: compareRows, positions: compareRows * seqlen, maxAbsDiff: logitsDiff },
      layers: reordering.layers,
    };
    options.progress?.log(`logits of the reordered model differ by at most ${logitsDiff.toExponential(2)} from the original`);
    await fsp.mkdir(options.out, { recursive: true });
    const copied = await copyTokenizerFiles(dir, options.out);
    await saveModelFolder(options.out, model, {
      dtype: options.dtype ?? (await sourceDtype(dir)),
      byteTokenizer: !copied.includes('tokenizer.json'),
      metadata: { nls_mlp_reordered: reordering.method },
      extraConfig: { [REORDERED_CONFIG_KEY]: { method: reordering.method, report: REORDER_REPORT_FILE } },
    });
    await writeFileAtomic(path.join(options.out, REORDER_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    return report;
  } finally {
    model.dispose();
  }
}

/** What config.json says about a folder's MLP reordering (`nls_mlp_reordered`), or undefined when it was not reordered by nls. */
export async function readReordering(dir: string): Promise<{ readonly method: string; readonly report: string } | undefined> {
  const file = path.join(dir, 'config.json');
  if (!existsSync(file)) return undefined;
  const raw: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
  const r = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[REORDERED_CONFIG_KEY] : undefined;
  if (typeof r !== 'object' || r === null) return undefined;
  const { method, report } = r as Record<string, unknown>;
  return { method: String(method), report: path.join(dir, String(report ?? REORDER_REPORT_FILE)) };
}
