/**
 * `nls train --engine onnx` as a user runs it: the run records its engine, and a training process
 * killed with SIGKILL and continued with `--resume` ends with the bytes of an uninterrupted run.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initModelFolder } from '../../src/pipeline/init-model.js';
import { nls, ROOT } from '../helpers/cli.js';

let dir: string;
let model: string;
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-train-engine-'));
  model = path.join(dir, 'model');
  await initModelFolder({ out: model, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, intermediateSize: 48, seed: 3, backend: 'wasm' });
}, 120_000);
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const trainArgs = (out: string, steps: number) => [
  'train', '--model', model, '--data', 'spam-demo', '--space', 'demo', '--out', out, '--engine', 'onnx', '--threads', '1',
  '--steps', String(steps), '--batch', '4', '--max-length', '48', '--validation-size', '8', '--checkpoint-every', '5', '--seed', '4', '--quiet',
];

async function latestStep(out: string): Promise<number> {
  try {
    return (JSON.parse(await fsp.readFile(path.join(out, 'checkpoints', 'latest.json'), 'utf8')) as { step: number }).step;
  } catch {
    return 0;
  }
}

describe('nls train --engine onnx', () => {
  it('records the engine, and a run killed with SIGKILL then --resume ends with the bytes of an uninterrupted run', async () => {
    const steps = 60;
    const full = path.join(dir, 'full');
    const r = await nls(...trainArgs(full, steps), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { engine: string }).engine).toBe('onnx');
    const manifest = JSON.parse(await fsp.readFile(path.join(full, 'supernet.json'), 'utf8')) as { training: { engine: string } };
    expect(manifest.training.engine).toBe('onnx');

    const killed = path.join(dir, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...trainArgs(killed, steps)], { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Kill it once a checkpoint past the first exists, while it is still training.
    for (let t = 0; t < 1200 && (await latestStep(killed)) < 10; t++) await new Promise((res) => setTimeout(res, 50));
    child.kill('SIGKILL');
    await exited;
    const at = await latestStep(killed);
    expect(at).toBeGreaterThanOrEqual(10);
    expect(at, 'the run ended before it could be killed: give it more steps').toBeLessThan(steps);
    expect(existsSync(path.join(killed, 'supernet.json'))).toBe(false);

    const resumed = await nls(...trainArgs(killed, steps), '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const file of ['adapters.safetensors', 'training-log.jsonl', 'validation.json']) {
      const a = await fsp.readFile(path.join(full, file));
      const b = await fsp.readFile(path.join(killed, file));
      expect(b.equals(a), file).toBe(true);
    }
  }, 300_000);
});
