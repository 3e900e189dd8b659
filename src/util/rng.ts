import seedrandom from 'seedrandom';

/** A seeded source of randomness. Every random choice in nls flows from one of these. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Serializable state, for checkpoints; `restoreRng(state)` continues the same stream. */
  state(): RngState;
}

/** Opaque, JSON-serializable state of an {@link Rng} (seedrandom's ARC4 state). */
export interface RngState {
  readonly i: number;
  readonly j: number;
  readonly S: readonly number[];
}

/** seedrandom's generator when created with `{ state: true }` (its typings omit `state`). */
interface StatefulPrng {
  quick(): number;
  state(): unknown;
}

function wrap(prng: StatefulPrng): Rng {
  return {
    next: () => prng.quick(),
    int: (n: number) => {
      if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
      return Math.floor(prng.quick() * n);
    },
    state: () => prng.state() as unknown as RngState,
  };
}

/** Create a seeded RNG (seedrandom ARC4). The same seed gives the same stream on every platform. */
export function createRng(seed: number | string): Rng {
  return wrap(seedrandom(String(seed), { state: true }) as unknown as StatefulPrng);
}

/** Continue an RNG from a state captured by {@link Rng.state}. */
export function restoreRng(state: RngState): Rng {
  // seedrandom accepts a saved state object as the `state` option; its typings say boolean.
  return wrap(seedrandom('', { state: state as unknown as boolean }) as unknown as StatefulPrng);
}

/** Derive an independent child seed from a parent RNG (for sub-components such as dropout). */
export function childSeed(rng: Rng): number {
  return Math.floor(rng.next() * 2 ** 31);
}

/**
 * `n` samples from N(0, std^2) drawn from `rng` (Box-Muller in float64, then rounded to
 * float32). Generated in JS rather than by a tfjs random op so that initial weights are the
 * same on every backend.
 */
export function normalArray(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng.next(); // (0, 1]: log is finite
    const u2 = rng.next();
    const radius = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** `n` samples uniform in [-bound, bound) drawn from `rng`. */
export function uniformArray(rng: Rng, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/**
 * Fisher-Yates shuffle of `items` in place, drawing `j = rng.int(i + 1)` for `i = n-1 .. 1`;
 * returns `items`. The draw order is part of the contract: journals and splits depend on it.
 */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}
