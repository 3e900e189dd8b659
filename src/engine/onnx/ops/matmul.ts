/**
 * MatMul (numpy semantics: batched over leading axes, broadcast) and its gradient:
 * dA = dY B^T and dB = A^T dY, summed over the batch axes an operand was broadcast along. A 2-D
 * weight multiplied by a batch of rows (every linear layer) gets its gradient as one 2-D
 * product over all rows (`Gemm` with A transposed), not a batch of products summed afterwards.
 */
import { broadcastDims, registerOp } from './registry.js';

/** The permutation swapping the last two axes of a rank-`rank` tensor. */
const swapLast = (rank: number): number[] => [...Array(rank - 2).keys(), rank - 1, rank - 2];

registerOp({
  opType: 'MatMul',
  infer: (n) => {
    const a = n.input(0).dims;
    const b = n.input(1).dims;
    if (a.length < 2 || b.length < 2) throw n.error('1-D operands are not supported');
    if (a[a.length - 1] !== b[b.length - 2]) throw n.error(`inner dimensions of [${a}] and [${b}] differ`);
    const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2), n);
    return [{ dataType: n.input(0).dataType, dims: [...batch, a[a.length - 2]!, b[b.length - 1]!] }];
  },
  vjp: (c) => {
    const { g } = c;
    const a = c.input(0).dims;
    const b = c.input(1).dims;
    const y = c.outputTypes[0]!.dims;
    const batch = y.slice(0, -2);
    const [m, k, n] = [a[a.length - 2]!, a[a.length - 1]!, b[b.length - 1]!];
    const dy = c.dy[0]!;
    let da: string | undefined;
    let db: string | undefined;
    if (c.needs(0)) da = c.reduceTo(g.matmul(dy, g.transpose(c.x(1), swapLast(b.length))), [...batch, m, k], a);
    if (c.needs(1)) {
      if (b.length === 2 && a.length > 2) {
        const rows = a.slice(0, -1).reduce((s, d) => s * d, 1);
        db = g.op('Gemm', [g.reshape(c.x(0), [rows, k]), g.reshape(dy, [rows, n])], { transA: 1 });
      } else {
        db = c.reduceTo(g.matmul(g.transpose(c.x(0), swapLast(a.length)), dy), [...batch, k, n], b);
      }
    }
    return [da, db];
  },
});

