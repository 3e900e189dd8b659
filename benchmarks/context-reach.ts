/**
 * How far back a model's next-token prediction looks: for held-out Brown windows, replace the
 * byte d positions before the last one and measure the largest change of the last position's
 * logits (median over windows). A model whose attention has collapsed onto the last few bytes
 * shows changes of ~1e-6 beyond them; LoRA adapters on such a model get no gradient through
 * attention to distant evidence, so they cannot learn a task like the demo's spam classification.
 *
 *   npx tsx benchmarks/context-reach.ts [--model models/demo] [--windows 16]
 *
 * Prints a table and one JSON line.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { brownSplit } from '../src/data/brown.js';
import { DEMO_MODEL_DIR } from '../src/model/demo-model.js';
import { loadModelFolder } from '../src/model/model-folder.js';
import { formatTable } from '../src/util/table.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const modelDir = arg('model', DEMO_MODEL_DIR);
const windows = Number(arg('windows', '16'));
const length = 96;
const distances = [1, 2, 4, 8, 16, 32, 64];

await initBackend('wasm', { quiet: true });
const { model } = await loadModelFolder(modelDir);
const { validation } = await brownSplit();
const text = Buffer.from(validation.map((d) => d.text).join('\n'), 'utf8');
const lastLogits = (ids: number[]) => tf.tidy(() => model.forward(tf.tensor2d([ids], [1, ids.length], 'int32')).slice([0, ids.length - 1, 0], [1, 1, -1]).dataSync() as Float32Array);
const changes = new Map<number, number[]>(distances.map((d) => [d, []]));
for (let w = 0; w < windows; w++) {
  const start = Math.floor(((w + 0.5) * (text.length - length)) / windows);
  const ids = [...text.subarray(start, start + length)];
  const base = lastLogits(ids);
  for (const d of distances) {
    const alt = [...ids];
    const p = ids.length - 1 - d;
    alt[p] = alt[p] === 0x78 ? 0x71 : 0x78; // 'x', or 'q' where it already is 'x'
    const out = lastLogits(alt);
    let m = 0;
    for (let i = 0; i < out.length; i++) m = Math.max(m, Math.abs(out[i]! - base[i]!));
    changes.get(d)!.push(m);
  }
}
model.dispose();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const rows = distances.map((d) => ({ distance: d, medianMaxLogitChange: median(changes.get(d)!) }));
console.log(`${modelDir}: change of the last position's logits when the byte d positions back is replaced (median of ${windows} held-out windows)`);
console.log(formatTable(['distance d', 'max |logit change|'], rows.map((r) => [r.distance, r.medianMaxLogitChange.toExponential(2)])));
console.log(JSON.stringify({ benchmark: 'context-reach', model: modelDir, windows, rows }));
