/**
 * `nls profile --engine onnx`: latency profiles measured on the onnx engine record it (profile
 * and predictor), the cpu clock is refused for a multi-threaded session, and nothing leaks.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/model/demo-model.js';
import { profileLatency } from '../../src/predict/profile.js';
import { builtinSearchSpacePath } from '../../src/space/index.js';
import { useTestBackend } from '../helpers/backend.js';
import { nls } from '../helpers/cli.js';

const tiny = { samples: 1, warmup: 0, repeats: 1, settleMs: 0 } as const;

describe('latency profiles on the onnx engine', () => {
  it('records the engine (form, threads, onnxruntime version) and frees every tensor', async () => {
    await useTestBackend();
    const before = tf.memory().numTensors;
    const profile = await profileLatency({ modelDir: DEMO_MODEL_DIR, spaceFile: builtinSearchSpacePath('demo'), engine: 'onnx', threads: 1, clock: 'cpu', ...tiny });
    expect(profile.engine).toMatchObject({ name: 'onnx', form: 'unmerged', threads: 1 });
    expect(profile.versions['onnxruntime']).toMatch(/^\d+\.\d+/);
    expect(profile.base).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    const tfjs = await profileLatency({ modelDir: DEMO_MODEL_DIR, spaceFile: builtinSearchSpacePath('demo'), ...tiny });
    expect(tfjs.engine).toMatchObject({ name: 'tfjs' });
  }, 120_000);

  it('refuses the cpu clock with a multi-threaded session, naming the clock', async () => {
    await expect(profileLatency({ modelDir: DEMO_MODEL_DIR, spaceFile: builtinSearchSpacePath('demo'), engine: 'onnx', threads: 2, clock: 'cpu', ...tiny })).rejects.toThrow(/clock.*2 threads/s);
  });

  it('nls profile --engine onnx writes the engine into the profile and the lookup table', async () => {
    const out = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-profile-onnx-'));
    try {
      const r = await nls('profile', '--model', DEMO_MODEL_DIR, '--space', builtinSearchSpacePath('demo'), '--engine', 'onnx', '--clock', 'wall', '--samples', '1', '--repeats', '1', '--warmup', '0', '--out', out, '--quiet');
      expect(r.code, r.stderr).toBe(0);
      const predictor = JSON.parse(await fsp.readFile(path.join(out, 'latency-predictor.json'), 'utf8')) as { measuredWith: { engine: { name: string } } };
      expect(predictor.measuredWith.engine.name).toBe('onnx');
      const profile = JSON.parse(await fsp.readFile(path.join(out, 'latency-profile.json'), 'utf8')) as { engine: { name: string } };
      expect(profile.engine.name).toBe('onnx');
    } finally {
      await fsp.rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('latency profiles of a width space', () => {
  it('measure width choices on tfjs, onnx unmerged (widths fed to the graph) and onnx merged (the smaller model per configuration)', async () => {
    await useTestBackend();
    const before = tf.memory().numTensors;
    const spaceFile = builtinSearchSpacePath('demo-widths');
    for (const run of [{ passes: 2 }, { engine: 'onnx', threads: 1, clock: 'cpu' }, { engine: 'onnx', threads: 1, clock: 'cpu', form: 'merged' }] as const) {
      const profile = await profileLatency({ modelDir: DEMO_MODEL_DIR, spaceFile, ...tiny, samples: 0, ...run });
      // 4 layers x (3 rank genes + 1 width gene); the width genes have 5 terms each.
      expect(profile.terms).toHaveLength(16);
      expect(profile.terms[3]).toHaveLength(5);
      expect(profile.space.genes[3]).toEqual({ label: 'layers.0/mlp', ranks: [704, 616, 528, 440, 352], kind: 'width' });
      if ('form' in run) expect(profile.engine).toMatchObject({ name: 'onnx', form: 'merged' });
      expect(profile.passes).toBe('passes' in run ? 2 : undefined);
      // Merged: the rank genes' terms are 0, unmeasured.
      if ('form' in run) expect(profile.fixedGenes).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14]);
      expect(profile.measured.map((m) => m.source)).toEqual(['max', 'min', 'median']);
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 600_000);

  it('refuses --form without the onnx engine', async () => {
    await expect(profileLatency({ modelDir: DEMO_MODEL_DIR, spaceFile: builtinSearchSpacePath('demo-widths'), form: 'merged', ...tiny })).rejects.toThrow(/applies to the onnx engine only/);
  });
});
