/**
 * `nls reproduce`: re-run a run folder from its manifest alone and compare the outputs.
 *
 * The inputs are found (next to the run folder, at their recorded paths, or in this nls install)
 * and refused when their bytes differ; the command is replayed with the recorded options into a
 * new folder, in a fresh process; then every output the manifest lists is compared.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { PACKAGE_ROOT } from '../package-info.js';
import { writeFileAtomic } from '../util/fs.js';
import { compareRunOutputs, DEFAULT_TOLERANCE, type RunComparison, type ToleranceSpec } from './compare.js';
import type { Progress } from '../util/progress.js';
import { environmentDifferences, runEnvironment } from './environment.js';
import { type FoundInput, findInput } from './inputs.js';
import { type JsonValue, readRunManifest, type RunManifest } from './manifest.js';

/**
 * Options never replayed: where the output goes (the reproduction's own folder), how progress is
 * shown, and `resume` (a resumed run equals an uninterrupted one, which is what is re-run).
 */
export const NOT_REPLAYED: readonly string[] = ['out', 'quiet', 'json', 'resume', 'help', 'version', 'queue'];

/** Runs an nls command line (without `nls`) and resolves to its exit code. */
export type CommandRunner = (argv: readonly string[]) => Promise<number>;

/** Options of {@link reproduceRun}. */
export interface ReproduceOptions {
  /** The run folder holding manifest.json. */
  readonly runDir: string;
  /** Where the reproduction is written (must not exist yet, or be empty). */
  readonly out: string;
  /** Run on this backend instead of the recorded one (outputs are then compared within `tolerance`). */
  readonly backend?: string;
  /** Input locations by input name (e.g. `supernet` or `supernet.baseModel`), for moved inputs. */
  readonly inputs?: Readonly<Record<string, string>>;
  readonly tolerance?: ToleranceSpec;
  /** How the command is run (default: a fresh `nls` process, see {@link nlsProcessRunner}). */
  readonly runner?: CommandRunner;
  /** Pass `--quiet` to the replayed command. */
  readonly quiet?: boolean;
  /** Where checking the inputs reports (hashing a large input takes seconds). */
  readonly progress?: Progress;
}

/** What {@link reproduceRun} found. */
export interface ReproduceResult {
  readonly manifest: RunManifest;
  readonly inputs: readonly FoundInput[];
  /** The command line that was replayed (after `nls`). */
  readonly argv: readonly string[];
  readonly recordedBackend: string | undefined;
  readonly backend: string | undefined;
  readonly comparison: RunComparison;
  readonly out: string;
  /**
   * How the reproduction's environment differs from the recorded one (nls commit, Node, machine,
   * backend packages; empty when nothing recorded differs): the likely reasons when the outputs
   * are not identical. On the onnx engine another CPU type alone changes the last bits.
   */
  readonly environmentDifferences: readonly string[];
}

/**
 * Why the outputs may differ although code and inputs are the same, when the environment says:
 * a reproduction that is not identical on another machine. Undefined otherwise.
 */
export function machineNote(verdict: RunComparison['verdict'], differences: readonly string[]): string | undefined {
  if (verdict === 'identical' || !differences.some((d) => d.startsWith('machine:'))) return undefined;
  return 'the run was recorded on another machine; native kernels (onnx engine, tfjs-node) choose code by CPU extensions, so their last bits can differ there (the wasm backend computes the same bits on any CPU; docs/reproducibility.md, "Across machines")';
}

/** Exit codes of `nls reproduce` (docs/reproducibility.md). */
export const REPRODUCE_EXIT = { identical: 0, withinTolerance: 3, differs: 4 } as const;

/** The command line that replays `manifest` with inputs at `found`, writing to `out`. */
export function replayArgv(manifest: RunManifest, found: readonly FoundInput[], out: string, backend?: string): string[] {
  const where = new Map(found.map((f) => [f.input.name, f.path]));
  const argv: string[] = [manifest.command];
  for (const [name, value] of Object.entries(manifest.options)) {
    if (NOT_REPLAYED.includes(name)) continue;
    const v: JsonValue = name === 'backend' && backend !== undefined ? backend : typeof value === 'string' && where.has(name) ? withFragment(value, where.get(name)!) : value;
    argv.push(...optionArgs(name, v));
  }
  if ('out' in manifest.options) argv.push('--out', out);
  return argv;
}

/** The found path of an input given as `FILE#NAME` (a plugin's strategy) keeps its `#NAME`. */
function withFragment(given: string, found: string): string {
  const hash = given.lastIndexOf('#');
  if (hash <= 0 || path.basename(given.slice(0, hash)) !== path.basename(found)) return found;
  return `${found}${given.slice(hash)}`;
}

function optionArgs(name: string, value: JsonValue): string[] {
  if (value === null) return [];
  if (typeof value === 'boolean') return [value ? `--${name}` : `--no-${name}`];
  if (Array.isArray(value)) return (value as JsonValue[]).flatMap((v) => [`--${name}`, String(v)]);
  if (typeof value === 'object') return [`--${name}`, JSON.stringify(value)];
  return [`--${name}`, String(value)];
}

/**
 * Runs `nls` in a child process (so the reproduction starts from a fresh process, as the original
 * did). Its stdout goes to this process's stderr, keeping our stdout for the verdict.
 *
 * @param entry - the CLI to run. Default: the same code as this process runs — `bin/nls.js`
 *   (dist/) when nls runs compiled, `src/cli/main.ts` through tsx when it runs from source (a
 *   source checkout's dist/ may be older than its src/).
 */
export function nlsProcessRunner(entry?: { readonly script: string; readonly nodeArgs?: readonly string[] }): CommandRunner {
  const fromSource = import.meta.url.endsWith('.ts');
  const chosen = entry ?? (fromSource ? { script: path.join(PACKAGE_ROOT, 'src', 'cli', 'main.ts'), nodeArgs: ['--import', 'tsx'] } : { script: path.join(PACKAGE_ROOT, 'bin', 'nls.js') });
  return (argv) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...(chosen.nodeArgs ?? []), chosen.script, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.pipe(process.stderr, { end: false });
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 1));
    });
}

/**
 * Reproduce a run folder: check the inputs, replay the command into `out`, compare the outputs,
 * and write `out/reproduction.json` (the comparison).
 *
 * @throws NlsError when the manifest is missing or malformed, an input is missing or its bytes
 *   differ (naming the file), `out` is not empty, or the replayed command fails.
 */
export async function reproduceRun(options: ReproduceOptions): Promise<ReproduceResult> {
  const runDir = path.resolve(options.runDir);
  const manifest = await readRunManifest(runDir);
  const out = path.resolve(options.out);
  if (out === runDir) throw new NlsError('the reproduction would overwrite the run; fix: give another --out', { field: 'out' });
  if (existsSync(out) && (await fsp.readdir(out)).length > 0) throw new NlsError('not empty; fix: give a new or empty folder as --out', { file: out, field: 'out' });
  const found: FoundInput[] = [];
  for (const input of manifest.inputs) found.push(await findInput(input, runDir, options.inputs, options.progress));
  const recordedBackend = manifest.environment.backend?.name ?? (typeof manifest.options.backend === 'string' ? manifest.options.backend : undefined);
  const argv = replayArgv(manifest, found, out, options.backend);
  if (options.quiet) argv.push('--quiet');
  await fsp.mkdir(out, { recursive: true });
  const code = await (options.runner ?? nlsProcessRunner())(argv);
  if (code !== 0) throw new NlsError(`the replayed command failed with exit code ${code}: nls ${argv.join(' ')}`, { field: 'command' });
  const comparison = await compareRunOutputs(runDir, out, manifest.outputs.map((f) => f.path), options.tolerance ?? DEFAULT_TOLERANCE);
  // The replayed command records its own environment (with its backend) when it writes a manifest.
  const replayed = existsSync(path.join(out, 'manifest.json')) ? (await readRunManifest(out)).environment : runEnvironment();
  const differences = environmentDifferences(manifest.environment, replayed);
  const result: ReproduceResult = { manifest, inputs: found, argv, recordedBackend, backend: options.backend ?? recordedBackend, comparison, out, environmentDifferences: differences };
  await writeFileAtomic(
    path.join(out, 'reproduction.json'),
    `${JSON.stringify({ format: 'nls-reproduction/1', runDir, argv, recordedBackend, backend: result.backend, inputs: found.map((f) => ({ name: f.input.name, path: f.path, via: f.via })), environmentDifferences: differences, comparison }, null, 2)}\n`,
  );
  return result;
}
