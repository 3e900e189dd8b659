/**
 * The search-space file format `nls-search-space/1`: constants and the TypeScript shape of a
 * file. The format is documented field by field in `docs/search-spaces.md`; the editor schema
 * is `search-spaces/schema.json`. A test keeps the three in step.
 */

/** Value of the `format` field of every search-space file this version of nls reads. */
export const SEARCH_SPACE_FORMAT = 'nls-search-space/1';

/**
 * Linear modules of a LLaMA decoder layer that can carry an adapter, as Hugging Face names them.
 * Repeated here (rather than imported from `src/model`) because `src/space` must not pull in tfjs.
 */
export const KNOWN_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** One of {@link KNOWN_MODULES}. */
export type KnownModule = (typeof KNOWN_MODULES)[number];

/** True when `name` is one of {@link KNOWN_MODULES}. */
export function isKnownModule(name: string): name is KnownModule {
  return (KNOWN_MODULES as readonly string[]).includes(name);
}

/**
 * How the LoRA output is scaled.
 * - `alpha/r_max`: `alpha / r_max` whatever rank is active, so a sub-adapter is a slice of the
 *   supernet adapter with the *same* scale (Shears, SQFT). The default.
 * - `alpha/r`: `alpha / r` for the active rank `r` (plain LoRA applied per sub-adapter).
 */
export type LoraScaling = 'alpha/r_max' | 'alpha/r';

/** The scaling modes, in documentation order; the first is the default. */
export const LORA_SCALINGS: readonly LoraScaling[] = ['alpha/r_max', 'alpha/r'];

/** Default of the `scaling` field. */
export const DEFAULT_SCALING: LoraScaling = 'alpha/r_max';

/** Default of the `dropout` field. */
export const DEFAULT_DROPOUT = 0;

/** Which decoder layers get adapters: every layer, or an explicit list of 0-based indices. */
export type LayerSelection = 'all' | readonly number[];

/**
 * A group of target modules sharing one elastic rank. On every selected layer the group becomes one
 * *group instance*, which is one gene of a configuration.
 */
export interface GroupSpec {
  /** Unique name of the group (letters, digits, `_`, `-`). */
  readonly name: string;
  /** Target modules; at least one, each from {@link KNOWN_MODULES}, none repeated. */
  readonly modules: readonly KnownModule[];
  /**
   * Rank choices, strictly descending positive integers; the first is `r_max`, the rank the
   * supernet adapter is allocated with. The last may be `0`, meaning "adapter off".
   */
  readonly ranks: readonly number[];
  /** Layers for this group, replacing the top-level `layers`. */
  readonly layers?: LayerSelection;
  /** LoRA alpha for this group, replacing the top-level `alpha`. */
  readonly alpha?: number;
  /** Adapter dropout probability for this group, replacing the top-level `dropout`. */
  readonly dropout?: number;
}

/** A search-space file (`nls-search-space/1`) as it is written. Optional fields have defaults. */
export interface SearchSpaceSpec {
  /** Editor hint, e.g. `"./schema.json"`; ignored by nls. */
  readonly $schema?: string;
  /** Must be {@link SEARCH_SPACE_FORMAT}. */
  readonly format: typeof SEARCH_SPACE_FORMAT;
  /** Short name of the space (letters, digits, `_`, `-`, `.`). */
  readonly name: string;
  /** Free text. */
  readonly description?: string;
  /** LoRA alpha, a positive number. */
  readonly alpha: number;
  /** Scaling rule; default {@link DEFAULT_SCALING}. */
  readonly scaling?: LoraScaling;
  /** Adapter dropout probability in [0, 1); default 0. */
  readonly dropout?: number;
  /** Default layer selection for groups; default `"all"`. */
  readonly layers?: LayerSelection;
  /** The groups; at least one. */
  readonly groups: readonly GroupSpec[];
}

/** Keys allowed at the top level of a search-space file. */
export const SPEC_KEYS = ['$schema', 'format', 'name', 'description', 'alpha', 'scaling', 'dropout', 'layers', 'groups'] as const;
/** Keys allowed in a group. */
export const GROUP_KEYS = ['name', 'modules', 'ranks', 'layers', 'alpha', 'dropout'] as const;
/** Pattern group names must match (they appear in labels and reports). */
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Pattern space names must match (they appear in file names of results). */
export const SPACE_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
