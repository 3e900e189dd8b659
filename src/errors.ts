/**
 * The error nls raises for bad input: a file, a field and a fix.
 *
 * Messages are written for the person who has to fix the input, so every
 * constructor site names *where* (file and JSON path / tensor name) and *what to do*.
 */
export class NlsError extends Error {
  /** Path of the offending file, when there is one. */
  readonly file: string | undefined;
  /** JSON path, tensor name or option name inside that file. */
  readonly field: string | undefined;

  constructor(message: string, options: { file?: string; field?: string; cause?: unknown } = {}) {
    const where = [options.file, options.field].filter((s): s is string => Boolean(s)).join(': ');
    super(where ? `${where}: ${message}` : message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NlsError';
    this.file = options.file;
    this.field = options.field;
  }
}
