/**
 * Dropout masks for the onnx training engine, drawn on the host from a seed: each element is 0
 * with probability p and 1/(1-p) otherwise (inverted dropout, as tf.dropout and torch scale).
 *
 * The generator is xoshiro128** (Blackman & Vigna), seeded through splitmix32 so that nearby
 * seeds give unrelated streams: 32-bit integer arithmetic only, so the same seed gives the same
 * mask on every machine. Each 32-bit draw decides two elements (its two 16-bit halves), so p is
 * applied in steps of 2^-16 (0.05 becomes 0.0500031): half the draws, and masks for every
 * adapter of a demo step cost ~6 ms. A mask is a pure function of (seed, p, length).
 */

/** Fill `out` with a dropout mask of probability `p` drawn from `seed`. */
export function fillDropoutMask(out: Float32Array, p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  const keep = Math.fround(1 / (1 - p));
  // An element is dropped when its 16-bit half-draw is below p * 2^16.
  const threshold = Math.round(p * 65536);
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
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    // xoshiro128**: result = rotl(s1 * 5, 7) * 9.
    const x = Math.imul(s1, 5);
    const r = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    out[i] = (r & 0xffff) < threshold ? 0 : keep;
    if (i + 1 < n) out[i + 1] = r >>> 16 < threshold ? 0 : keep;
  }
}
