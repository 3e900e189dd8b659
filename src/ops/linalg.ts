/**
 * Linear algebra that stays on each backend's fast path.
 *
 * Why this module exists: tfjs-wasm runs float32 matMul at ~30 GFLOP/s only for 2-D,
 * non-transposed operands (its XNNPACK path). The `transposeA/B` flags and batched (3-D)
 * inputs fall to ~1-9 GFLOP/s, and `tf.matMul`'s built-in gradient uses the transposed
 * forms. Materialising the transpose explicitly and then multiplying is ~10x faster than
 * the flag. wasm also lacks `UnsortedSegmentSum` (the gradient of `gather`).
 *
 * So model code calls these ops, never `tf.matMul` directly: each has a custom gradient
 * that only uses non-transposed 2-D products and explicit transposes.
 */
import * as tf from '@tensorflow/tfjs';

function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  return tf.transpose(x, [1, 0]);
}

// tfjs types a custom-gradient callback as (...inputs: Array<Tensor | GradSaveFunc>): the
// last argument is the save function.
type GradArgs = Array<tf.Tensor | tf.GradSaveFunc>;

const matmul2dWithGrad = tf.customGrad((...args: GradArgs) => {
  const [a2, b2, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a2, b2]);
  return {
    value: tf.matMul(a2, b2),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      return [tf.matMul(dy2, transpose2d(sb)), tf.matMul(transpose2d(sa), dy2)];
    },
  };
});

/**
 * `a @ b` for 2-D tensors, with a gradient that uses only non-transposed products.
 * @param a - [m, k]
 * @param b - [k, n]
 * @returns [m, n]
 */
export function matmul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2) throw new Error(`matmul: expected 2-D operands, got ranks ${a.rank} and ${b.rank}`);
  if (a.shape[1] !== b.shape[0]) throw new Error(`matmul: inner dimensions differ: [${a.shape}] @ [${b.shape}]`);
  return matmul2dWithGrad(a, b) as tf.Tensor2D;
}

/**
 * Apply a weight stored input-major (`wT` is [in, out], the transpose of HF's [out, in])
 * to `x` of shape [..., in]. Leading dimensions are flattened so the product is 2-D.
 * @returns [..., out]
 */
export function linear(x: tf.Tensor, wT: tf.Tensor2D): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1];
  if (inDim !== wT.shape[0]) throw new Error(`linear: input has ${inDim} features, weight expects ${wT.shape[0]}`);
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((p, d) => p * d, 1);
  const y = matmul(tf.reshape(x, [rows, inDim]) as tf.Tensor2D, wT);
  return tf.reshape(y, [...lead, wT.shape[1]]);
}

/**
 * `x @ w` where `w` is a constant (a frozen weight): the gradient flows to `x` only, which
 * saves the `x^T @ dy` product that {@link linear} would spend on the weight's gradient, a
 * third of a frozen layer's backward cost. Never use it for a weight that trains: its
 * gradient would silently be dropped.
 * @param x - [..., in]
 * @param w - [in, out]
 */
export function linearFrozen(x: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
  const inDim = x.shape[x.shape.length - 1]!;
  if (inDim !== w.shape[0]) throw new Error(`linearFrozen: input has ${inDim} features, weight expects ${w.shape[0]}`);
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((p, d) => p * d, 1);
  const product = tf.customGrad((...args: GradArgs) => {
    const [x2] = args as [tf.Tensor2D];
    return {
      value: tf.matMul(x2, w),
      gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, transpose2d(w))],
    };
  });
  return tf.reshape(product(tf.reshape(x, [rows, inDim]) as tf.Tensor2D), [...lead, w.shape[1]]);
}

/**
 * The batched product itself. Batch size 1 goes through the 2-D kernel (the only one XNNPACK
 * accelerates on wasm). Larger batches use the batched kernel: on wasm every way of taking the
 * batch apart costs more than it saves (`slice` copies the whole input, `gather` walks it
 * element by element; measured in docs/benchmarks.md).
 */
function batchedProduct(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [n, m, k] = a.shape;
  const cols = b.shape[2];
  if (n === 1) return tf.reshape(tf.matMul(tf.reshape(a, [m, k]) as tf.Tensor2D, tf.reshape(b, [k, cols]) as tf.Tensor2D), [1, m, cols]);
  return tf.matMul(a, b);
}

const bmmWithGrad = tf.customGrad((...args: GradArgs) => {
  const [a3, b3, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a3, b3]);
  return {
    value: batchedProduct(a3, b3),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      const dy3 = dy as tf.Tensor3D;
      return [batchedProduct(dy3, tf.transpose(sb, [0, 2, 1])), batchedProduct(tf.transpose(sa, [0, 2, 1]), dy3)];
    },
  };
});

/**
 * Batched `a @ b` for 3-D tensors ([batch, m, k] @ [batch, k, n]), with a gradient that
 * transposes explicitly instead of using the slow transposed-flag kernels.
 */
export function bmm(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.rank !== 3 || b.rank !== 3) throw new Error(`bmm: expected 3-D operands, got ranks ${a.rank} and ${b.rank}`);
  if (a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new Error(`bmm: shapes do not chain: [${a.shape}] @ [${b.shape}]`);
  }
  return bmmWithGrad(a, b) as tf.Tensor3D;
}

function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

const embeddingWithOneHotGrad = tf.customGrad((...args: GradArgs) => {
  const [t2, ids, save] = args as [tf.Tensor2D, tf.Tensor, tf.GradSaveFunc];
  save([ids]);
  return {
    value: tf.gather(t2, ids),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sIds] = saved as [tf.Tensor];
      const vocab = t2.shape[0];
      const hidden = t2.shape[1];
      const n = sIds.size;
      // dTable = onehot(ids)^T @ dy: a scatter-add written as a fast-path product.
      const oneHotT = transpose2d(tf.oneHot(tf.reshape(sIds, [n]) as tf.Tensor1D, vocab).toFloat() as tf.Tensor2D);
      const dTable = tf.matMul(oneHotT, tf.reshape(dy, [n, hidden]) as tf.Tensor2D);
      // ids are integers and get no gradient; tfjs still wants a float tensor per input.
      return [dTable, tf.zeros(sIds.shape)];
    },
  };
});

/**
 * Embedding lookup `table[ids]`.
 *
 * On backends without `UnsortedSegmentSum` (wasm) the gradient of `gather` is unavailable,
 * so the table's gradient is computed as `onehot(ids)^T @ dy` instead.
 * @param table - [vocab, hidden]
 * @param ids - int32 ids of any shape
 * @returns [...ids.shape, hidden]
 */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be int32, got ${ids.dtype}`);
  if (hasKernel('UnsortedSegmentSum')) return tf.gather(table, ids);
  return embeddingWithOneHotGrad(table, ids);
}
