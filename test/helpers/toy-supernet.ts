/**
 * A toy supernet folder for CLI tests: a tiny random model, a learnable two-class JSONL task and a
 * 16-configuration search space, trained for two steps through the API (no manifest).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { runSupernetTraining } from '../../src/pipeline/train-supernet.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from './backend.js';
import { tinyConfig } from './tiny-model.js';

/** Paths of a toy supernet and its inputs. */
export interface ToySupernet {
  readonly model: string;
  readonly data: string;
  readonly space: string;
  readonly supernet: string;
}

/** Write the model, data and space into `root` and train the supernet into `root/supernet`. */
export async function toySupernet(root: string): Promise<ToySupernet> {
  await useTestBackend();
  const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 });
  const model = LlamaModel.random(cfg, 3);
  const paths: ToySupernet = { model: path.join(root, 'model'), data: path.join(root, 'data.jsonl'), space: path.join(root, 'space.json'), supernet: path.join(root, 'supernet') };
  await saveModelFolder(paths.model, model, { byteTokenizer: true });
  model.dispose();
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `${i % 2 === 0 ? 'sunny' : 'rainy'} day ${i}`, label: i % 2 === 0 ? 'yes' : 'no' }));
  await fsp.writeFile(paths.data, rows.join('\n'));
  await fsp.writeFile(
    paths.space,
    JSON.stringify({ format: 'nls-search-space/1', name: 'toy', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] }, { name: 'up', modules: ['up_proj'], ranks: [4, 2] }] }),
  );
  await runSupernetTraining({
    model: paths.model,
    data: paths.data,
    space: paths.space,
    out: paths.supernet,
    rule: 'sandwich',
    steps: 2,
    lr: 5e-3,
    warmupSteps: 1,
    batchSize: 4,
    gradAccum: 1,
    maxLength: 32,
    weightDecay: 0,
    seed: 0,
    engine: 'tfjs',
    progress: new Progress({ quiet: true }),
  });
  return paths;
}

/** Lines of `dir/trials.jsonl`, parsed. */
export async function journalRecords(dir: string): Promise<{ type: string; number?: number; state?: string; message?: string; constraints?: number[]; strategy?: { name: string; source?: unknown }; seed?: number }[]> {
  return (await fsp.readFile(path.join(dir, 'trials.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
}
