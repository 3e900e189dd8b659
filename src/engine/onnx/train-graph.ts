/**
 * The training graph: the decoder's forward graph (llama.ts, the same code that builds the
 * evaluation graphs) in its training form, plus the gradients of the loss with respect to the
 * trained inputs, derived by reverse-mode differentiation (autodiff.ts). One graph per batch and
 * sequence shape; one session of it trains every configuration of a supernet, since ranks,
 * widths and dropout masks are inputs.
 */
import { NlsError } from '../../errors.js';
import { addGradients } from './autodiff.js';
import { GraphBuilder } from './graph.js';
import { type AdapterSlot, adapterInputNames, buildLlamaGraph, type LlamaWeights } from './llama.js';
import { OnnxDataType } from './proto.js';

/** Options of {@link buildLlamaTrainingGraph}. */
export interface TrainingGraphOptions {
  /** Rows per micro-batch. */
  readonly batch: number;
  /** Tokens per row. */
  readonly seq: number;
  /** Adapted modules (trained); with `dropout` > 0 each takes a dropout mask. */
  readonly adapters?: readonly AdapterSlot[];
  /** Train every base weight (pre-training); the adapters, if any, train too. */
  readonly trainBase?: boolean;
  /** Elastic MLP widths fed as masks, one per layer. */
  readonly elasticWidths?: boolean;
  /** One product for q/k/v and one for gate/up (default false). */
  readonly fuseProjections?: boolean;
  readonly producerVersion?: string;
}

/** A serialized training graph and what it takes and gives. */
export interface TrainingGraph {
  readonly model: Uint8Array;
  /** Each trained input and the output holding its gradient. */
  readonly gradients: ReadonlyMap<string, string>;
  /** Every graph input: name, element type, shape. */
  readonly inputs: readonly { readonly name: string; readonly dataType: number; readonly dims: readonly number[] }[];
}

/** Output name of the gradient of input `input`. */
export function gradientOutputName(input: string): string {
  return `grad.${input}`;
}

/** Build the training graph of a decoder (see the module comment and `LlamaTrainingForm`). */
export function buildLlamaTrainingGraph(weights: LlamaWeights, options: TrainingGraphOptions): TrainingGraph {
  const adapters = options.adapters ?? [];
  const trainBase = options.trainBase === true;
  if (adapters.length === 0 && !trainBase) throw new NlsError('nothing to train: give adapters or train the base', { field: 'training graph' });
  const g = new GraphBuilder('nls_llama_training');
  buildLlamaGraph(g, weights, {
    output: 'loss',
    adapters,
    fuseProjections: options.fuseProjections ?? false,
    attention: 'standard',
    ...(options.elasticWidths ? { elasticWidths: true } : {}),
    training: { batch: options.batch, seq: options.seq, trainBase },
  });
  const trained = [
    ...(trainBase ? g.graphInputs.filter((i) => i.name.startsWith('param.')).map((i) => i.name) : []),
    ...adapters.flatMap((a) => {
      const n = adapterInputNames(a.key);
      return [n.a, n.b];
    }),
  ];
  const grads = addGradients(g, { loss: 'loss', wrt: trained });
  const gradients = new Map<string, string>();
  for (const name of trained) {
    const dims = g.graphInputs.find((i) => i.name === name)!.dims;
    gradients.set(name, g.output(grads.get(name)!, gradientOutputName(name), OnnxDataType.FLOAT, dims));
  }
  const inputs = g.graphInputs.map((i) => ({ name: i.name, dataType: i.dataType, dims: i.dims as number[] }));
  const model = g.build({ producerVersion: options.producerVersion ?? '0', metadata: { 'nls.form': 'training', 'nls.trained': trainBase ? 'base' : 'adapters' } });
  return { model, gradients, inputs };
}
