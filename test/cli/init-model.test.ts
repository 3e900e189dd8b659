import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFolder } from '../../src/model/model-folder.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { initModelConfig, type InitModelResult, parameterBreakdown } from '../../src/pipeline/init-model.js';
import { useTestBackend } from '../helpers/backend.js';
import { nlsInProcess } from '../helpers/cli.js';

let tmp = '';
beforeAll(async () => {
  await useTestBackend();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-init-model-'));
});
afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

/** A small architecture: 2 layers, hidden 32, 4/2 heads of 8, MLP 48. */
const SMALL = ['--hidden', '32', '--layers', '2', '--heads', '4', '--kv-heads', '2', '--intermediate', '48'];

/** {@link SMALL} with some flags' values replaced. */
function small(changes: Record<string, string>): string[] {
  return SMALL.map((a, i) => (i > 0 && SMALL[i - 1]! in changes ? changes[SMALL[i - 1]!]! : a));
}

/** The CLI in this process, capturing stderr too (usage errors are printed there). */
async function nlsCapturingStderr(...args: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => (chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')), true)) as typeof process.stderr.write;
  try {
    const { code } = await nlsInProcess(...args);
    return { code, stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

async function initModel(out: string, ...extra: string[]): Promise<InitModelResult> {
  const { stdout, code } = await nlsInProcess('init-model', '--out', out, ...SMALL, '--quiet', '--json', ...extra);
  expect(code).toBe(0);
  return JSON.parse(stdout) as InitModelResult;
}

describe('nls init-model', () => {
  it('writes a model folder that loads, with the requested shapes and parameter count, a model card and a manifest', async () => {
    const out = path.join(tmp, 'small');
    const printed = await initModel(out, '--max-positions', '128');
    const folder = await loadModelFolder(out);
    try {
      const c = folder.config;
      expect([c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.intermediateSize, c.vocabSize, c.maxPositionEmbeddings]).toEqual([32, 2, 4, 2, 8, 48, 320, 128]);
      expect(c.tieWordEmbeddings).toBe(true);
      expect(folder.tokenizer.vocabSize).toBe(320);
      const layer = folder.model.layers[1]!.linears;
      expect(layer.q_proj.weightT.shape).toEqual([32, 32]);
      expect(layer.k_proj.weightT.shape).toEqual([32, 16]);
      expect(layer.v_proj.weightT.shape).toEqual([32, 16]);
      expect(layer.o_proj.weightT.shape).toEqual([32, 32]);
      expect(layer.gate_proj.weightT.shape).toEqual([32, 48]);
      expect(layer.down_proj.weightT.shape).toEqual([48, 32]);
      expect(folder.model.lmHeadT).toBeUndefined();
      // embedding 320*32, attention 2*32*(32+16+16+32), MLP 2*3*32*48, norms 5*32
      const expected = 320 * 32 + 2 * 32 * 96 + 2 * 3 * 32 * 48 + 5 * 32;
      expect(folder.model.parameterCount()).toBe(expected);
      expect(printed.parameters).toBe(expected);
      expect(printed.breakdown.total).toBe(expected);
    } finally {
      folder.model.dispose();
    }
    const st = await readSafetensors(path.join(out, 'model.safetensors'));
    expect(new Set([...st.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['F32']));
    const card = await fsp.readFile(path.join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toMatch(/weights are random/);
    expect(card).toContain(printed.parameters.toLocaleString('en-US'));
    expect(card).toContain('nls init-model --hidden 32 --layers 2 --heads 4 --kv-heads 2 --head-dim 8 --intermediate 48 --vocab 320 --max-positions 128 --seed 0');
    expect(existsSync(path.join(out, 'manifest.json'))).toBe(true);
    // Nothing is left behind beside the folder.
    expect((await fsp.readdir(tmp)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('an untied model with an explicit head dimension has an LM head and the head shapes asked for', async () => {
    const out = path.join(tmp, 'untied');
    const printed = await initModel(out, '--untied', '--head-dim', '16', '--vocab', '300');
    const folder = await loadModelFolder(out);
    try {
      expect(folder.config.tieWordEmbeddings).toBe(false);
      expect(folder.config.headDim).toBe(16);
      expect(folder.model.layers[0]!.linears.q_proj.weightT.shape).toEqual([32, 64]);
      expect(folder.model.layers[0]!.linears.o_proj.weightT.shape).toEqual([64, 32]);
      expect(folder.model.lmHeadT?.shape).toEqual([32, 300]);
      expect(folder.model.parameterCount()).toBe(printed.parameters);
      expect(printed.breakdown.lmHead).toBe(300 * 32);
    } finally {
      folder.model.dispose();
    }
  });

  it('is deterministic: the same seed writes the same bytes, another seed other weights', async () => {
    const [a, b, c] = [path.join(tmp, 'seed-a'), path.join(tmp, 'seed-b'), path.join(tmp, 'seed-c')];
    await initModel(a, '--seed', '7');
    await initModel(b, '--seed', '7');
    await initModel(c, '--seed', '8');
    const bytes = (dir: string, file: string) => fsp.readFile(path.join(dir, file));
    for (const file of ['model.safetensors', 'config.json', 'MODEL_CARD.md']) expect((await bytes(a, file)).equals(await bytes(b, file)), file).toBe(true);
    expect((await bytes(a, 'model.safetensors')).equals(await bytes(c, 'model.safetensors'))).toBe(false);
  });

  it('accepts an empty --out folder and refuses a non-empty one without touching it', async () => {
    const empty = path.join(tmp, 'empty');
    await fsp.mkdir(empty);
    await initModel(empty);
    expect(existsSync(path.join(empty, 'model.safetensors'))).toBe(true);

    const full = path.join(tmp, 'full');
    await fsp.mkdir(full);
    await fsp.writeFile(path.join(full, 'notes.txt'), 'mine');
    const { code, stderr } = await nlsCapturingStderr('init-model', '--out', full, ...SMALL);
    expect(code).toBe(1);
    expect(stderr).toMatch(/full: out: is not empty .*fix: /);
    expect(await fsp.readdir(full)).toEqual(['notes.txt']);
  });

  it('refuses bad flags with a usage error naming the flag', async () => {
    const out = path.join(tmp, 'never');
    const cases = [
      ['init-model', '--out', out, ...small({ '--kv-heads': '3' })],
      ['init-model', '--out', out, ...SMALL, '--head-dim', '7'],
      ['init-model', '--out', out, ...small({ '--layers': '0' })],
      ['init-model', '--out', out, ...small({ '--hidden': '2.5' })],
      ['init-model', '--out', out, ...SMALL, '--vocab', '200'],
      ['init-model', '--out', out, '--hidden', '32'],
      ['init-model', '--out', out, ...SMALL, '--layers', '3'],
    ];
    const expected = [
      /--kv-heads: 4 attention heads are not divisible by 3/,
      /--head-dim: head dimension 7 is odd/,
      /--layers must be a positive integer, got '0'/,
      /--hidden must be a positive integer, got '2.5'/,
      /--vocab: must be at least 259/,
      /missing required options --layers, --heads, --intermediate/,
      /--layers is given more than once/,
    ];
    for (const [i, args] of cases.entries()) {
      const r = await nlsCapturingStderr(...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(expected[i]!);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('the reference size (hidden 512, 8 layers, 8/4 heads, MLP 1408, vocab 320, tied) has 23,765,504 parameters', () => {
    const config = initModelConfig({ hiddenSize: 512, numHiddenLayers: 8, numAttentionHeads: 8, numKeyValueHeads: 4, intermediateSize: 1408 });
    expect(config.headDim).toBe(64);
    expect(parameterBreakdown(config)).toEqual({ embedding: 163_840, attention: 6_291_456, mlp: 17_301_504, norms: 8_704, lmHead: 0, total: 23_765_504 });
  });
});
