/** Options and output helpers shared by the CLI commands. */
import type { Argv } from 'yargs';
import { BACKEND_REQUESTS, type BackendRequest } from '../backend/index.js';
import { Progress } from '../util/progress.js';
import { numberArg } from './args.js';

/** Options every command accepts. */
export interface GlobalOptions {
  backend: BackendRequest;
  quiet: boolean;
  json: boolean;
  seed: number;
}

/** The options every command accepts, listed under "Global options:" in every help (with --help and --version). */
export const GLOBAL_OPTIONS: readonly string[] = ['backend', 'quiet', 'json', 'seed', 'help', 'version'];

/** Add the global options to a yargs instance. */
export function withGlobalOptions<T>(y: Argv<T>): Argv<T & GlobalOptions> {
  return y
    .option('backend', {
      choices: BACKEND_REQUESTS,
      default: 'wasm' as BackendRequest,
      describe: 'tfjs backend: auto picks tfjs-node-gpu > webgpu (hardware adapter) > tfjs-node > wasm > cpu; see nls doctor',
    })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress or log output on stderr' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output: JSON on stdout, JSON lines on stderr' })
    .option('seed', { ...numberArg('seed', 'integer'), default: 0, describe: 'seed of every random choice' })
    .group([...GLOBAL_OPTIONS], 'Global options:') as Argv<T & GlobalOptions>;
}

/** The progress reporter for a command's options. */
export function progressFor(opts: Pick<GlobalOptions, 'quiet' | 'json'>): Progress {
  return new Progress({ quiet: opts.quiet, json: opts.json });
}

/** Write a result to stdout: JSON when --json, else the human-readable text. */
export function emit(opts: Pick<GlobalOptions, 'json'>, value: unknown, text: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value)}\n` : `${text()}\n`);
}
