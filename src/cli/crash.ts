/**
 * How the CLI ends on an internal error (a bug in nls or a dependency; docs/cli.md): one line
 * `nls: internal error: <message>`, then the stack frames outside dependencies and Node.js, exit
 * 70 — also for errors nobody catches (thrown in a timer, a rejected promise nobody awaits).
 *
 * Why the handlers: once tfjs-backend-wasm has loaded, its emscripten glue has its own
 * `uncaughtException` handler, which rethrows. An error thrown from inside such a handler is
 * fatal for Node, which prints the source line of the throw: the glue is one line of ~40 KB of
 * minified JavaScript, and the process exits 7. Our handlers run first and end the process.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../package-info.js';

/** Exit code of an internal error (EX_SOFTWARE in sysexits.h). */
export const INTERNAL_ERROR_EXIT = 70;

/** Longest message line and frame line printed; the rest is counted, not shown. */
const MAX_LINE = 250;
/** Most frames printed. */
const MAX_FRAMES = 20;

function cut(line: string): string {
  return line.length <= MAX_LINE ? line : `${line.slice(0, MAX_LINE)}…`;
}

/** The file of a stack frame line (`    at f (/a/b.js:1:2)`, `    at file:///a/b.js:1:2`), or undefined. */
function frameFile(line: string): string | undefined {
  const m = /^\s*at (?:.*\((.*)\)|(.*))$/.exec(line);
  const location = (m?.[1] ?? m?.[2])?.trim();
  if (location === undefined) return undefined;
  const file = location.replace(/(:\d+)+$/, '');
  try {
    return file.startsWith('file://') ? fileURLToPath(file) : file;
  } catch {
    return file;
  }
}

/**
 * True for a frame worth showing: in nls itself (`root`, even when nls is installed in a
 * `node_modules` folder) or in code outside any `node_modules` (a plugin, a script), not in a
 * dependency or in Node.js's own code.
 */
function ownFrame(file: string | undefined, root: string): boolean {
  if (file === undefined || file.startsWith('node:') || file === 'native' || file.startsWith('<anonymous>')) return false;
  const rel = file.startsWith(root + path.sep) ? file.slice(root.length) : file;
  return !rel.split(/[\\/]/).includes('node_modules');
}

/**
 * The report of an internal error: `nls: internal error: <name>: <first line of the message>`
 * (cut at 250 characters, the length of the rest said), then the stack frames in nls's own code
 * and outside dependencies (`root`: the nls package folder), each cut at 250 characters.
 */
export function describeInternalError(err: unknown, root: string = PACKAGE_ROOT): string {
  if (!(err instanceof Error)) return `nls: internal error: ${cut(String(err).split('\n')[0] ?? '')}\n`;
  const message = String(err.message);
  const first = message.split('\n')[0] ?? '';
  const shown = cut(first);
  const rest = message.length - Math.min(first.length, MAX_LINE);
  const head = `nls: internal error: ${err.name}: ${shown.endsWith('…') ? shown.slice(0, -1) : shown}${rest > 0 ? ` (the message goes on for ${rest.toLocaleString('en-US')} more characters)` : ''}`;
  // Frames are the stack's lines that start with "at" (the message, which the stack repeats, may span lines).
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  const own = frames.filter((l) => ownFrame(frameFile(l), root));
  const left = frames.length - Math.min(own.length, MAX_FRAMES);
  const lines = [head, ...own.slice(0, MAX_FRAMES).map(cut)];
  if (left > 0) lines.push(`    (${left} frame${left === 1 ? '' : 's'} in dependencies and Node.js left out)`);
  return `${lines.join('\n')}\n`;
}

let installed = false;

/**
 * End the process on an uncaught exception or unhandled rejection with {@link describeInternalError}
 * and exit code 70. For the CLI's entry points only (not the library, not `main`, which tests run
 * in their own process). The handlers go first, ahead of any a dependency added or will add.
 */
export function installCrashHandlers(): void {
  if (installed) return;
  installed = true;
  const crash = (err: unknown): void => {
    try {
      process.stderr.write(describeInternalError(err));
    } finally {
      process.exit(INTERNAL_ERROR_EXIT);
    }
  };
  process.prependListener('uncaughtException', crash);
  process.prependListener('unhandledRejection', crash);
}
