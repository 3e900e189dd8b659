/**
 * Collecting validation problems so that one run reports all of them, each with its JSON path,
 * the source position when known, and the fix.
 */
import { NlsError } from '../errors.js';

/** A 1-based line and column in a text file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** One thing wrong with a search-space file. */
export interface SpaceProblem {
  /** JSON path, e.g. `groups[2].ranks`; `(root)` for the document itself. */
  readonly path: string;
  /** What is wrong. */
  readonly message: string;
  /** What to do about it. */
  readonly fix: string;
  /** Where in the file, when the space was parsed from text. */
  readonly position?: SourcePosition | undefined;
}

/** Render one problem as a single line: `path (line L, column C): message. Fix: fix`. */
export function formatProblem(p: SpaceProblem): string {
  const where = p.position ? `${p.path} (line ${p.position.line}, column ${p.position.column})` : p.path;
  return `${where}: ${p.message}. Fix: ${p.fix}`;
}

/**
 * A search space that failed validation. `problems` lists every problem found; the message has
 * one line per problem, so the whole file can be fixed in one go.
 */
export class SearchSpaceError extends NlsError {
  /** Every problem found, in file order. */
  readonly problems: readonly SpaceProblem[];

  constructor(problems: readonly SpaceProblem[], file: string | undefined) {
    const first = problems[0];
    if (problems.length === 1 && first) {
      super(`invalid search space: ${formatProblem(first)}`, { file: file ?? 'search space' });
    } else {
      const lines = problems.map((p) => `  - ${formatProblem(p)}`);
      super(`invalid search space (${problems.length} problems):\n${lines.join('\n')}`, { file: file ?? 'search space' });
    }
    this.name = 'SearchSpaceError';
    this.problems = problems;
  }
}

/** Accumulates problems; `throwIfAny` raises them together. */
export class ProblemList {
  readonly problems: SpaceProblem[] = [];

  constructor(private readonly positions: ReadonlyMap<string, SourcePosition> | undefined) {}

  /** Record a problem at `path`. */
  add(path: string, message: string, fix: string): void {
    this.problems.push({ path: path === '' ? '(root)' : path, message, fix, position: this.positionOf(path) });
  }

  /** Source position of the value at `path`, or of its nearest ancestor that has one. */
  positionOf(path: string): SourcePosition | undefined {
    if (!this.positions) return undefined;
    for (let p: string | undefined = path; p !== undefined; p = parentPath(p)) {
      const pos = this.positions.get(p);
      if (pos) return pos;
    }
    return undefined;
  }

  /** Throw a {@link SearchSpaceError} when any problem was recorded. */
  throwIfAny(file: string | undefined): void {
    if (this.problems.length > 0) throw new SearchSpaceError(this.problems, file);
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Path of a property of the value at `base` (`groups[1]` + `ranks` -> `groups[1].ranks`). */
export function keyPath(base: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** Path of an array element (`groups` + 1 -> `groups[1]`). */
export function indexPath(base: string, index: number): string {
  return `${base}[${index}]`;
}

/** The path of the enclosing value, `undefined` for the root. */
function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  if (path.endsWith(']')) {
    // Walk back to the matching '[' (string keys are JSON-quoted and may contain brackets).
    const open = path.endsWith('"]') ? path.lastIndexOf('["') : path.lastIndexOf('[');
    return path.slice(0, Math.max(0, open));
  }
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/** The candidate closest to `word` when it is close enough to be a plausible typo (src/util/suggest.ts). */
export { closest } from '../util/suggest.js';
