/**
 * Run-folder locks: one nls process at a time writes a run folder.
 *
 * A command that writes a run folder (`--out`) first makes sure the folder can be written (a file
 * or a read-only place is refused before any work), then takes `OUT/.nls-lock` by creating it
 * exclusively (`open(..., 'wx')`), with the holder's PID, host, boot id, process start time,
 * command and start time in it, then checks that the folder does not hold another kind of run.
 * The lock goes when the command ends: normally, with an error, on SIGINT / SIGTERM, or at
 * `process.exit`. A process killed outright (SIGKILL, a power cut) leaves its lock behind; the
 * next command finds its holder gone (same host, and its PID no longer running, or running a
 * process that started at another time, or the machine rebooted since) and takes the lock over
 * with a note. A lock whose holder runs, or may run (another host), is refused with a message
 * that names the holder.
 *
 * Locks are taken where the work is: the CLI's `recorded` wrapper (every command with `--out`)
 * and the library functions that write run folders (`runSearch`, `runSupernetTraining`). A nested
 * {@link withRunLock} for a folder this async call chain already holds (the CLI wrapper, then
 * the library function it calls) runs without taking it again. See docs/reproducibility.md.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { RUN_MANIFEST_FILE } from './manifest.js';

/** The lock file's name inside a run folder. */
export const RUN_LOCK_FILE = '.nls-lock';
/** Taken for the moment a stale lock is replaced, so that two processes never both replace it. */
export const RUN_LOCK_TAKEOVER_FILE = '.nls-lock.takeover';

/** True for the names of the lock files (never outputs or inputs of a run). */
export function isRunLockFile(name: string): boolean {
  return name === RUN_LOCK_FILE || name === RUN_LOCK_TAKEOVER_FILE;
}

/** What a lock file holds. */
export interface RunLockHolder {
  readonly pid: number;
  readonly host: string;
  /** Linux boot id (`/proc/sys/kernel/random/boot_id`): a lock from before a reboot is stale. */
  readonly bootId?: string;
  /** Start time of the process (clock ticks since boot, Linux): a PID reused by another process is told apart. */
  readonly pidStart?: number;
  /** The nls command, e.g. `search`. */
  readonly command: string;
  /** ISO 8601 time the lock was taken. */
  readonly started: string;
  /** Random token: a lock is removed only by the holder that wrote it. */
  readonly token: string;
}

/** Options of {@link acquireRunLock} and {@link withRunLock}. */
export interface RunLockOptions {
  /** The nls command that writes the folder (`search`, `train`, ...), named in refusals and checked against the folder's run kind. */
  readonly command: string;
  /** Where notes go (taking over a stale lock); default stderr. */
  readonly log?: (message: string) => void;
}

/** A held lock. */
export interface RunLock {
  /** The run folder (absolute). */
  readonly dir: string;
  readonly holder: RunLockHolder;
  /** Remove the lock (idempotent); also removes the folder when this lock created it and it is still empty. */
  release(): Promise<void>;
}

/** How long an unreadable (half-written) lock or a takeover marker is given before it counts as left behind. */
const UNREADABLE_GRACE_MS = 10_000;

function readSmall(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

let bootIdCache: string | null | undefined;
function bootId(): string | undefined {
  if (bootIdCache === undefined) bootIdCache = readSmall('/proc/sys/kernel/random/boot_id')?.trim() || null;
  return bootIdCache ?? undefined;
}

/** Start time of process `pid` in clock ticks since boot (field 22 of /proc/PID/stat), where the system says. */
function processStart(pid: number): number | undefined {
  const stat = readSmall(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

function currentHolder(command: string): RunLockHolder {
  const boot = bootId();
  const start = processStart(process.pid);
  return {
    pid: process.pid,
    host: os.hostname(),
    ...(boot !== undefined ? { bootId: boot } : {}),
    ...(start !== undefined ? { pidStart: start } : {}),
    command,
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
}

/** Whether the holder of a lock still runs: `dead` only when that is certain. */
export function holderState(h: RunLockHolder): 'alive' | 'dead' | 'unknown' {
  if (h.host !== os.hostname()) return 'unknown';
  const boot = bootId();
  if (h.bootId !== undefined && boot !== undefined && h.bootId !== boot) return 'dead';
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  if (h.pidStart !== undefined) {
    const start = processStart(h.pid);
    if (start !== undefined && start !== h.pidStart) return 'dead';
  }
  return 'alive';
}

function parseHolder(text: string): RunLockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<RunLockHolder>;
    if (typeof v === 'object' && v !== null && Number.isSafeInteger(v.pid) && typeof v.host === 'string' && typeof v.command === 'string' && typeof v.started === 'string') return v as RunLockHolder;
  } catch {
    // half-written: handled by the caller
  }
  return undefined;
}

/** The lock of run folder `dir`, when there is one (`holder` undefined when the file cannot be read as a lock). */
export async function readRunLock(dir: string): Promise<{ readonly file: string; readonly text: string; readonly holder: RunLockHolder | undefined; readonly mtimeMs: number } | undefined> {
  const file = path.join(dir, RUN_LOCK_FILE);
  try {
    const [text, stat] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    return { file, text, holder: parseHolder(text), mtimeMs: stat.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function describeHolder(h: RunLockHolder): string {
  return `nls ${h.command} (pid ${h.pid}${h.host !== os.hostname() ? ` on ${h.host}` : ''}, started ${h.started})`;
}

function notWritable(dir: string, err: unknown, what: string): NlsError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new NlsError(`cannot ${what} (${code}); fix: choose a folder you can write to as --out`, { file: dir, field: 'out', cause: err });
}

/**
 * Make sure `dir` is a folder that can be written: create it when missing; refuse a file, or a
 * path under a file, or a place that cannot be written, before any work is done.
 *
 * @returns the absolute path, and whether this call created the folder
 * @throws NlsError naming the path and the fix
 */
export async function prepareRunFolder(dir: string): Promise<{ readonly dir: string; readonly created: boolean }> {
  const abs = path.resolve(dir);
  let stat;
  try {
    stat = await fsp.stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new NlsError('a parent of this path is a file, not a folder; fix: choose another --out', { file: abs, field: 'out', cause: err });
    if (code !== 'ENOENT') throw notWritable(abs, err, 'use it as the output folder');
  }
  if (stat && !stat.isDirectory()) throw new NlsError('is a file, not a folder; fix: give a folder as --out (it is created when missing), or move the file away', { file: abs, field: 'out' });
  if (stat) return { dir: abs, created: false };
  try {
    await fsp.mkdir(abs, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new NlsError('a parent of this path is a file, not a folder; fix: choose another --out', { file: abs, field: 'out', cause: err });
    }
    throw notWritable(abs, err, 'create the output folder');
  }
  return { dir: abs, created: true };
}

/** Locks this process holds, by lock file, for releasing them on exit and signals. */
const held = new Map<string, { readonly token: string }>();
let handlersInstalled = false;

function releaseAllSync(): void {
  for (const [file, { token }] of held) {
    try {
      if (parseHolder(readFileSync(file, 'utf8'))?.token === token) unlinkSync(file);
    } catch {
      // already gone
    }
  }
  held.clear();
}

const onExit = (): void => releaseAllSync();
function onSignal(signal: NodeJS.Signals): void {
  releaseAllSync();
  uninstallHandlers();
  // With our listener gone, the signal does what it would have done without us (usually: end the process).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('exit', onExit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

/** Create `file` exclusively with `holder` in it; false when it exists. */
async function createLock(file: string, holder: RunLockHolder, dir: string): Promise<boolean | 'folder gone'> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'folder gone';
    throw notWritable(dir, err, 'write into the output folder');
  }
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`);
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.rm(file, { force: true });
    throw notWritable(dir, err, 'write into the output folder');
  }
  return true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Remove the stale lock `file` if it still holds `text`, under the takeover marker so that two
 * processes finding the same stale lock do not both remove it (the second would remove the
 * first one's fresh lock). Returns when the lock is gone or was replaced by someone else.
 */
async function removeStale(dir: string, file: string, text: string): Promise<void> {
  const marker = path.join(dir, RUN_LOCK_TAKEOVER_FILE);
  for (let i = 0; i < 100; i++) {
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(marker, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(dir, err, 'write into the output folder');
      const age = await fsp.stat(marker).then((s) => Date.now() - s.mtimeMs, () => 0);
      // A takeover takes milliseconds; a marker this old was left by a process killed during one.
      if (age > UNREADABLE_GRACE_MS) await fsp.rm(marker, { force: true });
      else await sleep(50);
      continue;
    }
    try {
      const now = await fsp.readFile(file, 'utf8').catch(() => undefined);
      if (now === text) await fsp.rm(file, { force: true });
      return;
    } finally {
      await handle.close();
      await fsp.rm(marker, { force: true });
    }
  }
  throw new NlsError(`another process keeps replacing the lock ${RUN_LOCK_TAKEOVER_FILE}; fix: wait, or remove ${marker} if no nls runs here`, { file: dir });
}

/**
 * Take the lock of run folder `dir` (made ready first with {@link prepareRunFolder}).
 *
 * @throws NlsError when another live process holds it (naming it), or the folder cannot be written
 */
export async function acquireRunLock(dir: string, options: RunLockOptions): Promise<RunLock> {
  const prepared = await prepareRunFolder(dir);
  const abs = prepared.dir;
  let created = prepared.created;
  const file = path.join(abs, RUN_LOCK_FILE);
  const log = options.log ?? ((m: string) => process.stderr.write(`nls: ${m}\n`));
  const holder = currentHolder(options.command);
  for (let attempt = 0; ; attempt++) {
    const made = await createLock(file, holder, abs);
    if (made === 'folder gone') {
      // Another process that created the folder failed and removed it between our check and our lock.
      if (attempt >= 20) throw new NlsError('the output folder keeps disappearing; fix: check what removes it, or use another --out', { file: abs, field: 'out' });
      created = (await prepareRunFolder(abs)).created;
      continue;
    }
    if (made) break;
    const existing = await readRunLock(abs);
    if (existing === undefined) continue; // released meanwhile: try again
    let stale: string | undefined;
    if (existing.holder === undefined) {
      // Created but not written yet (it takes microseconds), or left so by a process killed at that moment.
      if (Date.now() - existing.mtimeMs < UNREADABLE_GRACE_MS && attempt < 20) {
        await sleep(50);
        continue;
      }
      if (Date.now() - existing.mtimeMs < UNREADABLE_GRACE_MS) {
        throw new NlsError(`is being locked by another process right now (${RUN_LOCK_FILE} is not written yet); fix: wait for it, or use another --out folder`, { file: abs });
      }
      stale = `an unreadable ${RUN_LOCK_FILE} left behind`;
    } else {
      // This very process (another call, another thread) counts as alive like any other.
      const state = holderState(existing.holder);
      if (state === 'alive') {
        throw new NlsError(
          `is in use by ${describeHolder(existing.holder)}; fix: wait for it to finish (or stop it: kill ${existing.holder.pid}), or give this run another --out folder`,
          { file: abs },
        );
      }
      if (state === 'unknown') {
        throw new NlsError(
          `is in use by ${describeHolder(existing.holder)} on another machine, or was left locked by it; fix: wait for it, or if no nls runs there any more, remove ${file}`,
          { file: abs },
        );
      }
      stale = `the stale lock of ${describeHolder(existing.holder)}, which no longer runs`;
    }
    if (attempt >= 20) throw new NlsError(`cannot take the lock ${RUN_LOCK_FILE}: other processes keep taking it; fix: wait, then try again`, { file: abs });
    await removeStale(abs, file, existing.text);
    log(`${abs}: took over ${stale}`);
  }
  held.set(file, { token: holder.token });
  installHandlers();
  let released = false;
  return {
    dir: abs,
    holder,
    release: async () => {
      if (released) return;
      released = true;
      held.delete(file);
      if (held.size === 0) uninstallHandlers();
      const now = await readRunLock(abs).catch(() => undefined);
      if (now?.holder?.token === holder.token) await fsp.rm(file, { force: true });
      // A folder made for a run that failed before writing anything is not left behind.
      if (created) await fsp.rmdir(abs).catch(() => undefined);
    },
  };
}

/** What kind of run a folder holds, and what says so. */
export interface RunKind {
  /** The nls command that wrote it. */
  readonly command: string;
  /** The file that tells (`manifest.json`, `trials.jsonl`, `supernet.json`). */
  readonly evidence: string;
}

/** Files that only one command writes at the top of its folder, for folders without a manifest yet (a run killed before the end). */
const RUN_MARKERS: readonly (readonly [string, string])[] = [
  ['trials.jsonl', 'search'],
  ['supernet.json', 'train'],
];

/** The kind of run folder `dir` holds (from its manifest, else from the files only one command writes), or undefined. */
export async function runKindOf(dir: string): Promise<RunKind | undefined> {
  const manifest = path.join(dir, RUN_MANIFEST_FILE);
  if (existsSync(manifest)) {
    try {
      const command = (JSON.parse(await fsp.readFile(manifest, 'utf8')) as { command?: unknown }).command;
      if (typeof command === 'string') return { command, evidence: RUN_MANIFEST_FILE };
    } catch {
      // not a manifest of ours: tell by the other files
    }
  }
  for (const [name, command] of RUN_MARKERS) if (existsSync(path.join(dir, name))) return { command, evidence: name };
  return undefined;
}

/**
 * Refuse a folder that holds another kind of run than `command` writes (a search journal where
 * a supernet is to be trained, a supernet where a search is to run, any manifest of another
 * command): the new run would overwrite the other's manifest and mix their files.
 *
 * @throws NlsError naming the folder, the run it holds and the fix
 */
export async function checkRunKind(dir: string, command: string): Promise<void> {
  const kind = await runKindOf(dir);
  if (kind === undefined || kind.command === command) return;
  throw new NlsError(`holds a run of nls ${kind.command} (${kind.evidence}), not of nls ${command}; fix: give nls ${command} its own --out folder`, { file: path.resolve(dir), field: 'out' });
}

/** Run folders held by the current async call chain. */
const chain = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * Run `fn` holding the lock of run folder `dir` for `options.command`: the folder is made ready
 * ({@link prepareRunFolder}), locked ({@link acquireRunLock}) and checked to hold no other kind of
 * run ({@link checkRunKind}); the lock is released when `fn` settles. Re-entrant within one async
 * call chain (the CLI wrapper, then the library function it calls).
 */
export async function withRunLock<T>(dir: string, options: RunLockOptions, fn: () => Promise<T>): Promise<T> {
  const abs = path.resolve(dir);
  const mine = chain.getStore();
  if (mine?.has(abs)) {
    await checkRunKind(abs, options.command);
    return fn();
  }
  const lock = await acquireRunLock(abs, options);
  try {
    await checkRunKind(abs, options.command);
    return await chain.run(new Set([...(mine ?? []), abs]), fn);
  } finally {
    await lock.release();
  }
}
