import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import {
  type LlamaConfig,
  llamaTensorNames,
  parseHfConfig,
  readHfConfig,
  toHfConfig,
  validateCheckpointTensors,
  writeHfConfig,
} from '../../src/model/hf-config.js';

/** TinyLlama-1.1B-Chat-v1.0's config.json, verbatim. */
const TINYLLAMA = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.35.0',
  use_cache: true,
  vocab_size: 32000,
};

const F = '/models/x/config.json';

function expectRefusal(json: unknown, field: string, pattern: RegExp): NlsError {
  let err: unknown;
  try {
    parseHfConfig(json, F);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a refusal on ${field}`).toBeInstanceOf(NlsError);
  const e = err as NlsError;
  expect(e.file).toBe(F);
  expect(e.field).toBe(field);
  expect(e.message).toContain(F);
  expect(e.message).toContain(field);
  expect(e.message).toMatch(pattern);
  return e;
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-hfconfig-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('parseHfConfig', () => {
  it('reads a real LLaMA config', () => {
    expect(parseHfConfig(TINYLLAMA, F)).toEqual({
      hiddenSize: 2048,
      intermediateSize: 5632,
      numHiddenLayers: 22,
      numAttentionHeads: 32,
      numKeyValueHeads: 4,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      vocabSize: 32000,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
  });

  it('applies transformers defaults and accepts model_type alone', () => {
    const cfg = parseHfConfig(
      { model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 },
      F,
    );
    expect(cfg).toEqual({
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 4,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      vocabSize: 100,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 2048,
    });
  });

  it('reads explicit head_dim, eos lists, pad id, rope_type default and nls_intermediate_sizes', () => {
    const cfg = parseHfConfig(
      {
        ...TINYLLAMA,
        num_hidden_layers: 3,
        head_dim: 128,
        eos_token_id: [128001, 128008, 128009],
        pad_token_id: 0,
        rope_scaling: { rope_type: 'default' },
        nls_intermediate_sizes: [100, 200, 300],
      },
      F,
    );
    expect(cfg.headDim).toBe(128);
    expect(cfg.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(cfg.padTokenId).toBe(0);
    expect(cfg.intermediateSizes).toEqual([100, 200, 300]);
  });

  it('accepts Mistral, capping the context at the sliding window', () => {
    const cfg = parseHfConfig(
      { ...TINYLLAMA, architectures: ['MistralForCausalLM'], model_type: 'mistral', max_position_embeddings: 32768, sliding_window: 4096 },
      F,
    );
    expect(cfg.maxPositionEmbeddings).toBe(4096);
    expect(parseHfConfig({ ...TINYLLAMA, model_type: 'mistral', sliding_window: null }, F).maxPositionEmbeddings).toBe(2048);
  });

  it('refuses unknown architectures, listing the supported ones', () => {
    expectRefusal({ ...TINYLLAMA, architectures: ['GPT2LMHeadModel'] }, 'architectures', /"GPT2LMHeadModel" is not supported.*LlamaForCausalLM, MistralForCausalLM/);
    expectRefusal({ ...TINYLLAMA, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' }, 'architectures', /biases to the q\/k\/v projections/);
    expectRefusal({ ...TINYLLAMA, architectures: undefined, model_type: 'qwen2' }, 'model_type', /"qwen2" is not supported \(Qwen2 adds biases/);
    expectRefusal({ ...TINYLLAMA, model_type: 'gpt2' }, 'model_type', /supported: .*llama, mistral/);
    expectRefusal({ ...TINYLLAMA, architectures: undefined, model_type: undefined }, 'architectures', /neither architectures nor model_type/);
    expectRefusal({ ...TINYLLAMA, architectures: 'LlamaForCausalLM' }, 'architectures', /non-empty list/);
    expectRefusal({ ...TINYLLAMA, architectures: ['LlamaForCausalLM', 'LlamaForSequenceClassification'] }, 'architectures', /LlamaForSequenceClassification/);
  });

  it('refuses missing and invalid fields', () => {
    const { hidden_size: _h, ...noHidden } = TINYLLAMA;
    expectRefusal(noHidden, 'hidden_size', /must be a positive integer, got nothing/);
    expectRefusal({ ...TINYLLAMA, vocab_size: '32000' }, 'vocab_size', /positive integer, got "32000"/);
    expectRefusal({ ...TINYLLAMA, num_hidden_layers: 0 }, 'num_hidden_layers', /positive integer/);
    expectRefusal({ ...TINYLLAMA, intermediate_size: 5632.5 }, 'intermediate_size', /positive integer/);
    expectRefusal({ ...TINYLLAMA, rms_norm_eps: -1 }, 'rms_norm_eps', /positive number/);
    expectRefusal({ ...TINYLLAMA, rope_theta: 'big' }, 'rope_theta', /positive number/);
    expectRefusal({ ...TINYLLAMA, tie_word_embeddings: 'no' }, 'tie_word_embeddings', /boolean/);
    expectRefusal({ ...TINYLLAMA, eos_token_id: [2, -1] }, 'eos_token_id', /token id/);
    expectRefusal({ ...TINYLLAMA, bos_token_id: 1.5 }, 'bos_token_id', /token id/);
    expectRefusal({ ...TINYLLAMA, nls_intermediate_sizes: [1, 2] }, 'nls_intermediate_sizes', /has 2 entries but num_hidden_layers is 22/);
    expectRefusal({ ...TINYLLAMA, nls_intermediate_sizes: 'x' }, 'nls_intermediate_sizes', /list of positive integers/);
    expect(() => parseHfConfig([1], F)).toThrow(/must be a JSON object/);
  });

  it('refuses head counts that do not divide', () => {
    expectRefusal({ ...TINYLLAMA, hidden_size: 2050 }, 'hidden_size', /2050 is not divisible by num_attention_heads 32/);
    expectRefusal({ ...TINYLLAMA, num_key_value_heads: 5 }, 'num_key_value_heads', /32 is not divisible by num_key_value_heads 5/);
    expectRefusal({ ...TINYLLAMA, head_dim: 63 }, 'head_dim', /odd/);
  });

  it('refuses math nls does not implement', () => {
    expectRefusal(
      { ...TINYLLAMA, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      'rope_scaling',
      /rope_scaling .*llama3.* is not supported: nls implements plain RoPE only/,
    );
    expectRefusal({ ...TINYLLAMA, rope_scaling: { type: 'linear', factor: 2 } }, 'rope_scaling', /not supported/);
    expectRefusal({ ...TINYLLAMA, hidden_act: 'gelu' }, 'hidden_act', /only hidden_act "silu"/);
    expectRefusal({ ...TINYLLAMA, attention_bias: true }, 'attention_bias', /is true, but .* no biases/);
    expectRefusal({ ...TINYLLAMA, mlp_bias: true }, 'mlp_bias', /is true/);
    expectRefusal({ ...TINYLLAMA, mlp_bias: 'yes' }, 'mlp_bias', /must be a boolean/);
    expectRefusal({ ...TINYLLAMA, quantization_config: { quant_method: 'gptq' } }, 'quantization_config', /quantized/);
  });
});

describe('toHfConfig / files', () => {
  const cfgArb: fc.Arbitrary<LlamaConfig> = fc
    .record({
      kv: fc.integer({ min: 1, max: 4 }),
      group: fc.integer({ min: 1, max: 4 }),
      halfHead: fc.integer({ min: 1, max: 16 }),
      layers: fc.integer({ min: 1, max: 4 }),
      inter: fc.integer({ min: 1, max: 512 }),
      vocab: fc.integer({ min: 1, max: 50000 }),
      tie: fc.boolean(),
      eps: fc.constantFrom(1e-5, 1e-6),
      theta: fc.constantFrom(10000, 500000),
      maxPos: fc.integer({ min: 1, max: 8192 }),
      bos: fc.option(fc.nat(100), { nil: undefined }),
      eos: fc.option(fc.array(fc.nat(100), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      perLayer: fc.boolean(),
    })
    .map((r) => {
      const heads = r.kv * r.group;
      const headDim = 2 * r.halfHead;
      return {
        hiddenSize: heads * headDim,
        intermediateSize: r.inter,
        numHiddenLayers: r.layers,
        numAttentionHeads: heads,
        numKeyValueHeads: r.kv,
        headDim,
        rmsNormEps: r.eps,
        ropeTheta: r.theta,
        vocabSize: r.vocab,
        tieWordEmbeddings: r.tie,
        maxPositionEmbeddings: r.maxPos,
        ...(r.bos !== undefined ? { bosTokenId: r.bos } : {}),
        ...(r.eos !== undefined ? { eosTokenIds: r.eos } : {}),
        ...(r.perLayer ? { intermediateSizes: Array.from({ length: r.layers }, (_, i) => r.inter + i) } : {}),
      };
    });

  it('parse(toHfConfig(cfg)) == cfg (property)', () => {
    fc.assert(
      fc.property(cfgArb, (cfg) => {
        expect(parseHfConfig(JSON.parse(JSON.stringify(toHfConfig(cfg))), F)).toEqual(cfg);
      }),
      { numRuns: 300 },
    );
  });

  it('writes a complete LlamaForCausalLM config', () => {
    const cfg = parseHfConfig(TINYLLAMA, F);
    const json = toHfConfig(cfg, { torchDtype: 'bfloat16', extra: { nls_tokenizer: 'bytes', model_type: 'overridden?' } });
    expect(json).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_act: 'silu',
      torch_dtype: 'bfloat16',
      rope_scaling: null,
      attention_bias: false,
      mlp_bias: false,
      head_dim: 64,
      num_key_value_heads: 4,
      eos_token_id: 2,
      nls_tokenizer: 'bytes',
    });
    // Every key of the original that carries meaning is reproduced.
    for (const k of Object.keys(TINYLLAMA) as (keyof typeof TINYLLAMA)[]) {
      if (k === 'transformers_version') continue;
      expect(json[k], k).toEqual(TINYLLAMA[k]);
    }
  });

  it('writeHfConfig / readHfConfig round trip; missing and bad files are NlsErrors', async () => {
    const cfg = parseHfConfig({ ...TINYLLAMA, eos_token_id: [2, 3] }, F);
    const dir = path.join(tmp, 'm');
    await writeHfConfig(dir, cfg);
    expect(await readHfConfig(dir)).toEqual(cfg);
    await expect(readHfConfig(path.join(tmp, 'none'))).rejects.toThrow(/config\.json: file does not exist/);
    await fsp.writeFile(path.join(dir, 'config.json'), '{"hidden_size": ');
    await expect(readHfConfig(dir)).rejects.toThrow(/config\.json: is not valid JSON/);
  });
});

describe('llamaTensorNames / validateCheckpointTensors', () => {
  const cfg: LlamaConfig = parseHfConfig(
    { model_type: 'llama', hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 11 },
    F,
  );

  it('lists HF names and [out, in] shapes', () => {
    const specs = llamaTensorNames(cfg);
    expect(specs).toHaveLength(1 + 2 * 9 + 1 + 1);
    const byName = new Map(specs.map((s) => [s.name, s.shape]));
    expect(byName.get('model.embed_tokens.weight')).toEqual([11, 8]);
    expect(byName.get('model.layers.1.self_attn.q_proj.weight')).toEqual([8, 8]);
    expect(byName.get('model.layers.1.self_attn.k_proj.weight')).toEqual([4, 8]);
    expect(byName.get('model.layers.1.self_attn.v_proj.weight')).toEqual([4, 8]);
    expect(byName.get('model.layers.1.self_attn.o_proj.weight')).toEqual([8, 8]);
    expect(byName.get('model.layers.0.mlp.gate_proj.weight')).toEqual([12, 8]);
    expect(byName.get('model.layers.0.mlp.up_proj.weight')).toEqual([12, 8]);
    expect(byName.get('model.layers.0.mlp.down_proj.weight')).toEqual([8, 12]);
    expect(byName.get('model.layers.0.input_layernorm.weight')).toEqual([8]);
    expect(byName.get('model.layers.0.post_attention_layernorm.weight')).toEqual([8]);
    expect(byName.get('model.norm.weight')).toEqual([8]);
    expect(byName.get('lm_head.weight')).toEqual([11, 8]);
    expect(llamaTensorNames({ ...cfg, tieWordEmbeddings: true }).some((s) => s.name === 'lm_head.weight')).toBe(false);
    const perLayer = new Map(llamaTensorNames({ ...cfg, intermediateSizes: [5, 7] }).map((s) => [s.name, s.shape]));
    expect(perLayer.get('model.layers.1.mlp.down_proj.weight')).toEqual([8, 7]);
    // Explicit head_dim decouples q/o from hidden_size.
    const wide = new Map(llamaTensorNames({ ...cfg, headDim: 6 }).map((s) => [s.name, s.shape]));
    expect(wide.get('model.layers.0.self_attn.q_proj.weight')).toEqual([24, 8]);
    expect(wide.get('model.layers.0.self_attn.o_proj.weight')).toEqual([8, 24]);
  });

  const full = (): Map<string, { shape: readonly number[] }> => new Map(llamaTensorNames(cfg).map((s) => [s.name, { shape: s.shape }]));

  it('accepts the exact set, ignoring rotary inv_freq buffers', () => {
    const t = full();
    t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [2] });
    expect(() => validateCheckpointTensors(cfg, t, 'ckpt')).not.toThrow();
    // Tied: a redundant lm_head of the right shape is tolerated.
    const tied = { ...cfg, tieWordEmbeddings: true };
    expect(() => validateCheckpointTensors(tied, full(), 'ckpt')).not.toThrow();
  });

  it('reports missing, unexpected and mis-shaped tensors by name', () => {
    const t = full();
    t.delete('model.layers.1.mlp.up_proj.weight');
    t.set('model.layers.0.self_attn.q_proj.bias', { shape: [8] });
    t.set('model.layers.0.self_attn.k_proj.weight', { shape: [8, 8] });
    let err: unknown;
    try {
      validateCheckpointTensors(cfg, t, '/m/model.safetensors');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NlsError);
    const msg = (err as NlsError).message;
    expect(msg).toContain('/m/model.safetensors');
    expect(msg).toMatch(/missing \(1\): model\.layers\.1\.mlp\.up_proj\.weight/);
    expect(msg).toMatch(/unexpected \(1\): model\.layers\.0\.self_attn\.q_proj\.bias/);
    expect(msg).toMatch(/wrong shape \(1\): model\.layers\.0\.self_attn\.k_proj\.weight is \[8, 8\], expected \[4, 8\]/);
    expect((err as NlsError).field).toBe('model.layers.1.mlp.up_proj.weight');
  });

  it('summarizes long lists', () => {
    expect(() => validateCheckpointTensors(cfg, new Map(), 'ckpt')).toThrow(/missing \(21\): .*; \.\.\./);
  });
});
