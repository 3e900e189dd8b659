/**
 * Greedy generation on the onnx engine: re-running the whole batch per token (what exact match did
 * before the key/value cache) against the cache (`prefill` once, then one token per row per step),
 * each at several prompts per batch, side by side in one run, alternating order round by round after a warm-up; and whether both give
 * the same tokens.
 *
 *   npx tsx benchmarks/generation.ts [--examples 500] [--rounds 3] [--threads N] [--batches 8,32,64]
 *
 * Data: the `arith` task's validation prompts (seed 0), decoded as exact match decodes them: as many
 * new tokens as the longest reference answer plus one (EOS), at most 128 tokens in all (the study's
 * maxLength). Model: models/demo (a random model of its shape when absent) with the demo search
 * space's adapters at r_max, untrained but with random non-zero B (every adapter product is real
 * work). Prints a table and one JSON line.
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { median } from 'simple-statistics';
import { AdapterSet } from '../src/adapters/adapter-set.js';
import { initBackend } from '../src/backend/index.js';
import { loadBuiltinTask } from '../src/data/tasks.js';
import { createOnnxEngine } from '../src/engine/onnx/engine.js';
import { greedyGenerate, type Generation } from '../src/evaluate/generate.js';
import { demoModelOrRandom } from '../src/model/demo-model.js';
import { ByteTokenizer } from '../src/model/tokenizer.js';
import { builtinSearchSpacePath, loadAndResolveSearchSpace } from '../src/space/index.js';
import { createRng, normalArray } from '../src/util/rng.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const examples = Number(arg('examples', '500'));
const rounds = Number(arg('rounds', '3'));
const threads = Number(arg('threads', String(os.availableParallelism())));
const batches = arg('batches', '8,32,64').split(',').map(Number);

await initBackend('wasm', { quiet: true });
const { model, pretrained } = await demoModelOrRandom();
const space = await loadAndResolveSearchSpace(builtinSearchSpacePath('demo'), { numLayers: model.config.numHiddenLayers });
const adapters = AdapterSet.attach(model, space.adapterPlan(), 0);
const rng = createRng(7);
for (const a of adapters.adapters.values()) a.bT.assign(tf.tidy(() => tf.tensor2d(normalArray(rng, a.bT.size, 0.02), a.bT.shape)));
const tokenizer = new ByteTokenizer(model.config.vocabSize);
const task = await loadBuiltinTask('arith', { seed: 0, trainSize: 10, validationSize: examples });
const prompts = task.validation.map((e) => e.prompt);
const maxNewTokens = Math.max(...task.validation.map((e) => tokenizer.encode(e.answer).length)) + 1;
const promptTokens = prompts.map((p) => tokenizer.encode(p).length + 1);
const engine = await createOnnxEngine(model, adapters, { threads });

const variants = [false, true].flatMap((cache) => batches.map((batchSize) => ({ name: cache ? 'cache' : 'rerun', cache, batchSize })));
const label = (v: (typeof variants)[number]) => `${v.name}, batch ${v.batchSize}`;
const run = async (v: (typeof variants)[number]): Promise<{ seconds: number; out: Generation[] }> => {
  const t0 = performance.now();
  const out = await greedyGenerate(engine, tokenizer, prompts, { maxNewTokens, maxLength: 128, batchSize: v.batchSize, cache: v.cache });
  return { seconds: (performance.now() - t0) / 1000, out };
};

console.error(`${examples} arith prompts (${median(promptTokens)} tokens median), ${maxNewTokens} new tokens at most, ${threads} threads, model ${pretrained ? 'models/demo' : 'random'}`);
const times = new Map<string, number[]>(variants.map((v) => [label(v), []]));
const outputs = new Map<string, Generation[]>();
for (const v of variants) outputs.set(label(v), (await run(v)).out); // warm-up: sessions and first-use costs
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    const { seconds } = await run(v);
    times.get(label(v))!.push(seconds);
    console.error(`round ${r + 1}/${rounds}: ${label(v)} ${seconds.toFixed(2)} s`);
  }
}
await engine.dispose();

const reference = outputs.get(label(variants[0]!))!;
const base = median(times.get(label(variants[0]!))!);
const rows = variants.map((v) => {
  const s = median(times.get(label(v))!);
  const out = outputs.get(label(v))!;
  return {
    variant: label(v),
    seconds: s,
    promptsPerSecond: examples / s,
    speedup: base / s,
    sameTokens: out.filter((g, i) => g.tokens.join(',') === reference[i]!.tokens.join(',')).length,
  };
});
console.log(
  formatTable(
    ['variant', 's / pass', 'prompts/s', `vs ${label(variants[0]!)}`, 'same tokens'],
    rows.map((r) => [r.variant, r.seconds.toFixed(2), r.promptsPerSecond.toFixed(1), `${r.speedup.toFixed(2)}x`, `${r.sameTokens}/${examples}`]),
  ),
);
console.log(
  JSON.stringify({
    benchmark: 'generation',
    pretrained,
    examples,
    maxNewTokens,
    medianPromptTokens: median(promptTokens),
    threads,
    rounds,
    loadAverage: os.loadavg(),
    results: rows,
  }),
);
