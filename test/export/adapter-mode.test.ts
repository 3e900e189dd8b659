/**
 * The supernet's adapter mode (supernet.json `training.adapterMode`) decides what `nls export` and
 * `nls merge` may write (issue 18, items 1 and 2):
 *
 * - a SparsePEFT / QA-SparsePEFT subnet computes `W + s(BA)⊙M` (fake-quantized for QA), which a
 *   PEFT LoRA adapter (`W + sBA`) cannot express, so the plain export is refused and names
 *   `--merged`; `--merged` writes the merged model, which reproduces nls's subnet;
 * - the merge of a sparse supernet keeps every zero without `--sparse`; a flag that contradicts
 *   the recorded mode is refused, naming both.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { sparsifyModel } from '../../src/compress/sparsity.js';
import { quantizeModel } from '../../src/compress/quantize.js';
import { saveQuantizedModelFolder } from '../../src/compress/quantize-folder.js';
import { NlsError } from '../../src/errors.js';
import { runExport, runMerge, type MergeReport } from '../../src/export/run.js';
import { resolveSubnet } from '../../src/export/subnet.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { loadCheckpoint } from '../../src/model/safetensors.js';
import { NLS_VERSION } from '../../src/package-info.js';
import { resolveSearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';
import type { AdapterMode } from '../../src/supernet/adapter-mode.js';
import { loadSupernet, modelWeightsSha256, saveSupernet } from '../../src/supernet/artifact.js';
import { maxAbsDiff } from '../../src/util/compare.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { TEST_BACKEND, useTestBackend } from '../helpers/backend.js';
import { nlsInProcess } from '../helpers/cli.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48 });
const SPEC = {
  format: 'nls-search-space/1',
  name: 'mode-test',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] },
    { name: 'mlp', modules: ['up_proj', 'down_proj'], ranks: [4, 2] },
  ],
};
const IDS = [
  [257, 72, 101, 108, 108, 111, 33, 10],
  [257, 300, 3, 90, 91, 92, 0, 258],
];

let root = '';
const dirs = { sparse: '', qa: '', plain: '', sparseBase: '' };

/** A "trained" supernet over `base` in `mode`: random B (B starts at 0, which would hide a densified merge). */
async function makeSupernet(dir: string, base: string, mode: AdapterMode | undefined, seed: number): Promise<void> {
  const folder = await loadModelFolder(base);
  const spec = validateSearchSpaceSpec(structuredClone(SPEC));
  const space = resolveSearchSpace(spec, { numLayers: cfg.numHiddenLayers });
  const adapters = AdapterSet.attach(folder.model, space.adapterPlan(), seed);
  const rng = createRng(seed);
  for (const a of adapters.adapters.values()) tf.tidy(() => a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.5), a.bT.shape)));
  await saveSupernet(
    dir,
    { format: 'nls-supernet/1', nlsVersion: NLS_VERSION, baseModel: base, baseModelSha256: await modelWeightsSha256(base), space: spec, training: mode ? { adapterMode: mode } : {}, data: {} },
    adapters,
  );
  adapters.dispose();
  folder.model.dispose();
}

beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-mode-'));
  // A 50%-pruned base, and the same quantized (int8: zeros stay zeros).
  const model = LlamaModel.random(cfg, 5);
  await sparsifyModel(model, { method: 'magnitude', sparsity: 0.5 });
  dirs.sparseBase = path.join(root, 'sparse-base');
  await saveModelFolder(dirs.sparseBase, model, { byteTokenizer: true });
  const { matrices } = await quantizeModel(model, { bits: 8, groupSize: 16, symmetric: true });
  const quantizedBase = path.join(root, 'quantized-base');
  await saveQuantizedModelFolder(quantizedBase, model, matrices, { byteTokenizer: true });
  model.dispose();
  dirs.sparse = path.join(root, 'sparse-net');
  dirs.qa = path.join(root, 'qa-net');
  dirs.plain = path.join(root, 'plain-net');
  await makeSupernet(dirs.sparse, dirs.sparseBase, { sparse: true, quantAware: false }, 3);
  await makeSupernet(dirs.qa, quantizedBase, { sparse: true, quantAware: true }, 4);
  await makeSupernet(dirs.plain, dirs.sparseBase, undefined, 6);
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** Logits of nls's subnet (the supernet loaded with its mode, at `name`) on IDS. */
async function subnetLogits(dir: string, name: 'max' | 'median' | 'min'): Promise<Float32Array> {
  const loaded = await loadSupernet(dir);
  const ids = tf.tensor2d(IDS, [IDS.length, IDS[0]!.length], 'int32');
  try {
    loaded.adapters.setActiveRanks((await resolveSubnet(loaded.space, { kind: 'heuristic', name })).ranks);
    return await loaded.model.logitsData(ids);
  } finally {
    ids.dispose();
    loaded.adapters.dispose();
    loaded.model.dispose();
  }
}

async function folderLogits(dir: string): Promise<Float32Array> {
  const folder = await loadModelFolder(dir);
  const ids = tf.tensor2d(IDS, [IDS.length, IDS[0]!.length], 'int32');
  try {
    return await folder.model.logitsData(ids);
  } finally {
    ids.dispose();
    folder.model.dispose();
  }
}

/** Weights that are zero in the base's decoder linears and not in the merged folder's. */
async function filledZeros(baseDir: string, mergedDir: string): Promise<{ filled: number; zeros: number }> {
  const base = await loadCheckpoint(baseDir);
  const merged = await loadCheckpoint(mergedDir);
  let filled = 0;
  let zeros = 0;
  for (const [name, t] of base) {
    if (!/_proj\.weight$/.test(name)) continue;
    const m = merged.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) {
      if (t.data[i] !== 0) continue;
      zeros++;
      if (m[i] !== 0) filled++;
    }
  }
  return { filled, zeros };
}

describe('nls export of a sparsity-aware supernet', () => {
  it('refuses the PEFT adapter of a SparsePEFT or QA-SparsePEFT supernet, naming --merged, and writes nothing', async () => {
    for (const [dir, mode] of [
      [dirs.sparse, 'SparsePEFT'],
      [dirs.qa, 'QA-SparsePEFT'],
    ] as const) {
      const out = path.join(root, `refused-${path.basename(dir)}`);
      const err = await runExport({ supernet: dir, choice: { kind: 'heuristic', name: 'median' }, out, backend: TEST_BACKEND }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NlsError);
      const message = (err as Error).message;
      expect(message).toContain(path.join(dir, 'supernet.json'));
      expect(message).toContain('training.adapterMode');
      expect(message).toContain(mode);
      expect(message).toContain('--merged');
      expect(existsSync(path.join(out, 'adapter_config.json'))).toBe(false);
    }
    const { stdout, code } = await nlsInProcess('export', '--supernet', dirs.sparse, '--subnet', 'max', '--out', path.join(root, 'cli-refused'), '--quiet', '--backend', TEST_BACKEND);
    expect(code).toBe(1);
    expect(stdout).toBe('');
  });

  it('--merged writes the merged model, which reproduces nls\'s subnet with the base\'s zeros, and records the mode', async () => {
    const out = path.join(root, 'merged-export');
    const result = await runExport({ supernet: dirs.sparse, choice: { kind: 'heuristic', name: 'max' }, out, backend: TEST_BACKEND, merged: true });
    // No PEFT adapter: it would not be the model nls scored.
    expect(result.adapterConfig).toBeUndefined();
    expect(existsSync(path.join(out, 'adapter_config.json'))).toBe(false);
    expect(existsSync(path.join(out, 'adapter_model.safetensors'))).toBe(false);
    const report = JSON.parse(await fsp.readFile(path.join(out, 'merged', 'merge-report.json'), 'utf8')) as MergeReport;
    expect(report.adapterMode).toBe('sparse-peft');
    expect(report.sparsityAware).toBe(true);
    const { filled, zeros } = await filledZeros(dirs.sparseBase, path.join(out, 'merged'));
    expect(zeros).toBeGreaterThan(0);
    expect(filled).toBe(0);
    expect(maxAbsDiff(await folderLogits(path.join(out, 'merged')), await subnetLogits(dirs.sparse, 'max'))).toBeLessThan(1e-4);
  });
});

describe('nls merge follows the supernet\'s adapter mode', () => {
  it('merging a SparsePEFT supernet without --sparse keeps every zero and gives nls\'s subnet', async () => {
    const out = path.join(root, 'merged-default');
    const { report } = await runMerge({ supernet: dirs.sparse, choice: { kind: 'heuristic', name: 'max' }, out, backend: TEST_BACKEND });
    expect(report.sparsityAware).toBe(true);
    expect(report.adapterMode).toBe('sparse-peft');
    const { filled, zeros } = await filledZeros(dirs.sparseBase, out);
    expect(zeros).toBeGreaterThan(0);
    expect(filled).toBe(0);
    for (const m of report.modules) expect(m.newNonZeros).toBe(0);
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-4);
    expect(maxAbsDiff(await folderLogits(out), await subnetLogits(dirs.sparse, 'max'))).toBeLessThan(1e-4);
    // The CLI too: no --sparse, exit 0, sparsity kept.
    const cliOut = path.join(root, 'merged-cli');
    const { stdout, code } = await nlsInProcess('merge', '--supernet', dirs.sparse, '--subnet', 'median', '--out', cliOut, '--quiet', '--json', '--backend', TEST_BACKEND);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as MergeReport).sparsityAware).toBe(true);
    expect((await filledZeros(dirs.sparseBase, cliOut)).filled).toBe(0);
  });

  it('a --sparse flag that contradicts the recorded mode is refused, naming both', async () => {
    const denseOnSparse = await runMerge({ supernet: dirs.sparse, choice: { kind: 'heuristic', name: 'max' }, sparse: false, out: path.join(root, 'x1'), backend: TEST_BACKEND }).catch((e: unknown) => e);
    expect(denseOnSparse).toBeInstanceOf(NlsError);
    expect((denseOnSparse as Error).message).toMatch(/--no-sparse/);
    expect((denseOnSparse as Error).message).toMatch(/SparsePEFT/);
    expect((denseOnSparse as Error).message).toContain('training.adapterMode');
    const sparseOnPlain = await runMerge({ supernet: dirs.plain, choice: { kind: 'heuristic', name: 'max' }, sparse: true, out: path.join(root, 'x2'), backend: TEST_BACKEND }).catch((e: unknown) => e);
    expect(sparseOnPlain).toBeInstanceOf(NlsError);
    expect((sparseOnPlain as Error).message).toMatch(/--sparse/);
    expect((sparseOnPlain as Error).message).toMatch(/plain LoRA/);
    expect(existsSync(path.join(root, 'x1', 'config.json')) || existsSync(path.join(root, 'x2', 'config.json'))).toBe(false);
    // Through the CLI: exit 1 and nothing written.
    expect((await nlsInProcess('merge', '--supernet', dirs.sparse, '--subnet', 'max', '--no-sparse', '--out', path.join(root, 'x3'), '--quiet', '--backend', TEST_BACKEND)).code).toBe(1);
    expect((await nlsInProcess('merge', '--supernet', dirs.plain, '--subnet', 'max', '--sparse', '--out', path.join(root, 'x4'), '--quiet', '--backend', TEST_BACKEND)).code).toBe(1);
    expect((await nlsInProcess('export', '--supernet', dirs.plain, '--subnet', 'max', '--merged', '--sparse', '--out', path.join(root, 'x5'), '--quiet', '--backend', TEST_BACKEND)).code).toBe(1);
    // QA-SparsePEFT merges sparsity-aware by its mode too.
    const qa = await runMerge({ supernet: dirs.qa, choice: { kind: 'heuristic', name: 'min' }, out: path.join(root, 'qa-merged'), backend: TEST_BACKEND });
    expect(qa.report.sparsityAware).toBe(true);
    expect(qa.report.adapterMode).toBe('qa-sparse-peft');
    for (const m of qa.report.modules) expect(m.newNonZeros).toBe(0);
  });
});
