/**
 * The built-in demo model: a small LLaMA-family decoder with a byte-level vocabulary, small
 * enough to train and search on two CPU cores in minutes.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { packagePath } from '../package-info.js';
import type { LlamaConfig } from './hf-config.js';
import { LlamaModel } from './llama.js';
import { loadModelFolder, type ModelFolder, saveModelFolder } from './model-folder.js';

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

/** Whether the pre-trained demo model is present in this checkout / install. */
export function hasPretrainedDemoModel(): boolean {
  return existsSync(path.join(DEMO_MODEL_DIR, 'config.json'));
}

/**
 * Load the demo model: the pre-trained one from models/demo when present; otherwise a
 * freshly initialised one (seeded), written to a temporary HF folder and loaded back through
 * the same loading code. `pretrained` says which.
 */
export async function loadDemoModel(seed = 0): Promise<ModelFolder & { pretrained: boolean }> {
  if (hasPretrainedDemoModel()) return { ...(await loadModelFolder(DEMO_MODEL_DIR)), pretrained: true };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-demo-model-'));
  try {
    const model = LlamaModel.random(DEMO_MODEL_CONFIG, seed);
    await saveModelFolder(dir, model, { dtype: 'F16', byteTokenizer: true });
    model.dispose();
    return { ...(await loadModelFolder(dir)), pretrained: false };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
