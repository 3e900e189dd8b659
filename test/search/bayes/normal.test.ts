import { describe, expect, it } from 'vitest';
import {
  expectedImprovement,
  h,
  hDifference,
  logExpectedImprovement,
  logH,
  logHDifference,
  normalCdf,
  normalLogCdf,
  normalPdf,
} from '../../../src/search/bayes/normal.js';

// Reference values: mpmath at 80 significant digits, rounded to double.
const CDF: [number, number][] = [
  [-37.5, 4.605353009581955e-308],
  [-30, 4.906713927148187e-198],
  [-20, 2.7536241186062337e-89],
  [-10, 7.619853024160525e-24],
  [-8.25, 7.919726314642477e-17],
  [-6, 9.86587645037698e-10],
  [-5, 2.866515718791939e-7],
  [-4, 3.1671241833119924e-5],
  [-3.3, 0.0004834241423837772],
  [-2.7, 0.0034669738030406686],
  [-2.2, 0.013903447513498611],
  [-1.75, 0.04005915686381709],
  [-1.5, 0.06680720126885807],
  [-1.2, 0.11506967022170826],
  [-0.6, 0.2742531177500736],
  [-0.1, 0.460172162722971],
  [0.3, 0.6179114221889527],
  [1, 0.8413447460685429],
  [1.6, 0.945200708300442],
  [2.5, 0.9937903346742238],
  [4, 0.9999683287581669],
  [6, 0.9999999990134123],
];
const PDF: [number, number][] = [
  [-37, 2.1200065515246056e-298],
  [-12.5, 4.695195357975146e-35],
  [-3, 0.0044318484119380075],
  [-1, 0.24197072451914334],
  [0, 0.3989422804014327],
  [0.5, 0.35206532676429947],
  [2, 0.05399096651318805],
];
const LOG_CDF: [number, number][] = [
  [-1000, -500007.82669481216],
  [-300, -45006.62273211866],
  [-60, -1805.0135606805673],
  [-40, -804.6084420137538],
  [-38.7, -753.4204447172698],
  [-10, -53.23128515051247],
  [-1, -1.8410216450092636],
  [3, -0.0013508099647481938],
  [9, -1.1285884059538405e-19],
];
const LOG_H: [number, number][] = [
  [-1000, -500014.73445209116],
  [-200, -20011.515648259738],
  [-50, -1258.744182868461],
  [-38.7, -757.0776161573679],
  [-20, -206.9178385094251],
  [-7.5, -33.1240943455347],
  [-2, -4.768783523917114],
  [-1.6, -3.761795670714254],
  [-1.4, -3.305846946982649],
  [-0.5, -1.6205162643873199],
  [0, -0.9189385332046728],
  [2, 0.6973835457882284],
  [8, 2.0794415416798357],
];

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

/** Composite Simpson rule with `m` (even) intervals. */
function simpson(f: (x: number) => number, a: number, b: number, m: number): number {
  const step = (b - a) / m;
  let sum = f(a) + f(b);
  for (let i = 1; i < m; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * step);
  return (sum * step) / 3;
}

describe('normal distribution', () => {
  it('cdf is accurate to ~1e-15 relative, deep into the lower tail', () => {
    for (const [z, want] of CDF) expect(rel(normalCdf(z), want), `z = ${z}`).toBeLessThan(1.5e-15);
    expect(normalCdf(-40)).toBe(0);
    expect(normalCdf(40)).toBe(1);
    expect(normalCdf(0)).toBe(0.5);
  });

  it('pdf matches reference values', () => {
    for (const [z, want] of PDF) expect(rel(normalPdf(z), want), `z = ${z}`).toBeLessThan(1e-15);
  });

  it('log-cdf is accurate down to z = -1000', () => {
    for (const [z, want] of LOG_CDF) expect(rel(normalLogCdf(z), want), `z = ${z}`).toBeLessThan(1e-14);
  });

  it('cdf is symmetric: Phi(z) + Phi(-z) = 1', () => {
    for (let z = -6; z <= 6; z += 0.37) expect(normalCdf(z) + normalCdf(-z)).toBeCloseTo(1, 15);
  });
});

describe('logH = log(phi(z) + z Phi(z))', () => {
  it('matches high-precision values from z = -1000 to 8', () => {
    for (const [z, want] of LOG_H) expect(rel(logH(z), want), `z = ${z}`).toBeLessThan(1e-14);
  });

  it('agrees with the direct formula where that is accurate', () => {
    for (let z = -4; z <= 10; z += 0.05) {
      const direct = Math.log(normalPdf(z) + z * normalCdf(z));
      expect(Math.abs(logH(z) - direct), `z = ${z}`).toBeLessThan(1e-12);
      expect(rel(h(z), Math.exp(direct))).toBeLessThan(1e-12);
    }
  });

  it('is finite and strictly increasing on [-1000, 10]', () => {
    let previous = -Infinity;
    for (let i = 0; i <= 20_000; i++) {
      const z = -1000 + (1010 * i) / 20_000;
      const v = logH(z);
      expect(Number.isFinite(v), `z = ${z}`).toBe(true);
      expect(v, `z = ${z}`).toBeGreaterThan(previous);
      previous = v;
    }
    // Fine steps across the switch between the direct formula and the continued fraction.
    previous = -Infinity;
    for (let z = -1.6; z <= -1.4; z += 1e-4) {
      const v = logH(z);
      expect(v).toBeGreaterThan(previous);
      previous = v;
    }
  });

  it('differences of h equal the integral of Phi, also for close ends and in the far tail', () => {
    const cases: [number, number][] = [
      [-3, 2],
      [-0.4, -0.39],
      [1.5, 1.5000001],
      [-30, -29.99],
      [-30, -29],
      [-200, -199.9999],
      [5, 9],
    ];
    for (const [lo, hi] of cases) {
      const integral = simpson((z) => normalCdf(z), lo, hi, 20_000);
      const logIntegral = Math.log(simpson((z) => Math.exp(normalLogCdf(z) - normalLogCdf(hi)), lo, hi, 20_000)) + normalLogCdf(hi);
      expect(Math.abs(logHDifference(lo, hi) - logIntegral), `[${lo}, ${hi}]`).toBeLessThan(1e-9);
      if (integral > 1e-300) expect(rel(hDifference(lo, hi), integral), `[${lo}, ${hi}]`).toBeLessThan(1e-9);
    }
    expect(hDifference(-Infinity, 0.7)).toBe(h(0.7));
    expect(logHDifference(1, 1)).toBe(-Infinity);
    expect(hDifference(1, 1)).toBe(0);
  });
});

describe('expected improvement (minimisation)', () => {
  it('matches numerical integration of E[(best - Y)^+]', () => {
    const cases: [number, number, number][] = [
      [0, 1, 0],
      [1.3, 0.4, 1],
      [-2, 3, 0.5],
      [5, 0.7, 2],
      [10, 2, 4],
    ];
    for (const [mu, sigma, best] of cases) {
      const density = (y: number): number => normalPdf((y - mu) / sigma) / sigma;
      const integral = simpson((y) => (best - y) * density(y), Math.min(mu - 14 * sigma, best - 1), best, 20_000);
      expect(rel(expectedImprovement(mu, sigma, best), integral), `${mu}, ${sigma}, ${best}`).toBeLessThan(1e-8);
      expect(rel(Math.exp(logExpectedImprovement(mu, sigma, best)), integral)).toBeLessThan(1e-8);
    }
  });

  it('handles sigma = 0 and candidates far behind the best', () => {
    expect(expectedImprovement(1, 0, 3)).toBe(2);
    expect(expectedImprovement(3, 0, 1)).toBe(0);
    expect(logExpectedImprovement(3, 0, 1)).toBe(-Infinity);
    expect(logExpectedImprovement(1, 0, 3)).toBeCloseTo(Math.log(2), 15);
    expect(expectedImprovement(100, 1, 0)).toBe(0);
    const far = logExpectedImprovement(100, 1, 0);
    expect(Number.isFinite(far)).toBe(true);
    expect(far).toBeLessThan(logExpectedImprovement(90, 1, 0));
    expect(() => expectedImprovement(0, -1, 0)).toThrow(/standard deviation/);
  });
});
