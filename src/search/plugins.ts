/**
 * Loading search-strategy plugins: an ES module (a file, or an installed npm package) whose
 * default export — or named export `strategy` or `strategies` — is a StrategyFactory or an array
 * of them. `nls search --strategy ./my-strategy.js` and `--strategy nls-strategy-acme` go through
 * {@link loadStrategyPlugin}. See docs/plugins.md.
 *
 * A spec is a **path** when it starts with `./`, `../`, `/`, a drive letter (`C:\`) or `file:`;
 * it is resolved against the working directory. Anything else is a **package name** (optionally
 * with a subpath, `@acme/strategies/fast`), resolved like Node resolves an `import` from the
 * working directory: `node_modules` folders upwards, the package's `exports` (conditions `import`,
 * `node`, `default`), else `main`, else `index.js`.
 *
 * A module may export several strategies; `SPEC#NAME` ({@link loadStrategySpec}) chooses the one
 * named NAME (its factory's `name`).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NlsError } from '../errors.js';
import { closest } from '../util/suggest.js';
import type { StrategyFactory } from './contract.js';
import { defaultRegistry, validateStrategyFactory, type StrategyRegistry } from './registry.js';

/** A loaded plugin, as recorded in study headers and manifests. */
export interface LoadedPlugin {
  /** The spec as given (`./my.js`, `nls-strategy-acme`), without a `#name` strategy choice. */
  readonly spec: string;
  /** Absolute path of the module file. */
  readonly module: string;
  /** SHA-256 (hex) of the module file's bytes. */
  readonly sha256: string;
  /** The strategies it exports, in export order. */
  readonly factories: readonly StrategyFactory[];
}

/** Options of {@link loadStrategyPlugin}. */
export interface LoadPluginOptions {
  /** Directory paths and package names are resolved from (default `process.cwd()`). */
  readonly cwd?: string;
  /** Registry to register the strategies in (default the process-wide one); `false` to only load. */
  readonly registry?: StrategyRegistry | false;
}

/** True when `spec` names a file rather than a package (see the module comment). */
export function isPathSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || path.isAbsolute(spec) || /^[A-Za-z]:[\\/]/.test(spec) || spec.startsWith('file:') || spec.startsWith('.\\') || spec.startsWith('..\\');
}

/** Split `@scope/name/sub/path` into the package name and the subpath (`.` or `./sub/path`). */
function splitPackageSpec(spec: string): { name: string; subpath: string } {
  const parts = spec.split('/');
  const n = spec.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, n).join('/');
  const rest = parts.slice(n).join('/');
  return { name, subpath: rest ? `./${rest}` : '.' };
}

const CONDITIONS = ['import', 'node', 'default'];

/** Resolve an `exports` target for the given conditions (strings, condition objects, arrays). */
function resolveTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t);
      if (r) return r;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    for (const [cond, value] of Object.entries(target as Record<string, unknown>)) {
      if (CONDITIONS.includes(cond)) {
        const r = resolveTarget(value);
        if (r) return r;
      }
    }
  }
  return undefined;
}

/** The entry file of `subpath` of the package in `dir`, following its package.json. */
async function packageEntry(dir: string, subpath: string, spec: string): Promise<string> {
  let pkg: Record<string, unknown> = {};
  try {
    pkg = JSON.parse(await fsp.readFile(path.join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new NlsError(`cannot read package.json of plugin package "${spec}" (${(err as Error).message})`, { file: path.join(dir, 'package.json'), cause: err });
  }
  const exportsField = pkg['exports'];
  if (exportsField !== undefined) {
    // `exports` is either the target of "." or a map of subpaths.
    const isSubpathMap = typeof exportsField === 'object' && exportsField !== null && !Array.isArray(exportsField) && Object.keys(exportsField).some((k) => k.startsWith('.'));
    const target = isSubpathMap ? (exportsField as Record<string, unknown>)[subpath] : subpath === '.' ? exportsField : undefined;
    const resolved = resolveTarget(target);
    if (!resolved) {
      throw new NlsError(`package "${spec}" does not export "${subpath}" for import; fix: check the package name and its "exports" field`, { file: path.join(dir, 'package.json'), field: 'exports' });
    }
    return path.resolve(dir, resolved);
  }
  if (subpath !== '.') return path.resolve(dir, subpath);
  const main = typeof pkg['main'] === 'string' ? pkg['main'] : 'index.js';
  const candidate = path.resolve(dir, main);
  if (existsSync(candidate)) return candidate;
  if (existsSync(`${candidate}.js`)) return `${candidate}.js`;
  return path.join(candidate, 'index.js');
}

/**
 * Where the package `spec` is installed, seen from `cwd`: its folder in a `node_modules` from
 * `cwd` upwards, or the file Node's own (CommonJS) resolution finds, which also knows NODE_PATH
 * and global folders. Undefined when it is not installed.
 */
function findPackage(spec: string, cwd: string): { readonly dir: string; readonly subpath: string } | { readonly file: string } | undefined {
  const { name, subpath } = splitPackageSpec(spec);
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return { dir: candidate, subpath };
    if (path.dirname(dir) === dir) break;
  }
  try {
    return { file: createRequire(path.join(path.resolve(cwd), 'noop.js')).resolve(spec) };
  } catch {
    return undefined;
  }
}

/**
 * The error for a spec that is neither a registered strategy nor an installed package. A name
 * close to a registered strategy is taken for a misspelling of it (`nsga3`: did you mean `nsga2`),
 * anything else for a package to install.
 */
function packageNotFound(spec: string, cwd: string, registry: StrategyRegistry): NlsError {
  if (closest(spec, registry.list().map((f) => f.name)) !== undefined) {
    // The registry's own unknown-name error, with its did-you-mean and the registered names.
    try {
      registry.entry(spec);
    } catch (err) {
      if (err instanceof NlsError) return err;
    }
  }
  const hint = existsSync(path.resolve(cwd, spec)) ? `did you mean the file ./${spec}? Paths must start with ./ or ../; ` : '';
  return new NlsError(`cannot find strategy plugin package "${spec}" from ${cwd}; fix: ${hint}install it (npm install ${splitPackageSpec(spec).name}) or pass a path such as ./my-strategy.js`, {
    field: 'strategy',
  });
}

/** Find `node_modules/<name>` from `cwd` upwards and resolve its entry. */
async function resolvePackage(spec: string, cwd: string): Promise<string> {
  const found = findPackage(spec, cwd);
  if (found === undefined) throw packageNotFound(spec, cwd, defaultRegistry);
  return 'file' in found ? found.file : packageEntry(found.dir, found.subpath, spec);
}

/** The file a path spec names. @throws NlsError when it does not exist */
function pluginFile(spec: string, cwd: string): string {
  const file = spec.startsWith('file:') ? fileURLToPath(spec) : path.resolve(cwd, spec);
  if (!existsSync(file)) throw new NlsError('strategy plugin file not found; fix: check the path (relative paths are resolved against the working directory)', { file });
  return file;
}

/** Absolute module path of a spec. */
export async function resolvePluginSpec(spec: string, cwd: string = process.cwd()): Promise<string> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new NlsError('a strategy plugin spec must be a non-empty path or package name', { field: 'strategy' });
  if (isPathSpec(spec)) return pluginFile(spec, cwd);
  return resolvePackage(spec, cwd);
}

/**
 * Check, without loading or running anything, that `spec` can name a strategy: a registered
 * name, a plugin file that exists (also as `FILE#NAME`), or an installed package. The CLI calls
 * it while it parses `--strategy`, before a supernet is loaded or an output folder made.
 *
 * @throws NlsError as {@link loadStrategyPlugin} would for a missing file or package; for a name
 *   close to a registered strategy, the registry's unknown-strategy error with a did-you-mean
 */
export function checkStrategySpec(spec: string, options: { readonly cwd?: string; readonly registry?: StrategyRegistry } = {}): void {
  const cwd = options.cwd ?? process.cwd();
  const registry = options.registry ?? defaultRegistry;
  if (typeof spec !== 'string' || spec.trim() === '') throw new NlsError('a strategy plugin spec must be a non-empty path or package name', { field: 'strategy' });
  if (registry.has(spec)) return;
  // `MODULE#NAME` chooses one of a module's strategies: the module is what must exist.
  const hash = spec.lastIndexOf('#');
  const module = hash > 0 && !existsSync(path.resolve(cwd, spec)) ? spec.slice(0, hash) : spec;
  if (isPathSpec(module)) {
    pluginFile(module, cwd);
    return;
  }
  if (findPackage(module, cwd) === undefined) throw packageNotFound(module, cwd, registry);
}

/**
 * Load a strategy plugin (see the module comment), check every factory it exports and, unless
 * `registry: false`, register them. Loading the same module twice is harmless.
 *
 * @throws NlsError naming the file and what is missing when the module exports no valid factory,
 *   cannot be found or fails to load
 */
export async function loadStrategyPlugin(spec: string, options: LoadPluginOptions = {}): Promise<LoadedPlugin> {
  const cwd = options.cwd ?? process.cwd();
  const file = await resolvePluginSpec(spec, cwd);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new NlsError(`cannot read strategy plugin (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file, cause: err });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new NlsError(`cannot load strategy plugin: ${(err as Error).message}; fix: the plugin must be an ES module (or CommonJS) that Node can import`, { file, cause: err });
  }
  const factories = pluginFactories(mod, file);
  const registry = options.registry ?? defaultRegistry;
  if (registry) for (const f of factories) registry.register(f, { source: { kind: 'plugin', module: file, sha256, spec } });
  return { spec, module: file, sha256, factories };
}

/**
 * Split a strategy spec `MODULE#NAME` into the plugin module and the name of one of its
 * strategies; a spec without `#` (or a path that exists with its `#`) is the module alone.
 */
export function splitStrategySpec(spec: string, cwd: string = process.cwd()): { readonly module: string; readonly name?: string } {
  const hash = spec.lastIndexOf('#');
  if (hash <= 0 || hash === spec.length - 1) return { module: spec };
  if (isPathSpec(spec) && !spec.startsWith('file:') && existsSync(path.resolve(cwd, spec))) return { module: spec };
  return { module: spec.slice(0, hash), name: spec.slice(hash + 1) };
}

/**
 * Load the plugin a strategy spec names and choose its strategy: `./plugin.js#fast` (or
 * `nls-strategy-acme#fast`) the one named `fast`, a spec without `#name` the module's only one.
 *
 * @throws NlsError when the name is not among the module's strategies, or the module exports
 *   several and none was chosen (listing their names and the spec that picks each)
 */
export async function loadStrategySpec(spec: string, options: LoadPluginOptions = {}): Promise<{ readonly plugin: LoadedPlugin; readonly factory: StrategyFactory }> {
  const { module, name } = splitStrategySpec(spec, options.cwd);
  const plugin = await loadStrategyPlugin(module, options);
  const names = plugin.factories.map((f) => f.name);
  if (name !== undefined) {
    const factory = plugin.factories.find((f) => f.name === name);
    if (!factory) {
      throw new NlsError(`exports no strategy named "${name}" (its strategies: ${names.join(', ')}); fix: ${names.map((n) => `--strategy ${module}#${n}`).join(' or ')}`, {
        file: plugin.module,
        field: 'strategy',
      });
    }
    return { plugin, factory };
  }
  if (plugin.factories.length > 1) {
    throw new NlsError(`exports ${names.length} strategies (${names.join(', ')}); fix: choose one: ${names.map((n) => `--strategy ${module}#${n}`).join(', ')}`, {
      file: plugin.module,
      field: 'strategy',
    });
  }
  return { plugin, factory: plugin.factories[0]! };
}

/**
 * The factories a plugin module exports: its default export, or named exports `strategy` and
 * `strategies`, each a factory or an array of factories. Each is validated.
 *
 * @param where file named in errors
 */
export function pluginFactories(mod: Readonly<Record<string, unknown>>, where: string): StrategyFactory[] {
  const exportsToCheck: [string, unknown][] = [];
  for (const name of ['default', 'strategy', 'strategies']) if (mod[name] !== undefined) exportsToCheck.push([name, mod[name]]);
  if (exportsToCheck.length === 0) {
    const names = Object.keys(mod);
    throw new NlsError(
      `exports no strategy (its exports: ${names.length > 0 ? names.join(', ') : 'none'}); fix: \`export default { name, version, description, options, create }\` (a StrategyFactory) or an array of them, or a named export \`strategy\` / \`strategies\``,
      { file: where },
    );
  }
  const out: StrategyFactory[] = [];
  for (const [name, value] of exportsToCheck) {
    // A CommonJS module imported from ESM shows up as { default: module.exports }.
    const unwrapped = name === 'default' && isModuleObject(value) ? (value as Record<string, unknown>)['default'] ?? (value as Record<string, unknown>)['strategies'] ?? (value as Record<string, unknown>)['strategy'] : value;
    const list = Array.isArray(unwrapped) ? unwrapped : [unwrapped];
    if (list.length === 0) throw new NlsError(`export ${name} is an empty array; fix: export at least one StrategyFactory`, { file: where });
    list.forEach((f, i) => {
      validateStrategyFactory(f, `${where}: export ${name}${Array.isArray(unwrapped) ? `[${i}]` : ''}`);
      if (out.includes(f)) return;
      const clash = out.find((g) => g.name === f.name);
      if (clash) throw new NlsError(`two exported strategies are named "${f.name}"; fix: give each strategy its own name`, { file: where });
      out.push(f);
    });
  }
  return out;
}

/** An object that looks like a module namespace or `module.exports` holding the factories. */
function isModuleObject(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return typeof o['create'] !== 'function' && (o['default'] !== undefined || o['strategies'] !== undefined || o['strategy'] !== undefined);
}
