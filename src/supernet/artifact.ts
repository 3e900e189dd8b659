/**
 * A trained supernet on disk: what `nls train` writes and `nls search` reads.
 *
 *   DIR/supernet.json          format "nls-supernet/1": base model folder and its hash, search
 *                              space (embedded), training options, data description
 *   DIR/adapters.safetensors   every adapter at r_max in PEFT layout: "<module key>.lora_A"
 *                              [r_max, in] and "<module key>.lora_B" [out, r_max]
 *   DIR/training-log.jsonl     one line per trained configuration per step
 *   DIR/validation.json        metrics of the max, median and min subnets
 */
import { createHash } from 'node:crypto';
import { sha256File } from '../util/hash.js';

export { sha256File };
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../adapters/adapter-set.js';
import { type AdapterMode, adapterModeOf, applyAdapterMode, refuseWidthsWithConstrainedAdapters } from './adapter-mode.js';
import { NlsError } from '../errors.js';
import type { LlamaConfig } from '../model/hf-config.js';
import { linearShape } from '../model/llama.js';
import { loadModelFolder, type ModelFolder, readModelConfig } from '../model/model-folder.js';
import { intermediateSizesOf } from '../model/widths.js';
import { readSafetensors, serializeSafetensors } from '../model/safetensors.js';
import { resolveSearchSpace, type SearchSpace, type SearchSpaceSpec, validateSearchSpaceSpec } from '../space/index.js';
import { writeFileAtomic } from '../util/fs.js';

/** The `supernet.json` document. */
export interface SupernetManifest {
  readonly format: 'nls-supernet/1';
  readonly nlsVersion: string;
  /** Base model folder, as given (resolved relative to the supernet folder when relative). */
  readonly baseModel: string;
  /** SHA-256 of the base model's weights file(s), to detect a changed base. */
  readonly baseModelSha256: string;
  readonly space: SearchSpaceSpec;
  /**
   * Present when the base's MLP channels were reordered by importance (`nls reorder`, or
   * `nls train --reorder-widths`): the method, the reorder report, and with `--reorder-widths`
   * the original folder the reordered base (`baseModel`, then `OUT/base`) was made from.
   */
  readonly baseReordering?: { readonly method: string; readonly report: string; readonly from?: string };
  readonly training: Readonly<Record<string, unknown>>;
  readonly data: Readonly<Record<string, unknown>>;
}

/** SHA-256 over a model folder's weight files (single or sharded), in name order. */
export async function modelWeightsSha256(dir: string): Promise<string> {
  const files = (await fsp.readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0) throw new NlsError('no .safetensors files in the model folder', { file: dir });
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}:${await sha256File(path.join(dir, f))}\n`);
  return hash.digest('hex');
}

/** The files that make a supernet what it evaluates: its manifest (which holds the base's SHA-256) and its adapter weights. */
export const SUPERNET_IDENTITY_FILES = ['supernet.json', 'adapters.safetensors'] as const;

/**
 * SHA-256 identifying a trained supernet folder: over {@link SUPERNET_IDENTITY_FILES} in order.
 * The base model is covered through the manifest's `baseModelSha256`, which loading checks.
 * Two copies of one supernet on different machines have the same value.
 */
export async function supernetSha256(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const f of SUPERNET_IDENTITY_FILES) {
    const file = path.join(dir, f);
    let sha: string;
    try {
      sha = await sha256File(file);
    } catch (err) {
      throw new NlsError(`cannot read ${f} of the supernet folder (${(err as Error).message}); fix: point at a folder written by nls train`, { file, cause: err });
    }
    hash.update(`${f}:${sha}\n`);
  }
  return hash.digest('hex');
}

/** Adapter weights in PEFT layout, keyed `<module key>.lora_A|lora_B`. */
export async function adapterTensors(adapters: AdapterSet): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, a] of adapters.adapters) {
    const A = tf.transpose(a.aT);
    const B = tf.transpose(a.bT);
    out.set(`${key}.lora_A`, { shape: A.shape.slice(), data: (await A.data()) as Float32Array });
    out.set(`${key}.lora_B`, { shape: B.shape.slice(), data: (await B.data()) as Float32Array });
    tf.dispose([A, B]);
  }
  return out;
}

/** Write a supernet folder. */
export async function saveSupernet(
  dir: string,
  manifest: SupernetManifest,
  adapters: AdapterSet,
  extras: { trainingLog?: readonly unknown[]; validation?: unknown } = {},
): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, 'adapters.safetensors'), serializeSafetensors(await adapterTensors(adapters), { metadata: { format: 'nls' } }));
  if (extras.trainingLog) await writeFileAtomic(path.join(dir, 'training-log.jsonl'), extras.trainingLog.map((r) => JSON.stringify(r)).join('\n') + '\n');
  if (extras.validation !== undefined) await writeFileAtomic(path.join(dir, 'validation.json'), `${JSON.stringify(extras.validation, null, 2)}\n`);
  // The manifest last: a folder with supernet.json is complete.
  await writeFileAtomic(path.join(dir, 'supernet.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** A loaded supernet: the base model with the trained adapters attached. */
export interface LoadedSupernet extends ModelFolder {
  readonly manifest: SupernetManifest;
  readonly space: SearchSpace;
  readonly adapters: AdapterSet;
}

/** Read and check `supernet.json`; `base` is the base model folder (override, or as recorded). */
async function readSupernetManifest(dir: string, baseModel?: string): Promise<{ manifest: SupernetManifest; base: string }> {
  const manifestFile = path.join(dir, 'supernet.json');
  if (!existsSync(manifestFile)) {
    throw new NlsError('not a supernet folder (no supernet.json); fix: point at the --out folder of nls train', { file: dir });
  }
  const manifest = JSON.parse(await fsp.readFile(manifestFile, 'utf8')) as SupernetManifest;
  if (manifest.format !== 'nls-supernet/1') {
    throw new NlsError(`unsupported format ${JSON.stringify(manifest.format)}; this nls reads nls-supernet/1`, { file: manifestFile, field: 'format' });
  }
  const base = baseModel ?? (path.isAbsolute(manifest.baseModel) ? manifest.baseModel : path.resolve(dir, manifest.baseModel));
  return { manifest, base };
}

function resolveManifestSpace(dir: string, manifest: SupernetManifest, config: LlamaConfig): SearchSpace {
  const manifestFile = path.join(dir, 'supernet.json');
  return resolveSearchSpace(validateSearchSpaceSpec(manifest.space, { file: manifestFile }), {
    numLayers: config.numHiddenLayers,
    file: manifestFile,
    intermediateSizes: intermediateSizesOf(config),
    linearShape: (layer, module) => linearShape(config, layer, module),
  });
}

/** A supernet's search space alone, without loading the base model's weights. */
export async function loadSupernetSpace(dir: string, options: { baseModel?: string } = {}): Promise<SearchSpace> {
  const { manifest, base } = await readSupernetManifest(dir, options.baseModel);
  return resolveManifestSpace(dir, manifest, await readModelConfig(base));
}

/** The model config of a supernet's base model (for analytic costs), without loading its weights. */
export async function loadSupernetModelConfig(dir: string, options: { baseModel?: string } = {}): Promise<LlamaConfig> {
  const { base } = await readSupernetManifest(dir, options.baseModel);
  return readModelConfig(base);
}

/** A supernet's adapter mode (supernet.json `training.adapterMode`), without loading the base model. */
export async function loadSupernetAdapterMode(dir: string): Promise<AdapterMode> {
  const { manifest } = await readSupernetManifest(dir);
  return adapterModeOf(manifest.training);
}

/** Load a supernet folder, its base model, and attach its adapters. */
export async function loadSupernet(dir: string, options: { baseModel?: string } = {}): Promise<LoadedSupernet> {
  const { manifest, base } = await readSupernetManifest(dir, options.baseModel);
  const sha = await modelWeightsSha256(base);
  if (sha !== manifest.baseModelSha256) {
    throw new NlsError(`the base model's weights differ from the ones the supernet was trained on (sha256 ${sha.slice(0, 12)}, expected ${manifest.baseModelSha256.slice(0, 12)}); fix: point --model at the original base model`, {
      file: base,
    });
  }
  const folder = await loadModelFolder(base);
  let space: SearchSpace;
  try {
    space = resolveManifestSpace(dir, manifest, folder.config);
    refuseWidthsWithConstrainedAdapters(space, adapterModeOf(manifest.training), path.join(dir, 'supernet.json'));
  } catch (err) {
    folder.model.dispose();
    throw err;
  }
  const adapters = AdapterSet.attach(folder.model, space.adapterPlan(), 0);
  // Score exactly what training optimised: sparsity- / quantization-aware adapters stay so.
  applyAdapterMode(adapters, folder, adapterModeOf(manifest.training));
  const { tensors } = await readSafetensors(path.join(dir, 'adapters.safetensors'));
  for (const [key, a] of adapters.adapters) {
    const A = tensors.get(`${key}.lora_A`);
    const B = tensors.get(`${key}.lora_B`);
    if (!A || !B || A.data.length !== a.aT.size || B.data.length !== a.bT.size) {
      throw new NlsError('adapter weights missing or of another shape', { file: path.join(dir, 'adapters.safetensors'), field: key });
    }
    tf.tidy(() => {
      a.aT.assign(tf.transpose(tf.tensor2d(A.data as Float32Array, [a.spec.rMax, a.aT.shape[0]])) as tf.Tensor2D);
      a.bT.assign(tf.transpose(tf.tensor2d(B.data as Float32Array, [a.bT.shape[1], a.spec.rMax])) as tf.Tensor2D);
    });
  }
  return { ...folder, manifest, space, adapters };
}
