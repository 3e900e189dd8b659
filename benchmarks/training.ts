/**
 * Training-step benchmark: the onnx training engine against tfjs-wasm (and PyTorch, when a
 * Python with torch is at hand), on the demo model and on a larger random model, for the
 * fixed-rank LoRA step (r = r_max every step) and the NLS step (a uniformly sampled subnet of the
 * demo search space per step), measured in one run with the configurations alternating round by
 * round so that machine noise hits all alike.
 *
 *   npx tsx benchmarks/training.ts [--models demo,large] [--engines onnx,tfjs] [--rounds 3]
 *     [--steps 4] [--batch 8] [--seq 128] [--threads 2] [--python PATH] [--large-model DIR]
 *
 * Each (model, engine) runs in its own child process (benchmarks/training-child.mjs, plain node on
 * the built package as the installed `nls` runs, so that its peak RSS is that of an nls process),
 * built once and then asked for `--steps` steps of one kind per round; a step is what `nls train` does
 * per step: forward, backward, clipping, AdamW, on one fixed batch of random tokens (every
 * position in the loss), LoRA on q/k/v/up/down (ranks 16/12/8/4, alpha 32, dropout 0.05: the
 * demo space). The larger model (hidden 512, 8 layers, 8/4 heads, MLP 1408: 23.8M parameters)
 * is made with `nls init-model` into a temporary folder unless --large-model names one.
 *
 * The PyTorch peer (benchmarks/peers/torch_lora_step.py: transformers + PEFT, same weights,
 * batch and step) runs when --python (default benchmarks/peers/.venv/bin/python or
 * $NLS_PEER_PYTHON) imports torch; it is never a dependency of nls.
 *
 * Model FLOPs count the work a step must do: frozen base, forward + input gradients (4 per
 * weight per token); adapters at the step's active ranks, forward + both gradients (6 per
 * parameter); attention products (QK^T and PV, x3), not what the kernels happen to execute. The
 * float32 GEMM ceiling (onnxruntime MatMul, 2048^3 and the large model's MLP shape, --threads)
 * is measured in the same run. Prints a table and one JSON line.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from 'simple-statistics';
import { GraphBuilder } from '../src/engine/onnx/graph.js';
import { OnnxDataType } from '../src/engine/onnx/proto.js';
import { createOrtSession, loadOrt } from '../src/engine/onnx/session.js';
import { type LlamaConfig, readHfConfig } from '../src/model/hf-config.js';
import { DEMO_MODEL_DIR } from '../src/model/demo-model.js';
import type { TokenBatch } from '../src/train/batch.js';
import { initModelFolder } from '../src/pipeline/init-model.js';
import { createRng } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

type Kind = 'fixed' | 'nls';
const KINDS: readonly Kind[] = ['fixed', 'nls'];
const SELF = fileURLToPath(import.meta.url);

/** The batch every engine (and the peer) trains on: seeded random tokens, every position in the loss. */
function benchmarkBatch(batch: number, seq: number, vocab: number): TokenBatch {
  const rng = createRng('training-benchmark');
  const ids = Int32Array.from({ length: batch * seq }, () => rng.int(Math.min(vocab, 256)));
  const targets = Int32Array.from({ length: batch * seq }, (_, i) => (i % seq === seq - 1 ? rng.int(Math.min(vocab, 256)) : ids[i + 1]!));
  return { batchSize: batch, seqLen: seq, inputIds: ids, targets, weights: new Float32Array(batch * seq).fill(1) };
}

/** Model FLOPs of one step over `tokens` tokens at `ranks` (module key -> rank; see the module comment). */
function stepFlops(cfg: LlamaConfig, ranks: ReadonlyMap<string, number>, tokens: number, seq: number): number {
  const h = cfg.hiddenSize;
  const q = cfg.numAttentionHeads * cfg.headDim;
  const kv = cfg.numKeyValueHeads * cfg.headDim;
  const inter = cfg.intermediateSize;
  const linearParams = cfg.numHiddenLayers * (h * q + 2 * h * kv + q * h + 3 * h * inter) + h * cfg.vocabSize;
  const dims: Record<string, [number, number]> = { q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h], gate_proj: [h, inter], up_proj: [h, inter], down_proj: [inter, h] };
  let adapterParams = 0;
  for (const [key, r] of ranks) {
    const [i, o] = dims[key.split('.')[2]!]!;
    adapterParams += r * (i + o);
  }
  const attention = cfg.numHiddenLayers * 4 * seq * q;
  return tokens * (4 * linearParams + 6 * adapterParams + 3 * attention);
}

interface ChildRequest {
  readonly kind: Kind;
  readonly steps: number;
}
/** What benchmarks/training-child.mjs reports for a request. */
interface ChildReply {
  readonly kind: Kind;
  readonly msPerStep: number;
  /** The active rank of every adapted module, per step. */
  readonly ranks: readonly Record<string, number>[];
  readonly maxRssMb: number;
  readonly loss: number;
}

// ---------------------------------------------------------------------------------------------
// Parent.

interface Runner {
  readonly model: string;
  readonly engine: string;
  readonly config: LlamaConfig;
  ask(kind: Kind, steps: number): Promise<ChildReply>;
  close(): void;
}

const CHILD = path.join(path.dirname(SELF), 'training-child.mjs');

function startChild(model: string, modelDir: string, config: LlamaConfig, engine: 'onnx' | 'tfjs', opts: { batch: number; seq: number; threads: number; rMax?: number }): Promise<Runner> {
  const args = ['--model', modelDir, '--engine', engine, '--batch', String(opts.batch), '--seq', String(opts.seq), '--threads', String(opts.threads)];
  // Plain node on the built package: the process a user's `nls train` is.
  const proc: ChildProcess = fork(CHILD, opts.rMax ? [...args, '--rmax', String(opts.rMax)] : args, { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('message', () =>
      resolve({
        model,
        config,
        engine: opts.rMax ? `${engine}, adapters built at r=${opts.rMax}` : engine,
        ask: async (kind, steps) => {
          // A moment for the previous measurement's background work (other processes' collectors, page reclaim) to settle.
          await new Promise((r) => setTimeout(r, 500));
          return new Promise<ChildReply>((res, rej) => {
            proc.once('message', (m) => res(m as ChildReply));
            proc.once('exit', (code) => rej(new Error(`${model}/${engine} child exited (${code})`)));
            proc.send({ kind, steps } satisfies ChildRequest);
          });
        },
        close: () => proc.kill(),
      }),
    );
  });
}

/** GFLOP/s of onnxruntime's float32 MatMul on [m, k] x [k, n] (constant weight), median of `repeats`. */
async function gemmRate(m: number, k: number, n: number, threads: number, repeats = 7): Promise<number> {
  const ort = await loadOrt();
  const rng = createRng(`${m}x${k}x${n}`);
  const g = new GraphBuilder('gemm');
  const a = g.input('a', OnnxDataType.FLOAT, [m, k]);
  g.output(g.matmul(a, g.floats('w', [k, n], Float32Array.from({ length: k * n }, () => rng.next() - 0.5))), 'y', OnnxDataType.FLOAT, [m, n]);
  const session = await createOrtSession(g.build({ producerVersion: 'bench' }), { threads });
  const feeds = { a: new ort.Tensor('float32', Float32Array.from({ length: m * k }, () => rng.next() - 0.5), [m, k]) };
  const times: number[] = [];
  for (let i = 0; i < repeats + 2; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    if (i >= 2) times.push(performance.now() - t0);
  }
  await session.release();
  return (2 * m * k * n) / (median(times) / 1000) / 1e9;
}

interface PeerResult {
  readonly ms_per_step_median: number;
  readonly peak_rss_mb: number;
  readonly torch: string;
  readonly gemm_gflops?: number;
}

function runPeer(python: string, modelDir: string, kind: Kind, dataFile: string, steps: number, threads: number): Promise<PeerResult> {
  const script = path.join(path.dirname(SELF), 'peers', 'torch_lora_step.py');
  const args = [script, '--model', modelDir, '--data', dataFile, '--mode', kind, '--steps', String(steps), '--warmup', '2', '--threads', String(threads)];
  return new Promise((resolve, reject) => {
    execFile(python, args, { maxBuffer: 1 << 24 }, (err, stdout) => {
      if (err) return reject(err);
      const line = stdout.trim().split('\n').at(-1)!;
      resolve(JSON.parse(line) as PeerResult);
    });
  });
}

function peerPython(): string | undefined {
  const given = arg('python', process.env['NLS_PEER_PYTHON'] ?? path.join(path.dirname(SELF), 'peers', '.venv', 'bin', 'python'));
  return existsSync(given) ? given : undefined;
}

async function hasTorch(python: string): Promise<string | undefined> {
  return new Promise((resolve) => execFile(python, ['-c', 'import torch; print(torch.__version__)'], (err, out) => resolve(err ? undefined : out.trim())));
}

async function parent(): Promise<void> {
  const models = arg('models', 'demo,large').split(',');
  const engines = arg('engines', 'onnx,tfjs').split(',') as ('onnx' | 'tfjs')[];
  const rounds = Number(arg('rounds', '3'));
  const steps = Number(arg('steps', '4'));
  const batch = Number(arg('batch', '8'));
  const seq = Number(arg('seq', '128'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-training-bench-'));
  try {
    const dirs: Record<string, string> = { demo: DEMO_MODEL_DIR };
    if (models.includes('large')) {
      dirs['large'] = arg('large-model', '');
      if (!dirs['large']) {
        dirs['large'] = path.join(tmp, 'large');
        const made = await initModelFolder({ out: dirs['large'], hiddenSize: 512, numHiddenLayers: 8, numAttentionHeads: 8, numKeyValueHeads: 4, intermediateSize: 1408, seed: 0 });
        console.error(`made the large model (${made.parameters.toLocaleString('en-US')} parameters) with: nls init-model --out DIR --hidden 512 --layers 8 --heads 8 --kv-heads 4 --intermediate 1408 --seed 0`);
      }
    }
    const python = peerPython();
    const torchVersion = python ? await hasTorch(python) : undefined;
    console.error(`load average ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} cores; ${threads} threads; PyTorch peer: ${torchVersion ? `torch ${torchVersion} (${python})` : 'not available (no Python with torch; see benchmarks/peers/README.md)'}`);

    const gemm: { shape: string; gflops: number }[] = [];
    const measureGemm = async () => {
      gemm.push({ shape: '2048x2048x2048', gflops: await gemmRate(2048, 2048, 2048, threads) });
      gemm.push({ shape: `${batch * seq}x512x1408 (large up_proj)`, gflops: await gemmRate(batch * seq, 512, 1408, threads) });
    };
    await measureGemm();

    if (!existsSync(path.join(path.dirname(SELF), '..', 'dist', 'index.js'))) throw new Error('the benchmark runs the built package: npm run build first (npm ci does it)');
    const configs: Record<string, LlamaConfig> = {};
    for (const m of models) configs[m] = await readHfConfig(dirs[m]!);
    const runners: Runner[] = [];
    for (const m of models) for (const e of engines) runners.push(await startChild(m, dirs[m]!, configs[m]!, e, { batch, seq, threads }));
    // --sliced-ranks 4,8: onnx steps with adapters built at that rank, the cost a subnet's step
    // would have if ranks were sliced instead of masked (compare with the masked r_max step).
    const slicedRanks = arg('sliced-ranks', '').split(',').filter(Boolean).map(Number);
    const sliced: Runner[] = [];
    for (const m of models) for (const r of slicedRanks) sliced.push(await startChild(m, dirs[m]!, configs[m]!, 'onnx', { batch, seq, threads, rMax: r }));
    // Warm-up: the first request builds the graph and session (onnx) and the wasm kernels.
    for (const r of runners) for (const k of KINDS) await r.ask(k, 1);
    for (const r of sliced) await r.ask('fixed', 1);

    const dataFiles: Record<string, string> = {};
    if (torchVersion) {
      for (const m of models) {
        const b = benchmarkBatch(batch, seq, configs[m]!.vocabSize);
        dataFiles[m] = path.join(tmp, `${m}-batch.json`);
        await fsp.writeFile(dataFiles[m]!, JSON.stringify({ batch, seq, input_ids: [...b.inputIds], targets: [...b.targets], weights: [...b.weights] }));
      }
    }

    const samples = new Map<string, ChildReply[]>();
    const peerSamples = new Map<string, PeerResult[]>();
    for (let round = 0; round < rounds; round++) {
      for (const k of KINDS) {
        for (const r of runners) {
          const reply = await r.ask(k, steps);
          const key = `${r.model}|${k}|${r.engine}`;
          samples.set(key, [...(samples.get(key) ?? []), reply]);
          console.error(`round ${round + 1}/${rounds}: ${r.model} ${k} ${r.engine} ${reply.msPerStep.toFixed(1)} ms/step`);
        }
        if (k === 'fixed') {
          for (const r of sliced) {
            const reply = await r.ask('fixed', steps);
            const key = `${r.model}|fixed|${r.engine}`;
            samples.set(key, [...(samples.get(key) ?? []), reply]);
            console.error(`round ${round + 1}/${rounds}: ${r.model} ${r.engine} ${reply.msPerStep.toFixed(1)} ms/step`);
          }
        }
        if (torchVersion) {
          for (const m of models) {
            const p = await runPeer(python!, dirs[m]!, k, dataFiles[m]!, steps, threads);
            const key = `${m}|${k}|pytorch`;
            peerSamples.set(key, [...(peerSamples.get(key) ?? []), p]);
            console.error(`round ${round + 1}/${rounds}: ${m} ${k} pytorch ${p.ms_per_step_median.toFixed(1)} ms/step`);
          }
        }
      }
    }
    await measureGemm();
    for (const r of [...runners, ...sliced]) r.close();

    const bestGemm = Math.max(...gemm.map((x) => x.gflops));
    /** Mean model FLOPs of the steps in `replies` (their ranks as reported). */
    const meanFlops = (config: LlamaConfig, replies: readonly ChildReply[]): number => {
      const steps = replies.flatMap((r) => r.ranks);
      return steps.reduce((s, ranks) => s + stepFlops(config, new Map(Object.entries(ranks)), batch * seq, seq), 0) / steps.length;
    };
    type Row = { model: string; kind: Kind; engine: string; msPerStep: number; gflops: number; ofGemm: number; rssMb: number };
    const rows: Row[] = [];
    for (const m of models) {
      for (const k of KINDS) {
        for (const e of [...engines, ...(k === 'fixed' ? sliced.filter((r) => r.model === m).map((r) => r.engine) : [])]) {
          const s = samples.get(`${m}|${k}|${e}`)!;
          const ms = median(s.map((x) => x.msPerStep));
          const flops = meanFlops(configs[m]!, s);
          rows.push({ model: m, kind: k, engine: e, msPerStep: ms, gflops: flops / (ms / 1000) / 1e9, ofGemm: flops / (ms / 1000) / 1e9 / bestGemm, rssMb: Math.max(...s.map((x) => x.maxRssMb)) });
        }
        const p = peerSamples.get(`${m}|${k}|pytorch`);
        if (p) {
          const flops = meanFlops(configs[m]!, samples.get(`${m}|${k}|${engines[0]}`)!);
          const ms = median(p.map((x) => x.ms_per_step_median));
          rows.push({ model: m, kind: k, engine: 'pytorch', msPerStep: ms, gflops: flops / (ms / 1000) / 1e9, ofGemm: flops / (ms / 1000) / 1e9 / bestGemm, rssMb: Math.max(...p.map((x) => x.peak_rss_mb)) });
        }
      }
    }
    const find = (m: string, k: Kind, e: string) => rows.find((r) => r.model === m && r.kind === k && r.engine === e);
    const ratios = models.flatMap((m) =>
      KINDS.map((k) => {
        const onnx = find(m, k, 'onnx');
        const tfjs = find(m, k, 'tfjs');
        const torch = find(m, k, 'pytorch');
        return {
          model: m,
          kind: k,
          onnxOverTfjs: onnx && tfjs ? tfjs.msPerStep / onnx.msPerStep : null,
          onnxOverPytorch: onnx && torch ? torch.msPerStep / onnx.msPerStep : null,
          rssOnnxOverPytorch: onnx && torch ? onnx.rssMb / torch.rssMb : null,
          nlsOverFixed: k === 'nls' && onnx && find(m, 'fixed', 'onnx') ? onnx.msPerStep / find(m, 'fixed', 'onnx')!.msPerStep : null,
        };
      }),
    );
    console.log(
      formatTable(
        ['model', 'step', 'engine', 'ms/step', 'steps/s', 'model GFLOP/s', '% of best GEMM', 'peak RSS MB'],
        rows.map((r) => [r.model, r.kind, r.engine, r.msPerStep.toFixed(1), (1000 / r.msPerStep).toFixed(2), r.gflops.toFixed(1), `${(100 * r.ofGemm).toFixed(0)}%`, r.rssMb.toFixed(0)]),
      ),
    );
    console.log(`float32 GEMM ceiling (onnxruntime MatMul, ${threads} threads): ${gemm.map((x) => `${x.shape} ${x.gflops.toFixed(0)} GFLOP/s`).join('; ')}`);
    for (const r of ratios) {
      const parts = [
        r.onnxOverTfjs !== null ? `onnx ${r.onnxOverTfjs.toFixed(1)}x tfjs-wasm` : undefined,
        r.onnxOverPytorch !== null ? `${r.onnxOverPytorch.toFixed(2)}x PyTorch (RSS ${r.rssOnnxOverPytorch!.toFixed(2)}x)` : undefined,
        r.nlsOverFixed !== null ? `NLS/fixed step ${r.nlsOverFixed.toFixed(3)}` : undefined,
      ].filter(Boolean);
      console.log(`${r.model} ${r.kind}: ${parts.join(', ')}`);
    }
    console.log(JSON.stringify({ benchmark: 'training', batch, seq, threads, rounds, steps, loadAverage: os.loadavg(), torch: torchVersion ?? null, gemm, rows, ratios }));
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

await parent();
