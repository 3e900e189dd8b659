/**
 * The measurement clock (wall / cpu) and the paired validation of latency profiles, without
 * tfjs: the clock decisions in isolation, old profile files, and the measurement plan
 * (`measureProfile`) driven by a synthetic clock.
 */
import { describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { checkClockForBackend, clockFunction, cpuTimeMs, measureMedian, parseClock } from '../../src/predict/measure.js';
import {
  checkProfile,
  LATENCY_PROFILE_FORMAT,
  lookupTableFromProfile,
  type LatencyProfile,
  measureProfile,
  parseLatencyProfile,
  parseValidationMethod,
  profileConfigs,
  type ValidationMethod,
} from '../../src/predict/profile.js';
import { resolveSearchSpace, type SearchSpace } from '../../src/space/index.js';
import { smallSpace } from './helpers.js';

/** The NlsError thrown by `f` (fails the test when it throws something else or nothing). */
function nlsErrorOf(f: () => unknown): NlsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NlsError);
    return e as NlsError;
  }
  throw new Error('expected an NlsError');
}

describe('clocks', () => {
  it('parseClock accepts wall and cpu, and names the field of a bad value', () => {
    expect(parseClock('wall')).toBe('wall');
    expect(parseClock('cpu')).toBe('cpu');
    for (const bad of ['Wall', 'gpu', '', 1, null, undefined]) {
      const e = nlsErrorOf(() => parseClock(bad, 'clock', 'p.json'));
      expect(e.field).toBe('clock');
      expect(e.file).toBe('p.json');
      expect(e.message).toMatch(/wall, cpu/);
    }
  });

  it('the cpu clock counts CPU time, which does not advance while the process sleeps', async () => {
    const cpu = clockFunction('cpu');
    // Waiting on a timer costs almost no CPU. Other threads of the process (V8's compiler and GC
    // threads, busy while a test file starts up) run too, so take the quietest of a few waits: a
    // clock that counted wall time would fail every one of them.
    const waits: { wall: number; cpu: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const c0 = cpu();
      const w0 = performance.now();
      await new Promise((r) => setTimeout(r, 60));
      waits.push({ wall: performance.now() - w0, cpu: cpu() - c0 });
      if (waits.at(-1)!.cpu < waits.at(-1)!.wall / 2) break;
    }
    for (const w of waits) expect(w.wall).toBeGreaterThanOrEqual(55);
    expect(Math.min(...waits.map((w) => w.cpu / w.wall))).toBeLessThan(0.5);
    // Busy work does advance it, in milliseconds (bounded in wall time: on a loaded machine the
    // process gets only a share of a core, which is the point of this clock).
    const b0 = cpuTimeMs();
    const giveUp = performance.now() + 10_000;
    let x = 0;
    while (cpuTimeMs() - b0 < 20 && performance.now() < giveUp) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(cpuTimeMs() - b0).toBeGreaterThanOrEqual(20);
    expect(cpuTimeMs() - b0).toBeLessThan(200);
  });

  it('measureMedian times with the chosen clock', async () => {
    const m = await measureMedian(() => new Promise<void>((r) => setTimeout(r, 20)), { warmup: 0, repeats: 3, clock: 'cpu' });
    const w = await measureMedian(() => new Promise<void>((r) => setTimeout(r, 20)), { warmup: 0, repeats: 3, clock: 'wall' });
    expect(w.medianMs).toBeGreaterThanOrEqual(15);
    expect(m.medianMs).toBeLessThan(w.medianMs / 2);
  });

  it('checkClockForBackend: wall always; cpu refused with several threads, warned when unknown, fine with one', () => {
    expect(checkClockForBackend('wall', { name: 'tensorflow', threads: 8 })).toEqual({});
    expect(checkClockForBackend('wall', { name: 'tensorflow' })).toEqual({});
    expect(checkClockForBackend('cpu', { name: 'wasm', threads: 1 })).toEqual({});
    expect(checkClockForBackend('cpu', { name: 'cpu', threads: 1 })).toEqual({});
    const e = nlsErrorOf(() => checkClockForBackend('cpu', { name: 'wasm', threads: 4 }));
    expect(e.field).toBe('clock');
    expect(e.message).toMatch(/4 threads/);
    expect(e.message).toMatch(/--clock wall/);
    const unknown = checkClockForBackend('cpu', { name: 'tensorflow' });
    expect(unknown.warning).toMatch(/does not report/);
  });
});

/** A profile document as an older nls wrote it: no clock, no validationMethod, no rawMs. */
function oldProfile(space: SearchSpace): Record<string, unknown> {
  return {
    format: LATENCY_PROFILE_FORMAT,
    createdAt: '2026-11-25T10:04:00.000Z',
    backend: { name: 'wasm', tfjsBackend: 'wasm', versions: {}, threads: 1, reason: 'requested' },
    versions: { tfjs: '4.22.0', node: 'v20.20.2' },
    modelDir: 'models/demo',
    space: { name: space.name, fingerprint: space.fingerprint, genes: space.instances.map((g) => ({ label: space.label(g.index), ranks: [...g.ranks] })) },
    batch: 1,
    seqLen: 64,
    warmup: 2,
    repeats: 5,
    settleMs: 2000,
    seed: 0,
    samples: 0,
    base: 20,
    allMin: 21,
    terms: space.choiceCounts.map((n) => Array.from({ length: n }, (_, c) => (n - 1 - c) * 0.1)),
    measured: [{ key: space.key(space.maxConfig()), config: space.maxConfig(), ms: 22, source: 'max' }],
    rejected: 0,
    seconds: 1,
  };
}

describe('profile files', () => {
  const space = smallSpace();

  it('an old profile without clock / validationMethod loads as wall / independent', () => {
    const p = parseLatencyProfile(JSON.parse(JSON.stringify(oldProfile(space))) as unknown, 'old.json');
    expect(p.clock).toBe('wall');
    expect(p.validationMethod).toBe('independent');
    expect(() => checkProfile(space, p)).not.toThrow();
    // checkProfile alone also accepts the old object as it is.
    expect(() => checkProfile(space, oldProfile(space) as unknown as LatencyProfile)).not.toThrow();
  });

  it('keeps a recorded clock, and names the field of a bad one', () => {
    expect(parseLatencyProfile({ ...oldProfile(space), clock: 'cpu', validationMethod: 'paired' }).clock).toBe('cpu');
    const e = nlsErrorOf(() => parseLatencyProfile({ ...oldProfile(space), clock: 'cycles' }, 'p.json'));
    expect(e.field).toBe('clock');
    expect(e.message).toMatch(/^p\.json: clock: /);
    expect(nlsErrorOf(() => checkProfile(space, { ...oldProfile(space), clock: 'cycles' } as unknown as LatencyProfile)).field).toBe('clock');
    expect(nlsErrorOf(() => parseLatencyProfile({ ...oldProfile(space), validationMethod: 'abba' })).field).toBe('validationMethod');
    expect(nlsErrorOf(() => parseLatencyProfile({ ...oldProfile(space), format: 'x' })).field).toBe('format');
    expect(() => parseLatencyProfile([])).toThrow(NlsError);
    expect(parseValidationMethod('paired')).toBe('paired');
  });
});

describe('measureProfile with a synthetic clock', () => {
  const space = smallSpace();
  /**
   * Synthetic latency: 20 ms plus 1/64 ms per unit of active rank (weighted per adapter). Binary
   * fractions keep the clock arithmetic exact, so equal differences compare equal.
   */
  const cost = (ranks: ReadonlyMap<string, number>): number => {
    let s = 20;
    for (const [key, r] of ranks) s += (r * (1 + (key.length % 3))) / 64;
    return s;
  };
  const trueMs = (config: readonly number[]): number => cost(space.activeRanks(config));

  /** A runner and a clock: each run advances the clock by its cost, plus `burst(run index)`. */
  function machine(burst: (run: number) => number): { run: (ranks: ReadonlyMap<string, number>) => void; now: () => number; runs: () => number } {
    let t = 0;
    let runs = 0;
    return {
      run: (ranks) => {
        t += cost(ranks) + burst(runs++);
      },
      now: () => t,
      runs: () => runs,
    };
  }

  const measure = (method: ValidationMethod, m: ReturnType<typeof machine>) =>
    measureProfile(space, m.run, { samples: 12, seed: 3, warmup: 1, repeats: 5, now: m.now, validationMethod: method });

  it('paired: every validation configuration is allMin + its paired difference, exactly on a quiet machine', async () => {
    const m = machine(() => 0);
    const p = await measure('paired', m);
    const min = space.minConfig();
    expect(p.allMin).toBeCloseTo(trueMs(min), 9);
    expect(p.base).toBeCloseTo(cost(new Map(space.adapterPlan().map((e) => [e.key, 0]))), 9);
    const configs = profileConfigs(space, 12, 3);
    expect(p.measured.map((x) => x.key)).toEqual(configs.map((c) => space.key(c.config)));
    for (const x of p.measured) {
      expect(x.ms).toBeCloseTo(trueMs(x.config), 9);
      expect(x.rawMs).toBeCloseTo(trueMs(x.config), 9);
      // ms is exactly allMin + (that configuration's runs - the all-min runs of its pairs).
      expect(x.ms - p.allMin).toBeCloseTo(trueMs(x.config) - trueMs(min), 9);
    }
    // Terms are the single-gene differences; the smallest choice is 0.
    p.terms.forEach((row, g) =>
      row.forEach((v, c) => {
        const config = [...min];
        config[g] = c;
        expect(v).toBeCloseTo(trueMs(config) - trueMs(min), 9);
      }),
    );
    expect(p.rejected).toBe(0);
    // Base: warmup + repeats; every term and validation configuration: (warmup + repeats) pairs.
    const termCount = space.choiceCounts.reduce((s, n) => s + n - 1, 0);
    expect(m.runs()).toBe(6 + 2 * 6 * (termCount + configs.length));
  });

  it('paired validation survives a burst of load that biases independent measurements', async () => {
    // Runs 150..229 are 10 ms slower each (another job takes the core for a while).
    const burst = (run: number): number => (run >= 150 && run < 230 ? 10 : 0);
    const paired = await measure('paired', machine(burst));
    for (const x of paired.measured) expect(x.ms).toBeCloseTo(trueMs(x.config), 9);
    // The raw medians of the configurations inside the burst are 10 ms too slow.
    expect(paired.measured.some((x) => Math.abs(x.rawMs! - trueMs(x.config) - 10) < 1e-9)).toBe(true);

    const independent = await measure('independent', machine(burst));
    const errors = independent.measured.map((x) => x.ms - trueMs(x.config));
    expect(errors.some((e) => Math.abs(e - 10) < 1e-9)).toBe(true);
    for (const x of independent.measured) expect(x.rawMs).toBe(x.ms);
  });
});

describe('round-robin validation', () => {
  const space = resolveSearchSpace(
    { format: 'nls-search-space/1', name: 'rr', alpha: 8, groups: [{ name: 'qkv', modules: ['q_proj', 'v_proj'], ranks: [8, 4, 2] }] },
    { numLayers: 3 },
  );
  const cost = (ranks: ReadonlyMap<string, number>): number => {
    let s = 20;
    for (const r of ranks.values()) s += r / 32;
    return s;
  };
  const trueMs = (config: readonly number[]): number => cost(space.activeRanks(config));
  /** The machine slows down steadily: run i takes `drift * i` ms longer. */
  function drifting(drift: number) {
    let t = 0;
    let runs = 0;
    return { run: (ranks: ReadonlyMap<string, number>) => void (t += cost(ranks) + drift * runs++), now: () => t, runs: () => runs };
  }

  it('is exact on a quiet machine and interleaves the configurations (warmup + repeats runs of each)', async () => {
    const m = drifting(0);
    const before = m.runs();
    const p = await measureProfile(space, m.run, { samples: 10, seed: 2, warmup: 1, repeats: 6, now: m.now, validationMethod: 'round-robin' });
    const configs = profileConfigs(space, 10, 2);
    expect(p.measured.map((x) => x.key)).toEqual(configs.map((c) => space.key(c.config)));
    for (const x of p.measured) {
      expect(x.ms).toBeCloseTo(trueMs(x.config), 9);
      expect(x.rawMs).toBe(x.ms);
    }
    const termCount = space.choiceCounts.reduce((s, n) => s + n - 1, 0);
    expect(m.runs() - before).toBe(7 + 2 * 7 * termCount + 7 * configs.length);
  });

  it('puts a steady drift on every configuration alike (the ranking survives), where independent measurements rank by when they ran', async () => {
    const spread = (p: { measured: readonly { ms: number; config: readonly number[] }[] }): number => {
      const errors = p.measured.map((x) => x.ms - trueMs(x.config));
      return Math.max(...errors) - Math.min(...errors);
    };
    const options = { samples: 10, seed: 2, warmup: 1, repeats: 9 } as const;
    const rr = drifting(0.0005);
    const robin = await measureProfile(space, rr.run, { ...options, now: rr.now, validationMethod: 'round-robin' });
    const ind = drifting(0.0005);
    const independent = await measureProfile(space, ind.run, { ...options, now: ind.now, validationMethod: 'independent' });
    // Round-robin: each configuration's median run sits mid-way through the rounds, within one
    // round (n runs) of the others; independent: spread over the whole validation phase.
    const n = robin.measured.length;
    expect(spread(robin)).toBeLessThanOrEqual(0.0005 * (n + 1));
    expect(spread(independent)).toBeGreaterThan(0.0005 * 10 * (n - 1) * 0.9);
  });
});

describe('measureProfile with width genes', () => {
  const space = resolveSearchSpace(
    {
      format: 'nls-search-space/1',
      name: 'w',
      alpha: 8,
      groups: [
        { name: 'qkv', modules: ['q_proj'], ranks: [4, 2] },
        { name: 'mlp', kind: 'width', widths: [64, 48, 32] },
      ],
    },
    { numLayers: 2 },
  );
  /** Synthetic latency: 10 ms + 1/64 ms per rank unit + 1/16 ms per MLP channel (binary fractions: exact). */
  const cost = (ranks: ReadonlyMap<string, number>, widths: ReadonlyMap<number, number>): number => {
    let s = 10;
    for (const r of ranks.values()) s += r / 64;
    for (const w of widths.values()) s += w / 16;
    return s;
  };

  it('passes each configuration\'s widths to the runner: terms of width genes are the width differences, and the lookup table is exact for additive latency', async () => {
    let t = 0;
    const seen = new Set<string>();
    const p = await measureProfile(
      space,
      (ranks, widths) => {
        seen.add([...widths.values()].join(','));
        t += cost(ranks, widths);
      },
      { samples: 6, seed: 1, warmup: 0, repeats: 3, now: () => t },
    );
    // The base is the full-width model with adapters off.
    expect(p.base).toBeCloseTo(10 + 2 * (64 / 16), 9);
    expect(seen.has('64,64')).toBe(true);
    expect(seen.has('32,32')).toBe(true);
    const widthGene = space.widthGenes[0]!;
    expect(p.terms[widthGene]).toEqual([(64 - 32) / 16, (48 - 32) / 16, 0]);
    const profile = { format: LATENCY_PROFILE_FORMAT, space: { name: space.name, fingerprint: space.fingerprint, genes: [] }, clock: 'wall', validationMethod: 'paired', ...p } as unknown as LatencyProfile;
    const table = lookupTableFromProfile(space, profile);
    for (const m of p.measured) expect(table.predict(m.config)).toBeCloseTo(cost(space.activeRanks(m.config), space.activeWidths(m.config)), 9);
  });

  it('fixed genes (the ranks of a merged model) get term 0 without being measured', async () => {
    let t = 0;
    let runs = 0;
    const rankGenes = space.instances.filter((g) => g.kind === 'rank').map((g) => g.index);
    const p = await measureProfile(
      space,
      (_ranks, widths) => {
        runs++;
        t += cost(new Map(), widths);
      },
      { samples: 0, seed: 1, warmup: 0, repeats: 2, now: () => t, fixedGenes: rankGenes },
    );
    for (const g of rankGenes) expect(p.terms[g]).toEqual([0, 0]);
    expect(p.terms[space.widthGenes[0]!]).toEqual([2, 1, 0]);
    // Base (2 runs), 2 width genes x 2 terms and 3 validation configurations, each 2 pairs of 2 runs.
    expect(runs).toBe(2 + (4 + 3) * 4);
  });
});
