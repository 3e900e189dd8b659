/**
 * Validation of search-space files: structure, values, and (when the model is known) layer
 * ranges. Every problem is collected so the user can fix the whole file in one go.
 */
import {
  GROUP_KEYS,
  GROUP_KINDS,
  GROUP_NAME_PATTERN,
  KNOWN_MODULES,
  LORA_SCALINGS,
  SEARCH_SPACE_FORMAT,
  SPACE_NAME_PATTERN,
  SPEC_KEYS,
  WIDTH_GROUP_KEYS,
  WIDTH_MODULES,
  isKnownModule,
  type KnownModule,
  type SearchSpaceSpec,
} from './format.js';
import { ProblemList, closest, indexPath, keyPath, type SourcePosition } from './problems.js';

/** Where a spec came from, so that problems name the file and line. */
export interface SpecOrigin {
  /** File the spec was read from. */
  readonly file?: string | undefined;
  /** Start position of each value by JSON path, from the parser. */
  readonly positions?: ReadonlyMap<string, SourcePosition> | undefined;
}

/**
 * Origins of specs returned by the loaders, so that `resolveSearchSpace` can name file and line
 * without the spec object carrying non-JSON fields.
 */
const origins = new WeakMap<object, SpecOrigin>();

/** Remember where `spec` came from. */
export function rememberOrigin(spec: object, origin: SpecOrigin): void {
  origins.set(spec, origin);
}

/** Where `spec` came from, when it was loaded by nls. */
export function originOf(spec: object): SpecOrigin | undefined {
  return origins.get(spec);
}

/**
 * Check a value against the `nls-search-space/1` format and return it typed.
 *
 * Checks everything that does not depend on the model: unknown keys, required fields, types,
 * module names, rank choices, duplicate modules. Layer indices are checked against the model by
 * {@link checkSpec} with `numLayers` (done by `resolveSearchSpace`).
 *
 * @throws SearchSpaceError listing every problem, each with JSON path and fix.
 */
export function validateSearchSpaceSpec(value: unknown, origin: SpecOrigin = {}): SearchSpaceSpec {
  const problems = new ProblemList(origin.positions);
  checkSpec(value, problems, undefined);
  problems.throwIfAny(origin.file);
  if (origin.file !== undefined || origin.positions !== undefined) rememberOrigin(value as object, origin);
  return value as SearchSpaceSpec;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(o: Json, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** Short description of a JSON value for messages. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `the number ${String(v)}`;
  if (typeof v === 'boolean') return String(v);
  return typeof v;
}

function quoteList(items: readonly string[]): string {
  return items.map((s) => JSON.stringify(s)).join(', ');
}

function checkUnknownKeys(o: Json, path: string, allowed: readonly string[], problems: ProblemList, where: string): void {
  for (const key of Object.keys(o)) {
    if (allowed.includes(key)) continue;
    const guess = closest(key, allowed);
    problems.add(
      keyPath(path, key),
      `unknown key ${JSON.stringify(key)} in ${where}`,
      guess ? `did you mean ${JSON.stringify(guess)}? Otherwise remove it (allowed keys: ${quoteList(allowed)})` : `remove it (allowed keys: ${quoteList(allowed)})`,
    );
  }
}

function checkRequired(o: Json, path: string, key: string, example: string, problems: ProblemList, where: string): boolean {
  if (has(o, key)) return true;
  problems.add(keyPath(path, key), `missing required field ${JSON.stringify(key)} in ${where}`, `add ${JSON.stringify(key)}: ${example}`);
  return false;
}

function checkPositiveNumber(v: unknown, path: string, what: string, problems: ProblemList): boolean {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return true;
  problems.add(path, `${what} must be a positive number, got ${describe(v)}`, `write a positive number such as 64`);
  return false;
}

function checkDropout(v: unknown, path: string, problems: ProblemList): void {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1) return;
  problems.add(path, `dropout must be a probability in [0, 1), got ${describe(v)}`, `write a number such as 0.05, or 0 for no dropout`);
}

/**
 * Check a `layers` value; returns the selected layers (`'all'` or a set) when valid, else undefined.
 * With `numLayers`, indices must lie in [0, numLayers).
 */
function checkLayers(v: unknown, path: string, numLayers: number | undefined, problems: ProblemList): 'all' | Set<number> | undefined {
  if (v === 'all') return 'all';
  const range = numLayers === undefined ? 'non-negative integers' : `integers in 0..${numLayers - 1}`;
  if (!Array.isArray(v)) {
    problems.add(path, `layers must be "all" or a list of layer indices, got ${describe(v)}`, `write "all", or a list of ${range} such as [0, 1, 2]`);
    return undefined;
  }
  if (v.length === 0) {
    problems.add(path, 'layers is an empty list, so nothing would be adapted', `list at least one layer, write "all", or remove the group`);
    return undefined;
  }
  const out = new Set<number>();
  let ok = true;
  v.forEach((layer: unknown, k) => {
    const p = indexPath(path, k);
    if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0) {
      problems.add(p, `layer index must be a non-negative integer, got ${describe(layer)}`, `use ${range}`);
      ok = false;
    } else if (numLayers !== undefined && layer >= numLayers) {
      problems.add(p, `layer ${layer} is out of range: the model has ${numLayers} layers (0..${numLayers - 1})`, `use ${range}, or "all"`);
      ok = false;
    } else if (out.has(layer)) {
      problems.add(p, `layer ${layer} is listed twice`, `remove the repeated index`);
      ok = false;
    } else {
      out.add(layer);
    }
  });
  return ok ? out : undefined;
}

/** Check a rank-choice list: strictly descending positive integers, optionally ending in 0. Returns r_max when the list is valid. */
function checkRanks(v: unknown, path: string, problems: ProblemList): number | undefined {
  if (!Array.isArray(v)) {
    problems.add(path, `ranks must be a list of rank choices, got ${describe(v)}`, `write the choices largest first, e.g. [32, 24, 16]`);
    return undefined;
  }
  if (v.length === 0) {
    problems.add(path, 'ranks is empty: a group needs at least one rank choice', `write the choices largest first, e.g. [32, 24, 16]`);
    return undefined;
  }
  let allIntegers = true;
  v.forEach((r: unknown, k) => {
    const p = indexPath(path, k);
    if (typeof r !== 'number' || !Number.isSafeInteger(r)) {
      problems.add(p, `rank choice must be an integer, got ${describe(r)}`, `use whole numbers such as 32, 24, 16`);
      allIntegers = false;
    } else if (r < 0) {
      problems.add(p, `rank choice must not be negative, got ${r}`, `use positive integers (0 only as the last choice, meaning "adapter off")`);
      allIntegers = false;
    } else if (r === 0 && k === 0) {
      problems.add(p, 'the first rank choice is r_max and must be positive, got 0', `put the largest rank first; 0 ("adapter off") may only be the last choice`);
      allIntegers = false;
    } else if (r === 0 && k !== v.length - 1) {
      problems.add(p, 'rank 0 ("adapter off") is only allowed as the last choice', `move 0 to the end of the list`);
      allIntegers = false;
    }
  });
  if (!allIntegers) return undefined;
  const ranks = v as number[];
  const descending = ranks.every((r, k) => k === 0 || r < (ranks[k - 1] ?? 0));
  if (!descending) {
    const fixed = [...new Set(ranks)].sort((a, b) => b - a);
    problems.add(
      path,
      `rank choices must be strictly descending (largest first, no repeats), got [${ranks.join(', ')}]`,
      `write them as [${fixed.join(', ')}]`,
    );
    return undefined;
  }
  return ranks[0];
}

/**
 * The message and fix for an r_max above what a group's modules can use: a LoRA update `B·A` of a
 * module with weight `[out, in]` has rank at most `min(in, out)`, so a larger rank only adds
 * parameters and memory. Shared by search-space resolution and `AdapterSet.attach`.
 *
 * @param modules - the offending modules with their `[in, out]` shapes, narrowest first.
 */
export function rankTooLargeProblem(rMax: number, modules: readonly { readonly module: string; readonly shape: readonly [number, number]; readonly layers?: string }[]): { message: string; fix: string } {
  const cap = Math.min(...modules.map((m) => Math.min(m.shape[0], m.shape[1])));
  const list = modules.map((m) => `${m.module} [${m.shape[0]} in, ${m.shape[1]} out]${m.layers ? ` (${m.layers})` : ''}`).join(', ');
  return {
    message: `rank ${rMax} exceeds the width of ${list}: a LoRA update B·A of a module has rank at most min(in, out) = ${cap}, so a larger rank adds parameters and memory but nothing the adapter can express`,
    fix: `use ranks no larger than ${cap} for this group (rank ${cap} is already a full-rank update; LoRA ranks are normally far below it), or move the narrow modules to a group of their own`,
  };
}

/**
 * Modules of a rank group whose `min(in, out)` is below `rMax`, narrowest first, each with the
 * shape and the layers where it is narrowest.
 */
function modulesNarrowerThan(rMax: number, modules: Iterable<string>, layers: readonly number[], linearShape: NonNullable<ModelShape['linearShape']>): { module: string; shape: readonly [number, number]; layers: string }[] {
  const out: { module: string; shape: readonly [number, number]; width: number; layers: number[] }[] = [];
  for (const module of modules) {
    let worst: { shape: readonly [number, number]; width: number; layers: number[] } | undefined;
    for (const layer of layers) {
      const shape = linearShape(layer, module as KnownModule);
      const width = Math.min(shape[0], shape[1]);
      if (width >= rMax) continue;
      if (!worst || width < worst.width) worst = { shape, width, layers: [layer] };
      else if (width === worst.width) worst.layers.push(layer);
    }
    if (worst) out.push({ module, ...worst });
  }
  return out.sort((a, b) => a.width - b.width).map((m) => ({ module: m.module, shape: m.shape, layers: m.layers.length === layers.length ? 'every layer' : formatLayerSet(m.layers) }));
}

/** Check a width-choice list: strictly descending positive integers (no 0: a width of 0 would remove the MLP). */
function checkWidths(v: unknown, path: string, problems: ProblemList, sizes: ReadonlyMap<number, number> | undefined): number[] | undefined {
  if (!Array.isArray(v)) {
    problems.add(path, `widths must be a list of MLP width choices, got ${describe(v)}`, `write the choices largest first, e.g. [11008, 9632, 8256]`);
    return undefined;
  }
  if (v.length === 0) {
    problems.add(path, 'widths is empty: a width group needs at least one width choice', `write the choices largest first, e.g. [11008, 9632, 8256]`);
    return undefined;
  }
  let ok = true;
  v.forEach((w: unknown, k) => {
    const p = indexPath(path, k);
    if (typeof w !== 'number' || !Number.isSafeInteger(w)) {
      problems.add(p, `width choice must be an integer, got ${describe(w)}`, `use whole numbers of MLP channels such as 11008, 9632`);
      ok = false;
    } else if (w <= 0) {
      problems.add(p, `width choice must be positive, got ${w}`, `use positive numbers of MLP channels (a width group cannot switch the MLP off)`);
      ok = false;
    }
  });
  if (!ok) return undefined;
  const widths = v as number[];
  const descending = widths.every((w, k) => k === 0 || w < (widths[k - 1] ?? 0));
  if (!descending) {
    const fixed = [...new Set(widths)].sort((a, b) => b - a);
    problems.add(path, `width choices must be strictly descending (largest first, no repeats), got [${widths.join(', ')}]`, `write them as [${fixed.join(', ')}]`);
    return undefined;
  }
  if (sizes !== undefined && sizes.size > 0) {
    const smallest = Math.min(...sizes.values());
    if ((widths[0] ?? 0) > smallest) {
      const where = [...sizes].filter(([, s]) => s < (widths[0] ?? 0)).map(([l]) => l);
      problems.add(
        indexPath(path, 0),
        `width ${widths[0]} exceeds the model's intermediate size ${smallest} (${formatLayerSet(where)})`,
        `use widths no larger than the layer's intermediate_size (the first choice is normally the full width, ${smallest})`,
      );
    }
  }
  return widths;
}

/** What the model tells validation beyond the number of layers. */
export interface ModelShape {
  /** MLP intermediate size of every layer (index = layer). */
  readonly intermediateSizes?: readonly number[];
  /**
   * `[in, out]` features of a linear module of a layer (`linearShape(config, layer, module)` of
   * src/model/llama.ts). When given, every rank group's r_max is checked against `min(in, out)` of
   * each of its modules (a larger rank is refused: it adds memory, not expressiveness).
   */
  readonly linearShape?: ((layer: number, module: KnownModule) => readonly [number, number]) | undefined;
}

function formatLayerSet(layers: readonly number[]): string {
  return layers.length === 1 ? `layer ${layers[0]}` : `layers ${layers.join(', ')}`;
}

/** Overlap of two layer selections; `'all'` means every layer of the model. */
function overlap(a: 'all' | Set<number>, b: 'all' | Set<number>, numLayers: number | undefined): 'all' | number[] {
  if (a === 'all' && b === 'all') return 'all';
  if (a === 'all') return [...(b as Set<number>)].filter((l) => numLayers === undefined || l < numLayers).sort((x, y) => x - y);
  if (b === 'all') return [...a].filter((l) => numLayers === undefined || l < numLayers).sort((x, y) => x - y);
  return [...a].filter((l) => b.has(l)).sort((x, y) => x - y);
}

/**
 * Record every problem of `value` as a search-space spec in `problems`. With `numLayers`, layer
 * indices are also checked against the model.
 */
export function checkSpec(value: unknown, problems: ProblemList, numLayers: number | undefined, model: ModelShape = {}): void {
  if (!isObject(value)) {
    problems.add('', `a search space must be a JSON object, got ${describe(value)}`, `write { "format": "${SEARCH_SPACE_FORMAT}", "name": ..., "alpha": ..., "groups": [...] }`);
    return;
  }
  const where = 'the search space';
  checkUnknownKeys(value, '', SPEC_KEYS, problems, where);

  if (has(value, '$schema') && typeof value.$schema !== 'string') {
    problems.add('$schema', `$schema must be a string, got ${describe(value.$schema)}`, `write "$schema": "./schema.json" or remove it`);
  }
  if (checkRequired(value, '', 'format', JSON.stringify(SEARCH_SPACE_FORMAT), problems, where)) {
    const f = value.format;
    if (f !== SEARCH_SPACE_FORMAT) {
      const message =
        typeof f === 'string' && f.startsWith('nls-search-space/')
          ? `unsupported format version ${JSON.stringify(f)}: this version of nls reads ${JSON.stringify(SEARCH_SPACE_FORMAT)}`
          : `format must be ${JSON.stringify(SEARCH_SPACE_FORMAT)}, got ${describe(f)}`;
      problems.add('format', message, `set "format": ${JSON.stringify(SEARCH_SPACE_FORMAT)} and check the file against docs/search-spaces.md`);
    }
  }
  if (checkRequired(value, '', 'name', '"my-space"', problems, where)) {
    if (typeof value.name !== 'string' || !SPACE_NAME_PATTERN.test(value.name)) {
      problems.add('name', `name must be a non-empty string of letters, digits, "_", "-" or ".", got ${describe(value.name)}`, `write a short name such as "shears-llama"`);
    }
  }
  if (has(value, 'description') && typeof value.description !== 'string') {
    problems.add('description', `description must be a string, got ${describe(value.description)}`, `write the description as a string, or remove it`);
  }
  if (checkRequired(value, '', 'alpha', '64', problems, where)) checkPositiveNumber(value.alpha, 'alpha', 'alpha', problems);
  if (has(value, 'scaling') && !(LORA_SCALINGS as readonly unknown[]).includes(value.scaling)) {
    problems.add('scaling', `scaling must be one of ${quoteList(LORA_SCALINGS)}, got ${describe(value.scaling)}`, `write "scaling": "alpha/r_max" (Shears/SQFT, the default) or "alpha/r"`);
  }
  if (has(value, 'dropout')) checkDropout(value.dropout, 'dropout', problems);
  let defaultLayers: 'all' | Set<number> | undefined = 'all';
  if (has(value, 'layers')) defaultLayers = checkLayers(value.layers, 'layers', numLayers, problems);

  if (!checkRequired(value, '', 'groups', '[{ "name": "qkv", "modules": ["q_proj", "k_proj", "v_proj"], "ranks": [32, 24, 16] }]', problems, where)) return;
  const groups = value.groups;
  if (!Array.isArray(groups)) {
    problems.add('groups', `groups must be a list of groups, got ${describe(groups)}`, `write "groups": [{ "name": ..., "modules": [...], "ranks": [...] }]`);
    return;
  }
  if (groups.length === 0) {
    problems.add('groups', 'groups is empty: there is nothing to search', `add at least one group, e.g. { "name": "qkv", "modules": ["q_proj", "k_proj", "v_proj"], "ranks": [32, 24, 16] }`);
    return;
  }

  /** Valid modules and layers of each group, for the cross-group duplicate check. */
  const seen: { index: number; name: string; modules: Map<string, number>; layers: 'all' | Set<number> | undefined }[] = [];
  const widthSeen: { index: number; name: string; layers: 'all' | Set<number> | undefined }[] = [];
  const names = new Map<string, number>();
  groups.forEach((g: unknown, gi) => {
    const gp = indexPath('groups', gi);
    if (!isObject(g)) {
      problems.add(gp, `a group must be an object, got ${describe(g)}`, `write { "name": ..., "modules": [...], "ranks": [...] }`);
      return;
    }
    const gwhere = `group ${gi}`;
    if (has(g, 'kind') && !(GROUP_KINDS as readonly unknown[]).includes(g.kind)) {
      problems.add(keyPath(gp, 'kind'), `kind must be one of ${quoteList(GROUP_KINDS)}, got ${describe(g.kind)}`, `write "kind": "width" for an elastic MLP width, or leave "kind" out for a rank group`);
      return;
    }
    const isWidth = g.kind === 'width';
    checkUnknownKeys(g, gp, isWidth ? WIDTH_GROUP_KEYS : GROUP_KEYS, problems, isWidth ? `width group ${gi} (width groups have no modules, ranks, alpha or dropout: they always cut ${WIDTH_MODULES.join(', ')})` : gwhere);
    let name = `#${gi}`;
    if (checkRequired(g, gp, 'name', '"qkv"', problems, gwhere)) {
      if (typeof g.name !== 'string' || !GROUP_NAME_PATTERN.test(g.name)) {
        problems.add(keyPath(gp, 'name'), `group name must be a non-empty string of letters, digits, "_" or "-", got ${describe(g.name)}`, `write a short name such as "qkv"`);
      } else {
        name = g.name;
        const prev = names.get(g.name);
        if (prev !== undefined) {
          problems.add(keyPath(gp, 'name'), `group name ${JSON.stringify(g.name)} is already used by groups[${prev}]`, `give every group a different name`);
        } else {
          names.set(g.name, gi);
        }
      }
    }
    if (isWidth) {
      let sizes: Map<number, number> | undefined;
      let layers = defaultLayers;
      if (has(g, 'layers')) layers = checkLayers(g.layers, keyPath(gp, 'layers'), numLayers, problems);
      if (model.intermediateSizes !== undefined && layers !== undefined) {
        const list = layers === 'all' ? model.intermediateSizes.map((_, l) => l) : [...layers];
        sizes = new Map(list.filter((l) => l < model.intermediateSizes!.length).map((l) => [l, model.intermediateSizes![l]!]));
      }
      if (checkRequired(g, gp, 'widths', '[11008, 9632, 8256, 6880, 5504]', problems, gwhere)) checkWidths(g.widths, keyPath(gp, 'widths'), problems, sizes);
      // A layer's MLP has one width: width groups must not share a layer.
      if (layers !== undefined) {
        for (const other of widthSeen) {
          if (other.layers === undefined) continue;
          const common = overlap(layers, other.layers, numLayers);
          if (common !== 'all' && common.length === 0) continue;
          const on = common === 'all' ? 'on every layer' : `on ${formatLayerSet(common)}`;
          problems.add(
            keyPath(gp, 'layers'),
            `width group ${JSON.stringify(name)} overlaps width group ${JSON.stringify(other.name)} (groups[${other.index}]) ${on}`,
            `a layer's MLP has one width: give the width groups disjoint "layers", or merge them`,
          );
          break;
        }
      }
      widthSeen.push({ index: gi, name, layers });
      return;
    }
    const modules = new Map<string, number>();
    if (checkRequired(g, gp, 'modules', '["q_proj", "k_proj", "v_proj"]', problems, gwhere)) {
      const mp = keyPath(gp, 'modules');
      if (!Array.isArray(g.modules)) {
        problems.add(mp, `modules must be a list of module names, got ${describe(g.modules)}`, `write e.g. ["q_proj", "k_proj", "v_proj"]; known modules: ${quoteList(KNOWN_MODULES)}`);
      } else if (g.modules.length === 0) {
        problems.add(mp, 'modules is empty: a group needs at least one target module', `list modules from ${quoteList(KNOWN_MODULES)}`);
      } else {
        g.modules.forEach((m: unknown, mi) => {
          const p = indexPath(mp, mi);
          if (typeof m !== 'string') {
            problems.add(p, `module name must be a string, got ${describe(m)}`, `use one of ${quoteList(KNOWN_MODULES)}`);
          } else if (!isKnownModule(m)) {
            const guess = closest(m, KNOWN_MODULES);
            problems.add(p, `unknown module ${JSON.stringify(m)}`, `${guess ? `did you mean ${JSON.stringify(guess)}? Otherwise use` : 'use'} one of ${quoteList(KNOWN_MODULES)}`);
          } else if (modules.has(m)) {
            problems.add(p, `module ${JSON.stringify(m)} is named twice in group ${JSON.stringify(name)}`, `remove the repeated name`);
          } else {
            modules.set(m, mi);
          }
        });
      }
    }
    const rMax = checkRequired(g, gp, 'ranks', '[32, 24, 16]', problems, gwhere) ? checkRanks(g.ranks, keyPath(gp, 'ranks'), problems) : undefined;
    let layers = defaultLayers;
    if (has(g, 'layers')) layers = checkLayers(g.layers, keyPath(gp, 'layers'), numLayers, problems);
    // A rank above min(in, out) of a module cannot be used (with the model's shapes only).
    if (model.linearShape !== undefined && rMax !== undefined && layers !== undefined && numLayers !== undefined) {
      const list = layers === 'all' ? Array.from({ length: numLayers }, (_, l) => l) : [...layers].filter((l) => l < numLayers).sort((a, b) => a - b);
      const narrow = modulesNarrowerThan(rMax, modules.keys(), list, model.linearShape);
      if (narrow.length > 0) {
        const { message, fix } = rankTooLargeProblem(rMax, narrow);
        problems.add(indexPath(keyPath(gp, 'ranks'), 0), `group ${JSON.stringify(name)}: ${message}`, fix);
      }
    }
    if (has(g, 'alpha')) checkPositiveNumber(g.alpha, keyPath(gp, 'alpha'), 'alpha', problems);
    if (has(g, 'dropout')) checkDropout(g.dropout, keyPath(gp, 'dropout'), problems);

    // A module may belong to several groups only on disjoint layers: one rank per module and layer.
    if (layers !== undefined) {
      for (const [m, mi] of modules) {
        for (const other of seen) {
          if (other.layers === undefined || !other.modules.has(m)) continue;
          const common = overlap(layers, other.layers, numLayers);
          if (common !== 'all' && common.length === 0) continue;
          const on = common === 'all' ? 'on every layer' : `on ${formatLayerSet(common)}`;
          problems.add(
            indexPath(keyPath(gp, 'modules'), mi),
            `module ${JSON.stringify(m)} is already in group ${JSON.stringify(other.name)} (groups[${other.index}]) ${on}`,
            `a module takes one rank per layer: remove it from one of the groups, or give the groups disjoint "layers"`,
          );
          break;
        }
      }
    }
    seen.push({ index: gi, name, modules, layers });
  });
}
