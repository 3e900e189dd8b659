/**
 * Recording a finished run: its manifest (`manifest.json`) from the command, the parsed options,
 * the inputs the command declares and the files it wrote.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { BackendInfo } from '../backend/index.js';
import { runEnvironment } from './environment.js';
import type { Progress } from '../util/progress.js';
import { hashTree } from './hash.js';
import { type InputOption, locateInputValue, recordInput, referencedInputs } from './inputs.js';
import { type JsonValue, RUN_MANIFEST_FILE, type RunInput, type RunManifest, writeRunManifest } from './manifest.js';

/** Files of a run folder that are not outputs of the run: the manifest and reports written later (`report/` holds the report's SVG plots). */
export const NOT_OUTPUTS: readonly string[] = [RUN_MANIFEST_FILE, 'report.md', 'report.html', 'report/'];

/** True when `relativePath` (forward slashes) is one of {@link NOT_OUTPUTS} or inside one of its folders. */
export function isNotOutput(relativePath: string): boolean {
  return NOT_OUTPUTS.some((n) => (n.endsWith('/') ? relativePath.startsWith(n) : relativePath === n));
}

/** What {@link recordRun} needs to know about a finished command. */
export interface RecordRunOptions {
  readonly command: string;
  readonly argv: readonly string[];
  /** Parsed options by long name (yargs' camelCase aliases and `_`/`$0` are dropped). */
  readonly options: Readonly<Record<string, unknown>>;
  /** The options that name inputs. */
  readonly inputs: readonly InputOption[];
  /** The run folder (the command's --out). */
  readonly runDir: string;
  readonly started: Date;
  readonly finished: Date;
  readonly backend?: BackendInfo;
  readonly cwd?: string;
  /** Where hashing reports (file by file; built-in datasets come from the per-version cache). */
  readonly progress?: Progress;
}

/**
 * `text` with the password of any URL in it (`redis://user:PASSWORD@host`) replaced by `***`:
 * manifests are shared with a study, passwords are not.
 */
export function redactPasswords(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]+@/gi, '$1***@');
}

/** Options as recorded: long names only, JSON values only (undefined dropped), passwords in URLs redacted. */
export function recordableOptions(options: Readonly<Record<string, unknown>>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(options)) {
    if (k === '_' || k === '$0' || /[A-Z]/.test(k) || v === undefined) continue;
    out[k] = JSON.parse(JSON.stringify(v, (_key, x: unknown) => (typeof x === 'string' ? redactPasswords(x) : x))) as JsonValue;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The inputs of a run, each with its digest, plus the inputs they refer to. */
export async function recordInputs(declared: readonly InputOption[], options: Readonly<Record<string, unknown>>, runDir: string, cwd: string, progress?: Progress): Promise<RunInput[]> {
  const out: RunInput[] = [];
  for (const d of declared) {
    const raw = options[d.option];
    const value = typeof raw === 'string' ? raw : d.default;
    if (value === undefined) continue;
    const located = locateInputValue(d.kind, value, cwd);
    if (!located) continue;
    const input = await recordInput(d.option, value, located, runDir, progress);
    out.push(input, ...(await referencedInputs(input, runDir, progress)));
  }
  return out;
}

/** Write the manifest of a finished run into its folder; returns the manifest. */
export async function recordRun(o: RecordRunOptions): Promise<RunManifest> {
  const cwd = o.cwd ?? process.cwd();
  const runDir = path.resolve(cwd, o.runDir);
  const options = recordableOptions(o.options);
  o.progress?.log(`recording the run: hashing its inputs and outputs into ${path.join(o.runDir, RUN_MANIFEST_FILE)}`);
  const inputs = await recordInputs(o.inputs, options, runDir, cwd, o.progress);
  const outputs = existsSync(runDir) ? await hashTree(runDir, isNotOutput, o.progress ? { progress: o.progress, task: 'hashing outputs' } : undefined) : [];
  const manifest: RunManifest = {
    format: 'nls-run/1',
    command: o.command,
    argv: o.argv.map(redactPasswords),
    options,
    cwd,
    seeds: { seed: typeof options.seed === 'number' ? options.seed : 0 },
    inputs,
    outputs,
    environment: runEnvironment(o.backend),
    timings: { started: o.started.toISOString(), finished: o.finished.toISOString(), seconds: (o.finished.getTime() - o.started.getTime()) / 1000 },
  };
  await writeRunManifest(runDir, manifest);
  return manifest;
}
