/**
 * Checking a command line before its command runs (docs/cli.md): number flags, usage errors that
 * say what was meant, `nls help COMMAND`, and each command's help listing its own options before
 * the global ones. Everything here runs while yargs parses, so a bad flag is refused before a
 * model is loaded or an output folder is created.
 */
import type { Argv, CommandModule } from 'yargs';
import { NlsError } from '../errors.js';
import { closest } from '../util/suggest.js';
import type { GlobalOptions } from './common.js';
import { UsageError } from './exit.js';

/** What a number flag may hold. */
export type NumberKind =
  | 'integer'
  | 'positive integer'
  | 'non-negative integer'
  | 'positive number'
  | 'non-negative number'
  /** [0, 1): a share that cannot be all, e.g. a sparsity. */
  | 'fraction'
  /** [0, 1]. */
  | 'ratio'
  /** (0, 1), e.g. a confidence. */
  | 'probability';

const KINDS: Readonly<Record<NumberKind, { readonly what: string; readonly ok: (x: number) => boolean }>> = {
  integer: { what: 'an integer', ok: (x) => Number.isSafeInteger(x) },
  'positive integer': { what: 'a positive integer', ok: (x) => Number.isSafeInteger(x) && x > 0 },
  'non-negative integer': { what: 'an integer >= 0', ok: (x) => Number.isSafeInteger(x) && x >= 0 },
  'positive number': { what: 'a number > 0', ok: (x) => x > 0 },
  'non-negative number': { what: 'a number >= 0', ok: (x) => x >= 0 },
  fraction: { what: 'a number in [0, 1)', ok: (x) => x >= 0 && x < 1 },
  ratio: { what: 'a number in [0, 1]', ok: (x) => x >= 0 && x <= 1 },
  probability: { what: 'a number between 0 and 1 (exclusive)', ok: (x) => x > 0 && x < 1 },
};

/**
 * The yargs settings of a number flag: spread into `.option(name, { ...numberArg(name, kind), ... })`
 * instead of `type: 'number'`. The value is checked while yargs parses; a value of the wrong kind,
 * text (`--budget ten`, which `type: 'number'` turns into NaN), a missing value or a repeated
 * flag is a usage error naming the flag and what was typed. (Without `type`, help shows no
 * `[number]` tag; the description says what the flag counts.)
 */
export function numberArg(flag: string, kind: NumberKind): { readonly requiresArg: true; readonly coerce: (value: unknown) => number } {
  const { what, ok } = KINDS[kind];
  return {
    requiresArg: true,
    coerce: (value: unknown): number => {
      if (Array.isArray(value)) throw new UsageError(`--${flag} is given more than once`);
      if (typeof value !== 'number' && (typeof value !== 'string' || value.trim() === '')) throw new UsageError(`--${flag} needs a value: ${what}`);
      // yargs leaves numbers it will not parse (text, and huge values such as 1e30) as strings.
      const x = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(x) || !ok(x)) throw new UsageError(`--${flag} must be ${what}, got '${String(value)}'`);
      return x;
    },
  };
}

/**
 * `check()`, with an {@link NlsError} it throws turned into a usage error: for a command's yargs
 * `.check()` that validates flag values with the library's own parsers.
 */
export function asUsageError<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof NlsError) throw new UsageError(err.message);
    throw err;
  }
}

/** The yargs usage object handed to a `.fail()` callback (not in yargs' type declarations). */
interface FailUsage {
  getDescriptions?: () => Record<string, unknown>;
}

/** `-x` for one letter, else `--name`. */
function flagOf(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** True when `argv` gives `name` as a flag (`--name`, `--name=...`, `--no-name`, `-n`). */
function givenAsFlag(argv: readonly string[], name: string): boolean {
  if (name.length === 1) return argv.some((a) => /^-[^-]/.test(a) && a.includes(name));
  return argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `--no-${name}`);
}

/** The first of `argv` that names one of `commands` (the command being run), if any. */
export function commandIn(argv: readonly string[], commands: readonly string[]): string | undefined {
  return argv.find((a) => commands.includes(a));
}

/** `unknown command 'x'`, with the closest command name when there is one. */
export function unknownCommand(name: string, commands: readonly string[]): UsageError {
  const near = closest(name, commands);
  return new UsageError(`unknown command '${name}'${near ? `; did you mean '${near}'?` : ''}`);
}

/**
 * The error `main` reports for a yargs failure: yargs' message (`Unknown argument: stratgy`,
 * `Missing required argument: out`, ...) rewritten to name flags as they are typed, with a
 * did-you-mean where one is close; an error thrown by a check or a `numberArg` coercion as a
 * usage error; any other error (one a command's handler threw) unchanged.
 *
 * @param argv the command line
 * @param commands the names of the commands
 */
export function failureOf(message: string | null | undefined, err: Error | undefined, usage: unknown, argv: readonly string[], commands: readonly string[]): Error {
  // yargs' own errors (and our coercions' errors, re-wrapped by yargs) are YErrors.
  if (err !== undefined && err.name !== 'YError') return err;
  const text = err?.message ?? message ?? 'invalid command line';
  const options = Object.keys((usage as FailUsage | undefined)?.getDescriptions?.() ?? {});

  const unknown = /^Unknown arguments?: (.+)$/.exec(text);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    const positional = names.filter((n) => !givenAsFlag(argv, n));
    if (commandIn(argv, commands) === undefined && positional.length > 0) return unknownCommand(positional[0]!, commands);
    return new UsageError(
      names
        .map((n) => {
          if (positional.includes(n)) return `unexpected argument '${n}'`;
          const near = closest(n, options.filter((o) => o.length > 1));
          return `unknown option ${flagOf(n)}${near ? `; did you mean ${flagOf(near)}?` : ''}`;
        })
        .join('\n'),
    );
  }
  const missing = /^Missing required arguments?: (.+)$/.exec(text);
  if (missing) {
    const flags = missing[1]!.split(', ').map(flagOf);
    return new UsageError(`missing required option${flags.length > 1 ? 's' : ''} ${flags.join(', ')}`);
  }
  const positionals = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(text);
  if (positionals) return new UsageError(`missing an argument: the command needs ${positionals[2]}, got ${positionals[1]}`);
  const noValue = /^Not enough arguments following: (.+)$/.exec(text);
  if (noValue) return new UsageError(`${flagOf(noValue[1]!)} needs a value`);
  if (text.startsWith('Invalid values:')) {
    const lines = [...text.matchAll(/Argument: (\S+), Given: "(.*)", Choices: (.*)$/gm)].map(([, name, given, list]) => {
      const choices = [...list!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
      const near = closest(given!, choices);
      return `${flagOf(name!)} must be one of ${choices.join(', ')}, got '${given}'${near ? `; did you mean '${near}'?` : ''}`;
    });
    if (lines.length > 0) return new UsageError(lines.join('\n'));
  }
  return new UsageError(text);
}

/**
 * `argv` for `nls help [COMMAND]`: `COMMAND --help` (or `--help`). Other command lines are
 * returned as they are.
 *
 * @throws UsageError for the help of an unknown command
 */
export function helpArgv(argv: readonly string[], commands: readonly string[]): string[] {
  if (argv[0] !== 'help') return [...argv];
  const name = argv[1];
  if (name === undefined || name.startsWith('-')) return ['--help'];
  if (!commands.includes(name)) throw unknownCommand(name, commands);
  return [name, '--help'];
}

/** The `help` command as listed by `nls --help`; `main` rewrites `nls help X` to `nls X --help` ({@link helpArgv}). */
export const helpCommand: CommandModule<GlobalOptions, GlobalOptions> = {
  command: 'help [command]',
  describe: 'show the help of a command (the same as nls COMMAND --help)',
  handler: () => undefined,
};

/** The name a command is run by (`space <file>` -> `space`). */
export function commandName(command: { readonly command?: string | readonly string[] | undefined }): string {
  return String(command.command).split(' ')[0]!;
}

/**
 * `command` whose help lists its own options under "Options:" before the "Global options:"
 * every command shares (yargs shows groups set in the command before those it inherits).
 *
 * @param globals the names of the global options (grouped by `withGlobalOptions`)
 */
export function ownOptionsFirst<T, U>(command: CommandModule<T, U>, globals: readonly string[]): CommandModule<T, U> {
  const builder = command.builder;
  return {
    ...command,
    builder: (y: Argv<T>) => {
      const built = (typeof builder === 'function' ? builder(y) : builder !== undefined ? y.options(builder) : y) as Argv<U>;
      const internals = built as unknown as { getOptions(): { key: Record<string, unknown> }; getGroups(): Record<string, string[]> };
      const grouped = new Set(Object.values(internals.getGroups()).flat());
      const own = Object.keys(internals.getOptions().key).filter((k) => !globals.includes(k) && !grouped.has(k));
      return own.length > 0 ? built.group(own, 'Options:') : built;
    },
  };
}
