import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { saveQuantizedModelFolder } from '../../src/compress/quantize-folder.js';
import { dequantizeMatrix, quantizeModel, type QuantSpec } from '../../src/compress/quantize.js';
import { NlsError } from '../../src/errors.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../../src/model/safetensors.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-quant-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

const SPECS: QuantSpec[] = [
  { bits: 8, groupSize: 8, symmetric: true },
  { bits: 8, groupSize: 16, symmetric: false },
  { bits: 4, groupSize: 5, symmetric: true },
  { bits: 4, groupSize: 32, symmetric: false },
];

function tinyModel(seed = 3): LlamaModel {
  const cfg = tinyConfig({ vocabSize: 300 });
  return LlamaModel.fromHf(cfg, tinyWeights(cfg, seed));
}

async function logits(model: LlamaModel): Promise<Float32Array> {
  const ids = tf.tensor2d([[1, 5, 9, 200, 3, 7], [257, 40, 41, 42, 43, 44]], [2, 6], 'int32');
  const out = model.forward(ids);
  const data = (await out.data()) as Float32Array;
  tf.dispose([ids, out]);
  return data;
}

async function sameBits(a: LlamaModel, b: LlamaModel): Promise<void> {
  const [wa, wb] = await Promise.all([a.toHf(), b.toHf()]);
  expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
  for (const [name, t] of wa) expect(Buffer.from(wb.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
}

describe('quantizeModel', () => {
  it('replaces every decoder linear by its dequantized values and reports per-layer errors, without leaks', async () => {
    const model = tinyModel();
    const before = tf.memory().numTensors;
    const { matrices, report } = await quantizeModel(model, SPECS[2]!);
    expect(tf.memory().numTensors).toBe(before);
    expect(matrices.size).toBe(2 * 7);
    expect(report.layers.map((l) => l.key)).toEqual([...model.linearSlots().keys()]);
    for (const l of report.layers) {
      expect(l.relativeError).toBeGreaterThan(0);
      expect(l.relativeError).toBeLessThan(0.2);
    }
    // int4 symmetric, groups of 5: packed codes + one F32 scale per group.
    const slots = [...model.linearSlots().values()];
    expect(report.parameters).toBe(slots.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0));
    expect(report.floatBytes).toBe(4 * report.parameters);
    expect(report.quantizedBytes).toBe(slots.reduce((s, l) => s + l.outFeatures * (Math.ceil(l.inFeatures / 2) + 4 * Math.ceil(l.inFeatures / 5)), 0));
    const hf = await model.toHf();
    for (const [key, slot] of model.linearSlots()) {
      const deq = dequantizeMatrix(matrices.get(key)!);
      expect(Buffer.from(hf.get(slot.hfName)!.data.buffer).equals(Buffer.from(deq.buffer)), key).toBe(true);
    }
    model.dispose();
  });

  it('a sparse base stays exactly as sparse (asymmetric too)', async () => {
    for (const spec of SPECS) {
      const model = tinyModel(5);
      // Zero out every third weight of every linear.
      for (const slot of model.linearSlots().values()) {
        tf.tidy(() => {
          const mask = tf.tensor2d(Array.from({ length: slot.weightT.size }, (_, i) => (i % 3 === 0 ? 0 : 1)), slot.weightT.shape);
          slot.weightT.assign(tf.mul(slot.weightT, mask) as tf.Tensor2D);
        });
      }
      const zerosBefore = new Map<string, number[]>();
      for (const [key, slot] of model.linearSlots()) {
        const d = await slot.weightT.data();
        zerosBefore.set(key, [...d.keys()].filter((i) => d[i] === 0));
      }
      await quantizeModel(model, spec);
      for (const [key, slot] of model.linearSlots()) {
        const d = await slot.weightT.data();
        for (const i of zerosBefore.get(key)!) expect(Object.is(d[i], 0), `${key}[${i}]`).toBe(true);
      }
      model.dispose();
    }
  });
});

describe('quantized model folders', () => {
  it('save -> load gives identical quantized matrices, dequantized weights and logits', async () => {
    for (const spec of SPECS) {
      const model = tinyModel(11);
      const { matrices } = await quantizeModel(model, spec);
      const dir = await tempDir();
      await saveQuantizedModelFolder(dir, model, matrices, { byteTokenizer: true });

      const config = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config.quantization_config).toEqual({ quant_method: 'nls-rtn', bits: spec.bits, group_size: spec.groupSize, sym: spec.symmetric, version: 1 });
      const header = await readSafetensorsHeader(path.join(dir, 'model.safetensors'));
      const q = header.tensors.get('model.layers.0.self_attn.q_proj.qweight')!;
      expect(header.tensors.has('model.layers.0.self_attn.q_proj.weight')).toBe(false);
      expect(q.dtype).toBe(spec.bits === 8 && spec.symmetric ? 'I8' : 'U8');
      expect(q.shape).toEqual([16, spec.bits === 4 ? 8 : 16]);
      expect(header.tensors.get('model.layers.1.mlp.down_proj.scales')).toMatchObject({ dtype: 'F32', shape: [16, Math.ceil(24 / spec.groupSize)] });
      expect(header.tensors.has('model.layers.1.mlp.down_proj.qzeros')).toBe(!spec.symmetric);
      expect(header.tensors.get('model.embed_tokens.weight')!.dtype).toBe('F32');

      const loaded = await loadModelFolder(dir);
      expect(loaded.quantization?.spec).toEqual(spec);
      expect([...loaded.quantization!.matrices.keys()]).toEqual([...matrices.keys()]);
      for (const [key, m] of matrices) {
        const l = loaded.quantization!.matrices.get(key)!;
        expect(Array.from(l.codes), key).toEqual(Array.from(m.codes));
        expect(l.codes.constructor).toBe(m.codes.constructor);
        expect(l.scales).toEqual(m.scales);
        expect(l.zeros === undefined ? undefined : Array.from(l.zeros)).toEqual(m.zeros === undefined ? undefined : Array.from(m.zeros));
      }
      await sameBits(model, loaded.model);
      expect(Buffer.from((await logits(loaded.model)).buffer).equals(Buffer.from((await logits(model)).buffer))).toBe(true);
      loaded.model.dispose();
      model.dispose();
    }
  });

  it('F16 float tensors keep F32 scales; sharded folders load too', async () => {
    const model = tinyModel(12);
    const { matrices } = await quantizeModel(model, SPECS[3]!);
    const dir = await tempDir();
    await saveQuantizedModelFolder(dir, model, matrices, { dtype: 'F16', maxShardBytes: 4000, byteTokenizer: true });
    const files = await fsp.readdir(dir);
    expect(files).toContain('model.safetensors.index.json');
    const loaded = await loadModelFolder(dir);
    const hf = await loaded.model.toHf();
    for (const [key, slot] of model.linearSlots()) {
      expect(Buffer.from(hf.get(slot.hfName)!.data.buffer).equals(Buffer.from(dequantizeMatrix(matrices.get(key)!).buffer))).toBe(true);
    }
    expect(JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    loaded.model.dispose();
    model.dispose();
  });

  it('a float folder loads exactly as before (no quantization); foreign quantization_config is still refused', async () => {
    const model = tinyModel(13);
    const dir = await tempDir();
    await saveModelFolder(dir, model, { byteTokenizer: true });
    const loaded = await loadModelFolder(dir);
    expect(loaded.quantization).toBeUndefined();
    expect('quantization' in loaded).toBe(false);
    await sameBits(model, loaded.model);
    loaded.model.dispose();
    const cfgFile = path.join(dir, 'config.json');
    const cfg = JSON.parse(await fsp.readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, quantization_config: { quant_method: 'gptq', bits: 4 } }));
    await expect(loadModelFolder(dir)).rejects.toThrow(/quantization_config.*not supported/);
    model.dispose();
  });

  it('refuses inconsistent quantized folders with errors naming the tensor or field', async () => {
    const model = tinyModel(14);
    const spec: QuantSpec = { bits: 4, groupSize: 8, symmetric: true };
    const { matrices } = await quantizeModel(model, spec);
    const dir = await tempDir();
    await saveQuantizedModelFolder(dir, model, matrices, { byteTokenizer: true });
    const file = path.join(dir, 'model.safetensors');
    const cfgFile = path.join(dir, 'config.json');
    const original = await readSafetensors(file);
    const cfg = JSON.parse(await fsp.readFile(cfgFile, 'utf8')) as Record<string, Record<string, unknown>>;

    // A packed nibble of -8 is outside the symmetric range -7..7.
    const bad = new Map(original.tensors);
    const qw = bad.get('model.layers.0.mlp.up_proj.qweight')!;
    const data = (qw.data as Uint8Array).slice();
    data[0] = 0x88;
    bad.set('model.layers.0.mlp.up_proj.qweight', { ...qw, data });
    await writeSafetensors(file, bad, { metadata: original.metadata });
    await expect(loadModelFolder(dir)).rejects.toThrow(/up_proj\.qweight.*outside -7\.\.7/);

    const missing = new Map(original.tensors);
    missing.delete('model.layers.1.self_attn.k_proj.scales');
    await writeSafetensors(file, missing, { metadata: original.metadata });
    await expect(loadModelFolder(dir)).rejects.toThrow(/k_proj\.scales.*missing/);

    await writeSafetensors(file, original.tensors, { metadata: original.metadata });
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, group_size: 16 } }));
    await expect(loadModelFolder(dir)).rejects.toThrow(/scales.*shape/);
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, bits: 3 } }));
    await expect(loadModelFolder(dir)).rejects.toThrow(/quantization_config\.bits/);
    await fsp.writeFile(cfgFile, JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, version: 2 } }));
    await expect(loadModelFolder(dir)).rejects.toThrow(NlsError);
    model.dispose();
  });

  it('saveQuantizedModelFolder refuses unknown modules, wrong shapes and mixed specs', async () => {
    const model = tinyModel(15);
    const { matrices } = await quantizeModel(model, SPECS[0]!);
    const other = await quantizeModel(tinyModel(16), SPECS[1]!);
    const dir = await tempDir();
    await expect(saveQuantizedModelFolder(dir, model, new Map())).rejects.toThrow(NlsError);
    await expect(saveQuantizedModelFolder(dir, model, new Map([['layers.9.q_proj', matrices.get('layers.0.q_proj')!]]))).rejects.toThrow(/layers\.9\.q_proj/);
    await expect(saveQuantizedModelFolder(dir, model, new Map([['layers.0.q_proj', matrices.get('layers.0.down_proj')!]]))).rejects.toThrow(/q_proj/);
    const mixed = new Map(matrices);
    mixed.set('layers.1.o_proj', other.matrices.get('layers.1.o_proj')!);
    await expect(saveQuantizedModelFolder(dir, model, mixed)).rejects.toThrow(/one spec/);
    model.dispose();
  });
});

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

async function nls(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, timeout: 120_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('nls quantize', () => {
  it('writes a quantized folder and quantization-report.json; table on stdout, --json for JSON', async () => {
    const src = await tempDir();
    const model = tinyModel(21);
    await saveModelFolder(src, model, { byteTokenizer: true });
    const evalFile = path.join(src, 'held-out.txt');
    await fsp.writeFile(evalFile, 'The quick brown fox jumps over the lazy dog. '.repeat(20));
    const out = path.join(await tempDir(), 'q4');

    const text = await nls('quantize', '--model', src, '--bits', '4', '--group-size', '8', '--eval', evalFile, '--eval-tokens', '300', '--eval-seq', '32', '--out', out);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/layers\.0\.q_proj/);
    expect(text.stdout).toMatch(/perplexity on 300 tokens/);
    expect(text.stderr).toMatch(/quantize/);
    const report = JSON.parse(await fsp.readFile(path.join(out, 'quantization-report.json'), 'utf8')) as {
      spec: QuantSpec;
      layers: { key: string; relativeError: number }[];
      evaluation: { tokens: number; before: { perplexity: number }; after: { perplexity: number } };
      quantizationConfig: Record<string, unknown>;
    };
    expect(report.spec).toEqual({ bits: 4, groupSize: 8, symmetric: true });
    expect(report.layers).toHaveLength(14);
    expect(report.evaluation.tokens).toBe(300);
    expect(Number.isFinite(report.evaluation.before.perplexity) && Number.isFinite(report.evaluation.after.perplexity)).toBe(true);
    expect(report.quantizationConfig).toMatchObject({ quant_method: 'nls-rtn', bits: 4, group_size: 8, sym: true });

    const loaded = await loadModelFolder(out);
    expect(loaded.quantization?.spec).toEqual({ bits: 4, groupSize: 8, symmetric: true });
    const { matrices } = await quantizeModel(model, { bits: 4, groupSize: 8, symmetric: true });
    await sameBits(model, loaded.model);
    expect(matrices.size).toBe(14);
    loaded.model.dispose();
    model.dispose();

    const json = await nls('quantize', '--json', '--model', src, '--bits', '8', '--asymmetric', '--eval', evalFile, '--eval-tokens', '100', '--out', out);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { spec: QuantSpec; evaluation: { tokens: number } };
    expect(result.spec).toEqual({ bits: 8, groupSize: 32, symmetric: false });
    expect(result.evaluation.tokens).toBe(100);
    for (const line of json.stderr.trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  }, 120_000);

  it('bad input is a clear error (exit 1; a bad flag value exit 2)', async () => {
    const src = await tempDir();
    const model = tinyModel(22);
    await saveModelFolder(src, model, { byteTokenizer: true });
    model.dispose();
    const out = path.join(src, 'out');
    const bits = await nls('quantize', '--model', src, '--bits', '3', '--out', out);
    expect(bits.code).toBe(1);
    expect(bits.stderr).toMatch(/--bits: must be 4 or 8/);
    const group = await nls('quantize', '--model', src, '--group-size', '0', '--out', out);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/--group-size must be a positive integer, got '0'/);
    const same = await nls('quantize', '--model', src, '--out', src);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/--out/);
    const missing = await nls('quantize', '--model', path.join(src, 'nope'), '--out', out);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/config\.json/);
  }, 120_000);
});
