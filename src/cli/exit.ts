/** Thrown by a command that finished and has a non-zero exit code to report (e.g. `nls reproduce`: outputs differ). */
export class CommandExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'CommandExit';
  }
}

/**
 * A bad command line (unknown flag, invalid flag value): `main` prints it with a pointer to
 * `--help` and exits 2. Commands throw it from their yargs `check` to name the flag at fault.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
