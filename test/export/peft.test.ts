import * as tf from '@tensorflow/tfjs';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { saveQuantizedModelFolder } from '../../src/compress/quantize-folder.js';
import { dequantizeMatrix, quantizeModel, quantizeWithParams } from '../../src/compress/quantize.js';
import { main } from '../../src/cli/main.js';
import { peftTargetModules } from '../../src/export/peft.js';
import { runExport, runMerge, type MergeReport } from '../../src/export/run.js';
import { extractSubAdapter, resolveSubnet } from '../../src/export/subnet.js';
import { INFERENCE } from '../../src/model/linear.js';
import { LlamaModel, type HfTensor } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { loadCheckpoint, readSafetensors } from '../../src/model/safetensors.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { NLS_VERSION } from '../../src/package-info.js';
import { loraScale, resolveSearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';
import { loadSupernet, modelWeightsSha256, saveSupernet } from '../../src/supernet/artifact.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { TEST_BACKEND, useTestBackend } from '../helpers/backend.js';
import { nlsInProcess } from '../helpers/cli.js';
import { naiveLogits } from '../helpers/naive-llama.js';
import { tinyConfig, tinyWeights } from '../helpers/tiny-model.js';

const cfg = tinyConfig({ vocabSize: 320 });
const SPEC = {
  format: 'nls-search-space/1',
  name: 'peft-test',
  alpha: 16,
  groups: [
    { name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2, 0] },
    // alpha/r on o_proj: PEFT's alpha then equals the group's alpha.
    { name: 'o', modules: ['o_proj'], ranks: [4, 3], layers: [1] },
    { name: 'mlp', modules: ['gate_proj', 'up_proj', 'down_proj'], ranks: [6, 5, 2], alpha: 9 },
  ],
};
const IDS = [
  [257, 72, 101, 108, 108, 111, 33, 10],
  [257, 300, 3, 90, 91, 92, 0, 258],
];

let root = '';
let modelDir = '';
let supernetDir = '';
let weights: Map<string, HfTensor>;

beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-peft-'));
  modelDir = path.join(root, 'model');
  supernetDir = path.join(root, 'supernet');
  weights = tinyWeights(cfg, 31);
  const model = LlamaModel.fromHf(cfg, weights);
  await saveModelFolder(modelDir, model, { byteTokenizer: true });
  // A "trained" supernet: random B (B starts at 0, which would hide any error in the mapping).
  const spec = validateSearchSpaceSpec(structuredClone(SPEC));
  const space = resolveSearchSpace(spec, { numLayers: cfg.numHiddenLayers });
  const adapters = AdapterSet.attach(model, space.adapterPlan(), 2);
  const rng = createRng(8);
  for (const a of adapters.adapters.values()) tf.tidy(() => a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.5), a.bT.shape)));
  await saveSupernet(
    supernetDir,
    { format: 'nls-supernet/1', nlsVersion: NLS_VERSION, baseModel: path.relative(supernetDir, modelDir), baseModelSha256: await modelWeightsSha256(modelDir), space: spec, training: {}, data: {} },
    adapters,
  );
  adapters.dispose();
  model.dispose();
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** Logits [batch * seq * vocab] of the supernet's adapter model at `key`. */
async function adapterLogits(key: string): Promise<Float32Array> {
  const loaded = await loadSupernet(supernetDir);
  try {
    const subnet = await resolveSubnet(loaded.space, { kind: 'key', key });
    loaded.adapters.setActiveRanks(subnet.ranks);
    return await logitsOf(loaded.model);
  } finally {
    loaded.adapters.dispose();
    loaded.model.dispose();
  }
}

async function logitsOf(model: LlamaModel): Promise<Float32Array> {
  const ids = tf.tensor2d(IDS, [IDS.length, IDS[0]!.length], 'int32');
  const logits = model.forward(ids, INFERENCE);
  const out = (await logits.data()) as Float32Array;
  tf.dispose([ids, logits]);
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

interface AdapterConfigJson {
  peft_type: string;
  task_type: string;
  r: number;
  lora_alpha: number;
  target_modules: string[];
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  base_model_name_or_path: string;
  lora_dropout: number;
  bias: string;
  fan_in_fan_out: boolean;
  nls_adapter_mode?: string;
  nls?: { key: string; supernet: string; space: { fingerprint: string }; modules: Record<string, { scale: number }> };
}

/**
 * PEFT's lookup of a module's rank / alpha, written from PEFT's documented behaviour: the first
 * pattern key matching the module name as `(.*\.)?{key}$` (PEFT >= 0.14; older PEFT used
 * `.*\.{key}$`, checked to agree), else the default.
 */
function peftLookup(pattern: Record<string, number>, moduleName: string, fallback: number): number {
  for (const [key, value] of Object.entries(pattern)) {
    const modern = new RegExp(`^(.*\\.)?(${key})$`).test(moduleName);
    const legacy = new RegExp(`^.*\\.${key}$`).test(moduleName);
    expect(legacy).toBe(modern);
    if (modern) return value;
  }
  return fallback;
}

/** PEFT's target_modules rule for a list: exact name, or the name ends with `.{entry}`. */
function peftTargets(targets: readonly string[], moduleName: string): boolean {
  return targets.some((t) => moduleName === t || moduleName.endsWith(`.${t}`));
}

describe('PEFT adapter export', () => {
  it('writes adapter_config.json and adapter_model.safetensors that PEFT semantics turn into the nls adapter model', async () => {
    const key = '12.201';
    const out = path.join(root, 'peft');
    const result = await runExport({ supernet: supernetDir, choice: { kind: 'key', key }, out, backend: TEST_BACKEND, merged: true });
    expect(result.subnet.key).toBe(key);

    const config = JSON.parse(await fsp.readFile(path.join(out, 'adapter_config.json'), 'utf8')) as AdapterConfigJson;
    expect(config.peft_type).toBe('LORA');
    expect(config.task_type).toBe('CAUSAL_LM');
    expect(config.bias).toBe('none');
    expect(config.fan_in_fan_out).toBe(false);
    expect(config.base_model_name_or_path).toBe(path.resolve(modelDir));
    expect(config.nls?.key).toBe(key);
    expect(config.nls?.supernet).toBe(supernetDir);
    expect(config.nls?.space.fingerprint).toBe(result.subnet.space.fingerprint);
    // The adapter mode is recorded: plain LoRA, the only mode PEFT computes (W + sBA).
    expect(config.nls_adapter_mode).toBe('lora');

    // Every key and shape; alpha/r is the scale nls trained with.
    const { tensors } = await readSafetensors(path.join(out, 'adapter_model.safetensors'));
    const plan = new Map(result.subnet.space.adapterPlan().map((e) => [e.key, e]));
    const expectedNames: string[] = [];
    for (const [moduleKey, rank] of result.subnet.ranks) {
      const [, layer, module] = /^layers\.(\d+)\.(\w+)$/.exec(moduleKey)!;
      const block = ['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(module!) ? 'self_attn' : 'mlp';
      const name = `model.layers.${layer}.${block}.${module}`;
      const patternKey = `layers.${layer}.${block}.${module}`;
      if (rank === 0) {
        expect(config.rank_pattern[patternKey]).toBeUndefined();
        expect(peftTargets(config.target_modules, name), `${name} is off and must not be targeted`).toBe(false);
        continue;
      }
      expect(peftTargets(config.target_modules, name)).toBe(true);
      const inF = weights.get(`${name}.weight`)!.shape[1]!;
      const outF = weights.get(`${name}.weight`)!.shape[0]!;
      const a = tensors.get(`base_model.model.${name}.lora_A.weight`)!;
      const b = tensors.get(`base_model.model.${name}.lora_B.weight`)!;
      expectedNames.push(`base_model.model.${name}.lora_A.weight`, `base_model.model.${name}.lora_B.weight`);
      expect(a.shape).toEqual([rank, inF]);
      expect(b.shape).toEqual([outF, rank]);
      expect(a.dtype).toBe('F32');
      expect(config.rank_pattern[patternKey]).toBe(rank);
      const scale = loraScale(plan.get(moduleKey)!, rank);
      expect(config.alpha_pattern[patternKey]! / config.rank_pattern[patternKey]!).toBeCloseTo(scale, 12);
      expect(config.nls?.modules[moduleKey]?.scale).toBe(scale);
    }
    expect([...tensors.keys()].sort()).toEqual(expectedNames.sort());
    // Some genes are off on layer 1, so target_modules lists full module paths.
    expect(config.target_modules.every((t) => t.startsWith('model.layers.'))).toBe(true);

    // Naive PEFT reconstruction: base + (alpha/r) B A with r, alpha looked up as PEFT does.
    const base = await loadCheckpoint(modelDir);
    const merged = new Map<string, HfTensor>();
    for (const [name, t] of base) merged.set(name, { shape: t.shape, data: Float32Array.from(t.data as Float32Array) });
    for (const [name, a] of tensors) {
      const m = /^base_model\.model\.(.+)\.lora_A\.weight$/.exec(name);
      if (!m) continue;
      const moduleName = m[1]!;
      const b = tensors.get(`base_model.model.${moduleName}.lora_B.weight`)!;
      const r = peftLookup(config.rank_pattern, moduleName, config.r);
      const alpha = peftLookup(config.alpha_pattern, moduleName, config.lora_alpha);
      expect(a.shape[0]).toBe(r);
      const w = merged.get(`${moduleName}.weight`)!;
      const [outF, inF] = w.shape as [number, number];
      for (let o = 0; o < outF; o++) {
        for (let i = 0; i < inF; i++) {
          let s = 0;
          for (let k = 0; k < r; k++) s += (b.data[o * r + k] as number) * (a.data[k * inF + i] as number);
          w.data[o * inF + i] = w.data[o * inF + i]! + (alpha / r) * s;
        }
      }
    }
    const nls = await adapterLogits(key);
    const naive = IDS.flatMap((row) => naiveLogits(cfg, merged, row).flat());
    expect(maxDiff(naive, nls)).toBeLessThan(1e-4);

    // The merged model folder: loads with the base's tokenizer and gives the adapter model's logits.
    const folder = await loadModelFolder(path.join(out, 'merged'));
    expect(folder.tokenizer).toBeInstanceOf(ByteTokenizer);
    expect(maxDiff(await logitsOf(folder.model), nls)).toBeLessThan(1e-4);
    folder.model.dispose();
    const report = JSON.parse(await fsp.readFile(path.join(out, 'merged', 'merge-report.json'), 'utf8')) as MergeReport;
    expect(report.key).toBe(key);
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-4);
    expect(report.logits.rows).toMatch(/random token rows/);
    expect(result.mergeReport?.key).toBe(key);
  });

  it('target_modules: module names when every layer adapts them, else full module paths', () => {
    const all = [0, 1].flatMap((layer) => (['q_proj', 'v_proj'] as const).map((module) => ({ layer, module })));
    expect(peftTargetModules(all, 2)).toEqual(['q_proj', 'v_proj']);
    expect(peftTargetModules(all.slice(1), 2)).toEqual(['model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    expect(peftTargetModules([{ layer: 0, module: 'up_proj' }], 1)).toEqual(['up_proj']);
  });

  it('refuses a configuration with every module off, and a plain config leaves the nls field out', async () => {
    const min = path.join(root, 'min-config.json');
    await fsp.writeFile(min, JSON.stringify({ key: '22.212' }));
    await expect(runExport({ supernet: supernetDir, choice: { kind: 'file', file: min }, out: path.join(root, 'x'), backend: TEST_BACKEND })).resolves.toBeDefined();
    const allOff = path.join(root, 'off.json');
    const space = (await resolveSubnet(supernetDir, { kind: 'heuristic', name: 'max' })).space;
    await fsp.writeFile(allOff, JSON.stringify({ ranks: Object.fromEntries([...space.activeRanks(space.minConfig())].map(([k]) => [k, 0])) }));
    // o_proj and the mlp cannot be switched off in this space, so "all off" is not a configuration.
    await expect(runExport({ supernet: supernetDir, choice: { kind: 'file', file: allOff }, out: path.join(root, 'y'), backend: TEST_BACKEND })).rejects.toThrow(/off\.json: ranks\./);
    const plain = path.join(root, 'plain');
    await runExport({ supernet: supernetDir, choice: { kind: 'heuristic', name: 'max' }, out: plain, backend: TEST_BACKEND, plainConfig: true, baseModelNameOrPath: 'org/tiny' });
    const config = JSON.parse(await fsp.readFile(path.join(plain, 'adapter_config.json'), 'utf8')) as AdapterConfigJson;
    expect(config.nls).toBeUndefined();
    expect(config.nls_adapter_mode).toBeUndefined();
    expect(config.base_model_name_or_path).toBe('org/tiny');
    // At max every layer adapts q/k/v and the mlp, but o_proj only on layer 1.
    expect(config.target_modules).toContain('model.layers.1.self_attn.o_proj');
    expect(tf.memory().numTensors).toBeLessThan(50);
  });
});

describe('nls merge / nls export', () => {
  it('merge writes the merged folder and merge-report.json; --pareto --trial picks the front member', async () => {
    const space = (await resolveSubnet(supernetDir, { kind: 'heuristic', name: 'max' })).space;
    const paretoFile = path.join(root, 'pareto.json');
    await fsp.writeFile(
      paretoFile,
      JSON.stringify({
        format: 'nls-pareto/1',
        study: { strategy: { name: 'random', version: '1', options: {} }, seed: 0, space: { name: space.name, fingerprint: space.fingerprint, genes: space.size, cardinality: String(space.cardinality()) } },
        objectives: [{ name: 'accuracy', direction: 'maximize' }],
        constraints: [],
        hypervolume: null,
        counts: { trials: 2, evaluations: 2, complete: 2, feasible: 2, failed: 0, filtered: 0, cached: 0 },
        front: [
          { number: 4, key: space.key([0, 0, 0, 0, 0]), config: [0, 0, 0, 0, 0], values: [0.9] },
          { number: 7, key: '10.200', config: space.parseKey('10.200'), values: [0.8] },
        ],
      }),
    );
    const out = path.join(root, 'cli-merged');
    const { stdout, code } = await nlsInProcess('merge', '--supernet', supernetDir, '--pareto', paretoFile, '--trial', '7', '--out', out, '--quiet', '--json', '--backend', TEST_BACKEND);
    expect(code).toBe(0);
    const report = JSON.parse(await fsp.readFile(path.join(out, 'merge-report.json'), 'utf8')) as MergeReport;
    expect(report.key).toBe('10.200');
    expect(JSON.parse(stdout).key).toBe('10.200');
    expect(report.sparsityAware).toBe(false);
    expect(report.quantization).toBeNull();
    expect(report.modules.every((m) => m.nonZerosAfter <= m.elements)).toBe(true);
    expect(report.modules.map((m) => m.key)).not.toContain('layers.1.q_proj');
    expect(report.logits.maxAbsDiff).toBeLessThan(1e-4);
    expect(existsSync(path.join(out, 'config.json'))).toBe(true);

    expect(report.adapterMode).toBe('lora');
    // The supernet's plain-LoRA mode decides the merge: a sparsity-aware merge is refused
    // (test/export/adapter-mode.test.ts covers the sparse modes).
    await expect(runMerge({ supernet: supernetDir, choice: { kind: 'heuristic', name: 'median' }, sparse: true, out: path.join(root, 'sparse'), backend: TEST_BACKEND })).rejects.toThrow(
      /training\.adapterMode: --sparse contradicts the supernet's adapter mode: it was trained with plain LoRA/,
    );
  });

  it('export through the CLI; bad choices exit 1 with the reason', async () => {
    const out = path.join(root, 'cli-export');
    const cfgFile = path.join(root, 'choice.json');
    await fsp.writeFile(cfgFile, JSON.stringify({ config: [1, 0, 0, 1, 2] }));
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const writeOut = process.stdout.write.bind(process.stdout);
    process.stderr.write = ((chunk: string) => (stderr.push(chunk), true)) as typeof process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await main(['export', '--supernet', supernetDir, '--config', cfgFile, '--out', out, '--quiet', '--backend', TEST_BACKEND])).toBe(0);
      expect(await main(['export', '--supernet', supernetDir, '--subnet', 'max', '--config', cfgFile, '--out', out, '--quiet', '--backend', TEST_BACKEND])).toBe(1);
      expect(await main(['merge', '--supernet', supernetDir, '--subnet', '99', '--out', path.join(root, 'cli-merge'), '--quiet', '--backend', TEST_BACKEND])).toBe(1);
      // A merge into the export's folder is refused: it holds another kind of run.
      expect(await main(['merge', '--supernet', supernetDir, '--subnet', 'max', '--out', out, '--quiet', '--backend', TEST_BACKEND])).toBe(1);
    } finally {
      process.stderr.write = write;
      process.stdout.write = writeOut;
    }
    expect(stderr.join('')).toMatch(/exactly one of --subnet/);
    expect(stderr.join('')).toMatch(/--subnet: invalid configuration key "99"/);
    expect(stderr.join('')).toMatch(/holds a run of nls export \(manifest\.json\), not of nls merge/);
    expect(existsSync(path.join(root, 'cli-merge'))).toBe(false);
    const config = JSON.parse(await fsp.readFile(path.join(out, 'adapter_config.json'), 'utf8')) as AdapterConfigJson;
    expect(config.nls?.key).toBe('10.012');
  });

  it('merges into a quantized base on its own grid and saves a quantized folder', async () => {
    // A quantized copy of the base, and a supernet over it with the same adapters.
    const qDir = path.join(root, 'qmodel');
    const qSupernet = path.join(root, 'qsupernet');
    const qModel = LlamaModel.fromHf(cfg, weights);
    const { matrices } = await quantizeModel(qModel, { bits: 8, groupSize: 8, symmetric: false });
    await saveQuantizedModelFolder(qDir, qModel, matrices, { byteTokenizer: true });
    const spec = validateSearchSpaceSpec(structuredClone(SPEC));
    const space = resolveSearchSpace(spec, { numLayers: cfg.numHiddenLayers });
    const adapters = AdapterSet.attach(qModel, space.adapterPlan(), 2);
    const rng = createRng(9);
    for (const a of adapters.adapters.values()) tf.tidy(() => a.bT.assign(tf.tensor2d(normalArray(rng, a.bT.size, 0.5), a.bT.shape)));
    await saveSupernet(qSupernet, { format: 'nls-supernet/1', nlsVersion: NLS_VERSION, baseModel: qDir, baseModelSha256: await modelWeightsSha256(qDir), space: spec, training: {}, data: {} }, adapters);
    const sub = await extractSubAdapter(adapters, space.activeRanks(space.maxConfig()));
    adapters.dispose();
    qModel.dispose();

    const out = path.join(root, 'qmerged');
    const { report } = await runMerge({ supernet: qSupernet, choice: { kind: 'heuristic', name: 'max' }, out, backend: TEST_BACKEND });
    expect(report.quantization).toEqual({ bits: 8, groupSize: 8, symmetric: false });
    expect(report.modules.every((m) => m.requantized)).toBe(true);
    // Against the quantization-aware adapter model (merged weight fake-quantized), only float rounding remains... up to a code flip.
    expect(report.logits.maxAbsDiff).toBeLessThan(0.05);
    const folder = await loadModelFolder(out);
    expect(folder.quantization?.spec).toEqual({ bits: 8, groupSize: 8, symmetric: false });
    // Every merged matrix is the float merge put on the base's grid: same scales and zero points.
    for (const m of sub.modules) {
      const like = matrices.get(m.key)!;
      const q = folder.quantization!.matrices.get(m.key)!;
      expect(q.scales).toEqual(like.scales);
      expect(q.zeros).toEqual(like.zeros);
      const base = dequantizeMatrix(like);
      const floatMerged = new Float32Array(base.length);
      for (let o = 0; o < m.outFeatures; o++) {
        for (let i = 0; i < m.inFeatures; i++) {
          let ba = 0;
          for (let k = 0; k < m.rank; k++) ba += m.b[o * m.rank + k]! * m.a[k * m.inFeatures + i]!;
          floatMerged[o * m.inFeatures + i] = base[o * m.inFeatures + i]! + m.scale * ba;
        }
      }
      // float32 rounding of the backend's product may move a value across a rounding boundary: at most one code.
      const ref = quantizeWithParams(floatMerged, like);
      let moved = 0;
      for (let i = 0; i < q.codes.length; i++) {
        expect(Math.abs(q.codes[i]! - ref.codes[i]!)).toBeLessThanOrEqual(1);
        if (q.codes[i] !== ref.codes[i]) moved++;
      }
      expect(moved).toBeLessThanOrEqual(q.codes.length / 100 + 1);
    }
    folder.model.dispose();
  });
});
