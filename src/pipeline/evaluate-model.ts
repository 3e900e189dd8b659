/**
 * Accuracy of a model folder (no adapters; e.g. a subnet merged into its base) on a split of a
 * task, on the onnx engine where it loads (else tfjs): what `nls replicate` measures after a merge.
 */
import { initBackend } from '../backend/index.js';
import { createOnnxEngine } from '../engine/onnx/engine.js';
import { resolveEngine } from '../engine/select.js';
import { createTfjsEngine } from '../engine/tfjs.js';
import type { EngineRequest } from '../engine/types.js';
import { evaluateChoices } from '../evaluate/choice.js';
import { evaluateExactMatch } from '../evaluate/exact-match.js';
import { loadModelFolder } from '../model/model-folder.js';
import { loadTaskData, prepareValidation, type TaskDataOptions } from './train-supernet.js';

/** Accuracy (choice log-likelihood, or exact match for exact-scored tasks) of the model in `modelDir` on `split` of `task`. */
export async function evaluateModelOnTask(
  modelDir: string,
  task: string,
  taskOptions: TaskDataOptions,
  split: 'validation' | 'test',
  maxLength: number,
  options: { readonly engine?: EngineRequest } = {},
): Promise<number> {
  await initBackend('wasm', { quiet: true });
  const data = await loadTaskData(task, taskOptions);
  const folder = await loadModelFolder(modelDir);
  const engine = (await resolveEngine(options.engine ?? 'auto')) === 'onnx' ? await createOnnxEngine(folder.model, undefined) : createTfjsEngine(folder.model, undefined);
  try {
    const set = prepareValidation(data, folder.tokenizer, maxLength, split);
    if (set.choices) return (await evaluateChoices(engine, set.choices)).accuracy;
    if (set.exact) return (await evaluateExactMatch(engine, set.exact.tokenizer, set.exact.examples, { maxNewTokens: set.exact.maxNewTokens, maxLength })).accuracy;
    throw new Error(`the task ${task} has no accuracy (loss only)`);
  } finally {
    await engine.dispose();
    folder.model.dispose();
  }
}
