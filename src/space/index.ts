/**
 * Search spaces for elastic-rank LoRA supernets (Shears / SQFT / LoNAS): the
 * `nls-search-space/1` file format, its validation, and configurations (one choice index per
 * group instance) with their keys, enumeration, sampling and neighbourhoods.
 *
 * Pure TypeScript: nothing here imports tfjs, so search strategies built on it test in
 * milliseconds. See `docs/search-spaces.md`.
 *
 * @packageDocumentation
 */
export {
  DEFAULT_DROPOUT,
  DEFAULT_SCALING,
  GROUP_KEYS,
  GROUP_NAME_PATTERN,
  KNOWN_MODULES,
  LORA_SCALINGS,
  SEARCH_SPACE_FORMAT,
  SPACE_NAME_PATTERN,
  SPEC_KEYS,
  isKnownModule,
  type GroupSpec,
  type KnownModule,
  type LayerSelection,
  type LoraScaling,
  type SearchSpaceSpec,
} from './format.js';
export { SearchSpaceError, formatProblem, type SourcePosition, type SpaceProblem } from './problems.js';
export { JsonSyntaxError, parseJsonWithPositions, type DuplicateKey, type ParsedJson } from './json.js';
export { validateSearchSpaceSpec, type SpecOrigin } from './validate.js';
export { resolveSearchSpace, type ResolveOptions } from './resolve.js';
export { assertSubspace, subspaceProblems } from './subspace.js';
export {
  BUILTIN_SEARCH_SPACES,
  builtinSearchSpacePath,
  loadAndResolveSearchSpace,
  loadSearchSpace,
  parseSearchSpace,
  type BuiltinSearchSpace,
} from './load.js';
export {
  DEFAULT_ENUMERATE_LIMIT,
  SearchSpace,
  loraScale,
  moduleKey,
  type AdapterPlanEntry,
  type Config,
  type EnumerateOptions,
  type GeneInstance,
  type SearchSpaceInit,
} from './search-space.js';
