import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../src/model/llama.js';
import { adapterParameters, baseParameters, inferenceMemoryBytes } from '../../src/predict/cost.js';
import { resolveSearchSpace } from '../../src/space/index.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

beforeAll(async () => {
  await useTestBackend();
});

describe('analytic inference memory', () => {
  it('counts exactly the base parameters the model holds, tied or not', () => {
    for (const tie of [true, false]) {
      const cfg = { ...tinyConfig({ numHiddenLayers: 2 }), tieWordEmbeddings: tie };
      const model = LlamaModel.random(cfg, 1);
      expect(baseParameters(cfg)).toBe(model.parameterCount());
      model.dispose();
    }
  });

  it('is base weights + 4 bytes per active adapter parameter + the KV cache, and grows with every rank', () => {
    const cfg = tinyConfig({ numHiddenLayers: 2 });
    const space = resolveSearchSpace(
      { format: 'nls-search-space/1', name: 'm', alpha: 8, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [8, 4, 2] }, { name: 'up', modules: ['up_proj'], ranks: [8, 0] }] },
      { numLayers: 2 },
    );
    const m = inferenceMemoryBytes(cfg, space, space.maxConfig(), { seqLen: 16, batch: 2 });
    expect(m.baseWeights).toBe(4 * baseParameters(cfg));
    expect(m.adapterWeights).toBe(4 * adapterParameters(cfg, space, space.maxConfig()));
    expect(m.kvCache).toBe(2 * cfg.numHiddenLayers * cfg.numKeyValueHeads * cfg.headDim * 16 * 2 * 4);
    expect(m.total).toBe(m.baseWeights + m.adapterWeights + m.kvCache);
    // Property: raising any gene's rank (lower choice index) never lowers memory.
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: space.size, maxLength: space.size }), fc.nat({ max: space.size - 1 }), (raw, gene) => {
        const config = raw.map((v, g) => v % space.choiceCounts[g]!);
        if (config[gene] === 0) return;
        const bigger = config.map((c, g) => (g === gene ? c - 1 : c));
        expect(inferenceMemoryBytes(cfg, space, bigger).total).toBeGreaterThan(inferenceMemoryBytes(cfg, space, config).total);
      }),
    );
  });
});
