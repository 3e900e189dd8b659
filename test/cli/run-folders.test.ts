/**
 * Run folders through the CLI (issue 18, items 3, 5, 6): a folder in use is refused and a stale
 * lock taken over; a folder holding another kind of run is refused; an unusable --out is refused
 * before any work.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nls } from '../helpers/cli.js';
import { journalRecords, type ToySupernet, toySupernet } from '../helpers/toy-supernet.js';

let root = '';
let toy: ToySupernet;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-run-folders-'));
  toy = await toySupernet(root);
  // A strategy that waits in ask() until a gate file exists: holds a search open while the test looks.
  await fsp.writeFile(
    path.join(root, 'gated.js'),
    `import { existsSync } from 'node:fs';
const pause = new Int32Array(new SharedArrayBuffer(4));
export default {
  name: 'test-gated', version: '1.0.0', description: 'random proposals, each ask waiting for a gate file',
  options: [{ name: 'gate', type: 'string', default: '', description: 'file to wait for' }],
  create(options) {
    return {
      ask(n, ctx) {
        while (options.gate && !existsSync(options.gate)) Atomics.wait(pause, 0, 0, 20);
        return Array.from({ length: n }, () => ctx.space.sample(ctx.rng));
      },
      tell() {},
    };
  },
};
`,
  );
}, 120_000);

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const search = (out: string, ...args: string[]) => nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, ...args);
const train = (out: string, ...args: string[]) =>
  nls('train', '--model', toy.model, '--data', toy.data, '--space', toy.space, '--engine', 'tfjs', '--steps', '1', '--batch', '4', '--max-length', '32', '--out', out, ...args);

/** The holder written in a folder's lock, once it is there and written. */
function lockHolder(dir: string): { pid: number; host: string; command: string } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, '.nls-lock'), 'utf8')) as { pid: number; host: string; command: string };
  } catch {
    return undefined;
  }
}

async function until(check: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('run folders through the CLI', () => {
  it('3: a second command on a folder in use is refused, naming the holder; the journal stays whole', async () => {
    const out = path.join(root, 'locked');
    const gate = path.join(root, 'gate');
    const first = search(out, '--strategy', path.join(root, 'gated.js'), '--strategy-option', `gate=${gate}`, '--budget', '4', '--batch-size', '2');
    try {
      let holder: { pid: number; host: string; command: string } | undefined;
      await until(() => (holder = lockHolder(out)) !== undefined, 'the first search to lock its folder', 30_000);
      if (holder === undefined) throw new Error('unreachable');
      expect(holder).toMatchObject({ host: os.hostname(), command: 'search' });
      const second = await search(out, '--resume');
      expect(second.code, second.stderr).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`locked: is in use by nls search \\(pid ${holder.pid}, started [^)]+\\); fix: wait for it to finish`));
      expect(second.stderr).not.toMatch(/internal error/);
      const trainer = await train(out);
      expect(trainer.code, trainer.stderr).toBe(1);
      expect(trainer.stderr).toMatch(/is in use by nls search/);
    } finally {
      await fsp.writeFile(gate, '');
    }
    const done = await first;
    expect(done.code, done.stderr).toBe(0);
    expect(existsSync(path.join(out, '.nls-lock'))).toBe(false);
    const records = await journalRecords(out);
    expect(records.filter((r) => r.type === 'trial').map((r) => r.number).sort()).toEqual([0, 1, 2, 3]);
    expect(records.filter((r) => r.type === 'end')).toHaveLength(1);
    // The lock is no output of the run.
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { outputs: { path: string }[] };
    expect(manifest.outputs.map((o) => o.path)).not.toContain('.nls-lock');
  }, 120_000);

  it('3: a lock left by a killed process is taken over with a note', async () => {
    const out = path.join(root, 'stale');
    await fsp.mkdir(out, { recursive: true });
    const dead = 2 ** 22 + 17; // above Linux's largest pid_max: no such process
    await fsp.writeFile(path.join(out, '.nls-lock'), JSON.stringify({ pid: dead, host: os.hostname(), command: 'search', started: '2026-01-01T00:00:00.000Z', token: 'x' }));
    const r = await search(out, '--strategy', 'random', '--budget', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`took over the stale lock of nls search \\(pid ${dead}, started 2026-01-01T00:00:00.000Z\\), which no longer runs`));
    expect(existsSync(path.join(out, '.nls-lock'))).toBe(false);
  });

  it('5: nls search and nls train refuse a folder that holds the other kind of run', async () => {
    const searched = path.join(root, 'searched');
    const first = await search(searched, '--strategy', 'random', '--budget', '1');
    expect(first.code, first.stderr).toBe(0);
    const manifestBefore = readFileSync(path.join(searched, 'manifest.json'), 'utf8');
    const t = await train(searched);
    expect(t.code, t.stderr).toBe(1);
    expect(t.stderr).toMatch(/searched: out: holds a run of nls search \(manifest\.json\), not of nls train; fix: give nls train its own --out folder/);
    expect(readFileSync(path.join(searched, 'manifest.json'), 'utf8')).toBe(manifestBefore);
    expect(existsSync(path.join(searched, 'checkpoints'))).toBe(false);

    // The supernet folder (no manifest: trained through the API) tells by its supernet.json.
    const s = await search(toy.supernet, '--strategy', 'random', '--budget', '1');
    expect(s.code, s.stderr).toBe(1);
    expect(s.stderr).toMatch(/supernet: out: holds a run of nls train \(supernet\.json\), not of nls search/);
    expect(existsSync(path.join(toy.supernet, 'trials.jsonl'))).toBe(false);
  });

  it('6: an --out that is a file, under a file, or not writable is refused before any work (exit 1, no stack trace)', async () => {
    const file = path.join(root, 'a-file');
    await fsp.writeFile(file, 'x');
    for (const [what, r] of [
      ['train into a file', await train(file)],
      ['search into a file', await search(file, '--strategy', 'random', '--budget', '1')],
      ['train under a file', await train(path.join(file, 'sub'))],
    ] as const) {
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, what).toMatch(/a-file(\/sub)?: out: (is a file|a parent of this path is a file), not a folder; fix: /);
      expect(r.stderr, what).not.toMatch(/internal error|    at /);
      // Refused before the work: no task loaded, no training step ran.
      expect(r.stderr, what).not.toMatch(/task |step/);
    }
    // A place that cannot be written (even by root): sysfs.
    if (existsSync('/sys/kernel')) {
      const r = await train('/sys/kernel/nls-out');
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/\/sys\/kernel\/nls-out: out: cannot create the output folder \(E[A-Z]+\); fix: choose a folder you can write to as --out/);
      expect(r.stderr).not.toMatch(/task /);
    }
  });
});
