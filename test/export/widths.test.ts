/**
 * Export of width subnets (LoNAS mode B): nls merge writes the smaller model (sliced weights,
 * nls_intermediate_sizes, merged adapters) and its ONNX graph; nls export writes the sliced
 * adapter with its smaller base. Logits equal the sliced supernet's within 1e-4 on tfjs and onnx.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrtSession, loadOrt } from '../../src/engine/onnx/session.js';
import { createTfjsEngine } from '../../src/engine/tfjs.js';
import { type MergeReport, runExport, runMerge } from '../../src/export/run.js';
import { resolveSubnet } from '../../src/export/subnet.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import { runSupernetTraining } from '../../src/pipeline/train-supernet.js';
import { loadSupernet } from '../../src/supernet/artifact.js';
import { Progress } from '../../src/util/progress.js';
import { useTestBackend } from '../helpers/backend.js';
import { nlsInProcess } from '../helpers/cli.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { maxAbsDiff, randomIds } from '../engine/helpers.js';

const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2, tieWordEmbeddings: false });
let root = '';
let supernet = '';
// Genes per layer: qkv [4, 2], up/down [4, 2], mlp widths [48, 32, 16]. Layer 0 at width 16, layer 1 at 32.
const KEY = '012.101';

beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-widths-export-'));
  const model = LlamaModel.random(cfg, 7);
  await saveModelFolder(path.join(root, 'model'), model, { byteTokenizer: true });
  model.dispose();
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `${i % 2 ? 'rainy' : 'sunny'} day ${i}`, label: i % 2 ? 'no' : 'yes' }));
  await fsp.writeFile(path.join(root, 'data.jsonl'), rows.join('\n'));
  await fsp.writeFile(
    path.join(root, 'space.json'),
    JSON.stringify({
      format: 'nls-search-space/1',
      name: 'toy-widths',
      alpha: 16,
      groups: [
        { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] },
        { name: 'mlp-adapters', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [4, 2] },
        { name: 'mlp', kind: 'width', widths: [48, 32, 16] },
      ],
    }),
  );
  supernet = path.join(root, 'supernet');
  // lr high enough that B moves away from 0, so the adapters matter in the comparisons.
  await runSupernetTraining({
    model: path.join(root, 'model'),
    data: path.join(root, 'data.jsonl'),
    space: path.join(root, 'space.json'),
    out: supernet,
    rule: 'uniform',
    steps: 8,
    lr: 3e-2,
    warmupSteps: 1,
    batchSize: 4,
    gradAccum: 1,
    maxLength: 32,
    weightDecay: 0,
    seed: 0,
    reorderWidths: true,
    progress: new Progress({ quiet: true }),
  });
}, 300_000);
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** Logits of the supernet narrowed to the subnet of `key` (tfjs engine), on `ids`. */
async function supernetLogits(key: string, ids: Int32Array, batch: number, seq: number): Promise<Float32Array> {
  const loaded = await loadSupernet(supernet);
  try {
    const subnet = await resolveSubnet(loaded.space, { kind: 'key', key });
    const engine = createTfjsEngine(loaded.model, loaded.adapters);
    await engine.setRanks(subnet.ranks);
    await engine.setWidths(subnet.widths);
    return await engine.logits(ids, batch, seq);
  } finally {
    loaded.adapters.dispose();
    loaded.model.dispose();
  }
}

describe('exporting width subnets', () => {
  it('nls merge writes the smaller merged model (per-layer sizes) and its ONNX graph; both equal the sliced supernet within 1e-4', async () => {
    const out = path.join(root, 'merged');
    const { report } = await runMerge({ supernet, choice: { kind: 'key', key: KEY }, out, backend: 'wasm', onnx: true });
    expect(report.widths).toEqual({ layers: { '0': 16, '1': 32 }, intermediateSizes: [16, 32] });
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-4);
    expect(report.onnx!.maxAbsDiff).toBeLessThan(1e-4);
    const config = JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.nls_intermediate_sizes).toEqual([16, 32]);
    expect(config.intermediate_size).toBe(32);
    const saved = JSON.parse(await fsp.readFile(path.join(out, 'merge-report.json'), 'utf8')) as MergeReport;
    expect(saved.onnx?.file).toBe('model.onnx');

    // Independently: the folder loads back; its logits and the ONNX file's equal the sliced supernet's.
    const batch = 3;
    const seq = 9;
    const ids = randomIds(batch, seq, 300, 4);
    const reference = await supernetLogits(KEY, ids, batch, seq);
    const merged = await loadModelFolder(out);
    expect(merged.config.intermediateSizes).toEqual([16, 32]);
    expect(merged.model.layers[0]!.linears.gate_proj.weightT.shape).toEqual([32, 16]);
    expect(merged.model.layers[1]!.linears.down_proj.weightT.shape).toEqual([32, 32]);
    const tfjsLogits = await createTfjsEngine(merged.model, undefined).logits(ids, batch, seq);
    expect(maxAbsDiff(tfjsLogits, reference)).toBeLessThan(1e-4);
    merged.model.dispose();
    const ort = await loadOrt();
    const session = await createOrtSession(new Uint8Array(await fsp.readFile(path.join(out, 'model.onnx'))), { threads: 1 });
    const onnxLogits = (await session.run({ input_ids: new ort.Tensor('int32', ids, [batch, seq]) }))['logits']!.data as Float32Array;
    expect(maxAbsDiff(onnxLogits, reference)).toBeLessThan(1e-4);
    await session.release();
    // The adapters mattered: the base cut to the same widths without adapters differs.
    expect(report.modules.length).toBeGreaterThan(0);
    expect(Math.max(...report.modules.map((m) => m.maxAbsChange))).toBeGreaterThan(1e-4);
  }, 300_000);

  it('nls merge --onnx (the CLI) prints the report with the ONNX file and per-layer sizes', async () => {
    const out = path.join(root, 'cli-merged');
    const { stdout, code } = await nlsInProcess('merge', '--supernet', supernet, '--subnet', KEY, '--onnx', '--out', out, '--json', '--quiet', '--backend', 'wasm');
    expect(code).toBe(0);
    const printed = JSON.parse(stdout) as MergeReport;
    expect(printed.widths?.intermediateSizes).toEqual([16, 32]);
    expect(printed.onnx?.file).toBe('model.onnx');
    expect(printed.onnx!.maxAbsDiff).toBeLessThan(1e-4);
    expect((await fsp.stat(path.join(out, 'model.onnx'))).size).toBe(printed.onnx!.bytes);
    const config = JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.nls_intermediate_sizes).toEqual([16, 32]);
  }, 300_000);

  it('a full-width configuration of a width space merges into a model of the original size', async () => {
    const out = path.join(root, 'merged-max');
    const { report } = await runMerge({ supernet, choice: { kind: 'heuristic', name: 'max' }, out, backend: 'wasm' });
    expect(report.widths?.intermediateSizes).toEqual([48, 48]);
    const config = JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.nls_intermediate_sizes).toBeUndefined();
    expect(config.intermediate_size).toBe(48);
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-4);
  }, 300_000);

  it('nls export writes the sliced adapter and its smaller base (out/base), records the widths, and a config file can name widths', async () => {
    const out = path.join(root, 'peft');
    const result = await runExport({ supernet, choice: { kind: 'key', key: KEY }, out, backend: 'wasm' });
    expect(result.slicedBase).toBe(path.resolve(out, 'base'));
    expect(result.adapterConfig?.base_model_name_or_path).toBe(path.resolve(out, 'base'));
    expect(result.adapterConfig?.nls?.widths).toEqual({ '0': 16, '1': 32 });
    const base = await loadModelFolder(path.join(out, 'base'));
    expect(base.config.intermediateSizes).toEqual([16, 32]);
    base.model.dispose();
    const { tensors } = await readSafetensors(path.join(out, 'adapter_model.safetensors'));
    // gate/up: lora_B [w, r]; down: lora_A [r, w]. Layer 0: width 16, MLP adapters at rank 2; layer 1: width 32, rank 4.
    expect(tensors.get('base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight')!.shape).toEqual([16, 2]);
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!.shape).toEqual([2, 16]);
    expect(tensors.get('base_model.model.model.layers.1.mlp.up_proj.lora_B.weight')!.shape).toEqual([32, 4]);
    // The same configuration from a file of ranks and widths.
    const loaded = await loadSupernet(supernet);
    const byKey = await resolveSubnet(loaded.space, { kind: 'key', key: KEY });
    const file = path.join(root, 'choice.json');
    await fsp.writeFile(file, JSON.stringify({ ranks: Object.fromEntries(byKey.ranks), widths: { '0': 16, '1': 32 } }));
    expect((await resolveSubnet(loaded.space, { kind: 'file', file })).key).toBe(KEY);
    await fsp.writeFile(file, JSON.stringify({ ranks: Object.fromEntries(byKey.ranks) }));
    await expect(resolveSubnet(loaded.space, { kind: 'file', file })).rejects.toThrow(/no MLP width for layer 0/);
    loaded.adapters.dispose();
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBeLessThan(80);
  }, 300_000);

  it('refuses a sparsity-aware merge of a width subnet', async () => {
    // Width supernets are plain LoRA (SparsePEFT is refused with width groups), so --sparse contradicts their mode.
    await expect(runMerge({ supernet, choice: { kind: 'key', key: KEY }, out: path.join(root, 'sparse'), backend: 'wasm', sparse: true })).rejects.toThrow(/--sparse contradicts the supernet's adapter mode/);
  });
});
