#!/usr/bin/env node
/**
 * The `nls` command line: a thin layer over the library API. Results go to stdout (JSON with
 * --json); progress and logs to stderr.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { NlsError } from '../errors.js';
import { NLS_VERSION } from '../package-info.js';
import { backendsCommand } from './commands/backends.js';
import { doctorCommand } from './commands/doctor.js';
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
import { reorderCommand } from './commands/reorder.js';
import { initModelCommand } from './commands/init-model.js';
import { replicateCommand } from './commands/replicate.js';
import { workerCommand } from './commands/worker.js';
import { commandIn, commandName, failureOf, helpArgv, helpCommand, ownOptionsFirst } from './args.js';
import { GLOBAL_OPTIONS, type GlobalOptions, withGlobalOptions } from './common.js';
import { describeInternalError, installCrashHandlers, INTERNAL_ERROR_EXIT } from './crash.js';
import { CommandExit, UsageError } from './exit.js';
import { recorded, setInvocation } from './recorded.js';
import { reproduceCommand } from './commands/reproduce.js';
import { reportCommand } from './commands/report.js';
import type { InputOption } from '../run/inputs.js';

/** The options of each run-folder command that name its inputs (hashed into manifest.json). */
const RUN_INPUTS = {
  demo: [
    { option: 'model', kind: 'model', default: 'demo' },
    { option: 'data', kind: 'data', default: 'spam' },
    { option: 'space', kind: 'space', default: 'demo' },
    { option: 'corpus', kind: 'text', default: 'brown' },
  ],
  train: [
    { option: 'model', kind: 'model' },
    { option: 'data', kind: 'data' },
    { option: 'space', kind: 'space' },
  ],
  search: [
    { option: 'supernet', kind: 'path' },
    { option: 'space', kind: 'space' },
    { option: 'latency-predictor', kind: 'path' },
    { option: 'strategy', kind: 'strategy' },
  ],
  pretrain: [{ option: 'corpus', kind: 'text', default: 'brown' }],
  profile: [
    { option: 'model', kind: 'model' },
    { option: 'space', kind: 'space' },
  ],
  sparsify: [
    { option: 'model', kind: 'model' },
    { option: 'calib', kind: 'text', default: 'brown' },
    { option: 'eval', kind: 'text', default: 'brown' },
  ],
  quantize: [
    { option: 'model', kind: 'model' },
    { option: 'eval', kind: 'text', default: 'brown' },
  ],
  reorder: [
    { option: 'model', kind: 'model' },
    { option: 'calib', kind: 'text', default: 'brown' },
  ],
  // Reads nothing: the weights come from the seed alone.
  'init-model': [],
  replicate: [
    { option: 'model', kind: 'model', default: 'demo' },
    { option: 'data', kind: 'data', default: 'spam' },
    { option: 'corpus', kind: 'text', default: 'brown' },
  ],
  subnet: [
    { option: 'supernet', kind: 'path' },
    { option: 'pareto', kind: 'path' },
    { option: 'space', kind: 'space' },
    { option: 'config', kind: 'path' },
  ],
} satisfies Record<string, InputOption[]>;

/** Run the CLI with `argv` (without the node and script paths). Resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let failed: unknown;
  setInvocation(argv);
  const commands: string[] = [];
  // Each command is named (for did-you-mean and `nls help`) and lists its own options first.
  const add = <U>(command: CommandModule<GlobalOptions, U>): CommandModule<GlobalOptions, U> => {
    commands.push(commandName(command));
    return ownOptionsFirst(command, GLOBAL_OPTIONS);
  };
  try {
    const cli = withGlobalOptions(yargs())
      .scriptName('nls')
      .version(NLS_VERSION)
      // nls speaks English; yargs' messages are rewritten by failureOf, which reads them in English.
      .locale('en')
      // --help and --version print and return instead of exiting the process.
      .exitProcess(false)
      .command(add(recorded(demoCommand, RUN_INPUTS.demo)))
      .command(add(backendsCommand))
      .command(add(doctorCommand))
      .command(add(spaceCommand))
      .command(add(recorded(trainCommand, RUN_INPUTS.train)))
      .command(add(recorded(searchCommand, RUN_INPUTS.search)))
      .command(add(strategiesCommand))
      .command(add(recorded(pretrainCommand, RUN_INPUTS.pretrain)))
      .command(add(recorded(profileCommand, RUN_INPUTS.profile)))
      .command(add(recorded(quantizeCommand, RUN_INPUTS.quantize)))
      .command(add(recorded(mergeCommand, RUN_INPUTS.subnet)))
      .command(add(recorded(exportCommand, RUN_INPUTS.subnet)))
      .command(add(recorded(sparsifyCommand, RUN_INPUTS.sparsify)))
      .command(add(recorded(reorderCommand, RUN_INPUTS.reorder)))
      .command(add(recorded(initModelCommand, RUN_INPUTS['init-model'])))
      .command(add(recorded(replicateCommand, RUN_INPUTS.replicate)))
      .command(add(reproduceCommand))
      .command(add(reportCommand))
      .command(add(workerCommand))
      .command(add(helpCommand))
      .demandCommand(1, 'name a command')
      .strict()
      .wrap(Math.min(110, process.stdout.columns ?? 110))
      .fail((msg, err, usage) => {
        // Throw, so that yargs stops here: after a failed validation (a missing required option,
        // a command's check) it would otherwise go on to run the command's handler.
        throw failureOf(msg, err, usage, argv, commands);
      });
    await cli.parseAsync(helpArgv(argv, commands));
  } catch (err) {
    failed = err;
  }
  if (failed === undefined) return 0;
  if (failed instanceof CommandExit) return failed.code;
  if (failed instanceof UsageError) {
    const command = commandIn(argv[0] === 'help' ? argv.slice(1) : argv, commands);
    process.stderr.write(`${failed.message.split('\n').map((line) => `nls: ${line}\n`).join('')}(see nls ${command !== undefined ? `${command} ` : ''}--help)\n`);
    return 2;
  }
  if (failed instanceof NlsError) {
    process.stderr.write(`nls: error: ${failed.message}\n`);
    return 1;
  }
  process.stderr.write(describeInternalError(failed));
  return INTERNAL_ERROR_EXIT;
}

export { installCrashHandlers } from './crash.js';

// Run when this file is the entry point (tsx src/cli/main.ts); bin/nls.js imports main() instead.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  installCrashHandlers();
  main(hideBin(process.argv)).then((code) => {
    process.exitCode = code;
  });
}
