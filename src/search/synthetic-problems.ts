/**
 * Synthetic search problems of the kind nls searches, for benchmarking strategies
 * (benchmarks/strategies.ts) and testing them: G ordered rank genes, accuracy from concave
 * per-gene gains plus interactions between neighbouring genes plus evaluation noise, adapter
 * parameters as the cost, optionally a parameter bound. The interactions form a chain, so the true
 * Pareto front is computed exactly by dynamic programming at every size (4^6 to 3^24).
 * Everything is plain data and arithmetic, so a peer in another language (benchmarks/peers/
 * optuna_strategies.py) evaluates the same problems identically.
 */
import { createRng } from '../util/rng.js';

/** A synthetic problem: everything the peer script needs to evaluate it identically. */
export interface SyntheticProblem {
  readonly name: string;
  readonly genes: number;
  readonly choices: number;
  /** Rank of choice j (index 0 = the largest rank, as smallSpace orders them). */
  readonly ranks: readonly number[];
  readonly base: number;
  /** Per-gene gain weight and concavity: gain_i(u) = w_i (1 - exp(-c_i u)) / (1 - exp(-c_i)), u = rank / r_max. */
  readonly weights: readonly number[];
  readonly concavity: readonly number[];
  /** Interaction of genes i and i+1: v_i u_i u_{i+1}. */
  readonly interactions: readonly number[];
  /** Parameters per rank unit of each gene (module size). */
  readonly moduleSize: readonly number[];
  /** Standard deviation of the evaluation noise of accuracy. */
  readonly noise: number;
  /** Parameter bound, or null. */
  readonly bound: number | null;
}

/** Generate a problem from a seed. */
export function syntheticProblem(name: string, genes: number, choices: number, constrained: boolean, seed: number): SyntheticProblem {
  const rng = createRng(`strategies-${seed}-${genes}-${choices}`);
  const ranks = Array.from({ length: choices }, (_, j) => (choices - j) * 4);
  const weights = Array.from({ length: genes }, () => (0.2 + 0.8 * rng.next()) / genes);
  const meanW = weights.reduce((a, b) => a + b, 0) / genes;
  const p: SyntheticProblem = {
    name,
    genes,
    choices,
    ranks,
    base: 0.5,
    weights,
    concavity: Array.from({ length: genes }, () => 0.5 + 5.5 * rng.next()),
    interactions: Array.from({ length: Math.max(0, genes - 1) }, () => (rng.next() - 0.5) * 1.5 * meanW),
    moduleSize: Array.from({ length: genes }, () => [4096, 8192, 12288][rng.int(3)]!),
    noise: 0.002,
    bound: null,
  };
  if (!constrained) return p;
  const min = p.moduleSize.reduce((a, m) => a + m * ranks[choices - 1]!, 0);
  const max = p.moduleSize.reduce((a, m) => a + m * ranks[0]!, 0);
  return { ...p, bound: Math.round(min + 0.5 * (max - min)) };
}

const units = (p: SyntheticProblem, i: number, j: number) => p.ranks[j]! / p.ranks[0]!;
const gain = (p: SyntheticProblem, i: number, u: number) => (p.weights[i]! * (1 - Math.exp(-p.concavity[i]! * u))) / (1 - Math.exp(-p.concavity[i]!));

/** True (noiseless) accuracy and parameters of a configuration (choice indices). */
export function trueValues(p: SyntheticProblem, x: readonly number[]): [number, number] {
  let acc = p.base;
  let params = 0;
  for (let i = 0; i < p.genes; i++) {
    const u = units(p, i, x[i]!);
    acc += gain(p, i, u);
    if (i + 1 < p.genes) acc += p.interactions[i]! * u * units(p, i + 1, x[i + 1]!);
    params += p.moduleSize[i]! * p.ranks[x[i]!]!;
  }
  return [acc, params];
}

/** Evaluation noise of a configuration: a fixed function of (problem, run seed, key), FNV-1a then Box-Muller. */
export function noiseOf(p: SyntheticProblem, seed: number, key: string): number {
  const h = (s: string) => {
    let v = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
      v ^= s.charCodeAt(i);
      v = Math.imul(v, 0x01000193);
    }
    return ((v >>> 0) + 0.5) / 2 ** 32;
  };
  const u1 = h(`${p.name}|${seed}|${key}|a`);
  const u2 = h(`${p.name}|${seed}|${key}|b`);
  return p.noise * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * The exact Pareto front (max accuracy for each parameter count, non-dominated, feasible) and the
 * lowest accuracy of the space, by dynamic programming over the chain of genes.
 */
export function exactFront(p: SyntheticProblem): { front: [number, number][]; worstAccuracy: number; maxParams: number } {
  const unit = 4096 * 4; // every module size times every rank is a multiple of this
  type Table = Map<number, Float64Array>; // params (units) -> best partial accuracy per choice of the current gene
  const run = (better: (a: number, b: number) => boolean, init: number): Table => {
    let table: Table = new Map();
    for (let j = 0; j < p.choices; j++) {
      const pu = (p.moduleSize[0]! * p.ranks[j]!) / unit;
      const row = table.get(pu) ?? new Float64Array(p.choices).fill(init);
      const v = p.base + gain(p, 0, units(p, 0, j));
      if (better(v, row[j]!)) row[j] = v;
      table.set(pu, row);
    }
    for (let i = 1; i < p.genes; i++) {
      const next: Table = new Map();
      for (const [pu, row] of table) {
        for (let jPrev = 0; jPrev < p.choices; jPrev++) {
          const partial = row[jPrev]!;
          if (partial === init) continue;
          for (let j = 0; j < p.choices; j++) {
            const u = units(p, i, j);
            const v = partial + gain(p, i, u) + p.interactions[i - 1]! * units(p, i - 1, jPrev) * u;
            const key = pu + (p.moduleSize[i]! * p.ranks[j]!) / unit;
            const r = next.get(key) ?? new Float64Array(p.choices).fill(init);
            if (better(v, r[j]!)) r[j] = v;
            next.set(key, r);
          }
        }
      }
      table = next;
    }
    return table;
  };
  const best = run((a, b) => a > b, -Infinity);
  const worst = run((a, b) => a < b, Infinity);
  const points: [number, number][] = [];
  let maxParams = 0;
  for (const [pu, row] of best) {
    const params = pu * unit;
    maxParams = Math.max(maxParams, params);
    if (p.bound !== null && params > p.bound) continue;
    points.push([Math.max(...row), params]);
  }
  let worstAccuracy = Infinity;
  for (const [pu, row] of worst) if (p.bound === null || pu * unit <= p.bound) worstAccuracy = Math.min(worstAccuracy, ...row);
  points.sort((a, b) => a[1] - b[1]);
  const front: [number, number][] = [];
  for (const pt of points) if (front.length === 0 || pt[0] > front[front.length - 1]![0]) front.push(pt);
  return { front, worstAccuracy, maxParams };
}

/** The suite: sizes from 4^6 to 3^24, with and without a parameter bound, plus the demo table. */
export function syntheticSuite(): SyntheticProblem[] {
  return [
    syntheticProblem('4^6', 6, 4, false, 1),
    syntheticProblem('4^6 bounded', 6, 4, true, 2),
    syntheticProblem('4^12', 12, 4, false, 3),
    syntheticProblem('4^12 bounded', 12, 4, true, 4),
    syntheticProblem('3^24', 24, 3, false, 5),
    syntheticProblem('3^24 bounded', 24, 3, true, 6),
  ];
}

