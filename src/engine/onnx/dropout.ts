/**
 * Dropout masks for the onnx training engine, drawn on the host from a seed: each element is 0
 * with probability p and 1/(1-p) otherwise (inverted dropout, as tf.dropout and torch scale).
 *
 * The generator is xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that nearby
 * seeds give unrelated streams: 32-bit integer arithmetic only, so the same seed gives the same
 * mask on every machine, and fast enough (a few ns per element) that masks for every adapter of
 * a step cost little next to the step. A mask is a pure function of (seed, p, length).
 */

/** Fill `out` with a dropout mask of probability `p` drawn from `seed`. */
export function fillDropoutMask(out: Float32Array, p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  const keep = Math.fround(1 / (1 - p));
  // An element is dropped when its 32-bit draw is below p * 2^32.
  const threshold = Math.floor(p * 4294967296);
  let z = seed >>> 0;
  const next32 = (): number => {
    z = (z + 0x9e3779b9) >>> 0;
    let t = z ^ (z >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
  let s0 = next32();
  let s1 = next32();
  let s2 = next32();
  let s3 = next32();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  for (let i = 0; i < out.length; i++) {
    // xoshiro128**: result = rotl(s1 * 5, 7) * 9.
    const r = Math.imul(((Math.imul(s1, 5) << 7) | (Math.imul(s1, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    out[i] = r < threshold ? 0 : keep;
  }
}
