/**
 * Search spaces for elastic-rank LoRA supernets (Shears / SQFT / LoNAS), optionally with elastic
 * MLP widths of the base (LoNAS mode B): the `nls-search-space/1` file format, its validation, and
 * configurations (one choice index per group instance) with their keys, enumeration, sampling and
 * neighbourhoods.
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
  isWidthGroup,
  type GroupKind,
  type GroupSpec,
  type RankGroupSpec,
  type WidthGroupSpec,
  type KnownModule,
  type LayerSelection,
  type LoraScaling,
  type SearchSpaceSpec,
} from './format.js';
export { SearchSpaceError, formatProblem, type SourcePosition, type SpaceProblem } from './problems.js';
export { JsonSyntaxError, parseJsonWithPositions, type DuplicateKey, type ParsedJson } from './json.js';
export { rankTooLargeProblem, validateSearchSpaceSpec, type ModelShape, type SpecOrigin } from './validate.js';
export { resolveSearchSpace, type ResolveOptions } from './resolve.js';
export { assertSubspace, subspaceProblems } from './subspace.js';
export {
  BUILTIN_SEARCH_SPACES,
  builtinSearchSpacePath,
  searchSpaceFile,
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
  type GeneInit,
  type GeneInstance,
  type SearchSpaceInit,
  type WidthPlanEntry,
} from './search-space.js';
