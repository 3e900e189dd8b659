#!/usr/bin/env node
/**
 * The `nls` command line: a thin layer over the library API. Results go to stdout (JSON with
 * --json); progress and logs to stderr.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { NlsError } from '../errors.js';
import { NLS_VERSION } from '../package-info.js';
import { backendsCommand } from './commands/backends.js';
import { demoCommand } from './commands/demo.js';
import { pretrainCommand } from './commands/pretrain.js';
import { profileCommand } from './commands/profile.js';
import { quantizeCommand } from './commands/quantize.js';
import { trainCommand } from './commands/train.js';
import { searchCommand } from './commands/search.js';
import { strategiesCommand } from './commands/strategies.js';
import { spaceCommand } from './commands/space.js';
import { mergeCommand } from './commands/merge.js';
import { exportCommand } from './commands/export.js';
import { sparsifyCommand } from './commands/sparsify.js';
import { withGlobalOptions } from './common.js';

/** Run the CLI with `argv` (without the node and script paths). Resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let failed: unknown;
  try {
    await withGlobalOptions(yargs(argv))
      .scriptName('nls')
      .version(NLS_VERSION)
      .command(demoCommand)
      .command(backendsCommand)
      .command(spaceCommand)
      .command(trainCommand)
      .command(searchCommand)
      .command(strategiesCommand)
      .command(pretrainCommand)
      .command(profileCommand)
      .command(quantizeCommand)
      .command(mergeCommand)
      .command(exportCommand)
      .command(sparsifyCommand)
      .demandCommand(1, 'name a command; see nls --help')
      .strict()
      .wrap(Math.min(110, process.stdout.columns ?? 110))
      .fail((msg, err) => {
        failed = err ?? new UsageError(msg);
      })
      .parseAsync();
  } catch (err) {
    failed = err;
  }
  if (failed === undefined) return 0;
  if (failed instanceof UsageError) {
    process.stderr.write(`nls: ${failed.message}\n(see nls --help)\n`);
    return 2;
  }
  if (failed instanceof NlsError) {
    process.stderr.write(`nls: error: ${failed.message}\n`);
    return 1;
  }
  process.stderr.write(`nls: internal error: ${failed instanceof Error ? (failed.stack ?? failed.message) : String(failed)}\n`);
  return 70;
}

class UsageError extends Error {}

// Run when this file is the entry point (tsx src/cli/main.ts); bin/nls.js imports main() instead.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  main(hideBin(process.argv)).then((code) => {
    process.exitCode = code;
  });
}
