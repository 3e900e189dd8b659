/**
 * The flows behind `nls merge` and `nls export`: load a supernet, choose a sub-adapter, extract
 * it, and write a merged HF model folder (with a merge report) and/or a PEFT adapter folder.
 *
 * @module
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../backend/index.js';
import { type MergeResult, mergeAdapters } from '../compress/merge.js';
import { FakeQuantizerT, type QuantizedMatrix, type QuantSpec } from '../compress/quantize.js';
import { saveQuantizedModelFolder } from '../compress/quantize-folder.js';
import { NlsError } from '../errors.js';
import { readJsonFile } from '../model/hf-config.js';
import type { LlamaModel } from '../model/llama.js';
import { saveModelFolder } from '../model/model-folder.js';
import type { FloatDtype } from '../model/safetensors.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { NLS_VERSION } from '../package-info.js';
import { encodeRows, loadTaskData, type TaskDataOptions } from '../pipeline/train-supernet.js';
import { type LoadedSupernet, loadSupernet } from '../supernet/artifact.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { createRng } from '../util/rng.js';
import { type PeftAdapterConfig, savePeftAdapter } from './peft.js';
import { copyTokenizerFiles, extractSubAdapter, resolveSubnet, type ResolvedSubnet, type SubAdapter, type SubnetSelection } from './subnet.js';

/** File name of the merge report in a merged model folder. */
export const MERGE_REPORT_FILE = 'merge-report.json';
/** `format` of merge-report.json. */
export const MERGE_REPORT_FORMAT = 'nls-merge-report/1';

/**
 * Save a merged model as an HF model folder next to its base's tokenizer: the tokenizer files of
 * `baseDir` are copied, and the byte-tokenizer marker is kept when the base has it.
 */
export async function saveMergedModelFolder(
  dir: string,
  model: LlamaModel,
  baseDir: string,
  options: {
    dtype?: FloatDtype;
    metadata?: Readonly<Record<string, string>>;
    /** The merged quantized linears (`MergeResult.quantized`): saved as a quantized folder. */
    quantized?: ReadonlyMap<string, QuantizedMatrix> | undefined;
  } = {},
): Promise<void> {
  const baseConfig = await readJsonFile(path.join(baseDir, 'config.json'), 'the base model folder needs its config.json');
  const byteTokenizer = typeof baseConfig === 'object' && baseConfig !== null && (baseConfig as Record<string, unknown>).nls_tokenizer === 'bytes';
  await fsp.mkdir(dir, { recursive: true });
  // Tokenizer first and config.json last (both savers write it after the weights): a folder
  // with a config.json has everything from_pretrained needs.
  await copyTokenizerFiles(baseDir, dir);
  const save = { dtype: options.dtype ?? 'F32', byteTokenizer, ...(options.metadata ? { metadata: options.metadata } : {}) } as const;
  if (options.quantized && options.quantized.size > 0) await saveQuantizedModelFolder(dir, model, options.quantized, save);
  else await saveModelFolder(dir, model, save);
}

/** Rows of token ids to compare logits on, and where they come from. */
interface ComparisonRows {
  readonly ids: tf.Tensor2D;
  readonly source: string;
}

/**
 * The first `n` validation examples of the data the supernet was trained on (prompt and answer),
 * or, when that data cannot be loaded, `n` seeded random token rows.
 */
async function comparisonRows(supernetDir: string, loaded: LoadedSupernet, n: number, seed: number): Promise<ComparisonRows> {
  const data = loaded.manifest.data as { name?: string; source?: string; options?: { trainSize?: number; validationSize?: number; maxChars?: number; promptStyle?: 'direct' | 'channel' } };
  const training = loaded.manifest.training as { seed?: number; maxLength?: number };
  const source = data.name === 'spam-demo' ? 'spam-demo' : data.source;
  const maxLength = training.maxLength ?? 128;
  if (source !== undefined && (source === 'spam-demo' || existsSync(source))) {
    try {
      const o = data.options ?? {};
      const taskOptions: TaskDataOptions = {
        seed: training.seed ?? 0,
        ...(o.trainSize !== undefined ? { trainSize: o.trainSize } : {}),
        ...(o.validationSize !== undefined ? { validationSize: o.validationSize } : {}),
        ...(o.maxChars !== undefined ? { maxChars: o.maxChars } : {}),
        ...(o.promptStyle !== undefined ? { promptStyle: o.promptStyle } : {}),
      };
      const task = await loadTaskData(source, taskOptions);
      const examples = task.validation.slice(0, n);
      if (examples.length > 0) {
        const batch = encodeRows(examples, loaded.tokenizer, maxLength);
        return { ids: tf.tensor2d(batch.inputIds, [batch.batchSize, batch.seqLen], 'int32'), source: `first ${examples.length} validation examples of ${source}` };
      }
    } catch (err) {
      if (!(err instanceof NlsError)) throw err;
    }
  }
  return randomRows(loaded.tokenizer, loaded.config.vocabSize, n, Math.min(32, maxLength), seed, supernetDir);
}

function randomRows(tokenizer: Tokenizer, vocab: number, n: number, len: number, seed: number, why: string): ComparisonRows {
  const rng = createRng(`merge-rows:${seed}`);
  const ids = new Int32Array(n * len);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(Math.min(vocab, tokenizer.vocabSize));
  return { ids: tf.tensor2d(ids, [n, len], 'int32'), source: `${n} random token rows (the training data of ${why} could not be loaded)` };
}

/** Logits of `model` for `ids`, read back as one flat array. */
async function logitsOf(model: LlamaModel, ids: tf.Tensor2D): Promise<Float32Array> {
  const logits = model.forward(ids);
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

/** The `merge-report.json` document. */
export interface MergeReport {
  readonly format: typeof MERGE_REPORT_FORMAT;
  readonly nlsVersion: string;
  readonly supernet: string;
  readonly baseModel: string;
  readonly space: { readonly name: string; readonly fingerprint: string };
  readonly source: string;
  readonly key: string;
  readonly config: readonly number[];
  readonly sparsityAware: boolean;
  /** The base's quantization (merged weights re-quantized on its grid), or null for a float base. */
  readonly quantization: QuantSpec | null;
  /** Rank of every adapted module (0 = off, not merged). */
  readonly ranks: Readonly<Record<string, number>>;
  /** Per merged module: rank, scale, non-zeros before and after, largest weight change. */
  readonly modules: MergeResult['modules'];
  /**
   * Logits of the merged model against the adapter model (base + active sub-adapter, masked by
   * the base's non-zeros for a sparse merge and fake-quantized on a quantized base's grid).
   */
  readonly logits: { readonly rows: string; readonly positions: number; readonly maxAbsDiff: number };
}

/** Options of {@link runMerge}. */
export interface MergeRunOptions {
  readonly supernet: string;
  readonly choice: SubnetSelection;
  /** Keep the base's zeros (SparsePEFT). */
  readonly sparse?: boolean;
  readonly out: string;
  readonly backend: BackendRequest;
  /** Validation rows to compare logits on (default 4). */
  readonly compareRows?: number;
  /** dtype of the merged weights (default F32). */
  readonly dtype?: FloatDtype;
  readonly seed?: number;
  readonly progress?: Progress;
}

/** What {@link runMerge} returns. */
export interface MergeRunResult {
  readonly subnet: ResolvedSubnet;
  readonly report: MergeReport;
}

interface MergedInMemory {
  readonly loaded: LoadedSupernet;
  readonly subnet: ResolvedSubnet;
  readonly sub: SubAdapter;
  readonly merge: MergeResult;
  readonly logits: MergeReport['logits'];
  readonly base: string;
}

/**
 * Load the supernet, activate the chosen configuration, record the adapter model's logits, then
 * extract the sub-adapter, detach the supernet's adapters and merge it into the base in place.
 * The caller disposes `loaded.model`.
 */
async function mergeInMemory(o: { supernet: string; choice: SubnetSelection; sparse: boolean; compareRows: number; seed: number; progress?: Progress }): Promise<MergedInMemory> {
  const loaded = await loadSupernet(o.supernet);
  let adaptersAttached = true;
  try {
    const subnet = await resolveSubnet(loaded.space, o.choice);
    o.progress?.log(`subnet ${subnet.key} (${subnet.source})`, { key: subnet.key });
    loaded.adapters.setActiveRanks(subnet.ranks);
    // The reference the merged model should equal is the adapter model constrained like the
    // merge: masked by the base's non-zeros for a sparse merge (SparsePEFT), with its merged
    // weight fake-quantized on the base's grid for a quantized base (QA-SparsePEFT).
    const quantization = loaded.quantization?.matrices;
    if (o.sparse || quantization) {
      loaded.adapters.constrainToBase({
        sparse: o.sparse,
        ...(quantization ? { fakeQuantize: new Map(
              // The adapters take ownership of their quantizers (grid tensors); build none for unadapted modules.
              [...quantization].filter(([key]) => loaded.adapters.adapters.has(key)).map(([key, q]) => [key, new FakeQuantizerT(q)]),
            ),
          } : {}),
      });
    }
    const rows = await comparisonRows(o.supernet, loaded, o.compareRows, o.seed);
    try {
      const before = await logitsOf(loaded.model, rows.ids);
      const sub = await extractSubAdapter(loaded.adapters, subnet.ranks);
      loaded.adapters.dispose();
      adaptersAttached = false;
      // A quantized base (nls-rtn folder) is merged back onto its own grid.
      const merge = await mergeAdapters(loaded.model, sub, { sparsityAware: o.sparse, ...(quantization ? { quantization } : {}) });
      const after = await logitsOf(loaded.model, rows.ids);
      let maxAbsDiff = 0;
      for (let i = 0; i < after.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(after[i]! - before[i]!));
      return { loaded, subnet, sub, merge, logits: { rows: rows.source, positions: rows.ids.size, maxAbsDiff }, base: path.resolve(loaded.dir) };
    } finally {
      rows.ids.dispose();
    }
  } catch (err) {
    if (adaptersAttached) loaded.adapters.dispose();
    loaded.model.dispose();
    throw err;
  }
}

function mergeReport(supernet: string, m: MergedInMemory): MergeReport {
  return {
    format: MERGE_REPORT_FORMAT,
    nlsVersion: NLS_VERSION,
    supernet,
    baseModel: m.base,
    space: { name: m.subnet.space.name, fingerprint: m.subnet.space.fingerprint },
    source: m.subnet.source,
    key: m.subnet.key,
    config: [...m.subnet.config],
    sparsityAware: m.merge.sparsityAware,
    quantization: m.loaded.quantization?.spec ?? null,
    ranks: Object.fromEntries(m.subnet.ranks),
    modules: m.merge.modules,
    logits: m.logits,
  };
}

/**
 * `nls merge`: write the merged HF model folder of a chosen sub-adapter to `out`, with its base's
 * tokenizer and `merge-report.json` (written last).
 */
export async function runMerge(options: MergeRunOptions): Promise<MergeRunResult> {
  await initBackend(options.backend, { quiet: true });
  const m = await mergeInMemory({
    supernet: options.supernet,
    choice: options.choice,
    sparse: options.sparse ?? false,
    compareRows: options.compareRows ?? 4,
    seed: options.seed ?? 0,
    ...(options.progress ? { progress: options.progress } : {}),
  });
  try {
    const report = mergeReport(options.supernet, m);
    await saveMergedModelFolder(options.out, m.loaded.model, m.base, { ...(options.dtype ? { dtype: options.dtype } : {}), metadata: { nls_subnet: m.subnet.key }, quantized: m.merge.quantized });
    await writeFileAtomic(path.join(options.out, MERGE_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    return { subnet: m.subnet, report };
  } finally {
    m.loaded.model.dispose();
  }
}

/** Options of {@link runExport}. */
export interface ExportRunOptions {
  readonly supernet: string;
  readonly choice: SubnetSelection;
  readonly out: string;
  readonly backend: BackendRequest;
  /** Also write the merged model folder under `out/merged` (with its merge report). */
  readonly merged?: boolean;
  /** With `merged`: keep the base's zeros. */
  readonly sparse?: boolean;
  /** `base_model_name_or_path` (default: the supernet's base model folder, absolute). */
  readonly baseModelNameOrPath?: string;
  /** Leave the `nls` field out of adapter_config.json (for PEFT < 0.14). */
  readonly plainConfig?: boolean;
  /** dtype of the saved weights (default F32). */
  readonly dtype?: FloatDtype;
  readonly seed?: number;
  readonly progress?: Progress;
}

/** What {@link runExport} returns. */
export interface ExportRunResult {
  readonly subnet: ResolvedSubnet;
  readonly adapterConfig: PeftAdapterConfig;
  /** The merge report when `merged`. */
  readonly mergeReport?: MergeReport;
}

/**
 * `nls export`: write the PEFT LoRA adapter folder of a chosen sub-adapter to `out`
 * (adapter_model.safetensors, then adapter_config.json), and with `merged` the merged model
 * folder to `out/merged`.
 */
export async function runExport(options: ExportRunOptions): Promise<ExportRunResult> {
  await initBackend(options.backend, { quiet: true });
  const exportAdapter = async (loaded: LoadedSupernet, subnet: ResolvedSubnet, sub: SubAdapter, base: string): Promise<PeftAdapterConfig> =>
    savePeftAdapter(options.out, sub, loaded.config.numHiddenLayers, {
      baseModelNameOrPath: options.baseModelNameOrPath ?? base,
      ...(options.dtype ? { dtype: options.dtype } : {}),
      nls: options.plainConfig
        ? false
        : { supernet: options.supernet, space: { name: subnet.space.name, fingerprint: subnet.space.fingerprint }, key: subnet.key, config: [...subnet.config], source: subnet.source },
    });
  if (options.merged) {
    const m = await mergeInMemory({
      supernet: options.supernet,
      choice: options.choice,
      sparse: options.sparse ?? false,
      compareRows: 4,
      seed: options.seed ?? 0,
      ...(options.progress ? { progress: options.progress } : {}),
    });
    try {
      const report = mergeReport(options.supernet, m);
      const mergedDir = path.join(options.out, 'merged');
      await saveMergedModelFolder(mergedDir, m.loaded.model, m.base, { ...(options.dtype ? { dtype: options.dtype } : {}), metadata: { nls_subnet: m.subnet.key }, quantized: m.merge.quantized });
      await writeFileAtomic(path.join(mergedDir, MERGE_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
      const adapterConfig = await exportAdapter(m.loaded, m.subnet, m.sub, m.base);
      return { subnet: m.subnet, adapterConfig, mergeReport: report };
    } finally {
      m.loaded.model.dispose();
    }
  }
  const loaded = await loadSupernet(options.supernet);
  try {
    const subnet = await resolveSubnet(loaded.space, options.choice);
    options.progress?.log(`subnet ${subnet.key} (${subnet.source})`, { key: subnet.key });
    const sub = await extractSubAdapter(loaded.adapters, subnet.ranks);
    return { subnet, adapterConfig: await exportAdapter(loaded, subnet, sub, path.resolve(loaded.dir)) };
  } finally {
    loaded.adapters.dispose();
    loaded.model.dispose();
  }
}
