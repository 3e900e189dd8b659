/**
 * SparsePEFT and QA-SparsePEFT adapters: the delta is masked by the base's non-zeros, so the
 * merged weight keeps every zero of the base; the output and gradients match a naive loop
 * reference; the quantization-aware form computes x @ FQ(W + delta) with a straight-through
 * gradient. No tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdapterSet } from '../../src/adapters/adapter-set.js';
import { INFERENCE, LinearSlot, type ForwardContext } from '../../src/model/linear.js';
import { createRng, normalArray } from '../../src/util/rng.js';
import { useTestBackend } from '../helpers/backend.js';

beforeAll(useTestBackend);

const TRAIN: ForwardContext = { training: true, nextSeed: () => 1 };

/** One linear slot with a pruned base weight ([in, out] layout), wrapped as something AdapterSet can attach to. */
function prunedSlot(inDim: number, outDim: number, seed: number, keep: (i: number) => boolean): { slot: LinearSlot; w: Float32Array } {
  const rng = createRng(seed);
  const w = normalArray(rng, inDim * outDim, 0.5).map((v, i) => (keep(i) ? v : 0));
  const slot = new LinearSlot('layers.0.q_proj', 'w', tf.variable(tf.tensor2d(w, [inDim, outDim]), false));
  return { slot, w };
}

function attach(slot: LinearSlot, rMax: number, seed: number): AdapterSet {
  const set = AdapterSet.attach({ linearSlots: () => new Map([[slot.key, slot]]) }, [{ key: slot.key, rMax, alpha: 6, scaling: 'alpha/r_max', dropout: 0 }], seed);
  const a = set.adapters.get(slot.key)!;
  a.bT.assign(tf.tensor2d(normalArray(createRng(seed + 1), a.bT.size, 0.4), a.bT.shape));
  return set;
}

/** Naive reference: y[t][o] = sum_i x[t][i] * (W[i][o] + s * M[i][o] * sum_k AT[i][k] BT[k][o]) over the first r columns. */
function naiveOutput(x: Float32Array, rows: number, w: Float32Array, aT: Float32Array, bT: Float32Array, inDim: number, outDim: number, rMax: number, r: number, s: number): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outDim; o++) {
      let acc = 0;
      for (let i = 0; i < inDim; i++) {
        const base = w[i * outDim + o]!;
        let delta = 0;
        for (let k = 0; k < r; k++) delta += aT[i * rMax + k]! * bT[k * outDim + o]!;
        acc += x[t * inDim + i]! * (base + (base !== 0 ? s * delta : 0));
      }
      y[t * outDim + o] = acc;
    }
  }
  return y;
}

describe('SparsePEFT adapters', () => {
  it('the merged weight keeps every zero of the base and the output matches the naive reference (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 9 }),
        fc.integer({ min: 2, max: 9 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        async (inDim, outDim, rMaxSeed, r0, density, seed) => {
          // r_max is at most min(in, out): AdapterSet.attach refuses larger ranks.
          const rMax = Math.min(rMaxSeed, inDim, outDim);
          const r = Math.min(r0, rMax);
          const keepRng = createRng(seed + 7);
          const keepMask = Array.from({ length: inDim * outDim }, () => keepRng.next() < density);
          const { slot, w } = prunedSlot(inDim, outDim, seed, (i) => keepMask[i]!);
          const set = attach(slot, rMax, seed);
          set.constrainToBase({ sparse: true });
          const adapter = set.adapters.get(slot.key)!;
          adapter.setActiveRank(r);
          const before = tf.memory().numTensors;
          const merged = tf.tidy(() => tf.add(slot.weightT, adapter.deltaWeightT()));
          const mergedData = await merged.data();
          merged.dispose();
          mergedData.forEach((v, i) => {
            if (w[i] === 0) expect(v).toBe(0);
          });
          const x = normalArray(createRng(seed + 3), 3 * inDim, 1);
          const ours = tf.tidy(() => slot.forward(tf.tensor2d(x, [3, inDim]), INFERENCE));
          const got = await ours.data();
          ours.dispose();
          expect(tf.memory().numTensors).toBe(before);
          const ref = naiveOutput(x, 3, w, await adapter.aT.data() as Float32Array, await adapter.bT.data() as Float32Array, inDim, outDim, rMax, r, adapter.scale);
          got.forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThan(1e-4));
          set.dispose();
          slot.weightT.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gradients of A and B match finite differences and vanish where they only reach pruned weights', async () => {
    const inDim = 4;
    const outDim = 3;
    // Output column 2 keeps no weight: B's column 2 gets exactly zero gradient.
    const { slot } = prunedSlot(inDim, outDim, 5, (i) => i % outDim !== 2 && i !== 0);
    const set = attach(slot, 2, 9);
    set.constrainToBase({ sparse: true });
    const adapter = set.adapters.get(slot.key)!;
    const x = tf.tensor2d(normalArray(createRng(4), 2 * inDim, 1), [2, inDim]);
    const target = tf.tensor2d(normalArray(createRng(8), 2 * outDim, 1), [2, outDim]);
    const loss = () => tf.tidy(() => tf.sum(tf.square(tf.sub(slot.forward(x, TRAIN), target))) as tf.Scalar);
    const { grads } = tf.variableGrads(loss, [adapter.aT, adapter.bT]);
    const gA = await grads[adapter.aT.name]!.data();
    const gB = await grads[adapter.bT.name]!.data();
    for (let k = 0; k < 2; k++) expect(gB[k * outDim + 2]).toBe(0);
    const eps = 1e-3;
    for (const [v, g] of [
      [adapter.aT, gA],
      [adapter.bT, gB],
    ] as const) {
      const values = (await v.data()) as Float32Array;
      for (let i = 0; i < values.length; i++) {
        const at = (delta: number) => {
          const copy = values.slice();
          copy[i]! += delta;
          v.assign(tf.tensor2d(copy, v.shape as [number, number]));
          return loss().dataSync()[0]!;
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        v.assign(tf.tensor2d(values, v.shape as [number, number]));
        expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
      }
    }
    tf.dispose([x, target, ...Object.values(grads)]);
    set.dispose();
    slot.weightT.dispose();
  });

  it('QA-SparsePEFT: the output is x @ FQ(W + delta), rank 0 is the base, and the gradient is straight-through', async () => {
    const inDim = 5;
    const outDim = 4;
    const { slot } = prunedSlot(inDim, outDim, 12, (i) => i % 3 !== 0);
    const step = 0.125;
    // A grid of step 1/8 with a straight-through gradient, like a quantizer with one scale.
    const fakeQuantize = (wT: tf.Tensor2D): tf.Tensor2D =>
      tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const w = args[0] as tf.Tensor;
        return { value: tf.mul(tf.round(tf.div(w, step)), step), gradFunc: (dy: tf.Tensor) => dy };
      })(wT) as tf.Tensor2D;
    tf.tidy(() => slot.weightT.assign(fakeQuantize(slot.weightT)));
    const set = attach(slot, 3, 2);
    set.constrainToBase({ sparse: true, fakeQuantize: new Map([[slot.key, { apply: fakeQuantize }]]) });
    const adapter = set.adapters.get(slot.key)!;
    const x = tf.tensor2d(normalArray(createRng(6), 2 * inDim, 1), [2, inDim]);
    const expected = tf.tidy(() => tf.matMul(x, fakeQuantize(tf.add(slot.weightT, adapter.deltaWeightT()) as tf.Tensor2D)));
    const got = tf.tidy(() => slot.forward(x, INFERENCE));
    expect(Array.from(await got.data())).toEqual(Array.from(await expected.data()));
    adapter.setActiveRank(0);
    const off = tf.tidy(() => slot.forward(x, INFERENCE));
    const base = tf.tidy(() => tf.matMul(x, slot.weightT));
    expect(Array.from(await off.data())).toEqual(Array.from(await base.data()));
    adapter.setActiveRank(3);
    // Straight-through, checked against the classic formulation m + stopGradient(FQ(m) - m).
    const target = tf.ones([2, outDim]);
    const lossOf = (y: tf.Tensor) => tf.sum(tf.square(tf.sub(y, target))) as tf.Scalar;
    const { grads: qa } = tf.variableGrads(() => tf.tidy(() => lossOf(slot.forward(x, TRAIN))), [adapter.aT, adapter.bT]);
    const rounding = tf.tidy(() => {
      const m = tf.add(slot.weightT, adapter.deltaWeightT()) as tf.Tensor2D;
      return tf.tensor2d(tf.sub(fakeQuantize(m), m).dataSync() as Float32Array, m.shape as [number, number]);
    });
    const { grads: plain } = tf.variableGrads(
      () => tf.tidy(() => lossOf(tf.matMul(x, tf.add(tf.add(slot.weightT, adapter.deltaWeightT()), rounding)))),
      [adapter.aT, adapter.bT],
    );
    for (const v of [adapter.aT, adapter.bT]) {
      const a = await qa[v.name]!.data();
      const b = await plain[v.name]!.data();
      a.forEach((g, i) => expect(Math.abs(g - b[i]!)).toBeLessThan(1e-4));
    }
    rounding.dispose();
    tf.dispose([x, expected, got, off, base, target, ...Object.values(qa), ...Object.values(plain)]);
    set.dispose();
    slot.weightT.dispose();
  });

  it('multi-candidate mode refuses constrained adapters, and clearing the constraint restores the plain adapter without leaks', async () => {
    const { slot } = prunedSlot(4, 4, 1, (i) => i % 2 === 0);
    const set = attach(slot, 2, 3);
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(normalArray(createRng(2), 2 * 4, 1), [2, 4]);
    const plain = tf.tidy(() => slot.forward(x, INFERENCE));
    set.constrainToBase({ sparse: true });
    await expect(set.withCandidates([new Map([[slot.key, 1]]), new Map([[slot.key, 2]])], () => tf.tidy(() => slot.forward(tf.concat([x, x]), INFERENCE)))).rejects.toThrow(/one by one/);
    set.constrainToBase({ sparse: false });
    const again = tf.tidy(() => slot.forward(x, INFERENCE));
    expect(Array.from(await again.data())).toEqual(Array.from(await plain.data()));
    tf.dispose([x, plain, again]);
    expect(tf.memory().numTensors).toBe(before);
    set.dispose();
    slot.weightT.dispose();
  });
});
