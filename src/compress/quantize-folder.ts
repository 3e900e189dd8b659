/**
 * Saving a model folder whose decoder linears are quantized (nls-rtn format, docs/formats.md).
 * Loading goes through the ordinary `loadModelFolder`, which recognises the format.
 *
 * @module
 */
import { NlsError } from '../errors.js';
import { writeHfConfig } from '../model/hf-config.js';
import type { LlamaModel } from '../model/llama.js';
import type { SaveModelOptions } from '../model/model-folder.js';
import { saveCheckpoint, type TensorInput } from '../model/safetensors.js';
import { quantizationConfigJson, quantizedTensors } from './quantize-format.js';
import type { QuantizedMatrix, QuantSpec } from './quantize.js';

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

function sameSpec(a: QuantSpec, b: QuantSpec): boolean {
  return a.bits === b.bits && a.groupSize === b.groupSize && a.symmetric === b.symmetric;
}

/**
 * Save `model` as a quantized model folder: every linear in `quantized` (keyed by module key
 * `layers.{i}.{module}`, HF layout `[out, in]`) is written as `.qweight` / `.scales` / `.qzeros`
 * instead of its float `.weight`; every other tensor (embeddings, norms, lm_head, linears not in
 * the map) is written as in {@link saveModelFolder} (`options.dtype`, default F32). config.json
 * gets `quantization_config` (`quant_method: "nls-rtn"`). Each file is written atomically.
 *
 * The quantized matrices are what is stored: the loaded model's linears are their dequantized
 * values, whatever the float weights of `model` are (after {@link quantizeModel} they agree).
 *
 * @throws NlsError when the map is empty, names an unknown module, has a mis-shaped matrix, or
 *   mixes specs (one folder has one `quantization_config`).
 */
export async function saveQuantizedModelFolder(
  dir: string,
  model: LlamaModel,
  quantized: ReadonlyMap<string, QuantizedMatrix>,
  options: SaveModelOptions = {},
): Promise<void> {
  const first = quantized.values().next();
  if (first.done) throw new NlsError('no quantized matrices to save; quantize the model first (quantizeModel)', { field: 'quantized' });
  const spec = first.value.spec;
  const slots = model.linearSlots();
  const byHfName = new Map<string, QuantizedMatrix>();
  for (const [key, q] of quantized) {
    const slot = slots.get(key);
    if (!slot) throw new NlsError(`is not a linear module of this model (expected keys like layers.0.q_proj)`, { field: key });
    if (q.rows !== slot.outFeatures || q.cols !== slot.inFeatures) {
      throw new NlsError(`quantized matrix is ${q.rows} x ${q.cols}, the weight is [out, in] = ${slot.outFeatures} x ${slot.inFeatures}`, { field: key });
    }
    if (!sameSpec(q.spec, spec)) {
      throw new NlsError(`is quantized with ${JSON.stringify(q.spec)} but another module with ${JSON.stringify(spec)}; one folder holds one spec`, { field: key });
    }
    byHfName.set(slot.hfName, q);
  }

  const dtype = options.dtype ?? 'F32';
  const tensors = new Map<string, TensorInput>();
  for (const [name, t] of await model.toHf()) {
    const q = byHfName.get(name);
    if (q) for (const [qName, qt] of quantizedTensors(name, q)) tensors.set(qName, qt);
    // The float dtype is given per tensor (not as the writer option) so the F32 scales keep theirs.
    else tensors.set(name, { shape: t.shape, data: t.data, dtype });
  }
  await saveCheckpoint(dir, tensors, {
    metadata: { format: 'pt', ...(options.metadata ?? {}) },
    ...(options.maxShardBytes !== undefined ? { maxShardBytes: options.maxShardBytes } : {}),
  });
  await writeHfConfig(dir, model.config, {
    torchDtype: TORCH_DTYPE[dtype],
    extra: {
      ...(options.byteTokenizer ? { nls_tokenizer: 'bytes' } : {}),
      quantization_config: quantizationConfigJson(spec),
    },
  });
}
