/** `nls pretrain` as a user runs it, on the onnx training engine: a short run writes a model folder whose card names the engine and the command that reproduces it. */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

describe('nls pretrain --engine onnx', () => {
  it('trains on ONNX Runtime and records the engine and thread count in the model card and its command', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-pretrain-'));
    dirs.push(dir);
    const out = path.join(dir, 'model');
    const r = await nls('pretrain', '--out', out, '--steps', '3', '--batch', '2', '--seq', '32', '--warmup', '1', '--validation-windows', '2', '--engine', 'onnx', '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { engine: { name: string; threads: number }; validation: { loss: number } };
    expect(result.engine).toEqual({ name: 'onnx', threads: 1 });
    expect(Number.isFinite(result.validation.loss)).toBe(true);
    const card = await fsp.readFile(path.join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toMatch(/onnx training engine \(onnxruntime, 1 thread;/);
    expect(card).toMatch(/--engine onnx --threads 1/);
    // The CPU type is part of what reproduces onnx weights bit for bit.
    expect(card).toMatch(new RegExp(`\\| machine \\| ${process.arch} `));
    expect(card).toMatch(/wasm backend\s+computes the same bits on any CPU/);
    await expect(fsp.access(path.join(out, 'model.safetensors'))).resolves.toBeUndefined();
  }, 180_000);
});
