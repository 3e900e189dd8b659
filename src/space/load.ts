/** Reading search-space files, and locating the ones shipped with nls. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NlsError } from '../errors.js';
import type { SearchSpaceSpec } from './format.js';
import { JsonSyntaxError, parseJsonWithPositions } from './json.js';
import { closest, ProblemList } from './problems.js';
import { modelShapeOf, resolveSearchSpace, type ResolveOptions } from './resolve.js';
import type { SearchSpace } from './search-space.js';
import { checkSpec, type ModelShape, rememberOrigin } from './validate.js';

/**
 * Parse and validate search-space JSON text. `file` is only used in messages.
 *
 * Syntax errors name line and column; duplicate keys are reported as problems together with
 * every validation problem.
 *
 * @throws NlsError for JSON syntax errors, SearchSpaceError for invalid content.
 */
export function parseSearchSpace(text: string, file?: string): SearchSpaceSpec {
  return parseChecked(text, file, undefined);
}

/** Parse and check `text`; with `numLayers` also check layer ranges, so one error lists everything. */
function parseChecked(text: string, file: string | undefined, numLayers: number | undefined, model: ModelShape = {}): SearchSpaceSpec {
  let parsed;
  try {
    parsed = parseJsonWithPositions(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) {
      throw new NlsError(`invalid JSON at line ${err.position.line}, column ${err.position.column}: ${err.detail}. Fix: correct the JSON syntax there`, {
        file: file ?? 'search space',
        cause: err,
      });
    }
    throw err;
  }
  const problems = new ProblemList(parsed.positions);
  for (const d of parsed.duplicateKeys) {
    problems.problems.push({
      path: d.path,
      message: `key is given twice (first at line ${d.first.line}, column ${d.first.column})`,
      fix: 'keep only one of them',
      position: d.position,
    });
  }
  checkSpec(parsed.value, problems, numLayers, model);
  problems.throwIfAny(file);
  const spec = parsed.value as SearchSpaceSpec;
  rememberOrigin(spec, { file, positions: parsed.positions });
  return spec;
}

/**
 * Read, parse and validate a search-space file. Layer indices are checked later, against the
 * model, by {@link resolveSearchSpace} (which names this file and its lines in its errors).
 *
 * @throws NlsError when the file cannot be read or is not valid JSON, SearchSpaceError when
 * its content is invalid.
 */
export async function loadSearchSpace(file: string): Promise<SearchSpaceSpec> {
  const resolved = searchSpaceFile(file);
  return parseChecked(await readText(resolved), resolved, undefined);
}

/**
 * The file a search-space argument names. The rule for names and paths (docs/search-spaces.md):
 * a value that is exactly the name of a shipped space ({@link BUILTIN_SEARCH_SPACES}) is the
 * shipped file, whatever the working folder holds; anything else is a path. A local file named
 * like a shipped space is reached as a path, `./demo`.
 */
export function searchSpaceFile(nameOrPath: string): string {
  return (BUILTIN_SEARCH_SPACES as readonly string[]).includes(nameOrPath) ? builtinSearchSpacePath(nameOrPath) : nameOrPath;
}

async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const shipped = `a shipped space: ${BUILTIN_SEARCH_SPACES.join(', ')}`;
    if (code === 'EISDIR') throw new NlsError(`is a folder, not a search-space file; fix: name the .json file, or ${shipped}`, { file, cause: err });
    const near = code === 'ENOENT' ? closest(path.basename(file, '.json'), BUILTIN_SEARCH_SPACES) : undefined;
    const fix = code === 'ENOENT' ? `${near ? `did you mean the shipped space "${near}"? ` : ''}check the path, or use ${shipped}` : 'check the file permissions';
    throw new NlsError(`cannot read search-space file (${code ?? String(err)}); fix: ${fix}`, { file, cause: err });
  }
}

/**
 * {@link loadSearchSpace} then {@link resolveSearchSpace} for a model with `numLayers` layers, in
 * one pass: a single error lists structural and layer-range problems together. With
 * `intermediateSizes` (one per layer) width choices are checked against the model too, with
 * `linearShape` every group's r_max against `min(in, out)` of its modules.
 *
 * @param file - the name of a shipped space (`loadAndResolveSearchSpace('shears-llama', ...)`, any
 *   of {@link BUILTIN_SEARCH_SPACES}), or a path to a search-space JSON file ({@link searchSpaceFile};
 *   docs/search-spaces.md, "Shipped spaces")
 */
export async function loadAndResolveSearchSpace(file: string, options: Pick<ResolveOptions, 'numLayers' | 'intermediateSizes' | 'linearShape'>): Promise<SearchSpace> {
  file = searchSpaceFile(file);
  const text = await readText(file);
  // Check numLayers first so that a bad option is not reported as a problem of the file.
  const numLayers = Number.isSafeInteger(options.numLayers) && options.numLayers > 0 ? options.numLayers : undefined;
  const model = modelShapeOf(options);
  return resolveSearchSpace(parseChecked(text, file, numLayers, model), { numLayers: options.numLayers, file, ...model });
}

/** Names of the search spaces shipped in `search-spaces/`. */
export const BUILTIN_SEARCH_SPACES = ['shears-llama', 'sqft-qkv', 'lonas-llama', 'demo', 'demo-widths'] as const;

/** One of {@link BUILTIN_SEARCH_SPACES}. */
export type BuiltinSearchSpace = (typeof BUILTIN_SEARCH_SPACES)[number];

/**
 * Absolute path of a shipped search space, e.g. `builtinSearchSpacePath('demo')`.
 * (`search-spaces/` sits two directories above this module both in `src/space` and in `dist/space`.)
 */
export function builtinSearchSpacePath(name: string): string {
  if (!(BUILTIN_SEARCH_SPACES as readonly string[]).includes(name)) {
    throw new NlsError(`unknown built-in search space ${JSON.stringify(name)}; fix: use one of ${BUILTIN_SEARCH_SPACES.join(', ')}, or a path to a .json file`, { field: 'search space' });
  }
  return fileURLToPath(new URL(`../../search-spaces/${name}.json`, import.meta.url));
}
