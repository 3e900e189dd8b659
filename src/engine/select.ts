/** Choosing the evaluation engine: `--engine auto|onnx|tfjs`. */
import { NlsError } from '../errors.js';
import { onnxAvailability, ortInstallHint } from './onnx/session.js';
import { ENGINE_REQUESTS, type EngineName, type EngineRequest } from './types.js';

/** True when `value` is an engine request (`auto`, `onnx`, `tfjs`). */
export function isEngineRequest(value: unknown): value is EngineRequest {
  return typeof value === 'string' && (ENGINE_REQUESTS as readonly string[]).includes(value);
}

/**
 * The engine to evaluate with: `auto` is onnx when onnxruntime-node loads on this machine, else
 * tfjs; `onnx` refuses (an `NlsError` with the loader's reason) when it does not load.
 */
export async function resolveEngine(request: EngineRequest = 'auto'): Promise<EngineName> {
  if (!isEngineRequest(request)) throw new NlsError(`unknown engine ${JSON.stringify(request)}; fix: use ${ENGINE_REQUESTS.join(', ')}`, { field: '--engine' });
  if (request === 'tfjs') return 'tfjs';
  const ort = await onnxAvailability();
  if (ort.available) return 'onnx';
  if (request === 'onnx') {
    if (ort.missing) throw new NlsError(`onnxruntime-node is not installed; fix: ${ortInstallHint()}, or evaluate with --engine tfjs`, { field: '--engine' });
    throw new NlsError(`onnxruntime-node does not load here (${ort.reason ?? 'unknown reason'}); fix: reinstall it (npm ci) or evaluate with --engine tfjs`, { field: '--engine' });
  }
  return 'tfjs';
}
