import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../src/model/llama.js';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { configWithWidths, sliceMlpHfTensors } from '../../src/model/widths.js';
import { adapterParameters, baseParameters, configAtWidths, flopsPerToken, inferenceMemoryBytes } from '../../src/predict/cost.js';
import { tinyWeights } from '../helpers/tiny-model.js';
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

describe('analytic cost with elastic MLP widths', () => {
  const cfg = tinyConfig({ numHiddenLayers: 2, intermediateSize: 24 });
  const space = resolveSearchSpace(
    {
      format: 'nls-search-space/1',
      name: 'w',
      alpha: 8,
      groups: [
        { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] },
        { name: 'mlp', kind: 'width', widths: [24, 16, 8] },
        { name: 'gud', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [4, 0] },
      ],
    },
    { numLayers: 2, intermediateSizes: [24, 24] },
  );
  const w = tinyWeights(cfg, 41);

  it('counts exactly what the smaller model holds and what its sliced adapters hold (naive count by building them)', () => {
    fc.assert(
      fc.property(fc.tuple(...space.choiceCounts.map((n) => fc.integer({ min: 0, max: n - 1 }))), (config) => {
        const widths = space.activeWidths(config);
        // The smaller model, built from sliced weights: its parameters are the base parameters of the configuration.
        const small = LlamaModel.fromHf(configWithWidths(cfg, widths), sliceMlpHfTensors(cfg, w, widths));
        expect(baseParameters(configAtWidths(cfg, space, config))).toBe(small.parameterCount());
        small.dispose();
        // The supernet narrowed to the widths: its adapters' active parameters.
        const model = LlamaModel.fromHf(cfg, w);
        const set = AdapterSet.attach(model, space.adapterPlan(), 1);
        set.setActiveRanks(space.activeRanks(config));
        model.setMlpWidths(widths);
        expect(adapterParameters(cfg, space, config)).toBe(set.activeParameterCount());
        set.dispose();
        model.dispose();
        // FLOPs: 2 per base linear weight of the smaller model (lm_head included), 2 per adapter weight, attention.
        let linear = cfg.hiddenSize * cfg.vocabSize;
        for (let l = 0; l < 2; l++) {
          const h = cfg.hiddenSize;
          const q = cfg.numAttentionHeads * cfg.headDim;
          const kv = cfg.numKeyValueHeads * cfg.headDim;
          linear += h * q + 2 * h * kv + q * h + 3 * h * widths.get(l)!;
        }
        expect(flopsPerToken(cfg, space, config, 16)).toBe(2 * linear + 2 * adapterParameters(cfg, space, config) + 2 * 4 * 16 * cfg.numAttentionHeads * cfg.headDim);
      }),
      { numRuns: 20 },
    );
  });

  it('a narrower width never costs more FLOPs or memory', () => {
    const full = space.maxConfig();
    const gene = space.widthGenes[0]!;
    let prev = inferenceMemoryBytes(cfg, space, full).total;
    let prevFlops = flopsPerToken(cfg, space, full, 32);
    for (let c = 1; c < space.choiceCounts[gene]!; c++) {
      const config = full.map((v, g) => (g === gene ? c : v));
      const mem = inferenceMemoryBytes(cfg, space, config).total;
      const flops = flopsPerToken(cfg, space, config, 32);
      expect(mem).toBeLessThan(prev);
      expect(flops).toBeLessThan(prevFlops);
      prev = mem;
      prevFlops = flops;
    }
  });
});
