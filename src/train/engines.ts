/**
 * Choosing and creating a training engine (engine.ts): `tfjs`, `onnx`, or `auto` (onnx when
 * onnxruntime-node loads here, else tfjs), resolved as evaluation engines are (`resolveEngine`).
 */
import type * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import { resolveEngine } from '../engine/select.js';
import type { EngineRequest } from '../engine/types.js';
import type { LlamaModel } from '../model/llama.js';
import type { AdamWOptions } from './adamw.js';
import { createTfjsTrainingEngine, type TrainingEngine, type TrainingEngineName } from './engine.js';

/** An engine name, or `auto` (as `--engine` takes it). */
export type EngineChoice = EngineRequest;

/** What to train, for {@link createTrainingEngine}. */
export interface TrainingEngineSpec {
  readonly model: LlamaModel;
  /** Adapters whose ranks the passes set (supernet training). */
  readonly adapters?: AdapterSet;
  /** The trained variables by stable name (adapterVariables or model.namedBaseVariables). */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** The base weights train (pre-training). */
  readonly trainBase?: boolean;
  /** The passes set MLP widths (a search space with width groups). */
  readonly elasticWidths?: boolean;
  readonly optimizer?: AdamWOptions;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
  /** onnxruntime execution providers of the onnx engine, in order of preference (default: cuda then cpu where CUDA is installed, else cpu). */
  readonly providers?: readonly string[];
}

/** The engine `choice` resolves to here: `auto` is onnx when onnxruntime-node loads, else tfjs; `onnx` is refused (NlsError) where it does not load. */
export function resolveTrainingEngine(choice: EngineChoice): Promise<TrainingEngineName> {
  return resolveEngine(choice);
}

/** Create the chosen engine over `spec`. */
export async function createTrainingEngine(choice: EngineChoice, spec: TrainingEngineSpec): Promise<TrainingEngine> {
  const name = await resolveTrainingEngine(choice);
  if (name === 'tfjs') return createTfjsTrainingEngine(spec);
  const { createOnnxTrainingEngine } = await import('../engine/onnx/training.js');
  return createOnnxTrainingEngine(spec);
}
