import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NlsError } from '../../src/errors.js';
import { LlamaModel } from '../../src/model/llama.js';
import { saveModelFolder } from '../../src/model/model-folder.js';
import { measureMedian, measurePairedDifference, robustMedian } from '../../src/predict/measure.js';
import { loadPredictor } from '../../src/predict/predictor.js';
import {
  LATENCY_PROFILE_FORMAT,
  type LatencyProfile,
  checkProfile,
  lookupTableFromProfile,
  profileLatency,
  validateProfile,
} from '../../src/predict/profile.js';
import { loadAndResolveSearchSpace, type Config, type SearchSpace } from '../../src/space/index.js';
import { createRng } from '../../src/util/rng.js';
import { TEST_BACKEND, useTestBackend } from '../helpers/backend.js';
import { tinyConfig } from '../helpers/tiny-model.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

let root = '';
let modelDir = '';
let spaceFile = '';
let space: SearchSpace;
let profile: LatencyProfile;
let tensorsBefore = 0;
let tensorsAfter = 0;

beforeAll(async () => {
  await useTestBackend();
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-profile-'));
  modelDir = path.join(root, 'model');
  spaceFile = path.join(root, 'space.json');
  const cfg = tinyConfig({ vocabSize: 320, hiddenSize: 32, headDim: 8, intermediateSize: 48, numHiddenLayers: 2 });
  const model = LlamaModel.random(cfg, 3);
  await saveModelFolder(modelDir, model, { byteTokenizer: true });
  model.dispose();
  // qkv: 2 choices (its median is its max, so median duplicates max); up: 3 choices ending in "off".
  await fsp.writeFile(
    spaceFile,
    JSON.stringify({ format: 'nls-search-space/1', name: 'toy', alpha: 16, groups: [{ name: 'qkv', modules: ['q_proj', 'k_proj', 'v_proj'], ranks: [4, 2] }, { name: 'up', modules: ['up_proj'], ranks: [4, 2, 0] }] }),
  );
  space = await loadAndResolveSearchSpace(spaceFile, { numLayers: 2 });
  tensorsBefore = tf.memory().numTensors;
  profile = await profileLatency({ modelDir, spaceFile, backend: TEST_BACKEND, batch: 2, seqLen: 8, samples: 4, seed: 5, warmup: 0, repeats: 1 });
  tensorsAfter = tf.memory().numTensors;
});

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

/** A clock that advances by the given durations, one per timed run (two reads per run). */
function syntheticClock(durations: readonly number[]): { now: () => number; fn: () => void; calls: () => number } {
  let t = 0;
  let calls = 0;
  let timed = 0;
  let reads = 0;
  return {
    now: () => {
      reads++;
      // The second read of each pair is after the run: advance by that run's duration.
      if (reads % 2 === 0) t += durations[timed++] ?? 0;
      return t;
    },
    fn: () => {
      calls++;
    },
    calls: () => calls,
  };
}

/** Naive reference: median of a sorted copy. */
function naiveMedian(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

describe('measureMedian', () => {
  it('drops runs outside median ± 3·MAD and reports how many', async () => {
    const clock = syntheticClock([10, 11, 10, 12, 100, 10, 11]);
    const m = await measureMedian(clock.fn, { warmup: 2, repeats: 7, now: clock.now });
    expect(clock.calls()).toBe(9); // warmup runs are run, not timed
    expect(m.samplesMs).toEqual([10, 11, 10, 12, 100, 10, 11]);
    // median 11, |x - 11| = [1,0,1,1,89,1,0] -> MAD 1, band [8, 14]: only 100 is dropped.
    expect(m.rejected).toBe(1);
    expect(m.medianMs).toBe(10.5);
  });

  it('keeps everything when there is no outlier, and awaits async work', async () => {
    let done = 0;
    const m = await measureMedian(
      async () => {
        await new Promise((r) => setTimeout(r, 1));
        done++;
      },
      { warmup: 1, repeats: 3 },
    );
    expect(done).toBe(4);
    expect(m.samplesMs).toHaveLength(3);
    for (const s of m.samplesMs) expect(s).toBeGreaterThan(0);
    expect(Number.isFinite(m.medianMs)).toBe(true);
  });

  it('rejects bad warmup / repeats', async () => {
    await expect(measureMedian(() => undefined, { repeats: 0 })).rejects.toBeInstanceOf(NlsError);
    await expect(measureMedian(() => undefined, { warmup: -1 })).rejects.toBeInstanceOf(NlsError);
    await expect(measureMedian(() => undefined, { warmup: 1.5 })).rejects.toBeInstanceOf(NlsError);
  });

  it('measurePairedDifference times a and b in ABBA order and takes the robust median of b - a', async () => {
    // Each run advances a synthetic clock by its own duration; the machine "drifts" by +5 per pair.
    let t = 0;
    const order: string[] = [];
    let pair = 0;
    const runOf = (name: string, cost: number) => () => {
      order.push(name);
      t += cost + 5 * Math.floor(pair++ / 2);
    };
    const aCosts = [10, 10, 10, 10, 10];
    const bCosts = [12, 12, 12, 90, 12];
    let ai = 0;
    let bi = 0;
    const m = await measurePairedDifference(
      () => runOf('a', aCosts[ai++ % 5]!)(),
      () => runOf('b', bCosts[bi++ % 5]!)(),
      { warmup: 0, repeats: 4, now: () => t },
    );
    expect(order).toEqual(['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
    // Within a pair both runs see the same drift, so every difference is b - a = 2 except the
    // outlier pair (90 - 10 = 80), which is rejected.
    expect(m.aMs).toEqual([10, 15, 20, 25]);
    expect(m.bMs).toEqual([12, 17, 22, 105]);
    expect(m.rejected).toBe(1);
    expect(m.medianDiffMs).toBe(2);
  });

  it('robustMedian matches a naive reference (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const r = robustMedian(xs);
        const m = naiveMedian(xs);
        const mad = naiveMedian(xs.map((x) => Math.abs(x - m)));
        const kept = xs.filter((x) => Math.abs(x - m) <= 3 * mad);
        expect(r.mad).toBe(mad);
        expect(r.kept).toEqual(kept);
        expect(r.rejected).toBe(xs.length - kept.length);
        expect(r.median).toBe(naiveMedian(kept));
        // The median itself is never rejected.
        expect(kept.length).toBeGreaterThan(0);
      }),
    );
  });
});

describe('profileLatency', () => {
  it('has one term per gene and choice, 0 for the smallest choice', () => {
    expect(profile.format).toBe(LATENCY_PROFILE_FORMAT);
    expect(space.size).toBe(4);
    expect(profile.terms.map((row) => row.length)).toEqual([...space.choiceCounts]);
    profile.terms.forEach((row, g) => expect(row[space.choiceCounts[g]! - 1]).toBe(0));
    for (const row of profile.terms) for (const v of row) expect(Number.isFinite(v)).toBe(true);
    expect(profile.space).toEqual({ name: 'toy', fingerprint: space.fingerprint, genes: space.instances.map((g) => ({ label: space.label(g.index), ranks: [...g.ranks] })) });
    expect([profile.batch, profile.seqLen, profile.warmup, profile.repeats, profile.seed, profile.samples]).toEqual([2, 8, 0, 1, 5, 4]);
    expect(profile.backend.name).toBe(TEST_BACKEND);
    expect(profile.versions.tfjs).toBe(tf.version_core);
    expect(profile.versions.node).toBe(process.version);
  });

  it('records the clock (default cpu) and the validation method (default paired), with raw medians', () => {
    expect(profile.clock).toBe('cpu');
    expect(profile.validationMethod).toBe('paired');
    for (const m of profile.measured) {
      expect(Number.isFinite(m.rawMs)).toBe(true);
      expect(m.rawMs).toBeGreaterThan(0);
    }
  });

  it('measures with the cpu clock on a single-threaded backend, records it, and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const p = await profileLatency({ modelDir, spaceFile, backend: TEST_BACKEND, seqLen: 8, samples: 1, warmup: 0, repeats: 1, clock: 'cpu', validationMethod: 'independent' });
    expect(tf.memory().numTensors).toBe(before);
    expect(p.clock).toBe('cpu');
    expect(p.validationMethod).toBe('independent');
    expect(p.backend.threads).toBe(1);
    for (const m of p.measured) expect(m.rawMs).toBe(m.ms);
    expect(Number.isFinite(p.allMin) && p.allMin > 0).toBe(true);
  });

  it('rejects a bad clock or validation method naming the option, without leaking', async () => {
    const before = tf.memory().numTensors;
    const bad = { clock: 'cycles' } as unknown as { clock: 'wall' };
    await expect(profileLatency({ modelDir, spaceFile, backend: TEST_BACKEND, samples: 0, warmup: 0, repeats: 1, ...bad })).rejects.toThrow(/^clock: expected one of wall, cpu/);
    const badMethod = { validationMethod: 'abba' } as unknown as { validationMethod: 'paired' };
    await expect(profileLatency({ modelDir, spaceFile, backend: TEST_BACKEND, samples: 0, warmup: 0, repeats: 1, ...badMethod })).rejects.toThrow(/^validation-method: /);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('measures max, min, median and the seeded random configurations, without duplicates', () => {
    // Independent reconstruction of the documented draw: max, min, median, then space.sample x4.
    const rng = createRng(5);
    const expected: Config[] = [space.maxConfig(), space.minConfig(), space.medianConfig(), ...Array.from({ length: 4 }, () => space.sample(rng))];
    const uniqueKeys = [...new Set(expected.map((c) => space.key(c)))];
    expect(profile.measured.map((m) => m.key)).toEqual(uniqueKeys);
    // The median of this space is its max, so at least one duplicate was dropped.
    expect(profile.measured.length).toBeLessThan(4 + 3);
    expect(profile.measured.length).toBe(uniqueKeys.length);
    expect(profile.measured.slice(0, 2).map((m) => m.source)).toEqual(['max', 'min']);
    for (const m of profile.measured) {
      expect(space.contains(m.config)).toBe(true);
      expect(space.key(m.config)).toBe(m.key);
      expect(space.parseKey(m.key)).toEqual(m.config);
    }
  });

  it('reports finite, positive times', () => {
    for (const v of [profile.base, profile.allMin, profile.seconds, ...profile.measured.map((m) => m.rawMs!)]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    // Paired values are allMin + a median difference: finite, but with one noisy pair (repeats 1,
    // a loaded machine) not necessarily positive.
    for (const m of profile.measured) expect(Number.isFinite(m.ms)).toBe(true);
    expect(Number.isInteger(profile.rejected) && profile.rejected >= 0).toBe(true);
  });

  it('leaks no tensors', () => {
    expect(tensorsAfter).toBe(tensorsBefore);
  });

  it('rejects a sequence longer than the model allows, without leaking', async () => {
    const before = tf.memory().numTensors;
    await expect(profileLatency({ modelDir, spaceFile, backend: TEST_BACKEND, seqLen: 65, samples: 0, warmup: 0, repeats: 1 })).rejects.toThrow(/max_position_embeddings/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('predictors from a profile', () => {
  it('lookupTableFromProfile predicts allMin exactly for the min config, and allMin + Σ terms elsewhere', () => {
    const table = lookupTableFromProfile(space, profile);
    expect(table.predict(space.minConfig())).toBe(profile.allMin);
    for (const m of profile.measured) {
      let naive = profile.allMin;
      m.config.forEach((c, g) => (naive += profile.terms[g]![c]!));
      expect(table.predict(m.config)).toBeCloseTo(naive, 12);
    }
  });

  it('validateProfile reports lookup-table, ridge and MLP quality on the measured configurations', async () => {
    const v = await validateProfile(space, profile, { seed: 1 });
    expect(v.split.train + v.split.validation).toBe(profile.measured.length);
    expect(v.results.map((r) => [r.predictor, r.evaluatedOn, r.quality.n])).toEqual([
      ['lookup-table', 'all measured', profile.measured.length],
      ['lookup-table', 'held-out', v.split.validation],
      ['ridge', 'held-out', v.split.validation],
      ['mlp', 'held-out', v.split.validation],
    ]);
    for (const r of v.results) {
      expect(r.quality.mape).toBeGreaterThanOrEqual(0);
      expect(r.quality.within10).toBeGreaterThanOrEqual(r.quality.within5);
    }
    expect((await validateProfile(space, profile, { predictors: ['ridge'] })).results).toHaveLength(1);
  });

  it('refuses a profile of another space', () => {
    const other = { ...profile, space: { ...profile.space, fingerprint: '0000000000000000' } };
    expect(() => checkProfile(space, other)).toThrow(/fingerprint/);
    expect(() => lookupTableFromProfile(space, { ...profile, terms: profile.terms.slice(1) })).toThrow(NlsError);
  });
});

describe('nls profile', () => {
  it('writes the profile, the lookup-table predictor and the quality report', async () => {
    const out = path.join(root, 'out');
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'profile', '--model', modelDir, '--space', spaceFile, '--out', out, '--seq', '8', '--samples', '4', '--warmup', '0', '--repeats', '1', '--clock', 'cpu', '--validate', '--json', '--quiet', '--backend', TEST_BACKEND],
      { cwd: ROOT, timeout: 120_000 },
    );
    const result = JSON.parse(stdout) as { files: Record<string, string>; measured: number; validation: { results: unknown[] } };
    expect(Object.keys(result.files).sort()).toEqual(['predictor', 'profile', 'quality']);
    for (const f of ['latency-profile.json', 'latency-predictor.json', 'predictor-quality.json']) expect(existsSync(path.join(out, f)), f).toBe(true);
    const written = JSON.parse(await fsp.readFile(path.join(out, 'latency-profile.json'), 'utf8')) as LatencyProfile;
    expect(written.format).toBe(LATENCY_PROFILE_FORMAT);
    expect(written.clock).toBe('cpu');
    expect(written.validationMethod).toBe('paired');
    expect(written.measured).toHaveLength(result.measured);
    const predictor = await loadPredictor(path.join(out, 'latency-predictor.json'), space);
    expect(predictor.kind).toBe('lookup-table');
    expect(predictor.predict(space.minConfig())).toBe(written.allMin);
    const quality = JSON.parse(await fsp.readFile(path.join(out, 'predictor-quality.json'), 'utf8')) as { results: unknown[]; targets: unknown };
    expect(quality.results).toHaveLength(4);
    expect(result.validation.results).toHaveLength(4);
    // No temp files of the atomic writes are left behind.
    expect((await fsp.readdir(out)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);
});
