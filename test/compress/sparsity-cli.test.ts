import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SparsityFolderReport } from '../../src/compress/sparsity-run.js';
import { modelSparsity } from '../../src/compress/sparsity.js';
import { LlamaModel } from '../../src/model/llama.js';
import { loadModelFolder, saveModelFolder } from '../../src/model/model-folder.js';
import { ByteTokenizer } from '../../src/model/tokenizer.js';
import { useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

/** Run the CLI as a user would (through tsx). */
async function nls(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, timeout: 170_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

let tmp = '';
let modelDir = '';
let calib = '';

beforeAll(async () => {
  await useTestBackend();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-sparsify-'));
  modelDir = path.join(tmp, 'model');
  // A byte-level tiny model: widths 16 and 24 are multiples of 4 and 8.
  const model = LlamaModel.random(tinyConfig({ vocabSize: 320, maxPositionEmbeddings: 64 }), 3, 0.3);
  await saveModelFolder(modelDir, model, { byteTokenizer: true });
  model.dispose();
  calib = path.join(tmp, 'calib.txt');
  await fsp.writeFile(calib, 'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.\n'.repeat(4));
});

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

describe('nls sparsify', () => {
  it('prunes a model folder, saves a loadable folder with the reported sparsity and a report with perplexity before and after', async () => {
    const out = path.join(tmp, 'out');
    const evalFile = path.join(tmp, 'eval.jsonl');
    await fsp.writeFile(evalFile, `${JSON.stringify({ text: 'Sphinx of black quartz, judge my vow.' })}\n${JSON.stringify({ text: 'How vexingly quick daft zebras jump!' })}\n`);
    const [wanda, pattern] = await Promise.all([
      nls('sparsify', '--model', modelDir, '--method', 'wanda', '--sparsity', '0.5', '--calib', calib, '--samples', '4', '--seqlen', '16', '--eval', evalFile, '--eval-tokens', '48', '--out', out, '--json'),
      nls('sparsify', '--model', modelDir, '--method', 'magnitude', '--pattern', '2:4', '--eval-tokens', '64', '--seqlen', '32', '--out', path.join(tmp, 'out24')),
    ]);
    expect(wanda.code, wanda.stderr).toBe(0);
    const printed = JSON.parse(wanda.stdout) as SparsityFolderReport;
    const report = JSON.parse(await fsp.readFile(path.join(out, 'sparsity-report.json'), 'utf8')) as SparsityFolderReport;
    expect(printed).toEqual(report);
    expect(report.method).toBe('wanda');
    expect(report.sparsity).toBe(0.5);
    expect(report.samples).toBe(4);
    expect(report.seqlen).toBe(16);
    expect(report.calibration).toBe(calib);
    expect(report.evaluation.tokens).toBe(48);
    for (const p of [report.perplexity.before, report.perplexity.after]) expect(Number.isFinite(p) && p > 1).toBe(true);
    expect(report.modules).toHaveLength(14);

    // The folder loads back (same tokenizer setup) and its weights have the reported sparsity.
    const loaded = await loadModelFolder(out);
    expect(loaded.tokenizer).toBeInstanceOf(ByteTokenizer);
    expect(JSON.parse(await fsp.readFile(path.join(out, 'config.json'), 'utf8')).nls_tokenizer).toBe('bytes');
    const actual = await modelSparsity(loaded.model);
    expect(actual.modules).toEqual(report.modules);
    expect(actual.overall.sparsity).toBe(0.5);
    loaded.model.dispose();

    // Magnitude 2:4 with the default Brown evaluation text, human-readable output.
    expect(pattern.code, pattern.stderr).toBe(0);
    expect(pattern.stdout).toMatch(/layers\.1\.down_proj\s+16x24\s+0\.5000/);
    expect(pattern.stdout).toMatch(/perplexity on 64 tokens of Brown corpus \(validation documents\): [\d.]+ before, [\d.]+ after/);
    const r24 = JSON.parse(await fsp.readFile(path.join(tmp, 'out24', 'sparsity-report.json'), 'utf8')) as SparsityFolderReport;
    expect(r24.pattern).toEqual({ n: 2, m: 4 });
    expect(r24.overall.sparsity).toBe(0.5);
  }, 180_000);

  it('refuses bad input with exit 1 (2 for a flag value out of range) and an error naming the field or file and the fix', async () => {
    // Each its own --out: commands running at once on one folder are refused by its lock.
    const outs = ['ratio', 'pattern', 'missing', 'mismatch'].map((n) => path.join(tmp, `bad-${n}`));
    const [ratio, pattern, missing, mismatch] = await Promise.all([
      nls('sparsify', '--model', modelDir, '--sparsity', '1', '--calib', calib, '--out', outs[0]!),
      nls('sparsify', '--model', modelDir, '--pattern', '3:2', '--calib', calib, '--out', outs[1]!),
      nls('sparsify', '--model', modelDir, '--sparsity', '0.5', '--calib', path.join(tmp, 'nope.txt'), '--out', outs[2]!),
      nls('sparsify', '--model', modelDir, '--sparsity', '0.3', '--pattern', '2:4', '--out', outs[3]!),
    ]);
    // A value out of the flag's range is a usage error, refused before the model is read.
    expect(ratio.code).toBe(2);
    expect(ratio.stderr).toMatch(/--sparsity must be a number in \[0, 1\), got '1'/);
    expect(pattern.code).toBe(1);
    expect(pattern.stderr).toMatch(/pattern: N:M pattern 3:2 is invalid.*Fix:/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.txt: file not found\. Fix: pass an existing \.txt or \.jsonl file to --calib/);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/sparsity: 2:4 prunes 0\.5 of every row.*Fix/);
    // Nothing is left behind: a folder made for a run that failed is removed.
    for (const out of outs) expect(existsSync(out), out).toBe(false);
  }, 180_000);
});
