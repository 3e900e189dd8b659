/**
 * Causal language-modelling loss.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Weighted mean token cross-entropy: sum(w * -log p(target)) / sum(w).
 *
 * The target log-probability is picked with a one-hot product rather than `gather`, whose
 * gradient needs a kernel (UnsortedSegmentSum) that the wasm backend lacks.
 * @param logits - [batch, seq, vocab] (position t predicts token t+1; the caller aligns targets).
 * @param targets - int32 [batch, seq].
 * @param weights - float32 [batch, seq]: 1 for tokens in the loss (answer tokens), 0 elsewhere.
 */
export function tokenCrossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D, weights: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[2];
    const logp = tf.logSoftmax(logits, -1);
    const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, vocab)), -1);
    const total = tf.sum(weights);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, weights))), tf.maximum(total, 1)) as tf.Scalar;
  });
}
