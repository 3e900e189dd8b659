/**
 * The onnx training engine (src/train/engine.ts): each micro-batch runs the training graph
 * (train-graph.ts: the decoder's ONNX export in its training form plus its derived gradients) on
 * onnxruntime, hosted on a worker thread (session-host.ts), and the loop's accumulation,
 * clipping and AdamW run on host copies of the trained weights.
 *
 * - One graph and session per micro-batch shape (batch x sequence), built at first use; every
 *   configuration of a supernet runs on it, since ranks (rank masks), widths (width masks) and
 *   dropout masks are inputs.
 * - Dropout seeds are drawn from the loop's RNG in the order the tfjs model draws them (adapted
 *   modules in forward order, only where a dropout runs: active rank, dropout > 0, not
 *   quantization-aware), so both engines sample the same configurations from a seed; the masks
 *   themselves come from dropout.ts, not tfjs's generator.
 * - A parameter whose adapter is switched off (rank 0) in every pass of a step gets no gradient
 *   that step (its moments and step count stay), as on the tfjs engine and in PyTorch.
 * - The trained weights go back into the model's tfjs variables at `finish()`.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../../adapters/adapter-set.js';
import { cudaProviderInstalled } from '../../backend/doctor.js';
import { NlsError } from '../../errors.js';
import { LINEAR_MODULES } from '../../model/linear.js';
import { NLS_VERSION } from '../../package-info.js';
import { loraScale } from '../../space/search-space.js';
import { HostAdamW } from '../../train/adamw.js';
import type { TokenBatch } from '../../train/batch.js';
import type { ParameterSnapshot, TrainingEngine, TrainingPass } from '../../train/engine.js';
import type { TrainingEngineSpec } from '../../train/engines.js';
import { fillDropoutMask } from './dropout.js';
import { type AdapterSlot, adapterInputNames, dropoutMaskInputName, parameterInputName, rankMaskInputName, widthMaskInputName } from './llama.js';
import type { HostedTensor } from './session-host.js';
import { OrtSessionHost } from './session-host.js';
import { defaultThreads } from './session.js';
import { OnnxDataType } from './proto.js';
import { buildLlamaTrainingGraph, type TrainingGraph } from './train-graph.js';
import { adapterFactorsOf, type AdapterFactors, llamaWeightsOf } from './weights.js';

/** The graph input a trained parameter is fed to. */
function inputNameOf(name: string, adapterKeys: ReadonlySet<string>): string {
  const m = /^(.*)\.lora_([AB])$/.exec(name);
  if (m && adapterKeys.has(m[1]!)) {
    const n = adapterInputNames(m[1]!);
    return m[2] === 'A' ? n.a : n.b;
  }
  return parameterInputName(name);
}

/** Adapted modules in the order the model's forward pass reaches them. */
function forwardOrder(keys: Iterable<string>): string[] {
  const rank = (key: string): [number, number] => {
    const [, layer, module] = key.split('.');
    return [Number(layer), LINEAR_MODULES.indexOf(module as (typeof LINEAR_MODULES)[number])];
  };
  return [...keys].sort((a, b) => {
    const [la, ma] = rank(a);
    const [lb, mb] = rank(b);
    return la - lb || ma - mb;
  });
}

interface ShapeProgram {
  readonly session: number;
  readonly graph: TrainingGraph;
  /** Feeds of the last run (their buffers come back from the worker after each run). */
  feeds: Record<string, HostedTensor>;
  /** Parameter version the parameter feeds hold. */
  paramsVersion: number;
}

/** Create the onnx training engine over `spec` (see the module comment). */
export async function createOnnxTrainingEngine(spec: TrainingEngineSpec): Promise<TrainingEngine> {
  const { model } = spec;
  const adapters: AdapterSet | undefined = spec.adapters;
  const names = [...spec.variables.keys()];
  const shapes = names.map((n) => spec.variables.get(n)!.shape.slice());
  const params = await Promise.all(names.map(async (n) => Float32Array.from((await spec.variables.get(n)!.data()) as Float32Array)));
  const factors = adapters ? await adapterFactorsOf(adapters) : { factors: new Map<string, AdapterFactors>(), slots: [] as AdapterSlot[] };
  const slots: AdapterSlot[] = factors.slots.map((s) => ({ ...s, dropout: factors.factors.get(s.key)!.spec.dropout }));
  const adapterKeys = new Set(slots.map((s) => s.key));
  const inputNames = names.map((n) => inputNameOf(n, adapterKeys));
  const moduleOf = names.map((n) => /^(.*)\.lora_[AB]$/.exec(n)?.[1]);
  // Modules whose forward pass draws a dropout seed when active (see the module comment).
  const dropoutOrder = forwardOrder(slots.filter((s) => (s.dropout ?? 0) > 0 && !s.quant).map((s) => s.key));
  const slotOf = new Map(slots.map((s) => [s.key, s]));
  const optimizer = new HostAdamW(params, spec.optimizer);
  const host = OrtSessionHost.start();
  const programs = new Map<string, ShapeProgram>();
  const threads = spec.threads ?? defaultThreads();
  let paramsVersion = 0;

  // Gradient accumulator: one buffer per parameter, and which received gradient this step.
  const acc = params.map((p) => new Float32Array(p.length));
  const touched = new Set<number>();

  // CUDA first where its provider is installed (nls doctor reports the same choice), else the CPU.
  let providers: readonly string[] | undefined = spec.providers;
  async function createSession(model: Uint8Array): Promise<number> {
    providers ??= (await cudaProviderInstalled()) ? ['cuda', 'cpu'] : ['cpu'];
    try {
      return await host.create(providers[0] === 'cpu' || spec.providers ? model : model.slice(), { threads, providers, memoryPattern: false });
    } catch (err) {
      if (spec.providers || providers[0] !== 'cuda') throw err;
      providers = ['cpu'];
      return host.create(model, { threads, providers, memoryPattern: false });
    }
  }

  async function programFor(batch: number, seq: number): Promise<ShapeProgram> {
    const key = `${batch}x${seq}`;
    const known = programs.get(key);
    if (known) return known;
    // The base weights are read for the build only (not kept: on a 24M model they are 95 MB).
    const graph = buildLlamaTrainingGraph(await llamaWeightsOf(model), {
      batch,
      seq,
      adapters: slots,
      trainBase: spec.trainBase === true,
      elasticWidths: spec.elasticWidths === true,
      producerVersion: NLS_VERSION,
    });
    for (const input of inputNames) {
      if (!graph.gradients.has(input)) throw new NlsError(`the training graph has no trained input ${input}`, { field: 'engine' });
    }
    const session = await createSession(graph.model);
    const feeds: Record<string, HostedTensor> = {};
    for (const input of graph.inputs) {
      const size = input.dims.reduce((a, b) => a * b, 1);
      feeds[input.name] = input.dataType === OnnxDataType.INT32 ? { type: 'int32', dims: input.dims, data: new Int32Array(size) } : { type: 'float32', dims: input.dims, data: new Float32Array(size) };
    }
    const program: ShapeProgram = { session, graph, feeds, paramsVersion: -1 };
    programs.set(key, program);
    return program;
  }

  function fillFeeds(program: ShapeProgram, pass: TrainingPass, batch: TokenBatch, nextSeed: () => number): void {
    const f = program.feeds;
    (f['input_ids']!.data as Int32Array).set(batch.inputIds);
    (f['targets']!.data as Int32Array).set(batch.targets);
    (f['weights']!.data as Float32Array).set(batch.weights);
    if (program.paramsVersion !== paramsVersion) {
      inputNames.forEach((input, i) => (f[input]!.data as Float32Array).set(params[i]!));
      program.paramsVersion = paramsVersion;
    }
    for (const slot of slots) {
      const r = pass.ranks?.get(slot.key) ?? slot.rMax;
      const mask = f[rankMaskInputName(slot.key)]!.data as Float32Array;
      mask.fill(0);
      mask.fill(Math.fround(loraScale(factors.factors.get(slot.key)!.spec, r)), 0, r);
    }
    for (const key of dropoutOrder) {
      const r = pass.ranks?.get(key) ?? slotOf.get(key)!.rMax;
      // An inactive adapter draws no seed (as in tfjs); its mask is multiplied by 0 anyway.
      if (r > 0) fillDropoutMask(f[dropoutMaskInputName(key)]!.data as Float32Array, slotOf.get(key)!.dropout!, nextSeed());
    }
    if (spec.elasticWidths) {
      model.layers.forEach((_, l) => {
        const mask = f[widthMaskInputName(l)]!.data as Float32Array;
        const w = pass.widths?.get(l) ?? mask.length;
        mask.fill(1, 0, w);
        mask.fill(0, w);
      });
    }
  }

  const clear = (): void => touched.clear();

  return {
    name: 'onnx',
    names,
    beginStep: clear,
    accumulate: async (pass, batch, scale, ctx) => {
      const program = await programFor(batch.batchSize, batch.seqLen);
      fillFeeds(program, pass, batch, ctx.nextSeed);
      const fetch = ['loss', ...inputNames.map((n) => program.graph.gradients.get(n)!)];
      const { outputs, feeds } = await host.run(program.session, program.feeds, fetch);
      program.feeds = feeds;
      const loss = (outputs['loss']!.data as Float32Array)[0]!;
      if (!Number.isFinite(loss)) return loss;
      const f = Math.fround;
      inputNames.forEach((input, i) => {
        const module = moduleOf[i];
        if (module !== undefined && (pass.ranks?.get(module) ?? 1) === 0) return;
        const g = outputs[program.graph.gradients.get(input)!]!.data as Float32Array;
        const a = acc[i]!;
        const first = !touched.has(i);
        touched.add(i);
        // As the tfjs engine: scaled = g * scale (g itself when scale is 1), then acc + scaled.
        if (first) {
          if (scale === 1) a.set(g);
          else for (let j = 0; j < a.length; j++) a[j] = f(g[j]! * scale);
        } else if (scale === 1) for (let j = 0; j < a.length; j++) a[j] = f(a[j]! + g[j]!);
        else for (let j = 0; j < a.length; j++) a[j] = f(a[j]! + f(g[j]! * scale));
      });
      return loss;
    },
    clip: async (maxNorm) => {
      let sumSquares = 0;
      for (const i of touched) for (const v of acc[i]!) sumSquares += v * v;
      const norm = Math.sqrt(sumSquares);
      if (Number.isFinite(norm) && maxNorm > 0 && norm > maxNorm) {
        const s = Math.fround(maxNorm / (norm + 1e-6));
        for (const i of touched) {
          const a = acc[i]!;
          for (let j = 0; j < a.length; j++) a[j] = Math.fround(a[j]! * s);
        }
      }
      return norm;
    },
    apply: (lr) => {
      optimizer.apply(
        acc.map((a, i) => (touched.has(i) ? a : undefined)),
        lr,
      );
      paramsVersion++;
      clear();
    },
    discardStep: clear,
    accumulatedGradients: async () => new Map([...touched].map((i) => [names[i]!, acc[i]!.slice()])),
    weights: async () => new Map(names.map((n, i): [string, ParameterSnapshot] => [n, { shape: shapes[i]!, data: params[i]!.slice() }])),
    setWeights: (w, source) => {
      names.forEach((n, i) => {
        const t = w.get(n);
        if (!t || t.data.length !== params[i]!.length) throw new NlsError('lacks this parameter or has another shape', { file: source, field: n });
        params[i]!.set(t.data);
      });
      paramsVersion++;
    },
    optimizerState: async () => optimizer.state(),
    restoreOptimizer: (state, source) => optimizer.restore(state, source),
    finish: async () => {
      names.forEach((n, i) => {
        const v = spec.variables.get(n)!;
        tf.tidy(() => v.assign(tf.tensor(params[i]!, v.shape)));
      });
    },
    dispose: async () => {
      await host.close();
    },
  };
}
