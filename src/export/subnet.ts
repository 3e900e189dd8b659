/**
 * Choosing one sub-adapter (configuration) of a trained supernet and extracting it: the weights
 * a merge or an export needs, cut from the supernet's r_max matrices.
 *
 * A choice is a heuristic name (`max`, `median`, `min`), a canonical configuration key, a member
 * of a `pareto.json` front, or a configuration file (docs/formats.md, "Choosing a sub-adapter").
 */
import * as path from 'node:path';
import type { AdapterSet } from '../adapters/adapter-set.js';
import { NlsError } from '../errors.js';
import { readJsonFile } from '../model/hf-config.js';
import { PARETO_FORMAT, type ParetoFile, type ParetoMember } from '../search/results.js';
import {
  assertSubspace,
  type Config,
  isKnownModule,
  type KnownModule,
  loadAndResolveSearchSpace,
  type LoraScaling,
  loraScale,
  type SearchSpace,
} from '../space/index.js';
import { loadSupernetSpace } from '../supernet/artifact.js';

/** The heuristic sub-adapters every space has (see {@link SearchSpace.maxConfig} and friends). */
export const HEURISTIC_SUBNETS = ['max', 'median', 'min'] as const;
/** One of {@link HEURISTIC_SUBNETS}. */
export type HeuristicSubnet = (typeof HEURISTIC_SUBNETS)[number];

/** Which sub-adapter of a supernet to take. */
export type SubnetSelection =
  /** A heuristic: `max` (the supernet, every gene at r_max), `median` (Shears/SQFT), `min`. */
  | { readonly kind: 'heuristic'; readonly name: HeuristicSubnet }
  /** A canonical configuration key of the supernet's space, e.g. `000.101.000.111`. */
  | { readonly kind: 'key'; readonly key: string }
  /**
   * A member of the front of a `pareto.json` (format nls-pareto/1): the member with trial number
   * `trial`, or by default the member with the highest `accuracy` (the first objective's best
   * when the study had no accuracy objective). `space` is the sub-space file the study searched,
   * needed only when it searched a sub-space of the supernet's space (`nls search --space`).
   */
  | { readonly kind: 'pareto'; readonly file: string; readonly trial?: number; readonly space?: string }
  /**
   * A configuration file: a JSON object with exactly one of `config` (choice indices in canonical
   * gene order), `key` (a canonical key), or `ranks` (an object module key -> rank, e.g.
   * `{"layers.0.q_proj": 8}`, naming every adapted module, with `widths` (layer -> MLP width,
   * e.g. `{"0": 528}`) for the width genes of a width space; or an array with the value of every
   * gene, widths included), and optionally `fingerprint` (the space's, checked).
   */
  | { readonly kind: 'file'; readonly file: string };

/** A chosen configuration, resolved against the supernet's space. */
export interface ResolvedSubnet {
  /** The supernet's search space. */
  readonly space: SearchSpace;
  /** Choice index per gene. */
  readonly config: Config;
  /** Canonical key of {@link config}. */
  readonly key: string;
  /** Rank of every adapted module (`layers.{i}.{module}`), 0 for modules switched off. */
  readonly ranks: ReadonlyMap<string, number>;
  /** MLP width of every layer with a width gene (layer -> width); empty for a rank-only space. */
  readonly widths: ReadonlyMap<number, number>;
  /** Where the configuration came from, for reports, e.g. `heuristic median` or `runs/s/pareto.json trial 17`. */
  readonly source: string;
}

/**
 * The choice a `--subnet` value names: `max`, `median` or `min` are heuristics, anything else a
 * configuration key.
 */
export function parseSubnetSelection(text: string): SubnetSelection {
  return (HEURISTIC_SUBNETS as readonly string[]).includes(text) ? { kind: 'heuristic', name: text as HeuristicSubnet } : { kind: 'key', key: text };
}

/** An NlsError's message without the `file: field: ` prefix its constructor added. */
function bareMessage(err: NlsError): string {
  const where = [err.file, err.field].filter((x): x is string => Boolean(x)).join(': ');
  return where && err.message.startsWith(`${where}: `) ? err.message.slice(where.length + 2) : err.message;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Resolve `choice` against a supernet's search space.
 *
 * @param supernet - the supernet folder (only its manifest and the base model's config.json are
 *   read), or its already resolved search space.
 * @throws NlsError naming the file and field when the choice does not fit the space.
 */
export async function resolveSubnet(supernet: string | SearchSpace, choice: SubnetSelection): Promise<ResolvedSubnet> {
  const space = typeof supernet === 'string' ? await loadSupernetSpace(supernet) : supernet;
  const done = (config: Config, source: string): ResolvedSubnet => ({ space, config, key: space.key(config), ranks: space.activeRanks(config), widths: space.activeWidths(config), source });
  switch (choice.kind) {
    case 'heuristic': {
      const config = choice.name === 'max' ? space.maxConfig() : choice.name === 'median' ? space.medianConfig() : space.minConfig();
      return done(config, `heuristic ${choice.name}`);
    }
    case 'key':
      try {
        return done(space.parseKey(choice.key), `key ${choice.key}`);
      } catch (err) {
        if (err instanceof NlsError) throw new NlsError(`${bareMessage(err)} (the supernet's space "${space.name}" has keys like ${space.key(space.maxConfig())})`, { field: '--subnet' });
        throw err;
      }
    case 'pareto':
      return paretoChoice(space, choice, done);
    case 'file':
      return done(await configFileChoice(space, choice.file), choice.file);
  }
}

async function paretoChoice(
  space: SearchSpace,
  choice: Extract<SubnetSelection, { kind: 'pareto' }>,
  done: (config: Config, source: string) => ResolvedSubnet,
): Promise<ResolvedSubnet> {
  const file = choice.file;
  const json = await readJsonFile(file, 'pass the pareto.json that nls search wrote in its --out folder');
  if (!isObject(json) || json.format !== PARETO_FORMAT) {
    throw new NlsError(`not a pareto.json (format must be "${PARETO_FORMAT}"); fix: pass the pareto.json that nls search wrote`, { file, field: 'format' });
  }
  const pareto = json as unknown as ParetoFile;
  if (!Array.isArray(pareto.front) || pareto.front.length === 0) {
    throw new NlsError('the front is empty (no feasible trial); fix: relax the constraints of the search, or choose --subnet max|median|min', { file, field: 'front' });
  }
  let index: number;
  if (choice.trial !== undefined) {
    index = pareto.front.findIndex((m) => m.number === choice.trial);
    if (index < 0) {
      throw new NlsError(`trial ${choice.trial} is not on the front; fix: use one of the front's trial numbers [${pareto.front.map((m) => m.number).join(', ')}]`, {
        file,
        field: 'front',
      });
    }
  } else {
    // Default: the most accurate front member; the front is sorted best first by the first
    // objective, so without an accuracy objective the first member is the first objective's best.
    const acc = Array.isArray(pareto.objectives) ? pareto.objectives.findIndex((o) => o.name === 'accuracy') : -1;
    index = 0;
    const accuracyOf = (m: ParetoMember): number => (Array.isArray(m.values) ? (m.values[acc] ?? -Infinity) : -Infinity);
    if (acc >= 0) pareto.front.forEach((m, i) => accuracyOf(m) > accuracyOf(pareto.front[index]!) && (index = i));
  }
  const member: ParetoMember = pareto.front[index]!;
  const field = `front[${index}].config`;
  const studySpace = pareto.study?.space;
  let config: Config;
  if (studySpace === undefined || studySpace.fingerprint === space.fingerprint) {
    if (!Array.isArray(member.config)) throw new NlsError('front member has no config array; fix: pass an unmodified pareto.json', { file, field });
    try {
      space.assertContains(member.config, field);
    } catch (err) {
      if (!(err instanceof NlsError)) throw err;
      throw new NlsError(`${bareMessage(err)}; the study did not search this supernet's space "${space.name}"`, { file, field: err.field ?? field });
    }
    config = member.config;
  } else {
    // The study searched a sub-space (nls search --space): its genes may group the modules
    // differently, so the configuration is carried over by the ranks it gives every module.
    if (choice.space === undefined) {
      throw new NlsError(
        `the study searched space "${studySpace.name}" (fingerprint ${studySpace.fingerprint}), not the supernet's space "${space.name}" (fingerprint ${space.fingerprint}); fix: pass the sub-space file the study searched (--space FILE), or a pareto.json of this supernet`,
        { file, field: 'study.space' },
      );
    }
    const sub = await loadAndResolveSearchSpace(choice.space, { numLayers: space.numLayers });
    if (sub.fingerprint !== studySpace.fingerprint) {
      throw new NlsError(`its fingerprint ${sub.fingerprint} is not the study's ${studySpace.fingerprint} (recorded in ${file}); fix: pass the space file the study searched`, { file: choice.space });
    }
    assertSubspace(space, sub, choice.space);
    try {
      sub.assertContains(member.config, field);
    } catch (err) {
      if (!(err instanceof NlsError)) throw err;
      throw new NlsError(bareMessage(err), { file, field: err.field ?? field });
    }
    config = space.fromActiveRanks(sub.activeRanks(member.config), sub.activeWidths(member.config));
  }
  return done(config, `${file} trial ${member.number}`);
}

async function configFileChoice(space: SearchSpace, file: string): Promise<Config> {
  const json = await readJsonFile(file, 'pass a JSON file with {"config": [...]}, {"key": "..."} or {"ranks": {...}}');
  if (!isObject(json)) throw new NlsError('must be a JSON object with "config", "key" or "ranks"', { file });
  const given = ['config', 'key', 'ranks'].filter((k) => json[k] !== undefined);
  if (given.length !== 1) {
    throw new NlsError(
      `must have exactly one of "config" (choice indices), "key" (a configuration key) or "ranks" (module key -> rank), found ${given.length === 0 ? 'none' : given.map((g) => `"${g}"`).join(' and ')}`,
      { file },
    );
  }
  if (json.fingerprint !== undefined && json.fingerprint !== space.fingerprint) {
    throw new NlsError(`is ${JSON.stringify(json.fingerprint)}, but the supernet's space "${space.name}" has fingerprint ${space.fingerprint}; fix: write the configuration for this supernet, or drop the field`, {
      file,
      field: 'fingerprint',
    });
  }
  // Re-raise the space's errors with the file name, so the user knows which file to fix.
  const inFile = <T>(field: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof NlsError) {
        const inner = err.field === undefined ? field : err.field.startsWith(field) ? err.field : `${field}.${err.field}`;
        throw new NlsError(bareMessage(err), { file, field: inner });
      }
      throw err;
    }
  };
  if (json.config !== undefined) {
    const config = json.config;
    if (!Array.isArray(config)) throw new NlsError(`must be an array of ${space.size} choice indices`, { file, field: 'config' });
    return inFile('config', () => {
      space.assertContains(config as number[], 'config');
      return config as number[];
    });
  }
  if (json.key !== undefined) {
    if (typeof json.key !== 'string') throw new NlsError('must be a string (a configuration key)', { file, field: 'key' });
    const key = json.key;
    return inFile('key', () => space.parseKey(key));
  }
  const ranks = json.ranks;
  if (Array.isArray(ranks)) {
    if (!ranks.every((r) => typeof r === 'number')) throw new NlsError('must be numbers (one rank per gene)', { file, field: 'ranks' });
    return inFile('ranks', () => space.encode(ranks as number[]));
  }
  if (!isObject(ranks)) throw new NlsError('must be an object module key -> rank (e.g. {"layers.0.q_proj": 8}) or an array of per-gene ranks', { file, field: 'ranks' });
  const map = new Map<string, number>();
  for (const [k, v] of Object.entries(ranks)) {
    if (typeof v !== 'number') throw new NlsError(`must be a number, got ${JSON.stringify(v)}`, { file, field: `ranks.${k}` });
    map.set(k, v);
  }
  // Width spaces: "widths" gives each width layer's MLP width, e.g. {"0": 528, "1": 704}.
  let widths: Map<number, number> | undefined;
  if (json.widths !== undefined) {
    if (!isObject(json.widths)) throw new NlsError('must be an object layer -> MLP width, e.g. {"0": 528}', { file, field: 'widths' });
    widths = new Map();
    for (const [k, v] of Object.entries(json.widths)) {
      if (typeof v !== 'number' || !/^\d+$/.test(k)) throw new NlsError(`must map a layer index to a width, got ${JSON.stringify(k)}: ${JSON.stringify(v)}`, { file, field: `widths.${k}` });
      widths.set(Number(k), v);
    }
  }
  return inFile('ranks', () => space.fromActiveRanks(map, widths));
}

/** One module of an extracted sub-adapter, in PEFT layout. */
export interface SubAdapterModule {
  /** Module key, `layers.{i}.{module}`. */
  readonly key: string;
  readonly layer: number;
  readonly module: KnownModule;
  /** Active rank r (> 0: modules at rank 0 are not extracted). */
  readonly rank: number;
  /** The supernet adapter's r_max. */
  readonly rMax: number;
  /** LoRA alpha of the module's group. */
  readonly alpha: number;
  /** Scaling rule of the module's group. */
  readonly scaling: LoraScaling;
  /** The factor the product was scaled by in training at rank r: `loraScale(spec, r)`. */
  readonly scale: number;
  /** Dropout probability used in training (recorded for PEFT's `lora_dropout`). */
  readonly dropout: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** A_r = A[:r], [r, in], row-major. */
  readonly a: Float32Array;
  /** B_r = B[:, :r], [out, r], row-major. */
  readonly b: Float32Array;
}

/** The sub-adapter of one configuration: the modules at a rank above 0, in plan order. */
export interface SubAdapter {
  readonly modules: readonly SubAdapterModule[];
  /** Rank of every adapted module, 0 included (what the modules were extracted at). */
  readonly ranks: ReadonlyMap<string, number>;
  /** MLP widths the modules were cut to (layer -> width); empty without width genes. */
  readonly widths: ReadonlyMap<number, number>;
}

const MODULE_KEY = /^layers\.(\d+)\.([a-z_]+)$/;

/**
 * Cut the sub-adapter of `ranks` out of a supernet's adapters: per module A_r = A[:r] and
 * B_r = B[:, :r] with the scale training used at rank r. Modules at rank 0 are omitted. With
 * `widths` (layer -> MLP width, a width configuration), gate/up keep B's first `w` rows and down
 * A's first `w` columns: the sub-adapter of the smaller model.
 * Reads the weights (A^T, B^T as stored) once; creates no tensors.
 *
 * @param ranks - rank of every adapter of the set (e.g. `resolved.ranks`).
 */
export async function extractSubAdapter(adapters: AdapterSet, ranks: ReadonlyMap<string, number>, widths: ReadonlyMap<number, number> = new Map()): Promise<SubAdapter> {
  for (const key of ranks.keys()) if (!adapters.adapters.has(key)) throw new NlsError('no adapter on this module in the supernet', { field: key });
  const modules: SubAdapterModule[] = [];
  for (const [key, adapter] of adapters.adapters) {
    const rank = ranks.get(key);
    if (rank === undefined) throw new NlsError('no rank given for this adapter; fix: give every adapted module a rank (0 = off)', { field: key });
    const { rMax } = adapter.spec;
    if (!Number.isInteger(rank) || rank < 0 || rank > rMax) throw new NlsError(`rank must be an integer in [0, ${rMax}], got ${rank}`, { field: key });
    if (rank === 0) continue;
    const m = MODULE_KEY.exec(key);
    if (!m || !isKnownModule(m[2]!)) throw new NlsError('not a module key layers.{i}.{module}', { field: key });
    const fullIn = adapter.aT.shape[0];
    const fullOut = adapter.bT.shape[1];
    // An elastic MLP width cuts gate/up outputs and down inputs to the layer's first w channels.
    const width = widths.get(Number(m[1]));
    const inDim = width !== undefined && m[2] === 'down_proj' ? width : fullIn;
    const outDim = width !== undefined && (m[2] === 'gate_proj' || m[2] === 'up_proj') ? width : fullOut;
    if (inDim > fullIn || outDim > fullOut || inDim < 1 || outDim < 1) throw new NlsError(`MLP width ${width} does not fit the adapter ([${fullOut}, ${fullIn}] out, in)`, { field: key });
    // Stored transposed: aT is [in, rMax], bT is [rMax, out].
    const aT = (await adapter.aT.data()) as Float32Array;
    const bT = (await adapter.bT.data()) as Float32Array;
    const a = new Float32Array(rank * inDim);
    for (let k = 0; k < rank; k++) for (let i = 0; i < inDim; i++) a[k * inDim + i] = aT[i * rMax + k]!;
    const b = new Float32Array(outDim * rank);
    for (let o = 0; o < outDim; o++) for (let k = 0; k < rank; k++) b[o * rank + k] = bT[k * fullOut + o]!;
    modules.push({
      key,
      layer: Number(m[1]),
      module: m[2] as KnownModule,
      rank,
      rMax,
      alpha: adapter.spec.alpha,
      scaling: adapter.spec.scaling,
      scale: loraScale(adapter.spec, rank),
      dropout: adapter.spec.dropout,
      inFeatures: inDim,
      outFeatures: outDim,
      a,
      b,
    });
  }
  return { modules, ranks: new Map(ranks), widths: new Map(widths) };
}

export { copyTokenizerFiles, TOKENIZER_FILES } from '../model/model-folder.js';

/** The command-line ways of choosing a sub-adapter (`--subnet`, `--pareto [--trial] [--space]`, `--config`). */
export interface SubnetSelectionOptions {
  /** `max`, `median`, `min` or a configuration key. */
  readonly subnet?: string | undefined;
  /** A pareto.json. */
  readonly pareto?: string | undefined;
  /** Trial number of a front member of `pareto`. */
  readonly trial?: number | undefined;
  /** The sub-space file the study of `pareto` searched, when it searched one. */
  readonly space?: string | undefined;
  /** A configuration file. */
  readonly config?: string | undefined;
}

/**
 * The {@link SubnetSelection} of command-line options: exactly one of `subnet`, `pareto` and `config`
 * must be given; `trial` and `space` only with `pareto`.
 */
export function subnetSelectionFromOptions(o: SubnetSelectionOptions): SubnetSelection {
  const given = (['subnet', 'pareto', 'config'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new NlsError(`choose the sub-adapter with exactly one of --subnet max|median|min|KEY, --pareto FILE [--trial N] or --config FILE${given.length > 1 ? ` (got ${given.map((g) => `--${g}`).join(', ')})` : ''}`, {
      field: given.length > 1 ? `--${given[1]}` : '--subnet',
    });
  }
  if (o.pareto === undefined && o.trial !== undefined) throw new NlsError('--trial selects a member of a --pareto front; fix: add --pareto FILE', { field: '--trial' });
  if (o.pareto === undefined && o.space !== undefined) throw new NlsError('--space names the sub-space of a --pareto study; fix: add --pareto FILE', { field: '--space' });
  if (o.trial !== undefined && !Number.isSafeInteger(o.trial)) throw new NlsError(`must be a trial number, got ${o.trial}`, { field: '--trial' });
  if (o.subnet !== undefined) return parseSubnetSelection(o.subnet);
  if (o.config !== undefined) return { kind: 'file', file: o.config };
  return { kind: 'pareto', file: o.pareto!, ...(o.trial !== undefined ? { trial: o.trial } : {}), ...(o.space !== undefined ? { space: o.space } : {}) };
}
