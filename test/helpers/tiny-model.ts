/** Tiny random LLaMA configs built on the fly (like HF's tiny-random-LlamaForCausalLM). */
import type { LlamaConfig } from '../../src/model/hf-config.js';
import { randomHfTensors, type HfTensor } from '../../src/model/llama.js';
import { createRng, normalArray } from '../../src/util/rng.js';

export function tinyConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    hiddenSize: 16,
    intermediateSize: 24,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 4,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    vocabSize: 37,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 64,
    ...overrides,
  };
}

/** Random HF-layout weights; norms get random values too so the test sees them applied. */
export function tinyWeights(config: LlamaConfig, seed: number, std = 0.3): Map<string, HfTensor> {
  const rng = createRng(seed);
  const w = randomHfTensors(config, (n) => normalArray(rng, n, std));
  for (const [name, t] of w) {
    if (name.endsWith('norm.weight')) w.set(name, { shape: t.shape, data: t.data.map(() => 0.5 + rng.next()) });
  }
  return w;
}
