/**
 * `nls demo` prints each section's result when its stage ends (not all at the end), shows the
 * LoRA baseline's progress, names the subnet behind each best value of the search, and reports
 * the hashing of the run's manifest. One short demo run, in this process, with stdout and stderr
 * captured in the order they were written.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Chunk {
  readonly stream: 'out' | 'err';
  readonly text: string;
}

let root: string;
let chunks: Chunk[] = [];
let code = -1;
const env: Record<string, string | undefined> = {};

beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-demo-sections-'));
  for (const [k, v] of Object.entries({ NLS_CACHE_DIR: path.join(root, 'cache'), NLS_PROGRESS: 'plain' })) {
    env[k] = process.env[k];
    process.env[k] = v;
  }
  const { main } = await import('../../src/cli/main.js');
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const capture = (stream: 'out' | 'err') => ((c: string | Uint8Array) => (chunks.push({ stream, text: typeof c === 'string' ? c : Buffer.from(c).toString('utf8') }), true)) as typeof process.stdout.write;
  process.stdout.write = capture('out');
  process.stderr.write = capture('err');
  try {
    code = await main(['demo', '--steps', '2', '--train-size', '32', '--validation-size', '8', '--test-size', '8', '--search-budget', '3', '--out', path.join(root, 'run')]);
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  }
}, 600_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await fsp.rm(root, { recursive: true, force: true });
});

/** Position of the first chunk of `stream` matching `pattern` (fails the test when there is none). */
function at(stream: 'out' | 'err', pattern: RegExp): number {
  const i = chunks.findIndex((c) => c.stream === stream && pattern.test(c.text));
  expect(i, `${stream} ${pattern}`).toBeGreaterThanOrEqual(0);
  return i;
}

describe('nls demo output', () => {
  it('runs', () => {
    expect(code).toBe(0);
  });

  it('prints each result as soon as its stage ends', () => {
    // The baselines' rows come before the supernet trains; the supernet's before the search starts.
    expect(at('out', /LoRA, fixed rank r_max/)).toBeLessThan(at('err', /^supernet \d+\/2 /m));
    expect(at('out', /NLS supernet \(SparsePEFT\): max subnet/)).toBeLessThan(at('err', /^search: heuristic/m));
    // Each strategy's row as it ends, before the next one starts.
    expect(at('out', /^heuristic +\d/m)).toBeLessThan(at('err', /^search: random/m));
    expect(at('out', /^random +\d/m)).toBeLessThan(at('err', /^search: nsga2/m));
    expect(at('out', /Pareto front over all strategies/)).toBeLessThan(at('err', /^merging subnet/m));
    expect(at('out', /^Merged subnet/m)).toBeLessThan(at('err', /^recording the run/m));
    const out = chunks.filter((c) => c.stream === 'out').map((c) => c.text).join('');
    // One table header for the result rows, however many parts they came in.
    expect(out.match(/^model +config key/gm)).toHaveLength(1);
    expect(out.trimEnd().split('\n').at(-1)).toMatch(/^demo finished in /);
  });

  it('shows the LoRA baseline\'s training and evaluation', () => {
    at('err', /^lora 2\/2 .*done in/m);
    at('err', /^evaluating base, lora \d+\/\d+ .*done in/m);
  });

  it('says which subnet each best value of the search belongs to', () => {
    const err = chunks.filter((c) => c.stream === 'err').map((c) => c.text).join('');
    expect(err).not.toMatch(/best accuracy .* best params/);
    for (const line of err.split('\n').filter((l) => /^search \d+\/\d+ .*highest accuracy/.test(l))) {
      expect(line).toMatch(/highest accuracy [\d.]+ \(params [\d,]+\) {2}lowest params [\d,]+ \(accuracy [\d.]+\)/);
    }
  });

  it('reports the hashing for manifest.json; the built-in dataset once per package version', () => {
    at('err', /^recording the run: hashing its inputs and outputs/m);
    at('err', /^hashing the files of @stdlib\/datasets-spam-assassin@[\d.]+ once for this version/m);
    at('err', /^hashing outputs \d+\/\d+ .*done in/m);
  });
});
