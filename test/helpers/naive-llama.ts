/**
 * An independent reference LLaMA forward pass: plain loops over Float32Arrays in HF layout,
 * accumulating in float64. Written from the HF modelling equations, sharing no code with
 * src/model, so that the tfjs model is checked against something it could not have copied
 * a bug from.
 */
import type { HfTensor } from '../../src/model/llama.js';

export interface NaiveConfig {
  hiddenSize: number;
  intermediateSize: number;
  /** Per-layer MLP widths (`nls_intermediate_sizes`), overriding `intermediateSize`. */
  intermediateSizes?: readonly number[];
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
}

/** A per-module low-rank delta in HF/PEFT layout: A [r, in], B [out, r], scale. */
export interface NaiveLora {
  a: Float32Array;
  b: Float32Array;
  r: number;
  scale: number;
}

type Vec = Float64Array;

function get(w: ReadonlyMap<string, HfTensor>, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`naive: missing ${name}`);
  return t.data;
}

/** y[o] = sum_i W[o, i] x[i] (+ lora), W in HF [out, in] layout. */
function matvec(w: Float32Array, x: Vec, outDim: number, lora?: NaiveLora): Vec {
  const inDim = x.length;
  const y = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = 0;
    for (let i = 0; i < inDim; i++) s += w[o * inDim + i]! * x[i]!;
    y[o] = s;
  }
  if (lora && lora.r > 0) {
    const rMaxA = lora.a.length / inDim;
    const ax = new Float64Array(lora.r);
    for (let k = 0; k < lora.r; k++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += lora.a[k * inDim + i]! * x[i]!;
      ax[k] = s;
    }
    const rMaxB = lora.b.length / outDim;
    void rMaxA;
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let k = 0; k < lora.r; k++) s += lora.b[o * rMaxB + k]! * ax[k]!;
      y[o] = y[o]! + lora.scale * s;
    }
  }
  return y;
}

function rmsnorm(x: Vec, w: Float32Array, eps: number): Vec {
  let ms = 0;
  for (const v of x) ms += v * v;
  ms /= x.length;
  const inv = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

function rope(x: Vec, pos: number, d: number, theta: number): Vec {
  const out = new Float64Array(d);
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const freq = 1 / theta ** ((2 * i) / d);
    const c = Math.cos(pos * freq);
    const s = Math.sin(pos * freq);
    const x1 = x[i]!;
    const x2 = x[i + half]!;
    out[i] = x1 * c - x2 * s;
    out[i + half] = x2 * c + x1 * s;
  }
  return out;
}

/**
 * Logits [seq][vocab] for one sequence. `loras` maps `layers.{i}.{module}` to a delta.
 */
export function naiveLogits(
  cfg: NaiveConfig,
  w: ReadonlyMap<string, HfTensor>,
  ids: readonly number[],
  loras: ReadonlyMap<string, NaiveLora> = new Map(),
): number[][] {
  const H = cfg.hiddenSize;
  const d = cfg.headDim;
  const nh = cfg.numAttentionHeads;
  const nkv = cfg.numKeyValueHeads;
  const emb = get(w, 'model.embed_tokens.weight');
  let hs: Vec[] = ids.map((t) => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const p = `model.layers.${l}`;
    const lin = (m: string, block: string, x: Vec, out: number) => matvec(get(w, `${p}.${block}.${m}.weight`), x, out, loras.get(`layers.${l}.${m}`));
    const normed = hs.map((h) => rmsnorm(h, get(w, `${p}.input_layernorm.weight`), cfg.rmsNormEps));
    const q = normed.map((x) => lin('q_proj', 'self_attn', x, nh * d));
    const k = normed.map((x) => lin('k_proj', 'self_attn', x, nkv * d));
    const v = normed.map((x) => lin('v_proj', 'self_attn', x, nkv * d));
    const attnOut: Vec[] = [];
    for (let t = 0; t < ids.length; t++) {
      const concat = new Float64Array(nh * d);
      for (let h = 0; h < nh; h++) {
        const kvh = Math.floor(h / (nh / nkv));
        const qh = rope(q[t]!.subarray(h * d, (h + 1) * d), t, d, cfg.ropeTheta);
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          const ks = rope(k[s]!.subarray(kvh * d, (kvh + 1) * d), s, d, cfg.ropeTheta);
          let dot = 0;
          for (let i = 0; i < d; i++) dot += qh[i]! * ks[i]!;
          scores.push(dot / Math.sqrt(d));
        }
        const m = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) {
          for (let i = 0; i < d; i++) concat[h * d + i] = concat[h * d + i]! + (e[s]! / z) * v[s]![kvh * d + i]!;
        }
      }
      attnOut.push(lin('o_proj', 'self_attn', concat, H));
    }
    hs = hs.map((h, t) => h.map((x, i) => x + attnOut[t]![i]!));
    hs = hs.map((h) => {
      const x = rmsnorm(h, get(w, `${p}.post_attention_layernorm.weight`), cfg.rmsNormEps);
      const inter = cfg.intermediateSizes?.[l] ?? cfg.intermediateSize;
      const g = lin('gate_proj', 'mlp', x, inter);
      const u = lin('up_proj', 'mlp', x, inter);
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const down = lin('down_proj', 'mlp', act, H);
      return h.map((xv, i) => xv + down[i]!);
    });
  }
  const head = cfg.tieWordEmbeddings ? emb : get(w, 'lm_head.weight');
  return hs.map((h) => Array.from(matvec(head, rmsnorm(h, get(w, 'model.norm.weight'), cfg.rmsNormEps), cfg.vocabSize)));
}
