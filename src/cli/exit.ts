/** Thrown by a command that finished and has a non-zero exit code to report (e.g. `nls reproduce`: outputs differ). */
export class CommandExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'CommandExit';
  }
}
