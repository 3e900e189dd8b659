/**
 * Choosing and creating a training engine (engine.ts): `tfjs`, `onnx`, or `auto` (onnx when
 * onnxruntime-node loads here, else tfjs).
 */
import type * as tf from '@tensorflow/tfjs';
import type { AdapterSet } from '../adapters/adapter-set.js';
import { onnxAvailability } from '../engine/onnx/session.js';
import type { EngineRequest } from '../engine/types.js';
import { NlsError } from '../errors.js';
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
  /** onnxruntime execution providers of the onnx engine, in order of preference (default ['cpu']). */
  readonly providers?: readonly string[];
}

/** The engine `auto` resolves to here: onnx when onnxruntime-node loads, else tfjs. */
export async function resolveTrainingEngine(choice: EngineChoice): Promise<TrainingEngineName> {
  if (choice !== 'auto') return choice;
  return (await onnxAvailability()).available ? 'onnx' : 'tfjs';
}

/** Create the chosen engine over `spec`. */
export async function createTrainingEngine(choice: EngineChoice, spec: TrainingEngineSpec): Promise<TrainingEngine> {
  const name = await resolveTrainingEngine(choice);
  if (name === 'tfjs') return createTfjsTrainingEngine(spec);
  const availability = await onnxAvailability();
  if (!availability.available) {
    throw new NlsError(`the onnx training engine needs onnxruntime-node, which does not load here (${availability.reason}); fix: --engine tfjs`, { field: '--engine' });
  }
  const { createOnnxTrainingEngine } = await import('../engine/onnx/training.js');
  return createOnnxTrainingEngine(spec);
}
