/**
 * Every operator of nls's ONNX graphs, registered (importing this module registers them all):
 * shape rules and gradients by operator name (registry.ts).
 */
import './elementwise.js';
import './gather.js';
import './layout.js';
import './matmul.js';
import './reduce.js';
import './softmax.js';

export { GradientContext, isFloatType, NodeView, type OpDefinition, opDefinition, registeredOps, registerOp, type ValueType } from './registry.js';
