/** Evaluation engines (docs/engines.md): the contract, the tfjs engine, the ONNX Runtime engine and its export. */
export { ENGINE_NAMES, ENGINE_REQUESTS, type EngineInfo, type EngineName, type EngineRequest, type EvaluationEngine, type OnnxForm } from './types.js';
export { createTfjsEngine, type TfjsEngineOptions } from './tfjs.js';
export { isEngineRequest, resolveEngine } from './select.js';
export { createOnnxEngine, ONNX_ROWS_PER_RUN, type OnnxEngineOptions } from './onnx/engine.js';
export {
  type AdapterPath,
  adapterInputNames,
  type AdapterSlot,
  exportLlamaOnnx,
  type FakeQuantGrid,
  type LlamaExportOptions,
  type LlamaGraphOutput,
  type LlamaWeights,
  widthInputName,
} from './onnx/llama.js';
export { adapterFactorsOf, adapterFeed, type AdapterFactors, type AdapterFeed, llamaWeightsOf, mergedWeightsOf, sliceLlamaWeights } from './onnx/weights.js';
export { createOrtSession, defaultThreads, loadOrt, type OnnxAvailability, onnxAvailability, type OnnxSessionOptions, ortSessionOptions } from './onnx/session.js';
export { GraphBuilder, ONNX_IR_VERSION, ONNX_OPSET } from './onnx/graph.js';
export { encodeModel, type OnnxGraph, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo, OnnxDataType } from './onnx/proto.js';
export { addGradients, type GradientRequest, inferValueTypes } from './onnx/autodiff.js';
export { opDefinition, type OpDefinition, registeredOps, registerOp, type ValueType } from './onnx/ops/index.js';
export { buildLlamaGraph, dropoutMaskInputName, type LlamaTrainingForm, parameterInputName, rankMaskInputName, widthMaskInputName } from './onnx/llama.js';
export { buildLlamaTrainingGraph, gradientOutputName, type TrainingGraph, type TrainingGraphOptions } from './onnx/train-graph.js';
export { createOnnxTrainingEngine } from './onnx/training.js';
export { fillDropoutMask } from './onnx/dropout.js';
export { type HostedTensor, OrtSessionHost } from './onnx/session-host.js';
