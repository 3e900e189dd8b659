/**
 * The built-in demo model: a small LLaMA-family decoder with a byte-level vocabulary, small
 * enough to train and search on two CPU cores in minutes.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { packagePath } from '../package-info.js';
import type { LlamaConfig } from './hf-config.js';
import { LlamaModel } from './llama.js';
import { loadModelFolder } from './model-folder.js';

/**
 * Architecture of the demo model: 4 layers, hidden 256, 4 query heads over 2 key/value heads
 * (grouped-query attention, as in LLaMA 2/3), SwiGLU width 704, tied embeddings, vocabulary of
 * 320 ids (the 259 byte-tokenizer ids rounded up to a multiple of 64). About 3.0M parameters.
 */
export const DEMO_MODEL_CONFIG: LlamaConfig = {
  hiddenSize: 256,
  intermediateSize: 704,
  numHiddenLayers: 4,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  vocabSize: 320,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 512,
  bosTokenId: 257,
  eosTokenIds: [258],
  padTokenId: 256,
};


/** Folder of the shipped, pre-trained demo model. */
export const DEMO_MODEL_DIR: string = packagePath('models', 'demo');

/** The name that means the shipped demo model wherever a model folder is read (`--model demo`). */
export const DEMO_MODEL_NAME = 'demo';

/**
 * The folder a model argument names: `demo` is the shipped demo model ({@link DEMO_MODEL_DIR}),
 * whatever the working folder holds; anything else is a path, so a local folder named `demo` is
 * `./demo` (the rule for names and paths, docs/cli.md).
 */
export function modelFolderOf(nameOrPath: string): string {
  return nameOrPath === DEMO_MODEL_NAME ? DEMO_MODEL_DIR : nameOrPath;
}

/** Whether the pre-trained demo model is present in this checkout / install. */
export function hasPretrainedDemoModel(): boolean {
  return existsSync(path.join(DEMO_MODEL_DIR, 'config.json'));
}

/**
 * The demo model for measurements: the pre-trained one from models/demo when present, else a
 * freshly initialised one of the same architecture (seeded), so benchmarks run in any checkout.
 */
export async function demoModelOrRandom(seed = 0): Promise<{ model: LlamaModel; pretrained: boolean }> {
  if (hasPretrainedDemoModel()) return { model: (await loadModelFolder(DEMO_MODEL_DIR)).model, pretrained: true };
  return { model: LlamaModel.random(DEMO_MODEL_CONFIG, seed), pretrained: false };
}
