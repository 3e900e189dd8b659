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
import { isBuiltinTask } from '../data/tasks.js';
import { NlsError } from '../errors.js';
import { readJsonFile } from '../model/hf-config.js';
import { LlamaModel } from '../model/llama.js';
import { configWithWidths, intermediateSizesOf, sliceMlpHfTensors } from '../model/widths.js';
import { saveModelFolder } from '../model/model-folder.js';
import type { FloatDtype } from '../model/safetensors.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { NLS_VERSION } from '../package-info.js';
import { encodeRows, loadTaskData, type TaskDataOptions } from '../pipeline/train-supernet.js';
import { type AdapterMode, adapterModeName, type AdapterModeName, describeAdapterMode } from '../supernet/adapter-mode.js';
import { type LoadedSupernet, loadSupernet, loadSupernetAdapterMode } from '../supernet/artifact.js';
import { maxAbsDiff } from '../util/compare.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { createRng } from '../util/rng.js';
import { type PeftAdapterConfig, refuseConstrainedPeftExport, savePeftAdapter } from './peft.js';
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
  const data = loaded.manifest.data as {
    name?: string;
    task?: string;
    source?: string;
    options?: { seed?: number; trainSize?: number; validationSize?: number; testSize?: number; maxChars?: number; promptStyle?: 'direct' | 'channel' };
  };
  const training = loaded.manifest.training as { seed?: number; maxLength?: number };
  // A built-in task is loaded again by its name, with the options it was drawn with.
  const builtin = data.task !== undefined && isBuiltinTask(data.task) ? data.task : undefined;
  const source = builtin ?? (data.name === 'spam-demo' ? 'spam-demo' : data.source);
  const maxLength = training.maxLength ?? 128;
  if (source !== undefined && (builtin !== undefined || source === 'spam-demo' || existsSync(source))) {
    try {
      const o = data.options ?? {};
      const taskOptions: TaskDataOptions = {
        seed: o.seed ?? training.seed ?? 0,
        ...(o.testSize !== undefined ? { testSize: o.testSize } : {}),
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
  /** The supernet's adapter mode (supernet.json `training.adapterMode`), which decided the merge. */
  readonly adapterMode: AdapterModeName;
  /** The merge masked each delta by its base weight's non-zeros: true exactly for SparsePEFT and QA-SparsePEFT supernets. */
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
  /**
   * Present for a width configuration (LoNAS mode B): the MLP width of each width layer, and the
   * per-layer intermediate sizes of the merged model (recorded in config.json as
   * `nls_intermediate_sizes` unless all equal). The adapter model of `logits` is the supernet
   * narrowed to these widths.
   */
  readonly widths?: { readonly layers: Readonly<Record<string, number>>; readonly intermediateSizes: readonly number[] };
  /** Present with `onnx`: the merged model's ONNX file and its logits against the merged tfjs model on the same rows. */
  readonly onnx?: { readonly file: string; readonly bytes: number; readonly maxAbsDiff: number };
}

/** Options of {@link runMerge}. */
export interface MergeRunOptions {
  readonly supernet: string;
  readonly choice: SubnetSelection;
  /**
   * `--sparse` / `--no-sparse`. The supernet's recorded adapter mode decides whether the merge
   * keeps the base's zeros (SparsePEFT, QA-SparsePEFT) or not (plain LoRA); a flag, when given,
   * must agree with it ({@link mergeSparsityOf}).
   */
  readonly sparse?: boolean;
  readonly out: string;
  readonly backend: BackendRequest;
  /** Validation rows to compare logits on (default 4). */
  readonly compareRows?: number;
  /** dtype of the merged weights (default F32). */
  readonly dtype?: FloatDtype;
  /** Also write `model.onnx`: the merged model as an ONNX graph (logits output), checked against tfjs. */
  readonly onnx?: boolean;
  readonly seed?: number;
  readonly progress?: Progress;
}

/** File name of the merged model's ONNX graph (`nls merge --onnx`). */
export const MERGED_ONNX_FILE = 'model.onnx';

/** What {@link runMerge} returns. */
export interface MergeRunResult {
  readonly subnet: ResolvedSubnet;
  readonly report: MergeReport;
}

interface MergedInMemory {
  readonly loaded: LoadedSupernet;
  /** The supernet's adapter mode. */
  readonly mode: AdapterMode;
  /** The merged model: the supernet's base model, or for a width configuration the smaller model (owned here too). */
  readonly model: LlamaModel;
  readonly subnet: ResolvedSubnet;
  readonly sub: SubAdapter;
  readonly merge: MergeResult;
  readonly logits: MergeReport['logits'];
  readonly base: string;
  /** Rows the logits were compared on (freed by {@link disposeMerged}). */
  readonly rows: tf.Tensor2D;
  /** The merged model's logits on `rows`. */
  readonly mergedLogits: Float32Array;
}

/** Free everything a {@link MergedInMemory} holds. */
function disposeMerged(m: MergedInMemory): void {
  m.rows.dispose();
  if (m.model !== m.loaded.model) m.model.dispose();
  m.loaded.model.dispose();
}

/**
 * Whether the merge of a subnet keeps the base's zeros: the supernet's recorded adapter mode
 * decides (SparsePEFT and QA-SparsePEFT: yes, so the merged model is the one nls scored; plain
 * LoRA: no). `flag` (`--sparse` true, `--no-sparse` false), when given, must agree.
 *
 * @param file - the supernet's supernet.json, named in the error.
 * @throws NlsError naming the flag and the recorded mode when they contradict each other.
 */
export function mergeSparsityOf(mode: AdapterMode, flag: boolean | undefined, file: string): boolean {
  if (flag === undefined || flag === mode.sparse) return mode.sparse;
  const why = flag
    ? 'a sparsity-aware merge (W + s(BA)⊙M) would not be the model nls scored'
    : "a dense merge (W + s·BA) would fill in the base's pruned weights and not be the model nls scored";
  throw new NlsError(
    `${flag ? '--sparse' : '--no-sparse'} contradicts the supernet's adapter mode: it was trained with ${describeAdapterMode(mode)}, and ${why}; fix: leave out ${flag ? '--sparse' : '--no-sparse'} (the supernet's recorded mode decides the merge)${flag ? ', or train a SparsePEFT supernet (nls train --sparse-adapter) on the pruned base' : ''}`,
    { file, field: 'training.adapterMode' },
  );
}

/** The supernet's adapter mode and whether its merge keeps the base's zeros, checked before any weight is loaded. */
async function mergeModeOf(supernet: string, flag: boolean | undefined): Promise<{ mode: AdapterMode; sparse: boolean }> {
  const mode = await loadSupernetAdapterMode(supernet);
  return { mode, sparse: mergeSparsityOf(mode, flag, path.join(supernet, 'supernet.json')) };
}

/** Log the chosen subnet: its key, its ranks (the space's rank pattern) and where it came from. */
function logSubnet(progress: Progress | undefined, subnet: ResolvedSubnet): void {
  const ranks = subnet.space.rankPattern(subnet.config);
  progress?.log(`subnet ${subnet.key} (ranks ${ranks}; ${subnet.source})`, { key: subnet.key, ranks });
}

/** True when `widths` narrows some layer of `model` below its intermediate size. */
function narrows(model: LlamaModel, widths: ReadonlyMap<number, number>): boolean {
  return [...widths].some(([l, w]) => w < model.intermediateSizeOf(l));
}

/**
 * The smaller model of a width configuration: `model`'s weights with each MLP cut to its width
 * (`sliceMlpHfTensors`) and the per-layer sizes in its config. `model` is left as it is.
 */
export async function slicedBaseModel(model: LlamaModel, widths: ReadonlyMap<number, number>): Promise<LlamaModel> {
  return LlamaModel.fromHf(configWithWidths(model.config, widths), sliceMlpHfTensors(model.config, await model.toHf(), widths), 'sliced base');
}

/**
 * Load the supernet, activate the chosen configuration, record the adapter model's logits, then
 * extract the sub-adapter, detach the supernet's adapters and merge it into the base in place
 * (for a width configuration, into the smaller model cut from the base). The caller frees it
 * with {@link disposeMerged}.
 */
async function mergeInMemory(o: { supernet: string; choice: SubnetSelection; mode: AdapterMode; sparse: boolean; compareRows: number; seed: number; progress?: Progress }): Promise<MergedInMemory> {
  const loaded = await loadSupernet(o.supernet);
  let adaptersAttached = true;
  let small: LlamaModel | undefined;
  try {
    const subnet = await resolveSubnet(loaded.space, o.choice);
    logSubnet(o.progress, subnet);
    loaded.adapters.setActiveRanks(subnet.ranks);
    const narrowed = narrows(loaded.model, subnet.widths);
    if (narrowed && (o.sparse || loaded.quantization)) {
      throw new NlsError(
        `subnet ${subnet.key} narrows MLP widths, which a ${o.sparse ? 'sparsity-aware merge' : 'quantized base'} does not support (masks and quantization grids are full-width); fix: merge without --sparse into a float base, or choose full widths`,
        { field: '--subnet' },
      );
    }
    // The adapter model to compare with is the supernet narrowed to the configuration's widths.
    loaded.model.setMlpWidths(subnet.widths);
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
      const before = await loaded.model.logitsData(rows.ids);
      const sub = await extractSubAdapter(loaded.adapters, subnet.ranks, narrowed ? subnet.widths : new Map());
      loaded.adapters.dispose();
      adaptersAttached = false;
      loaded.model.resetMlpWidths();
      // A width configuration merges into the smaller model cut from the base.
      if (narrowed) small = await slicedBaseModel(loaded.model, subnet.widths);
      const target = small ?? loaded.model;
      // A quantized base (nls-rtn folder) is merged back onto its own grid.
      const merge = await mergeAdapters(target, sub, { sparsityAware: o.sparse, ...(quantization ? { quantization } : {}) });
      const after = await target.logitsData(rows.ids);
      return {
        loaded,
        mode: o.mode,
        model: target,
        subnet,
        sub,
        merge,
        logits: { rows: rows.source, positions: rows.ids.size, maxAbsDiff: maxAbsDiff(after, before) },
        base: path.resolve(loaded.dir),
        rows: rows.ids,
        mergedLogits: after,
      };
    } catch (err) {
      rows.ids.dispose();
      throw err;
    }
  } catch (err) {
    if (adaptersAttached) loaded.adapters.dispose();
    small?.dispose();
    loaded.model.dispose();
    throw err;
  }
}

/** Write the merged model's ONNX graph (logits output) to `file` and compare its logits with the merged tfjs model's. */
async function writeMergedOnnx(m: MergedInMemory, file: string): Promise<NonNullable<MergeReport['onnx']>> {
  const [{ exportLlamaOnnx }, { llamaWeightsOf }, { createOrtSession, loadOrt }] = await Promise.all([
    import('../engine/onnx/llama.js'),
    import('../engine/onnx/weights.js'),
    import('../engine/onnx/session.js'),
  ]);
  const bytes = exportLlamaOnnx(await llamaWeightsOf(m.model), { output: 'logits', producerVersion: NLS_VERSION, metadata: { 'nls.subnet': m.subnet.key } });
  await writeFileAtomic(file, bytes);
  const ort = await loadOrt();
  const session = await createOrtSession(bytes, {});
  try {
    const [batch, seq] = m.rows.shape;
    const ids = Int32Array.from((await m.rows.data()) as Int32Array);
    const out = (await session.run({ input_ids: new ort.Tensor('int32', ids, [batch, seq]) }))['logits']!.data as Float32Array;
    return { file: path.basename(file), bytes: bytes.length, maxAbsDiff: maxAbsDiff(out, m.mergedLogits) };
  } finally {
    await session.release();
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
    adapterMode: adapterModeName(m.mode),
    sparsityAware: m.merge.sparsityAware,
    quantization: m.loaded.quantization?.spec ?? null,
    ranks: Object.fromEntries(m.subnet.ranks),
    modules: m.merge.modules,
    logits: m.logits,
    ...(m.subnet.widths.size > 0
      ? { widths: { layers: Object.fromEntries([...m.subnet.widths].map(([l, w]) => [String(l), w])), intermediateSizes: intermediateSizesOf(m.model.config) } }
      : {}),
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
    ...(await mergeModeOf(options.supernet, options.sparse)),
    compareRows: options.compareRows ?? 4,
    seed: options.seed ?? 0,
    ...(options.progress ? { progress: options.progress } : {}),
  });
  try {
    let report = mergeReport(options.supernet, m);
    await saveMergedModelFolder(options.out, m.model, m.base, { ...(options.dtype ? { dtype: options.dtype } : {}), metadata: { nls_subnet: m.subnet.key }, quantized: m.merge.quantized });
    if (options.onnx) report = { ...report, onnx: await writeMergedOnnx(m, path.join(options.out, MERGED_ONNX_FILE)) };
    await writeFileAtomic(path.join(options.out, MERGE_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    return { subnet: m.subnet, report };
  } finally {
    disposeMerged(m);
  }
}

/** Options of {@link runExport}. */
export interface ExportRunOptions {
  readonly supernet: string;
  readonly choice: SubnetSelection;
  readonly out: string;
  readonly backend: BackendRequest;
  /**
   * Also write the merged model folder under `out/merged` (with its merge report). For a
   * SparsePEFT / QA-SparsePEFT supernet the merged model is the only export (no PEFT adapter:
   * it cannot express the masked delta); without `merged` such a supernet is refused.
   */
  readonly merged?: boolean;
  /** With `merged`: `--sparse` / `--no-sparse`, which must agree with the supernet's adapter mode (the mode decides). */
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

/** Folder of the smaller base model written next to a width configuration's PEFT adapter. */
export const SLICED_BASE_DIR = 'base';

/** What {@link runExport} returns. */
export interface ExportRunResult {
  readonly subnet: ResolvedSubnet;
  /** The adapter_config.json written; absent for a SparsePEFT / QA-SparsePEFT supernet (only the merged model is written). */
  readonly adapterConfig?: PeftAdapterConfig;
  /** The merge report when `merged`. */
  readonly mergeReport?: MergeReport;
  /** For a width configuration: the smaller base model folder written to `out/base` (the adapter's base). */
  readonly slicedBase?: string;
}

/**
 * `nls export`: write the PEFT LoRA adapter folder of a chosen sub-adapter to `out`
 * (adapter_model.safetensors, then adapter_config.json), and with `merged` the merged model
 * folder to `out/merged`.
 */
export async function runExport(options: ExportRunOptions): Promise<ExportRunResult> {
  await initBackend(options.backend, { quiet: true });
  // The supernet's adapter mode decides, before any weight is loaded: a PEFT LoRA adapter can
  // only be the model nls scored for plain LoRA; the others export as the merged model.
  const { mode, sparse } = await mergeModeOf(options.supernet, options.sparse);
  const constrained = mode.sparse || mode.quantAware;
  if (!options.merged) refuseConstrainedPeftExport(mode, { file: path.join(options.supernet, 'supernet.json'), field: 'training.adapterMode' });
  const exportAdapter = async (loaded: LoadedSupernet, subnet: ResolvedSubnet, sub: SubAdapter, base: string): Promise<PeftAdapterConfig> =>
    savePeftAdapter(options.out, sub, loaded.config.numHiddenLayers, {
      adapterMode: mode,
      baseModelNameOrPath: options.baseModelNameOrPath ?? base,
      ...(options.dtype ? { dtype: options.dtype } : {}),
      nls: options.plainConfig
        ? false
        : {
            supernet: options.supernet,
            space: { name: subnet.space.name, fingerprint: subnet.space.fingerprint },
            key: subnet.key,
            config: [...subnet.config],
            source: subnet.source,
            ...(sub.widths.size > 0 ? { widths: Object.fromEntries([...sub.widths].map(([l, w]) => [String(l), w])) } : {}),
          },
    });
  /**
   * A width configuration's adapter belongs to the smaller base: write it (unmerged, the
   * supernet's base cut to the widths) to out/base and return that folder, else the supernet's base.
   */
  const adapterBase = async (loaded: LoadedSupernet, subnet: ResolvedSubnet): Promise<{ base: string; sliced?: string }> => {
    const base = path.resolve(loaded.dir);
    if (!narrows(loaded.model, subnet.widths)) return { base };
    const dir = path.join(options.out, SLICED_BASE_DIR);
    const small = await slicedBaseModel(loaded.model, subnet.widths);
    try {
      await saveMergedModelFolder(dir, small, base, { ...(options.dtype ? { dtype: options.dtype } : {}), metadata: { nls_subnet_base: subnet.key } });
    } finally {
      small.dispose();
    }
    return { base: path.resolve(dir), sliced: path.resolve(dir) };
  };
  if (options.merged) {
    const m = await mergeInMemory({
      supernet: options.supernet,
      choice: options.choice,
      mode,
      sparse,
      compareRows: 4,
      seed: options.seed ?? 0,
      ...(options.progress ? { progress: options.progress } : {}),
    });
    try {
      const report = mergeReport(options.supernet, m);
      const mergedDir = path.join(options.out, 'merged');
      await saveMergedModelFolder(mergedDir, m.model, m.base, { ...(options.dtype ? { dtype: options.dtype } : {}), metadata: { nls_subnet: m.subnet.key }, quantized: m.merge.quantized });
      await writeFileAtomic(path.join(mergedDir, MERGE_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
      if (constrained) {
        options.progress?.log(`no PEFT adapter written: the supernet's ${adapterModeName(mode)} delta is masked by the base's zeros, which a LoRA adapter cannot express; the merged model in ${mergedDir} is the export`);
        return { subnet: m.subnet, mergeReport: report };
      }
      // The loaded base was not merged into for a width configuration (the smaller model was).
      const base = m.model === m.loaded.model ? { base: m.base } : await adapterBase(m.loaded, m.subnet);
      const adapterConfig = await exportAdapter(m.loaded, m.subnet, m.sub, base.base);
      return { subnet: m.subnet, adapterConfig, mergeReport: report, ...(base.sliced ? { slicedBase: base.sliced } : {}) };
    } finally {
      disposeMerged(m);
    }
  }
  const loaded = await loadSupernet(options.supernet);
  try {
    const subnet = await resolveSubnet(loaded.space, options.choice);
    logSubnet(options.progress, subnet);
    const narrowed = narrows(loaded.model, subnet.widths);
    const sub = await extractSubAdapter(loaded.adapters, subnet.ranks, narrowed ? subnet.widths : new Map());
    const base = await adapterBase(loaded, subnet);
    return { subnet, adapterConfig: await exportAdapter(loaded, subnet, sub, base.base), ...(base.sliced ? { slicedBase: base.sliced } : {}) };
  } finally {
    loaded.adapters.dispose();
    loaded.model.dispose();
  }
}
