/**
 * Export of an extracted sub-adapter as a Hugging Face PEFT LoRA adapter folder, loadable with
 * `PeftModel.from_pretrained(base, dir)`:
 *
 *   DIR/adapter_model.safetensors   lora_A [r, in] and lora_B [out, r] per adapted module
 *   DIR/adapter_config.json         LoraConfig; written last, so a folder with it is complete
 *
 * PEFT scales every module by `lora_alpha / r`, with `r` and `lora_alpha` looked up per module in
 * `rank_pattern` / `alpha_pattern`. nls trains with `loraScale(spec, r)` (alpha / r_max by
 * default), so each module's alpha_pattern entry is `scale * r`: PEFT's alpha / r is then exactly
 * the scale nls trained with. The mapping is documented in docs/formats.md, "PEFT adapter export".
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { hfLinearName } from '../model/llama.js';
import { type FloatDtype, serializeSafetensors, type TensorInput } from '../model/safetensors.js';
import { NLS_VERSION } from '../package-info.js';
import type { KnownModule } from '../space/index.js';
import { type AdapterMode, adapterModeName, describeAdapterMode, PLAIN_ADAPTERS } from '../supernet/adapter-mode.js';
import { writeFileAtomic } from '../util/fs.js';
import type { SubAdapter, SubAdapterModule } from './subnet.js';

/** File name of PEFT's adapter configuration. */
export const PEFT_CONFIG_FILE = 'adapter_config.json';
/** File name of PEFT's adapter weights. */
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
/** `format` of the nls record inside adapter_config.json. */
export const PEFT_NLS_FORMAT = 'nls-peft-export/1';

/** What nls records about the export in adapter_config.json's `nls` field. */
export interface PeftNlsRecord {
  readonly format: typeof PEFT_NLS_FORMAT;
  readonly nlsVersion: string;
  /** The supernet folder the sub-adapter was cut from, as given. */
  readonly supernet?: string;
  /** The supernet's search space. */
  readonly space?: { readonly name: string; readonly fingerprint: string };
  /** Canonical configuration key. */
  readonly key?: string;
  /** Choice index per gene. */
  readonly config?: readonly number[];
  /** Where the configuration came from (heuristic, key, pareto.json trial, file). */
  readonly source?: string;
  /**
   * MLP widths of a width configuration (layer -> width): the adapter was cut to them and belongs
   * to the smaller base written next to it (`base_model_name_or_path`, docs/widths.md).
   */
  readonly widths?: Readonly<Record<string, number>>;
  /** Training scale rule of each exported module: `alpha/r_max` or `alpha/r`, with alpha and r_max. */
  readonly modules: Readonly<Record<string, { readonly rank: number; readonly rMax: number; readonly alpha: number; readonly scaling: string; readonly scale: number }>>;
}

/** The adapter_config.json nls writes (a PEFT `LoraConfig`). */
export interface PeftAdapterConfig {
  readonly peft_type: 'LORA';
  readonly task_type: 'CAUSAL_LM';
  /** Default rank: the most common exported rank (every module is in rank_pattern anyway). */
  readonly r: number;
  /** Default alpha, paired with {@link r}. */
  readonly lora_alpha: number;
  /** Module names (`["q_proj", ...]`) or, when not every layer adapts them, full module paths. */
  readonly target_modules: readonly string[];
  /** Rank per module, keyed by the module path without its leading `model.` (`layers.0.self_attn.q_proj`). */
  readonly rank_pattern: Readonly<Record<string, number>>;
  /** Alpha per module (same keys): `scale * rank`, so that PEFT's alpha / r is nls's scale. */
  readonly alpha_pattern: Readonly<Record<string, number>>;
  readonly base_model_name_or_path: string;
  readonly lora_dropout: number;
  readonly bias: 'none';
  readonly fan_in_fan_out: false;
  readonly inference_mode: true;
  readonly init_lora_weights: true;
  readonly use_rslora: false;
  readonly use_dora: false;
  readonly modules_to_save: null;
  readonly layers_to_transform: null;
  readonly layers_pattern: null;
  readonly revision: null;
  /**
   * The adapter mode the sub-adapter was trained in: always `lora` (plain LoRA, `W + sBA`, what
   * PEFT computes), because SparsePEFT and QA-SparsePEFT sub-adapters are refused (PEFT cannot
   * express their masked delta). Absent with the `nls` field disabled, like it an unknown key to PEFT.
   */
  readonly nls_adapter_mode?: 'lora';
  /** nls's own record (absent when disabled); PEFT >= 0.14 ignores unknown keys with a warning. */
  readonly nls?: PeftNlsRecord;
}

/** Options of {@link peftAdapterConfig} and {@link savePeftAdapter}. */
export interface PeftExportOptions {
  /** `base_model_name_or_path`: the base model folder or hub id the adapter belongs to. */
  readonly baseModelNameOrPath: string;
  /** What to record in the `nls` field, besides the per-module scales; `false` leaves the field out (for PEFT < 0.14, which refuses unknown keys). */
  readonly nls?: Omit<PeftNlsRecord, 'format' | 'nlsVersion' | 'modules'> | false;
  /** dtype of the saved weights (default F32). */
  readonly dtype?: FloatDtype;
  /**
   * The adapter mode the sub-adapter was trained in (default plain). Only plain LoRA can be a PEFT
   * adapter: SparsePEFT / QA-SparsePEFT are refused (see {@link refuseConstrainedPeftExport}).
   */
  readonly adapterMode?: AdapterMode;
}

/**
 * Refuse to write a PEFT LoRA adapter for a sub-adapter trained in a sparsity- or quantization-
 * aware mode. Its subnet computes `W + s(BA)⊙M` (QA: fake-quantized), PEFT applies `W + sBA`: the
 * adapter would be another model (on a 50%-pruned base the logits differ by units, not by
 * rounding), and no LoRA of rank below full can express a masked delta.
 *
 * @param where - the file and field that record the mode (supernet.json, `training.adapterMode`).
 * @throws NlsError naming the mode and the fix (`nls export --merged`, `nls merge`).
 */
export function refuseConstrainedPeftExport(mode: AdapterMode, where: { readonly file?: string; readonly field?: string } = {}): void {
  if (!mode.sparse && !mode.quantAware) return;
  throw new NlsError(
    `the supernet was trained with ${describeAdapterMode(mode)}; a PEFT LoRA adapter is applied as W + s·BA, which cannot express the masked delta, so the exported adapter would be a different model than the one nls scored; fix: nls export --merged (writes the merged model, sparsity kept${mode.quantAware ? ', re-quantized on the base\'s grid' : ''}, to OUT/merged, and no adapter) or nls merge`,
    where,
  );
}

/** HF module path of a module: `model.layers.{i}.self_attn.q_proj` / `model.layers.{i}.mlp.up_proj`. */
export function peftModulePath(layer: number, module: KnownModule): string {
  return hfLinearName(layer, module).replace(/\.weight$/, '');
}

/**
 * Key of a module in rank_pattern / alpha_pattern: its path without the leading `model.`.
 * PEFT matches a pattern key against a module's full name with the regex `.*\.{key}$` (up to
 * 0.13) or `(.*\.)?({key})$` (later); a key without `model.` matches under both, and only that
 * module (`layers.1.` can never match `layers.11.`).
 */
export function peftPatternKey(layer: number, module: KnownModule): string {
  return peftModulePath(layer, module).replace(/^model\./, '');
}

/** Names of a module's two tensors in adapter_model.safetensors. */
export function peftTensorNames(layer: number, module: KnownModule): { readonly a: string; readonly b: string } {
  const p = `base_model.model.${peftModulePath(layer, module)}`;
  return { a: `${p}.lora_A.weight`, b: `${p}.lora_B.weight` };
}

/** The PEFT alpha that makes `alpha / rank` the scale nls trained this module with. */
export function peftAlpha(m: Pick<SubAdapterModule, 'rank' | 'rMax' | 'alpha' | 'scaling' | 'scale'>): number {
  // Written as alpha * r / r_max rather than scale * r so that integral results stay exact.
  return m.scaling === 'alpha/r' ? m.alpha : (m.alpha * m.rank) / m.rMax;
}

function mostCommon<T>(values: readonly T[], keyOf: (v: T) => string): T {
  const counts = new Map<string, { v: T; n: number }>();
  for (const v of values) {
    const k = keyOf(v);
    const c = counts.get(k);
    if (c) c.n++;
    else counts.set(k, { v, n: 1 });
  }
  let best: { v: T; n: number } | undefined;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  return best!.v;
}

/**
 * `target_modules` for the exported modules: the module names (PEFT's usual form, matching that
 * name in every layer) when every layer of the model adapts exactly those names; else the full
 * module paths, which PEFT matches exactly, so that no module at rank 0 gets an adapter.
 */
export function peftTargetModules(modules: readonly Pick<SubAdapterModule, 'layer' | 'module'>[], numLayers: number): string[] {
  const names = [...new Set(modules.map((m) => m.module))].sort();
  const present = new Set(modules.map((m) => `${m.layer}.${m.module}`));
  const everyLayer = names.every((n) => Array.from({ length: numLayers }, (_, l) => present.has(`${l}.${n}`)).every(Boolean));
  if (everyLayer && present.size === names.length * numLayers) return names;
  return modules.map((m) => peftModulePath(m.layer, m.module));
}

/**
 * The adapter_config.json of a sub-adapter.
 *
 * @param numLayers - decoder layers of the base model (decides the form of `target_modules`).
 * @throws NlsError when every module is at rank 0 (nothing to export: the subnet is the base model),
 *   or when `options.adapterMode` is sparsity- or quantization-aware.
 */
export function peftAdapterConfig(sub: SubAdapter, numLayers: number, options: PeftExportOptions): PeftAdapterConfig {
  const mode = options.adapterMode ?? PLAIN_ADAPTERS;
  refuseConstrainedPeftExport(mode, { field: 'adapterMode' });
  const modules = sub.modules;
  if (modules.length === 0) {
    throw new NlsError('every adapted module is at rank 0 in this configuration: there is no adapter to export (the subnet is the base model itself); fix: choose a configuration with a rank above 0', {
      field: 'configuration',
    });
  }
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  const nlsModules: Record<string, PeftNlsRecord['modules'][string]> = {};
  for (const m of modules) {
    const k = peftPatternKey(m.layer, m.module);
    rankPattern[k] = m.rank;
    alphaPattern[k] = peftAlpha(m);
    nlsModules[m.key] = { rank: m.rank, rMax: m.rMax, alpha: m.alpha, scaling: m.scaling, scale: m.scale };
  }
  const def = mostCommon(modules, (m) => `${m.rank}/${peftAlpha(m)}`);
  const dropout = mostCommon(modules, (m) => String(m.dropout)).dropout;
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: def.rank,
    lora_alpha: peftAlpha(def),
    target_modules: peftTargetModules(modules, numLayers),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    base_model_name_or_path: options.baseModelNameOrPath,
    lora_dropout: dropout,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
    ...(options.nls === false ? {} : { nls_adapter_mode: adapterModeName(mode) as 'lora' }),
    ...(options.nls === false ? {} : { nls: { format: PEFT_NLS_FORMAT, nlsVersion: NLS_VERSION, ...(options.nls ?? {}), modules: nlsModules } }),
  };
}

/** The tensors of adapter_model.safetensors: per module lora_A [r, in] and lora_B [out, r]. */
export function peftAdapterTensors(sub: SubAdapter): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const m of sub.modules) {
    const names = peftTensorNames(m.layer, m.module);
    out.set(names.a, { shape: [m.rank, m.inFeatures], data: m.a });
    out.set(names.b, { shape: [m.outFeatures, m.rank], data: m.b });
  }
  return out;
}

/**
 * Write a PEFT LoRA adapter folder for `sub`: adapter_model.safetensors, then
 * adapter_config.json (last: a folder with it is complete). Both atomically.
 *
 * @param numLayers - decoder layers of the base model.
 * @returns the adapter configuration written.
 */
export async function savePeftAdapter(dir: string, sub: SubAdapter, numLayers: number, options: PeftExportOptions): Promise<PeftAdapterConfig> {
  const config = peftAdapterConfig(sub, numLayers, options);
  await fsp.mkdir(dir, { recursive: true });
  // PEFT and transformers want the "pt" format marker, as for model checkpoints.
  const bytes = serializeSafetensors(peftAdapterTensors(sub), { dtype: options.dtype ?? 'F32', metadata: { format: 'pt' } }, path.join(dir, PEFT_WEIGHTS_FILE));
  await writeFileAtomic(path.join(dir, PEFT_WEIGHTS_FILE), bytes);
  await writeFileAtomic(path.join(dir, PEFT_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  return config;
}
