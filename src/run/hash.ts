/**
 * SHA-256 digests of files and folders, for run manifests: a folder is hashed as the sorted list
 * of its files' relative paths, sizes and digests, so two folders have one digest exactly when
 * they hold the same files with the same bytes.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import { isRunLockFile } from './lock.js';

export { sha256File };

/** One file of a hashed folder (or a hashed file on its own, with `path` its base name). */
export interface FileDigest {
  /** Path relative to the hashed folder, with forward slashes. */
  readonly path: string;
  readonly bytes: number;
  /** SHA-256, hex. */
  readonly sha256: string;
}

/** Files hashed at a time by {@link hashTree}. */
const HASH_CONCURRENCY = 8;

/** Where {@link hashTree} reports: a task of one step per file. */
export interface HashProgress {
  readonly progress: Progress;
  readonly task: string;
}

/**
 * Every regular file under `dir` (recursively, sorted by path), with its size and digest. Files
 * for which `exclude(relativePath)` is true are left out; so are the temp files of
 * `writeFileAtomic` (`.*.tmp`), which only exist while a write is under way, and run-folder locks
 * (`.nls-lock`, src/run/lock.ts), which only exist while a command runs. With `report`, one
 * progress step per file hashed.
 */
export async function hashTree(dir: string, exclude: (relativePath: string) => boolean = () => false, report?: HashProgress): Promise<FileDigest[]> {
  const files: string[] = [];
  async function walk(sub: string): Promise<void> {
    const entries = await fsp.readdir(path.join(dir, sub), { withFileTypes: true });
    for (const entry of entries) {
      const rel = sub === '' ? entry.name : `${sub}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(rel);
      } else if (entry.isFile() && !/^\..*\.tmp$/.test(entry.name) && !isRunLockFile(entry.name) && !exclude(rel)) {
        files.push(rel);
      }
    }
  }
  await walk('');
  // Several files at a time: thousands of small files cost their opening more than their bytes.
  const out = new Array<FileDigest>(files.length);
  let next = 0;
  let done = 0;
  report?.progress.start(report.task, files.length);
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const rel = files[i] as string;
      const file = path.join(dir, rel);
      out[i] = { path: rel, bytes: (await fsp.stat(file)).size, sha256: await sha256File(file) };
      report?.progress.step(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, files.length) }, worker));
  } finally {
    report?.progress.done();
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One digest for a list of file digests (order-independent: the list is sorted first). */
export function treeDigest(files: readonly FileDigest[]): string {
  const hash = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) hash.update(`${f.path}\0${f.bytes}\0${f.sha256}\n`);
  return hash.digest('hex');
}

/** Digest of a file or a folder (see {@link treeDigest}), with its files; a folder reports to `report` file by file. */
export async function hashPath(p: string, report?: HashProgress): Promise<{ readonly kind: 'file' | 'dir'; readonly sha256: string; readonly files: readonly FileDigest[] }> {
  const stat = await fsp.stat(p);
  if (stat.isDirectory()) {
    const files = await hashTree(p, undefined, report);
    return { kind: 'dir', sha256: treeDigest(files), files };
  }
  const sha256 = await sha256File(p);
  return { kind: 'file', sha256, files: [{ path: path.basename(p), bytes: stat.size, sha256 }] };
}
