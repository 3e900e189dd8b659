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

/** The kinds of groups: elastic adapter ranks (the default) or an elastic MLP width of the base model. */
export const GROUP_KINDS = ['rank', 'width'] as const;
/** One of {@link GROUP_KINDS}. */
export type GroupKind = (typeof GROUP_KINDS)[number];

/**
 * The modules whose shape a width group changes: `gate_proj` and `up_proj` output rows (HF
 * `[out, in]` rows) and `down_proj` input columns, all cut to the first `w` MLP channels.
 */
export const WIDTH_MODULES = ['gate_proj', 'up_proj', 'down_proj'] as const;

/**
 * A group of target modules sharing one elastic rank. On every selected layer the group becomes one
 * *group instance*, which is one gene of a configuration.
 */
export interface RankGroupSpec {
  /** `"rank"` (the default when absent). */
  readonly kind?: 'rank';
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

/**
 * An elastic MLP intermediate width of the base model (LoNAS mode B): on every selected layer one
 * gene whose choice is how many MLP channels stay, the first `w` of them (`gate_proj` / `up_proj`
 * output rows and `down_proj` input columns, with the adapters on those modules sliced to match).
 * Channels are cut from the front, so reorder them by importance first (`nls reorder`,
 * docs/widths.md).
 */
export interface WidthGroupSpec {
  /** Always `"width"`. */
  readonly kind: 'width';
  /** Unique name of the group (letters, digits, `_`, `-`). */
  readonly name: string;
  /**
   * Width choices in MLP channels, strictly descending positive integers; none may exceed the
   * layer's `intermediate_size` (checked when the space is resolved against a model).
   */
  readonly widths: readonly number[];
  /** Layers for this group, replacing the top-level `layers`. */
  readonly layers?: LayerSelection;
}

/** A group of a search space: elastic ranks of adapters, or an elastic MLP width. */
export type GroupSpec = RankGroupSpec | WidthGroupSpec;

/** True when `g` is a width group. */
export function isWidthGroup(g: GroupSpec): g is WidthGroupSpec {
  return (g as { kind?: unknown }).kind === 'width';
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
/** Keys allowed in a rank group. */
export const GROUP_KEYS = ['kind', 'name', 'modules', 'ranks', 'layers', 'alpha', 'dropout'] as const;
/** Keys allowed in a width group. */
export const WIDTH_GROUP_KEYS = ['kind', 'name', 'widths', 'layers'] as const;
/** Pattern group names must match (they appear in labels and reports). */
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Pattern space names must match (they appear in file names of results). */
export const SPACE_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
