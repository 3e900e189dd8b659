/** Tiny supernets for the engine tests: a random LLaMA, elastic adapters with non-zero B (so adapters change the logits), optionally SparsePEFT / QA-SparsePEFT. */
import * as tf from '@tensorflow/tfjs';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import type { FakeQuantizer } from '../../src/adapters/elastic-lora.js';
import { dequantizeMatrix, FakeQuantizerT, quantizeMatrix } from '../../src/compress/quantize.js';
import type { LlamaConfig } from '../../src/model/hf-config.js';
import { LINEAR_MODULES } from '../../src/model/linear.js';
import { LlamaModel } from '../../src/model/llama.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

export interface TinySupernet {
  readonly model: LlamaModel;
  readonly adapters: AdapterSet;
  readonly keys: readonly string[];
  dispose(): void;
}

/** Give every adapter a random B (PEFT initialises B = 0, which would make every subnet equal to the base). */
export function randomizeB(adapters: AdapterSet, seed: number, std = 0.3): void {
  const rng = createRng(seed);
  for (const a of adapters.adapters.values()) tf.tidy(() => a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, std), a.bT.shape as [number, number])));
}

/**
 * A tiny random model with adapters on `modules` of every layer (rMax 4, alpha 8). `sparse` prunes
 * ~half of each adapted base weight and makes the adapters SparsePEFT; `quant` quantizes those
 * weights (int4, groups of 4) and makes them QA-SparsePEFT.
 */
export function tinySupernet(options: { config?: Partial<LlamaConfig>; modules?: readonly string[]; sparse?: boolean; quant?: boolean; scaling?: 'alpha/r_max' | 'alpha/r'; seed?: number } = {}): TinySupernet {
  const config = tinyConfig(options.config);
  const seed = options.seed ?? 1;
  const hf = tinyWeights(config, seed);
  const modules = options.modules ?? ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  const quantized = new Map<string, ReturnType<typeof quantizeMatrix>>();
  if (options.sparse || options.quant) {
    const rng = createRng(seed + 100);
    for (let l = 0; l < config.numHiddenLayers; l++) {
      for (const m of modules) {
        const name = `model.layers.${l}.${['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(m) ? 'self_attn' : 'mlp'}.${m}.weight`;
        const t = hf.get(name)!;
        let data: Float32Array = Float32Array.from(t.data, (v) => (rng.next() < 0.5 ? 0 : v));
        if (options.quant) {
          const q = quantizeMatrix(data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 4, symmetric: true });
          quantized.set(`layers.${l}.${m}`, q);
          data = dequantizeMatrix(q);
        }
        hf.set(name, { shape: t.shape, data });
      }
    }
  }
  const model = LlamaModel.fromHf(config, hf, 'tiny');
  const plan = [];
  for (let l = 0; l < config.numHiddenLayers; l++) for (const m of modules) plan.push({ key: `layers.${l}.${m}`, rMax: 4, alpha: 8, scaling: options.scaling ?? ('alpha/r_max' as const), dropout: 0 });
  const adapters = AdapterSet.attach(model, plan, seed + 2);
  randomizeB(adapters, seed + 3);
  if (options.sparse || options.quant) {
    const fq = options.quant ? new Map<string, FakeQuantizer>([...quantized].map(([k, q]) => [k, new FakeQuantizerT(q)])) : undefined;
    adapters.constrainToBase({ sparse: true, ...(fq ? { fakeQuantize: fq } : {}) });
  }
  return {
    model,
    adapters,
    keys: plan.map((p) => p.key),
    dispose: () => {
      adapters.dispose();
      model.dispose();
    },
  };
}

/** Random right-padded ids [batch, seq]. */
export function randomIds(batch: number, seq: number, vocab: number, seed: number): Int32Array {
  const rng = createRng(seed);
  return Int32Array.from({ length: batch * seq }, () => Math.floor(rng.next() * vocab));
}

/** Max |a - b| over two arrays of the same length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export { LINEAR_MODULES };

/** Tiny supernets made for one suite and freed together (`afterAll(pool.dispose)`). */
export function supernetPool(): { net: (o: Parameters<typeof tinySupernet>[0]) => TinySupernet; dispose: () => void } {
  const nets: TinySupernet[] = [];
  return {
    net: (o) => {
      const n = tinySupernet(o);
      nets.push(n);
      return n;
    },
    dispose: () => nets.splice(0).forEach((n) => n.dispose()),
  };
}
