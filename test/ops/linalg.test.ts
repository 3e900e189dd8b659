import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as linalg from '../../src/ops/linalg.js';
import { bmm, embedding, linear, matmul } from '../../src/ops/linalg.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';

beforeAll(useTestBackend);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function randn(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(normalArray(createRng(seed), shape.reduce((a, b) => a * b, 1), 1), shape);
}

describe('fast-path linear algebra', () => {
  it('matmul: values and gradients equal the stock op (property over shapes)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.nat(1000), (m, k, n, seed) => {
        tf.tidy(() => {
          const a = randn([m, k], seed) as tf.Tensor2D;
          const b = randn([k, n], seed + 1) as tf.Tensor2D;
          const w = randn([m, n], seed + 2);
          const loss = (f: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
            tf.sum(tf.mul(f(x as tf.Tensor2D, y as tf.Tensor2D), w));
          const ours = tf.grads(loss(matmul))([a, b]);
          const stock = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
          expect(maxAbsDiff(matmul(a, b), tf.matMul(a, b))).toBeLessThan(1e-5);
          expect(maxAbsDiff(ours[0]!, stock[0]!)).toBeLessThan(1e-5);
          expect(maxAbsDiff(ours[1]!, stock[1]!)).toBeLessThan(1e-5);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('matmul gradient matches central finite differences', () => {
    const a = randn([3, 4], 1) as tf.Tensor2D;
    const b = randn([4, 2], 2) as tf.Tensor2D;
    const f = (x: tf.Tensor2D) => tf.sum(tf.square(matmul(x, b)));
    const g = tf.grad((x: tf.Tensor) => f(x as tf.Tensor2D))(a).arraySync() as number[][];
    const base = a.arraySync();
    const h = 1e-2;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 4; j++) {
        const plus = base.map((r) => r.slice());
        const minus = base.map((r) => r.slice());
        plus[i]![j]! += h;
        minus[i]![j]! -= h;
        const fd = (f(tf.tensor2d(plus)).dataSync()[0]! - f(tf.tensor2d(minus)).dataSync()[0]!) / (2 * h);
        expect(Math.abs(fd - g[i]![j]!)).toBeLessThan(1e-2 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  it('linear flattens leading dimensions', () => {
    tf.tidy(() => {
      const x = randn([2, 3, 5], 3);
      const w = randn([5, 4], 4) as tf.Tensor2D;
      const y = linear(x, w);
      expect(y.shape).toEqual([2, 3, 4]);
      const ref = tf.reshape(tf.matMul(tf.reshape(x, [6, 5]) as tf.Tensor2D, w), [2, 3, 4]);
      expect(maxAbsDiff(y, ref)).toBeLessThan(1e-5);
    });
  });

  it('bmm: values and gradients equal the stock batched op', () => {
    tf.tidy(() => {
      const a = randn([3, 4, 5], 5) as tf.Tensor3D;
      const b = randn([3, 5, 2], 6) as tf.Tensor3D;
      const w = randn([3, 4, 2], 7);
      const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(bmm(x as tf.Tensor3D, y as tf.Tensor3D), w)))([a, b]);
      const stock = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), w)))([a, b]);
      expect(maxAbsDiff(bmm(a, b), tf.matMul(a, b))).toBeLessThan(1e-5);
      expect(maxAbsDiff(ours[0]!, stock[0]!)).toBeLessThan(1e-5);
      expect(maxAbsDiff(ours[1]!, stock[1]!)).toBeLessThan(1e-5);
    });
  });

  it('embedding gradient is a scatter-add of the upstream gradient (repeated ids accumulate)', () => {
    tf.tidy(() => {
      const table = randn([6, 3], 8) as tf.Tensor2D;
      const ids = tf.tensor2d([[1, 4, 1], [0, 1, 5]], [2, 3], 'int32');
      const up = randn([2, 3, 3], 9);
      const out = embedding(table, ids);
      expect(maxAbsDiff(out, tf.gather(table, ids))).toBe(0);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, ids), up)))(table);
      const upRows = up.reshape([6, 3]).arraySync() as number[][];
      const flatIds = [1, 4, 1, 0, 1, 5];
      const expected = Array.from({ length: 6 }, () => [0, 0, 0]);
      flatIds.forEach((id, n) => upRows[n]!.forEach((v, j) => (expected[id]![j]! += v)));
      expect(maxAbsDiff(g, tf.tensor2d(expected))).toBeLessThan(1e-5);
    });
  });

  it('no tensor leaks across repeated forward/backward', () => {
    const a = tf.variable(randn([4, 4], 10) as tf.Tensor2D);
    const b = randn([4, 4], 11) as tf.Tensor2D;
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(matmul(a, b)) as tf.Scalar, [a]);
      value.dispose();
      tf.dispose(grads);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });
});

describe('linearFrozen', () => {
  it('equals linear in value and in the input gradient, and gives the weight no gradient', () => {
    tf.tidy(() => {
      const x = randn([2, 3, 5], 12);
      const w = randn([5, 4], 13) as tf.Tensor2D;
      const up = randn([2, 3, 4], 14);
      const { linearFrozen } = linalg;
      expect(maxAbsDiff(linearFrozen(x, w), linear(x, w))).toBe(0);
      const gFrozen = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(linearFrozen(v, w), up)))(x);
      const gPlain = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(linear(v, w), up)))(x);
      expect(maxAbsDiff(gFrozen, gPlain)).toBeLessThan(1e-6);
      const wv = tf.variable(w);
      // tfjs sees no path from the loss to the weight at all.
      expect(() => tf.variableGrads(() => tf.sum(tf.mul(linearFrozen(x, wv), up)) as tf.Scalar, [wv])).toThrow(/Cannot find a connection/);
      wv.dispose();
    });
  });
});
