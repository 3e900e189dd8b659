/**
 * How a supernet's adapters treat the base model: plain LoRA, sparsity-aware (SparsePEFT: the
 * delta is masked by the base's non-zeros, so the merge keeps its sparsity), or quantization-
 * aware as well (QA-SparsePEFT: the merged weight is fake-quantized with the quantized base's own
 * scales). Chosen at training time (`nls train --sparse-adapter`, `--quant-aware`), recorded in
 * supernet.json, and applied again whenever the supernet is loaded, so search scores exactly the
 * model the merge will produce.
 */
import type { AdapterSet } from '../adapters/adapter-set.js';
import type { FakeQuantizer } from '../adapters/elastic-lora.js';
import { FakeQuantizerT } from '../compress/quantize.js';
import { NlsError } from '../errors.js';
import type { ModelFolder } from '../model/model-folder.js';

/** The adapter mode of a supernet (`supernet.json` → `training.adapterMode`). */
export interface AdapterMode {
  /** Mask each delta by its base weight's non-zeros (SparsePEFT). */
  readonly sparse: boolean;
  /** Fake-quantize the merged weight with the base's scales (QA-SparsePEFT; needs a quantized base and implies `sparse`). */
  readonly quantAware: boolean;
}

/** Plain LoRA. */
export const PLAIN_ADAPTERS: AdapterMode = { sparse: false, quantAware: false };

/**
 * The name of an adapter mode in files (`nls_adapter_mode` of adapter_config.json, `adapterMode`
 * of merge-report.json): `lora` (plain, `W + sBA`), `sparse-peft` (`W + s(BA)⊙M`) or
 * `qa-sparse-peft` (`FQ(W + s(BA)⊙M)`).
 */
export type AdapterModeName = 'lora' | 'sparse-peft' | 'qa-sparse-peft';

/** The file name of `mode` ({@link AdapterModeName}). */
export function adapterModeName(mode: AdapterMode): AdapterModeName {
  return mode.quantAware ? 'qa-sparse-peft' : mode.sparse ? 'sparse-peft' : 'lora';
}

/** How messages name `mode`: plain LoRA, SparsePEFT or QA-SparsePEFT, with what the subnet computes. */
export function describeAdapterMode(mode: AdapterMode): string {
  if (mode.quantAware) return 'QA-SparsePEFT adapters (the subnet computes FQ(W + s(BA)⊙M), M = W != 0, on the base\'s quantization grid)';
  if (mode.sparse) return 'SparsePEFT adapters (the subnet computes W + s(BA)⊙M, M = W != 0)';
  return 'plain LoRA adapters (the subnet computes W + s·BA)';
}

/** The mode recorded in a supernet manifest's training section (plain when absent: older supernets). */
export function adapterModeOf(training: Readonly<Record<string, unknown>>): AdapterMode {
  const m = training['adapterMode'] as Partial<AdapterMode> | undefined;
  return { sparse: m?.sparse === true || m?.quantAware === true, quantAware: m?.quantAware === true };
}

/**
 * Apply `mode` to `adapters`, attached to the model of `folder`. A quantization-aware mode needs
 * a folder quantized by nls (`nls quantize`); its fake quantizers are handed to the adapters,
 * which free them.
 */
export function applyAdapterMode(adapters: AdapterSet, folder: Pick<ModelFolder, 'dir' | 'quantization'>, mode: AdapterMode): void {
  if (!mode.sparse && !mode.quantAware) return;
  let fakeQuantize: Map<string, FakeQuantizer> | undefined;
  if (mode.quantAware) {
    if (!folder.quantization) {
      throw new NlsError('quantization-aware adapters need a quantized base model; fix: quantize it first (nls quantize --model DIR --bits 4 --out QDIR) and train on QDIR', {
        file: folder.dir,
        field: '--quant-aware',
      });
    }
    fakeQuantize = new Map();
    for (const key of adapters.adapters.keys()) {
      const matrix = folder.quantization.matrices.get(key);
      if (!matrix) throw new NlsError(`module ${key} has an adapter but is not quantized in the base model; quantization-aware training needs every adapted module quantized`, { file: folder.dir, field: key });
      fakeQuantize.set(key, new FakeQuantizerT(matrix));
    }
  }
  adapters.constrainToBase({ sparse: true, ...(fakeQuantize ? { fakeQuantize } : {}) });
}

/**
 * Elastic MLP widths and sparsity- / quantization-aware adapters do not combine: the masks and
 * quantization grids are full-width, and a narrowed base would need them sliced and re-derived
 * (docs/widths.md, "Limits"). Throws an NlsError naming the space file when both are asked for.
 */
export function refuseWidthsWithConstrainedAdapters(space: { readonly hasWidths: boolean; readonly name: string }, mode: AdapterMode, file?: string): void {
  if (!space.hasWidths || (!mode.sparse && !mode.quantAware)) return;
  throw new NlsError(
    `search space "${space.name}" has elastic MLP widths, which sparsity- and quantization-aware adapters (--sparse-adapter, --quant-aware) do not support; fix: train plain adapters, or use a space without width groups`,
    { field: '--sparse-adapter', ...(file !== undefined ? { file } : {}) },
  );
}
