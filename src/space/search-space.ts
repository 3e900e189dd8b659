/**
 * A resolved search space: the genes of a configuration and everything a search strategy or a
 * model needs to turn a configuration into ranks.
 */
import { createHash } from 'node:crypto';
import { NlsError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { GroupKind, KnownModule, LoraScaling } from './format.js';

/**
 * A configuration (subnet): one choice *index* per gene, in canonical gene order (see
 * {@link SearchSpace.instances}). Index 0 is the gene's largest choice: r_max for a rank gene,
 * the full width for a width gene.
 */
export type Config = readonly number[];

/**
 * One gene: a group of modules on one layer sharing one elastic rank (`kind: 'rank'`), or the
 * elastic MLP width of one layer (`kind: 'width'`).
 */
export interface GeneInstance {
  /** Position of this gene in a {@link Config}. */
  readonly index: number;
  /** `rank`: adapter ranks; `width`: the MLP intermediate width of {@link layer}. */
  readonly kind: GroupKind;
  /** The choice values, strictly descending: ranks (rank genes) or MLP widths (width genes). */
  readonly choices: readonly number[];
  /** Decoder layer, 0-based. */
  readonly layer: number;
  /** Name of the group in the spec. */
  readonly group: string;
  /** Position of the group in the spec's `groups` list. */
  readonly groupIndex: number;
  /** Target modules sharing the rank; for a width gene the modules it cuts (gate_proj, up_proj, down_proj). */
  readonly modules: readonly KnownModule[];
  /**
   * Rank choices, strictly descending; `ranks[0]` is r_max, a trailing 0 means "adapter off".
   * Empty for width genes (their choices are in {@link choices}).
   */
  readonly ranks: readonly number[];
  /** LoRA alpha (unused by width genes). */
  readonly alpha: number;
  /** Adapter dropout probability (unused by width genes). */
  readonly dropout: number;
  /** Scaling rule (unused by width genes). */
  readonly scaling: LoraScaling;
}

/**
 * A gene as a {@link SearchSpace} is built from: `kind` defaults to `rank` and `choices` to
 * `ranks`, so rank genes can be given as before width genes existed.
 */
export type GeneInit = Omit<GeneInstance, 'index' | 'kind' | 'choices'> & { readonly kind?: GroupKind; readonly choices?: readonly number[] };

/** A width gene as the model needs it: which layer, which gene, the width choices. */
export interface WidthPlanEntry {
  /** Decoder layer whose MLP width the gene sets. */
  readonly layer: number;
  /** Index of the gene. */
  readonly gene: number;
  /** Group name. */
  readonly group: string;
  /** Width choices, descending; `widths[0]` is the largest. */
  readonly widths: readonly number[];
}

/** What the adapter code needs to attach one adapter to one linear module. */
export interface AdapterPlanEntry {
  /** Module key, `layers.{i}.{module}` (the key {@link SearchSpace.activeRanks} uses). */
  readonly key: string;
  /** Decoder layer. */
  readonly layer: number;
  /** Module name. */
  readonly module: KnownModule;
  /** Group name. */
  readonly group: string;
  /** Index of the gene that sets this module's rank. */
  readonly gene: number;
  /** Rank choices (descending). */
  readonly ranks: readonly number[];
  /** Largest rank: the size the adapter's A and B matrices are allocated with. */
  readonly rMax: number;
  /** LoRA alpha. */
  readonly alpha: number;
  /** Adapter dropout probability. */
  readonly dropout: number;
  /** Scaling rule. */
  readonly scaling: LoraScaling;
}

/** Module key of `module` on `layer`: `layers.{layer}.{module}`, e.g. `layers.3.q_proj`. */
export function moduleKey(layer: number, module: string): string {
  return `layers.${layer}.${module}`;
}

/**
 * The factor the LoRA product is multiplied by when `rank` is active: `alpha / r_max` under
 * `alpha/r_max` (Shears, SQFT), `alpha / rank` under `alpha/r`. Rank 0 (adapter off) gives 0.
 */
export function loraScale(entry: { readonly alpha: number; readonly rMax: number; readonly scaling: LoraScaling }, rank: number): number {
  if (rank === 0) return 0;
  return entry.scaling === 'alpha/r' ? entry.alpha / rank : entry.alpha / entry.rMax;
}

/** Options of {@link SearchSpace.enumerate}. */
export interface EnumerateOptions {
  /** Refuse to enumerate spaces with more configurations than this. Default 1,000,000. */
  readonly limit?: number | bigint;
}

/** Default of {@link EnumerateOptions.limit}. */
export const DEFAULT_ENUMERATE_LIMIT = 1_000_000n;

/** Fields a {@link SearchSpace} is built from (normally by `resolveSearchSpace`). */
export interface SearchSpaceInit {
  /** Name of the space. */
  readonly name: string;
  /** Free-text description. */
  readonly description?: string | undefined;
  /** Number of decoder layers of the model. */
  readonly numLayers: number;
  /** Genes in canonical order: layer-major, then group order of the spec. */
  readonly instances: readonly GeneInit[];
}

/**
 * A search space resolved against a model: its genes in canonical order and the operations on
 * configurations.
 *
 * **Canonical gene order** is layer-major: all genes of layer 0 in the spec's group order, then
 * layer 1, and so on. Layers without any gene are skipped.
 *
 * **Keys** ({@link SearchSpace.key}): one segment per layer that has genes, segments joined by
 * `.`, each segment the choice indices of that layer's genes written as base-36 digits, one digit
 * per gene (or a fixed `width` of digits when some group has more than 36 choices). The supernet
 * of the demo space is `000.000.000.000`.
 */
export class SearchSpace {
  /** Name from the spec. */
  readonly name: string;
  /** Description from the spec ('' when absent). */
  readonly description: string;
  /** Number of decoder layers of the model this space was resolved for. */
  readonly numLayers: number;
  /** Genes in canonical order; `instances[i]` is set by `config[i]`. */
  readonly instances: readonly GeneInstance[];
  /** Number of genes (length of every configuration). */
  readonly size: number;
  /** Number of choices of each gene. */
  readonly choiceCounts: readonly number[];
  /** Layers that have at least one gene, ascending. */
  readonly layers: readonly number[];
  /** Base-36 digits per gene in keys (1 unless a group has more than 36 choices). */
  readonly keyWidth: number;
  /**
   * Short hash of the resolved structure (genes, modules, ranks, alpha, dropout, scaling). Two
   * spaces with the same fingerprint interpret configurations and keys the same way, so stored
   * results can be checked against it.
   */
  readonly fingerprint: string;

  /** Indices of the width genes, ascending (empty for a rank-only space). */
  readonly widthGenes: readonly number[];

  /** Gene indices of each layer in {@link layers} order. */
  private readonly genesByLayer: ReadonlyMap<number, readonly number[]>;
  private plan: readonly AdapterPlanEntry[] | undefined;

  constructor(init: SearchSpaceInit) {
    this.name = init.name;
    this.description = init.description ?? '';
    this.numLayers = init.numLayers;
    const sorted = init.instances
      .map((inst, order) => ({ inst, order }))
      .sort((a, b) => a.inst.layer - b.inst.layer || a.inst.groupIndex - b.inst.groupIndex || a.order - b.order);
    this.instances = Object.freeze(
      sorted.map(({ inst }, index) =>
        Object.freeze({
          ...inst,
          index,
          kind: inst.kind ?? 'rank',
          modules: Object.freeze([...inst.modules]),
          ranks: Object.freeze([...inst.ranks]),
          choices: Object.freeze([...(inst.choices ?? inst.ranks)]),
        }),
      ),
    );
    if (this.instances.length === 0) throw new NlsError('a search space needs at least one gene', { field: 'instances' });
    for (const g of this.instances) {
      if (g.choices.length === 0) throw new NlsError(`gene ${g.index} (${this.label(g.index)}) has no choices`, { field: 'instances' });
    }
    this.size = this.instances.length;
    this.choiceCounts = Object.freeze(this.instances.map((g) => g.choices.length));
    this.widthGenes = Object.freeze(this.instances.filter((g) => g.kind === 'width').map((g) => g.index));
    const byLayer = new Map<number, number[]>();
    for (const g of this.instances) {
      const list = byLayer.get(g.layer);
      if (list) list.push(g.index);
      else byLayer.set(g.layer, [g.index]);
    }
    this.genesByLayer = byLayer;
    this.layers = Object.freeze([...byLayer.keys()]);
    const maxChoices = Math.max(...this.choiceCounts);
    this.keyWidth = Math.max(1, (maxChoices - 1).toString(36).length);
    // Rank genes keep the structure they had before width genes existed, so fingerprints of
    // rank-only spaces (recorded in supernets, journals and profiles) do not change.
    const structure = this.instances.map((g) => (g.kind === 'width' ? [g.layer, g.group, 'width', g.choices] : [g.layer, g.group, g.modules, g.ranks, g.alpha, g.dropout, g.scaling]));
    this.fingerprint = createHash('sha256').update(JSON.stringify(structure)).digest('hex').slice(0, 16);
  }

  /** Human-readable name of gene `i`: `layers.{layer}/{group}`. */
  label(i: number): string {
    const g = this.instances[i];
    return g ? `layers.${g.layer}/${g.group}` : `gene ${i}`;
  }

  /** Number of configurations: the product of every gene's choice count. */
  cardinality(): bigint {
    let n = 1n;
    for (const c of this.choiceCounts) n *= BigInt(c);
    return n;
  }

  /** True when `config` has one valid choice index (an integer in range) per gene. */
  contains(config: readonly number[]): boolean {
    if (!Array.isArray(config) || config.length !== this.size) return false;
    for (let i = 0; i < this.size; i++) {
      const c = config[i];
      if (c === undefined || !Number.isInteger(c) || c < 0 || c >= (this.choiceCounts[i] ?? 0)) return false;
    }
    return true;
  }

  /**
   * Throw an {@link NlsError} explaining why `config` is not in the space (which gene, which
   * range); do nothing when it is.
   */
  assertContains(config: readonly number[], what = 'configuration'): void {
    if (!Array.isArray(config)) throw new NlsError(`${what} must be an array of choice indices`, { field: what });
    if (config.length !== this.size) {
      throw new NlsError(
        `${what} has ${config.length} genes but search space "${this.name}" has ${this.size}; fix: use a configuration made for this space (fingerprint ${this.fingerprint})`,
        { field: what },
      );
    }
    for (let i = 0; i < this.size; i++) {
      const c = config[i];
      const n = this.choiceCounts[i] ?? 0;
      if (c === undefined || !Number.isInteger(c) || c < 0 || c >= n) {
        throw new NlsError(`gene ${i} (${this.label(i)}) is ${String(c)}, not a choice index in 0..${n - 1}; fix: use an index into ${this.instances[i]?.kind === 'width' ? 'widths' : 'ranks'} [${this.instances[i]?.choices.join(', ')}]`, {
          field: `${what}[${i}]`,
        });
      }
    }
  }

  /**
   * Configuration whose gene `i` selects value `values[i]` (a rank, or a width for width genes);
   * the inverse of {@link decode}.
   */
  encode(values: readonly number[]): Config {
    if (values.length !== this.size) {
      throw new NlsError(`expected ${this.size} ranks (one per gene of "${this.name}"), got ${values.length}; fix: pass one rank (or width, for width genes) per gene in canonical order`, { field: 'ranks' });
    }
    return values.map((r, i) => {
      const g = this.instances[i];
      const choices = g?.choices ?? [];
      const c = choices.indexOf(r);
      if (c < 0) throw new NlsError(`gene ${i} (${this.label(i)}): ${g?.kind === 'width' ? 'width' : 'rank'} ${r} is not a choice; fix: use one of [${choices.join(', ')}]`, { field: `ranks[${i}]` });
      return c;
    });
  }

  /** Value of every gene under `config`: its rank, or its MLP width for width genes. */
  decode(config: Config): number[] {
    this.assertContains(config);
    return config.map((c, i) => this.instances[i]?.choices[c] ?? 0);
  }

  /** Canonical string key of `config` (see the class comment); injective on the space. */
  key(config: Config): string {
    this.assertContains(config);
    const w = this.keyWidth;
    const segments: string[] = [];
    for (const genes of this.genesByLayer.values()) {
      let s = '';
      for (const i of genes) s += (config[i] ?? 0).toString(36).padStart(w, '0');
      segments.push(s);
    }
    return segments.join('.');
  }

  /** The configuration of a key made by {@link key}; throws {@link NlsError} for malformed keys. */
  parseKey(key: string): Config {
    const bad = (why: string): never => {
      throw new NlsError(`invalid configuration key ${JSON.stringify(key)} for search space "${this.name}": ${why}; fix: use a key produced by SearchSpace.key for this space`, { field: 'key' });
    };
    if (typeof key !== 'string') bad('not a string');
    const segments = key.split('.');
    if (segments.length !== this.layers.length) bad(`expected ${this.layers.length} '.'-separated layer segments, got ${segments.length}`);
    const w = this.keyWidth;
    const config = new Array<number>(this.size);
    let s = 0;
    for (const [layer, genes] of this.genesByLayer) {
      const seg = segments[s++] ?? '';
      if (seg.length !== genes.length * w) bad(`segment for layer ${layer} must have ${genes.length * w} characters, got ${JSON.stringify(seg)}`);
      genes.forEach((gene, k) => {
        const digits = seg.slice(k * w, (k + 1) * w);
        if (!/^[0-9a-z]+$/.test(digits)) bad(`${JSON.stringify(digits)} is not a base-36 choice index`);
        const c = parseInt(digits, 36);
        if (c >= (this.choiceCounts[gene] ?? 0)) bad(`gene ${gene} (${this.label(gene)}) has choice index ${c}, but only ${this.choiceCounts[gene]} choices`);
        config[gene] = c;
      });
    }
    return config;
  }

  /**
   * Every configuration in lexicographic order of choice indices (gene 0 most significant; starts
   * at {@link maxConfig}, ends at {@link minConfig}).
   *
   * @throws NlsError, eagerly, when the space has more than `limit` configurations.
   */
  enumerate(options: EnumerateOptions = {}): Generator<Config, void, undefined> {
    const raw = options.limit ?? DEFAULT_ENUMERATE_LIMIT;
    if (typeof raw === 'number' && !Number.isSafeInteger(raw)) {
      throw new NlsError(`enumeration limit must be an integer, got ${raw}`, { field: 'limit' });
    }
    const limit = BigInt(raw);
    const n = this.cardinality();
    if (n > limit) {
      throw new NlsError(
        `search space "${this.name}" has ${n} configurations, more than the enumeration limit ${limit}; fix: use a sampling search strategy, or raise the limit if you really mean to visit all of them`,
        { field: 'limit' },
      );
    }
    return this.odometer();
  }

  private *odometer(): Generator<Config, void, undefined> {
    const c = new Array<number>(this.size).fill(0);
    for (;;) {
      yield [...c];
      let i = this.size - 1;
      while (i >= 0 && (c[i] ?? 0) + 1 >= (this.choiceCounts[i] ?? 0)) c[i--] = 0;
      if (i < 0) return;
      c[i] = (c[i] ?? 0) + 1;
    }
  }

  /** The supernet: every gene at its largest rank (index 0). */
  maxConfig(): Config {
    return this.choiceCounts.map(() => 0);
  }

  /** Every gene at its smallest rank (the last choice, possibly 0 = adapter off). */
  minConfig(): Config {
    return this.choiceCounts.map((n) => n - 1);
  }

  /**
   * The Shears/SQFT heuristic sub-adapter: every gene at choice index `floor((n - 1) / 2)`, the
   * median of its choices (the larger middle one for an even count).
   */
  medianConfig(): Config {
    return this.choiceCounts.map((n) => Math.floor((n - 1) / 2));
  }

  /**
   * Every configuration that differs from `config` in exactly one gene, by one step of choice
   * index. Ordered by gene, the larger rank (index - 1) before the smaller (index + 1).
   */
  neighbours(config: Config): Config[] {
    this.assertContains(config);
    const out: Config[] = [];
    for (let i = 0; i < this.size; i++) {
      const c = config[i] ?? 0;
      for (const d of [c - 1, c + 1]) {
        if (d < 0 || d >= (this.choiceCounts[i] ?? 0)) continue;
        const next = [...config];
        next[i] = d;
        out.push(next);
      }
    }
    return out;
  }

  /** A uniform random configuration: each gene drawn independently, in gene order. */
  sample(rng: Rng): Config {
    return this.choiceCounts.map((n) => rng.int(n));
  }

  /**
   * A random configuration in which all genes of a layer share one choice index (SQFT samples
   * per layer). For each layer, in ascending order, one index is drawn uniformly from
   * `0..m-1`, `m` the largest choice count on that layer, then clamped to each gene's last
   * choice. When the groups of a layer have different numbers of choices the shorter ones
   * therefore get their smallest rank more often; every choice stays reachable.
   */
  sampleSharedLayer(rng: Rng): Config {
    const config = new Array<number>(this.size).fill(0);
    for (const genes of this.genesByLayer.values()) {
      const m = Math.max(...genes.map((g) => this.choiceCounts[g] ?? 1));
      const c = rng.int(m);
      for (const g of genes) config[g] = Math.min(c, (this.choiceCounts[g] ?? 1) - 1);
    }
    return config;
  }

  /**
   * `config` with every gene of `layer` set to choice index `choice` (clamped to each gene's
   * last choice, as in {@link sampleSharedLayer}). A layer without genes leaves `config` unchanged.
   */
  withLayerChoice(config: Config, layer: number, choice: number): Config {
    this.assertContains(config);
    if (!Number.isInteger(choice) || choice < 0) throw new NlsError(`choice index must be a non-negative integer, got ${choice}`, { field: 'choice' });
    const out = [...config];
    for (const g of this.genesByLayer.get(layer) ?? []) out[g] = Math.min(choice, (this.choiceCounts[g] ?? 1) - 1);
    return out;
  }

  /** Gene indices on `layer` (empty when the layer has no adapters). */
  genesOfLayer(layer: number): readonly number[] {
    return this.genesByLayer.get(layer) ?? [];
  }

  /**
   * Active rank of every adapted module under `config`, keyed `layers.{i}.{module}`, in gene
   * order then module order. Modules whose gene selects 0 are present with rank 0 (adapter off).
   */
  activeRanks(config: Config): Map<string, number> {
    this.assertContains(config);
    const out = new Map<string, number>();
    for (const g of this.instances) {
      if (g.kind === 'width') continue;
      const r = g.ranks[config[g.index] ?? 0] ?? 0;
      for (const m of g.modules) out.set(moduleKey(g.layer, m), r);
    }
    return out;
  }

  /** True when the space has width genes (elastic MLP widths). */
  get hasWidths(): boolean {
    return this.widthGenes.length > 0;
  }

  /**
   * Active MLP width of every layer with a width gene under `config`: layer -> width. Empty for
   * a rank-only space; layers without a width gene keep their full width.
   */
  activeWidths(config: Config): Map<number, number> {
    this.assertContains(config);
    const out = new Map<number, number>();
    for (const i of this.widthGenes) {
      const g = this.instances[i]!;
      out.set(g.layer, g.choices[config[i] ?? 0] ?? 0);
    }
    return out;
  }

  /** Every width gene: its layer, gene index, group and width choices, in gene order. */
  widthPlan(): readonly WidthPlanEntry[] {
    return this.widthGenes.map((i) => {
      const g = this.instances[i]!;
      return Object.freeze({ layer: g.layer, gene: i, group: g.group, widths: g.choices });
    });
  }

  /**
   * The configuration whose {@link activeRanks} is `ranks` and whose {@link activeWidths} is
   * `widths`: the inverse of both. Every adapted module must be present, the modules of a gene
   * must agree, and no other key may appear; with width genes, `widths` must give the width of
   * each of their layers.
   */
  fromActiveRanks(ranks: ReadonlyMap<string, number>, widths?: ReadonlyMap<number, number>): Config {
    const config: number[] = [];
    const known = new Set<string>();
    for (const g of this.instances) {
      if (g.kind === 'width') {
        const w = widths?.get(g.layer);
        if (w === undefined) {
          throw new NlsError(`no MLP width for layer ${g.layer}; fix: give the width of every layer with a width gene of "${this.name}" (widths [${g.choices.join(', ')}])`, {
            field: `widths.${g.layer}`,
          });
        }
        const c = g.choices.indexOf(w);
        if (c < 0) throw new NlsError(`width ${w} is not a choice of ${this.label(g.index)}; fix: use one of [${g.choices.join(', ')}]`, { field: `widths.${g.layer}` });
        config.push(c);
        continue;
      }
      let rank: number | undefined;
      for (const m of g.modules) {
        const key = moduleKey(g.layer, m);
        known.add(key);
        const r = ranks.get(key);
        if (r === undefined) throw new NlsError(`no rank for ${key}; fix: give every adapted module of "${this.name}" a rank`, { field: key });
        if (rank !== undefined && r !== rank) {
          throw new NlsError(`${key} has rank ${r} but its group "${g.group}" on layer ${g.layer} has rank ${rank}; fix: modules of one group share a rank`, { field: key });
        }
        rank = r;
      }
      const c = g.ranks.indexOf(rank ?? -1);
      if (c < 0) throw new NlsError(`rank ${String(rank)} is not a choice of ${this.label(g.index)}; fix: use one of [${g.ranks.join(', ')}]`, { field: moduleKey(g.layer, g.modules[0] ?? '') });
      config.push(c);
    }
    for (const key of ranks.keys()) {
      if (!known.has(key)) throw new NlsError(`${key} is not adapted in search space "${this.name}"; fix: remove it`, { field: key });
    }
    const widthLayers = new Set(this.widthGenes.map((i) => this.instances[i]!.layer));
    for (const layer of widths?.keys() ?? []) {
      if (!widthLayers.has(layer)) throw new NlsError(`layer ${layer} has no width gene in search space "${this.name}"; fix: remove it`, { field: `widths.${layer}` });
    }
    return config;
  }

  /** Every adapted module with its rank choices, r_max, alpha, dropout and scaling, in gene then module order (width genes adapt nothing). */
  adapterPlan(): readonly AdapterPlanEntry[] {
    this.plan ??= Object.freeze(
      this.instances.flatMap((g) =>
        (g.kind === 'width' ? [] : g.modules).map((module) =>
          Object.freeze({
            key: moduleKey(g.layer, module),
            layer: g.layer,
            module,
            group: g.group,
            gene: g.index,
            ranks: g.ranks,
            rMax: g.ranks[0] ?? 0,
            alpha: g.alpha,
            dropout: g.dropout,
            scaling: g.scaling,
          }),
        ),
      ),
    );
    return this.plan;
  }

  /**
   * The compact, human-readable form of a configuration (or of its key) printed next to the key:
   * one segment per layer with genes (the key's segments), each the gene values of that layer
   * joined by `/` in gene order, widths prefixed `w`; runs of equal consecutive segments are
   * written once with `×n`. The demo's max subnet `000.000.000.000` is `16/16/16×4`; a mixed one
   * `16/12/8 12/12/4 8/8/8×2`; with a width gene `16/16/16/w704×4`. {@link rankPatternLegend}
   * names the groups in the same layout. Injective on the space, like {@link key}.
   *
   * @throws NlsError when `configOrKey` is not a configuration or key of this space.
   */
  rankPattern(configOrKey: Config | string): string {
    const config = typeof configOrKey === 'string' ? this.parseKey(configOrKey) : configOrKey;
    const values = this.decode(config);
    return collapseRuns([...this.genesByLayer.values()].map((genes) => genes.map((g) => `${this.instances[g]?.kind === 'width' ? 'w' : ''}${values[g]}`).join('/')));
  }

  /**
   * The group names of each layer in the layout of {@link rankPattern}, e.g. `qkv/up/down×4`
   * (a header for a column of rank patterns).
   */
  rankPatternLegend(): string {
    return collapseRuns([...this.genesByLayer.values()].map((genes) => genes.map((g) => this.instances[g]?.group ?? '?').join('/')));
  }

  /** One line per layer, e.g. `layers.0: qkv=32 up=24 down=16 mlp=w8256` (widths prefixed `w`), for logs and reports. */
  describe(config: Config): string {
    const ranks = this.decode(config);
    return [...this.genesByLayer]
      .map(([layer, genes]) => `layers.${layer}: ${genes.map((g) => `${this.instances[g]?.group}=${this.instances[g]?.kind === 'width' ? 'w' : ''}${ranks[g]}`).join(' ')}`)
      .join('\n');
  }
}

/** Segments joined by spaces, each run of equal consecutive segments written once as `segment×n`. */
function collapseRuns(segments: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < segments.length; ) {
    let j = i + 1;
    while (j < segments.length && segments[j] === segments[i]) j++;
    out.push(j - i > 1 ? `${segments[i]}×${j - i}` : (segments[i] ?? ''));
    i = j;
  }
  return out.join(' ');
}
