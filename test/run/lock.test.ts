import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { hashTree } from '../../src/run/hash.js';
import { acquireRunLock, checkRunKind, holderState, prepareRunFolder, readRunLock, RUN_LOCK_FILE, runKindOf, withRunLock } from '../../src/run/lock.js';
import { ROOT } from '../helpers/cli.js';

let root: string;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-lock-'));
});
afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** The PID of a process that has ended. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

async function writeLock(dir: string, fields: Record<string, unknown>): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const holder = { pid: process.pid, host: os.hostname(), command: 'search', started: '2026-01-01T00:00:00.000Z', token: 'other', ...fields };
  await fsp.writeFile(path.join(dir, RUN_LOCK_FILE), JSON.stringify(holder));
}

describe('run-folder locks', () => {
  it('a lock holds the PID, host and command, refuses a second holder by name, and is gone after release', async () => {
    const dir = path.join(root, 'plain');
    const lock = await acquireRunLock(dir, { command: 'search' });
    const held = await readRunLock(dir);
    expect(held?.holder).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'search' });
    expect(holderState(held!.holder!)).toBe('alive');
    const second = acquireRunLock(dir, { command: 'train' });
    await expect(second).rejects.toThrow(NlsError);
    await expect(second).rejects.toThrow(new RegExp(`plain: is in use by nls search \\(pid ${process.pid}, started .*\\); fix: wait for it to finish`));
    await lock.release();
    expect(existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
    await lock.release(); // idempotent
  });

  it('withRunLock is re-entrant within one call chain, and releases on an error', async () => {
    const dir = path.join(root, 'nested');
    await expect(
      withRunLock(dir, { command: 'search' }, async () => {
        // The library function inside the CLI wrapper: the same folder again.
        const inner = await withRunLock(dir, { command: 'search' }, async () => 'inner ran');
        expect(inner).toBe('inner ran');
        // Another chain (not inside this one) is refused.
        await expect(acquireRunLock(dir, { command: 'search' })).rejects.toThrow(/is in use by nls search/);
        throw new Error('the command failed');
      }),
    ).rejects.toThrow('the command failed');
    expect(existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
    // The folder it created for the run is not left behind empty.
    expect(existsSync(dir)).toBe(false);
  });

  it('takes over the stale lock of a process that no longer runs, with a note', async () => {
    const dir = path.join(root, 'stale');
    const pid = deadPid();
    await writeLock(dir, { pid, command: 'train' });
    expect(holderState((await readRunLock(dir))!.holder!)).toBe('dead');
    const notes: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'train', log: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(new RegExp(`took over the stale lock of nls train \\(pid ${pid}, .*\\), which no longer runs`));
    expect((await readRunLock(dir))?.holder?.pid).toBe(process.pid);
    await lock.release();
  });

  it('a PID now used by another process, or a lock from before a reboot, is stale too', () => {
    const me = (holderStateInput: Record<string, unknown>) => holderState({ pid: process.pid, host: os.hostname(), command: 'search', started: '', token: 't', ...holderStateInput });
    if (existsSync('/proc/self/stat')) expect(me({ pidStart: 1 })).toBe('dead');
    if (existsSync('/proc/sys/kernel/random/boot_id')) expect(me({ bootId: 'another-boot' })).toBe('dead');
  });

  it('refuses a lock of another host (it cannot tell whether it runs) and names the file to remove', async () => {
    const dir = path.join(root, 'remote');
    await writeLock(dir, { host: 'elsewhere.example', pid: 4242 });
    await expect(acquireRunLock(dir, { command: 'search' })).rejects.toThrow(/in use by nls search \(pid 4242 on elsewhere\.example, .*\) on another machine.*remove .*\.nls-lock/);
  });

  it('an unreadable lock left long ago is stale; a fresh one is being written and refused', async () => {
    const dir = path.join(root, 'torn');
    await fsp.mkdir(dir, { recursive: true });
    const file = path.join(dir, RUN_LOCK_FILE);
    await fsp.writeFile(file, '');
    const old = new Date(Date.now() - 60_000);
    await fsp.utimes(file, old, old);
    const notes: string[] = [];
    const lock = await acquireRunLock(dir, { command: 'search', log: (m) => notes.push(m) });
    expect(notes.join('\n')).toMatch(/took over an unreadable \.nls-lock left behind/);
    await lock.release();
  });

  it('removes its lock on SIGTERM and SIGINT, and the signal still ends the process', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const dir = path.join(root, `signal-${signal}`);
      const script = `import { acquireRunLock } from ${JSON.stringify(path.join(ROOT, 'src/run/lock.ts'))};
await acquireRunLock(${JSON.stringify(dir)}, { command: 'train' });
process.stdout.write('locked\\n');
setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => (d.toString().includes('locked') ? resolve() : undefined));
        child.on('exit', () => reject(new Error('the child ended before locking')));
      });
      expect(existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(true);
      const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
      child.kill(signal);
      expect(await ended).toBe(signal);
      expect(existsSync(path.join(dir, RUN_LOCK_FILE)), signal).toBe(false);
    }
  });

  it('a lock file is not an output: run folders hash without it', async () => {
    const dir = path.join(root, 'hashed');
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, 'out.txt'), 'x');
    const lock = await acquireRunLock(dir, { command: 'search' });
    expect((await hashTree(dir)).map((f) => f.path)).toEqual(['out.txt']);
    await lock.release();
  });
});

describe('run folders', () => {
  it('refuses a file, or a path under a file, as the output folder', async () => {
    const file = path.join(root, 'a-file');
    await fsp.writeFile(file, 'not a folder');
    await expect(prepareRunFolder(file)).rejects.toThrow(/a-file: out: is a file, not a folder; fix: /);
    await expect(prepareRunFolder(path.join(file, 'sub'))).rejects.toThrow(/a parent of this path is a file, not a folder; fix: /);
  });

  it('tells a folder\'s run kind by its manifest, or by the journal or supernet a killed run left', async () => {
    const dir = path.join(root, 'kinds');
    await fsp.mkdir(dir, { recursive: true });
    expect(await runKindOf(dir)).toBeUndefined();
    await fsp.writeFile(path.join(dir, 'supernet.json'), '{}');
    expect(await runKindOf(dir)).toEqual({ command: 'train', evidence: 'supernet.json' });
    await expect(checkRunKind(dir, 'search')).rejects.toThrow(/holds a run of nls train \(supernet\.json\), not of nls search; fix: give nls search its own --out folder/);
    await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ format: 'nls-run/1', command: 'sparsify' }));
    expect(await runKindOf(dir)).toEqual({ command: 'sparsify', evidence: 'manifest.json' });
    await expect(checkRunKind(dir, 'sparsify')).resolves.toBeUndefined();
    await expect(withRunLock(dir, { command: 'train' }, async () => 'ran')).rejects.toThrow(/holds a run of nls sparsify/);
    expect(existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
  });
});
