/** Reordering MLP channels by importance before width elasticity (LoNAS mode B). */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { importanceOrder, mlpChannelImportance, permuteMlpChannels, reorderMlpChannels } from '../../src/compress/reorder.js';
import { readReordering, REORDER_REPORT_FILE, type ReorderReport, runReorder } from '../../src/compress/reorder-run.js';
import type { CalibrationRows } from '../../src/compress/calibration.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { createRng } from '../../src/util/rng.js';
import { TEST_BACKEND, useTestBackend } from '../helpers/backend.js';
import { nlsInProcess } from '../helpers/cli.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

const cfg = tinyConfig({ numHiddenLayers: 2, intermediateSize: 24, vocabSize: 320, maxPositionEmbeddings: 64 });
let tmp = '';

beforeAll(async () => {
  await useTestBackend();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-reorder-'));
});
afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

async function logits(model: LlamaModel, ids: number[][]): Promise<Float32Array> {
  const out = tf.tidy(() => model.forward(tf.tensor2d(ids, undefined, 'int32')));
  const data = Float32Array.from((await out.data()) as Float32Array);
  out.dispose();
  return data;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function calibrationRows(seed: number, rows = 6, seq = 12): CalibrationRows {
  const rng = createRng(seed);
  return { batchSize: rows, seqLen: seq, inputIds: Int32Array.from({ length: rows * seq }, () => rng.int(cfg.vocabSize)) };
}

describe('MLP channel reordering', () => {
  it('any permutation of any layer keeps the logits within 1e-5 (property)', async () => {
    const w = tinyWeights(cfg, 31);
    const model = LlamaModel.fromHf(cfg, w);
    const ids = [
      [5, 17, 250, 3, 99, 41],
      [7, 7, 8, 300, 2, 1],
    ];
    const reference = await logits(model, ids);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 24, maxLength: 24 }), async (layer, keys) => {
        // A random permutation: the channels sorted by random keys.
        const order = Array.from({ length: 24 }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
        permuteMlpChannels(model, layer, order);
        expect(maxDiff(await logits(model, ids), reference)).toBeLessThan(1e-5);
      }),
      { numRuns: 20, seed: 3 },
    );
    model.dispose();
  });

  it('importance is ||X_c|| times the sum of |W_down[:, c]| (naive loops over the HF layout)', () => {
    const rng = createRng(5);
    const inter = 7;
    const hidden = 5;
    const hf = Float32Array.from({ length: hidden * inter }, () => rng.next() * 2 - 1); // [out = hidden, in = inter]
    const downT = new Float32Array(inter * hidden);
    for (let o = 0; o < hidden; o++) for (let c = 0; c < inter; c++) downT[c * hidden + o] = hf[o * inter + c]!;
    const norms = Float32Array.from({ length: inter }, () => rng.next() * 3);
    const got = mlpChannelImportance(downT, inter, hidden, norms);
    for (let c = 0; c < inter; c++) {
      let s = 0;
      for (let o = 0; o < hidden; o++) s += Math.abs(hf[o * inter + c]!) * norms[c]!;
      expect(got[c]).toBeCloseTo(s, 10);
    }
  });

  it('orders descending, ties by lower index, NaN last', () => {
    expect(Array.from(importanceOrder([1, 3, 2, 3, Number.NaN, 0]))).toEqual([1, 3, 2, 0, 5, 4]);
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 40 }), (scores) => {
        const order = importanceOrder(scores);
        expect([...order].sort((a, b) => a - b)).toEqual(scores.map((_, i) => i));
        for (let k = 1; k < order.length; k++) expect(scores[order[k - 1]!]!).toBeGreaterThanOrEqual(scores[order[k]!]!);
      }),
    );
  });

  it('reorderMlpChannels leaves importance descending in every layer, keeps the logits, and is stable when run again', async () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 32));
    const ids = [[9, 8, 7, 6, 5, 4]];
    const before = await logits(model, ids);
    const calibration = calibrationRows(1);
    const first = await reorderMlpChannels(model, calibration);
    expect(first.method).toBe('wanda-down');
    expect(first.tokens).toBe(calibration.batchSize * calibration.seqLen);
    for (const layer of first.layers) {
      expect([...layer.order].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i));
      for (let k = 1; k < layer.importance.length; k++) expect(layer.importance[k - 1]!).toBeGreaterThanOrEqual(layer.importance[k]!);
      expect(layer.moved).toBeGreaterThan(0);
    }
    expect(maxDiff(await logits(model, ids), before)).toBeLessThan(1e-5);
    // Measured again on the reordered model, channels are already in order (up to ties of float rounding).
    const second = await reorderMlpChannels(model, calibration);
    for (const layer of second.layers) expect(layer.moved).toBeLessThanOrEqual(2);
    const numTensors = tf.memory().numTensors;
    await reorderMlpChannels(model, calibration);
    expect(tf.memory().numTensors).toBe(numTensors);
    model.dispose();
  });

  it('refuses a base with adapters attached or a narrowed width', async () => {
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 33));
    model.setMlpWidths(new Map([[0, 12]]));
    expect(() => permuteMlpChannels(model, 0, Array.from({ length: 24 }, (_, i) => i))).toThrow(/narrowed to an elastic width/);
    model.resetMlpWidths();
    expect(() => permuteMlpChannels(model, 0, [0, 1])).toThrow(/has 2 entries for 24 channels/);
    expect(() => permuteMlpChannels(model, 0, Array.from({ length: 24 }, () => 3))).toThrow(/is not a permutation/);
    const set = AdapterSet.attach(model, [{ key: 'layers.0.up_proj', rMax: 2, alpha: 4, scaling: 'alpha/r_max', dropout: 0 }], 1);
    await expect(reorderMlpChannels(model, calibrationRows(2))).rejects.toThrow(/reorder the base model before attaching adapters/);
    set.dispose();
    model.dispose();
  });

  it('runReorder saves a reordered folder that loads, records itself in config.json, and computes the same logits', async () => {
    const dir = path.join(tmp, 'model');
    const out = path.join(tmp, 'reordered');
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 34));
    await saveModelFolder(dir, model, { byteTokenizer: true });
    const calib = path.join(tmp, 'calib.txt');
    await fsp.writeFile(calib, 'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n'.repeat(4));
    const report = await runReorder({ model: dir, out, calib, samples: 6, seqlen: 16, seed: 2 });
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-5);
    const saved = JSON.parse(await fsp.readFile(path.join(out, REORDER_REPORT_FILE), 'utf8')) as ReorderReport;
    expect(saved.format).toBe('nls-reorder-report/1');
    expect(saved.layers.map((l) => l.layer)).toEqual([0, 1]);
    expect(await readReordering(out)).toEqual({ method: 'wanda-down', report: path.join(out, REORDER_REPORT_FILE) });
    expect(await readReordering(dir)).toBeUndefined();
    const loaded = await loadModelFolder(out);
    const ids = [[65, 66, 67, 10, 32, 100]];
    expect(maxDiff(await logits(loaded.model, ids), await logits(model, ids))).toBeLessThan(1e-5);
    // The saved weights are the permuted ones: gate rows in the report's order.
    const [origGate, newGate] = await Promise.all([model.layers[1]!.linears.gate_proj.weightT.data(), loaded.model.layers[1]!.linears.gate_proj.weightT.data()]);
    const order = saved.layers[1]!.order;
    for (let i = 0; i < cfg.hiddenSize; i++) for (let k = 0; k < 24; k++) expect(newGate[i * 24 + k]).toBe(origGate[i * 24 + order[k]!]);
    await expect(runReorder({ model: dir, out: dir })).rejects.toThrow(/reorder never overwrites its input/);
    loaded.model.dispose();
    model.dispose();
  });

  it('nls reorder (the CLI) writes the reordered folder and prints its report as JSON; a bad model folder exits 1', async () => {
    const dir = path.join(tmp, 'cli-model');
    const out = path.join(tmp, 'cli-reordered');
    const model = LlamaModel.fromHf(cfg, tinyWeights(cfg, 35));
    await saveModelFolder(dir, model, { byteTokenizer: true });
    const calib = path.join(tmp, 'cli-calib.txt');
    await fsp.writeFile(calib, 'Sphinx of black quartz, judge my vow. How vexingly quick daft zebras jump!\n'.repeat(4));
    const { stdout, code } = await nlsInProcess('reorder', '--model', dir, '--calib', calib, '--samples', '4', '--seqlen', '16', '--out', out, '--json', '--quiet', '--backend', TEST_BACKEND);
    expect(code).toBe(0);
    const printed = JSON.parse(stdout) as ReorderReport;
    expect(printed.layers.map((l) => l.order.length)).toEqual([24, 24]);
    expect(printed.logits.maxAbsDiff).toBeLessThan(1e-5);
    expect(JSON.parse(await fsp.readFile(path.join(out, REORDER_REPORT_FILE), 'utf8'))).toEqual(printed);
    const loaded = await loadModelFolder(out);
    const ids = [[70, 71, 72, 10, 33, 99, 5]];
    expect(maxDiff(await logits(loaded.model, ids), await logits(model, ids))).toBeLessThan(1e-5);
    loaded.model.dispose();
    model.dispose();
    expect((await nlsInProcess('reorder', '--model', path.join(tmp, 'no-such-model'), '--out', path.join(tmp, 'never'), '--quiet', '--backend', TEST_BACKEND)).code).toBe(1);
  });
});
