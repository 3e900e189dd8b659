/**
 * The acceptance check on the shipped demo model (models/demo, search-spaces/demo.json):
 * logits of the onnx engine agree with the tfjs engine within 1e-4 for the max, median and min
 * subnets, in the unmerged and the merged form, with adapters whose B is random and non-zero (a
 * freshly attached supernet has B = 0 and every subnet would trivially equal the base); merged
 * and unmerged agree with each other; accuracies on scored rows agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { createOnnxEngine } from '../../src/engine/onnx/engine.js';
import { createTfjsEngine } from '../../src/engine/tfjs.js';
import type { EvaluationEngine } from '../../src/engine/types.js';
import { DEMO_MODEL_DIR } from '../../src/model/demo-model.js';
import { loadModelFolder, type ModelFolder } from '../../src/model/model-folder.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace, type SearchSpace } from '../../src/space/index.js';
import { useTestBackend } from '../helpers/backend.js';
import { maxAbsDiff, randomIds, randomizeB } from './helpers.js';

let folder: ModelFolder;
let space: SearchSpace;
let adapters: AdapterSet;
let tfjs: EvaluationEngine;
let unmerged: EvaluationEngine;
let merged: EvaluationEngine;
let fused: EvaluationEngine;

beforeAll(async () => {
  await useTestBackend();
  folder = await loadModelFolder(DEMO_MODEL_DIR);
  space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: folder.config.numHiddenLayers });
  adapters = AdapterSet.attach(folder.model, space.adapterPlan(), 0);
  randomizeB(adapters, 5, 0.02);
  tfjs = createTfjsEngine(folder.model, adapters);
  unmerged = await createOnnxEngine(folder.model, adapters, { form: 'unmerged' });
  merged = await createOnnxEngine(folder.model, adapters, { form: 'merged' });
  fused = await createOnnxEngine(folder.model, adapters, { form: 'unmerged', attention: 'auto' });
}, 120_000);

afterAll(async () => {
  await Promise.all([tfjs, unmerged, merged, fused].map((e) => e?.dispose()));
  adapters?.dispose();
  folder?.model.dispose();
});

describe('onnx vs tfjs on the demo model', () => {
  const batch = 4;
  const seq = 63;
  for (const subnet of ['max', 'median', 'min'] as const) {
    it(`${subnet} subnet: logits within 1e-4 (unmerged and merged forms, fused and standard attention), merged = unmerged within 1e-4`, async () => {
      const config = subnet === 'max' ? space.maxConfig() : subnet === 'median' ? space.medianConfig() : space.minConfig();
      const ranks = space.activeRanks(config);
      const ids = randomIds(batch, seq, folder.config.vocabSize, 1);
      const logits: Float32Array[] = [];
      for (const e of [tfjs, unmerged, merged, fused]) {
        await e.setRanks(ranks);
        logits.push(await e.logits(ids, batch, seq));
      }
      const [ref, u, m, f] = logits as [Float32Array, Float32Array, Float32Array, Float32Array];
      // head_dim 64: 'auto' runs attention in onnxruntime's fused kernel; the default is plain ONNX operators.
      expect([unmerged.info.attention, merged.info.attention, fused.info.attention]).toEqual(['standard', 'standard', 'fused']);
      expect(maxAbsDiff(ref, u)).toBeLessThan(1e-4);
      expect(maxAbsDiff(ref, f)).toBeLessThan(1e-4);
      expect(maxAbsDiff(ref, m)).toBeLessThan(1e-4);
      expect(maxAbsDiff(u, m)).toBeLessThan(1e-4);
    });
  }

  it('the subnets differ from each other by far more than the engines do', async () => {
    const ids = randomIds(2, 32, folder.config.vocabSize, 2);
    await unmerged.setRanks(space.activeRanks(space.maxConfig()));
    const max = await unmerged.logits(ids, 2, 32);
    await unmerged.setRanks(space.activeRanks(space.minConfig()));
    expect(maxAbsDiff(max, await unmerged.logits(ids, 2, 32))).toBeGreaterThan(1e-2);
  });
});
