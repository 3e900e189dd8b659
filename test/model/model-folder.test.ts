import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { float16ToFloat32Array, float32ToFloat16Array } from '../../src/model/safetensors.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

beforeAll(useTestBackend);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-folder-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => fsp.rm(d, { recursive: true, force: true })));
});

async function expectSameWeights(a: LlamaModel, b: LlamaModel): Promise<void> {
  const [wa, wb] = await Promise.all([a.toHf(), b.toHf()]);
  expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
  for (const [name, t] of wa) {
    expect(Buffer.from(wb.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
  }
}

describe('model folders', () => {
  it('save -> load is bit-exact in F32, single file and sharded', async () => {
    const cfg = tinyConfig({ vocabSize: 300 });
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 21));
    for (const maxShardBytes of [undefined, 20_000]) {
      const dir = await tempDir();
      await saveModelFolder(dir, model, { byteTokenizer: true, ...(maxShardBytes ? { maxShardBytes } : {}) });
      const files = await fsp.readdir(dir);
      if (maxShardBytes) expect(files).toContain('model.safetensors.index.json');
      const loaded = await loadModelFolder(dir);
      expect(loaded.config).toEqual(cfg);
      await expectSameWeights(model, loaded.model);
      expect(loaded.tokenizer.decode(loaded.tokenizer.encode('héllo'))).toBe('héllo');
      loaded.model.dispose();
    }
    model.dispose();
  });

  it('F16 storage round-trips weights that are F16-representable bit-exactly, and logits agree', async () => {
    const cfg = tinyConfig({ vocabSize: 300 });
    const w = tinyWeights(cfg, 22);
    for (const [name, t] of w) w.set(name, { shape: t.shape, data: float16ToFloat32Array(float32ToFloat16Array(t.data)) });
    const model = LlamaModel.fromHf(cfg, w);
    const dir = await tempDir();
    await saveModelFolder(dir, model, { dtype: 'F16', byteTokenizer: true });
    const loaded = await loadModelFolder(dir);
    await expectSameWeights(model, loaded.model);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.forward(ids), loaded.model.forward(ids)))).dataSync()[0]);
    expect(diff).toBe(0);
    ids.dispose();
    loaded.model.dispose();
    model.dispose();
  });

  it('a truncated checkpoint is refused with the file and tensor named', async () => {
    const cfg = tinyConfig({ vocabSize: 300 });
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 23));
    const dir = await tempDir();
    await saveModelFolder(dir, model, { byteTokenizer: true });
    model.dispose();
    const file = path.join(dir, 'model.safetensors');
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, bytes.length - 100));
    await expect(loadModelFolder(dir)).rejects.toThrow(/model\.safetensors.*(model\.|lm_head|truncat)/s);
  });

  it('a config that does not match the weights is refused naming the tensor', async () => {
    const cfg = tinyConfig({ vocabSize: 300 });
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 24));
    const dir = await tempDir();
    await saveModelFolder(dir, model, { byteTokenizer: true });
    model.dispose();
    const cfgFile = path.join(dir, 'config.json');
    const json = JSON.parse(await fsp.readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    json.intermediate_size = 32;
    await fsp.writeFile(cfgFile, JSON.stringify(json));
    await expect(loadModelFolder(dir)).rejects.toThrow(/mlp\.(gate|up|down)_proj\.weight/);
  });
});
