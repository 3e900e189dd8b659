/**
 * Confidence bounds for partial evaluations: exact at the full split, ordered around the point
 * estimate, and covering the full-split value about as often as the confidence says (checked by
 * simulating random validation orders of fixed populations).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { proportionBound, ratioBound } from '../../src/evaluate/confidence.js';
import { createRng, shuffleInPlace } from '../../src/util/rng.js';

describe('proportionBound', () => {
  it('equals the observed share on the full population', () => {
    expect(proportionBound(30, 50, 50, 0.95, 'upper')).toBe(0.6);
    expect(proportionBound(30, 50, 50, 0.95, 'lower')).toBe(0.6);
  });

  it('brackets the estimate, widens with confidence and narrows with n (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 400 }), (n, k0, extra) => {
        const k = Math.min(k0, n);
        const N = n + extra;
        const p = k / n;
        const up = proportionBound(k, n, N, 0.9, 'upper');
        const lo = proportionBound(k, n, N, 0.9, 'lower');
        expect(lo).toBeLessThanOrEqual(p + 1e-12);
        expect(up).toBeGreaterThanOrEqual(p - 1e-12);
        expect(up).toBeLessThanOrEqual(1);
        expect(lo).toBeGreaterThanOrEqual(0);
        expect(proportionBound(k, n, N, 0.99, 'upper')).toBeGreaterThanOrEqual(up);
        if (extra > 0 && k < n) expect(up).toBeGreaterThan(p);
      }),
    );
  });

  it('an all-correct sample still has room below 1 only on the lower side', () => {
    expect(proportionBound(10, 10, 100, 0.95, 'upper')).toBe(1);
    expect(proportionBound(10, 10, 100, 0.95, 'lower')).toBeLessThan(1);
  });

  it('covers the full-split accuracy at about the stated rate', () => {
    const rng = createRng(3);
    const N = 200;
    let misses = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const rate = 0.3 + 0.5 * rng.next();
      const population = Array.from({ length: N }, (): number => (rng.next() < rate ? 1 : 0));
      const truth = population.reduce((a, b) => a + b, 0) / N;
      shuffleInPlace(population, rng);
      const n = 25;
      const k = population.slice(0, n).reduce((a, b) => a + b, 0);
      if (truth > proportionBound(k, n, N, 0.95, 'upper')) misses++;
    }
    // One-sided 95%: about 5% misses (normal approximation; a little slack for n = 25).
    expect(misses / trials).toBeLessThan(0.08);
    expect(misses / trials).toBeGreaterThan(0.01);
  });

  it('refuses impossible inputs with the field named', () => {
    expect(() => proportionBound(3, 2, 10, 0.95, 'upper')).toThrow(/successes/);
    expect(() => proportionBound(1, 20, 10, 0.95, 'upper')).toThrow(/populationSize|population size/);
    expect(() => proportionBound(1, 2, 10, 1, 'upper')).toThrow(/confidence/);
  });
});

describe('ratioBound', () => {
  it('equals the ratio on the full population and is unbounded from one item', () => {
    expect(ratioBound([2, 4], [1, 3], 2, 0.95, 'lower')).toBeCloseTo(1.5, 12);
    expect(ratioBound([2], [1], 10, 0.95, 'lower')).toBe(-Infinity);
    expect(ratioBound([2], [1], 10, 0.95, 'upper')).toBe(Infinity);
  });

  it('covers the full-split token-weighted loss at about the stated rate', () => {
    const rng = createRng(11);
    const N = 150;
    let misses = 0;
    const trials = 1500;
    for (let t = 0; t < trials; t++) {
      const tokens = Array.from({ length: N }, () => 1 + Math.floor(rng.next() * 4));
      const loss = tokens.map((k) => k * (0.5 + 1.5 * rng.next() ** 2));
      const truth = loss.reduce((a, b) => a + b, 0) / tokens.reduce((a, b) => a + b, 0);
      const order = Array.from({ length: N }, (_, i) => i);
      shuffleInPlace(order, rng);
      const n = 30;
      const pick = order.slice(0, n);
      const lower = ratioBound(
        pick.map((i) => loss[i]!),
        pick.map((i) => tokens[i]!),
        N,
        0.95,
        'lower',
      );
      if (truth < lower) misses++;
    }
    expect(misses / trials).toBeLessThan(0.08);
    expect(misses / trials).toBeGreaterThan(0.01);
  });
});
