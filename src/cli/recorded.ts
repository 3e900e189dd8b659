/**
 * Commands that write a run folder record it: after the command finishes, `manifest.json` goes
 * into its `--out` folder (see src/run/manifest.ts). The command line itself is kept here by
 * `main` so the manifest can quote it. Before the command starts, its `--out` folder is checked
 * (a folder that can be written, holding no other kind of run) and locked for the command's
 * whole run (src/run/lock.ts).
 */
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import type { InputOption } from '../run/inputs.js';
import { withRunLock } from '../run/lock.js';
import { recordRun } from '../run/record.js';
import { type GlobalOptions, progressFor } from './common.js';

let invocation: readonly string[] = [];

/** Remember the command line being run (called by `main`). */
export function setInvocation(argv: readonly string[]): void {
  invocation = [...argv];
}

/**
 * True when the command line being run gives `--name` explicitly (not by its default), in any
 * spelling yargs accepts: `--batch-size`, `--batchSize`, `--name=value`, `--no-name`.
 */
export function givenExplicitly(name: string): boolean {
  const camel = name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const spellings = [...new Set([name, camel, `no-${name}`, `no-${camel}`])];
  const end = invocation.indexOf('--');
  return (end < 0 ? invocation : invocation.slice(0, end)).some((a) => spellings.some((n) => a === `--${n}` || a.startsWith(`--${n}=`)));
}

/**
 * `command`, holding the lock of its `--out` folder while it runs (refused before any work when
 * the folder cannot be written, holds another kind of run or is in use) and recording a run
 * manifest into it when it succeeds.
 *
 * @param inputs - the options that name the command's inputs, hashed into the manifest.
 */
export function recorded<A extends GlobalOptions & { out?: string }>(command: CommandModule<GlobalOptions, A>, inputs: readonly InputOption[]): CommandModule<GlobalOptions, A> {
  const name = String(command.command).split(' ')[0]!;
  const handler = command.handler;
  return {
    ...command,
    handler: async (argv: ArgumentsCamelCase<A>) => {
      const started = new Date();
      if (typeof argv.out !== 'string') {
        await handler(argv);
        return;
      }
      const out = argv.out;
      const progress = progressFor(argv);
      await withRunLock(out, { command: name, log: (m) => progress.log(m) }, async () => {
        await handler(argv);
        const finished = new Date();
        // The command initialised this backend already; asking again returns what it uses.
        const backend = await initBackend(argv.backend, { quiet: true });
        await recordRun({ command: name, argv: invocation, options: argv, inputs, runDir: out, started, finished, backend, progress });
      });
    },
  };
}
