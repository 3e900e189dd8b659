/**
 * Progress output: ETAs that leave out the set-up of the first step, heartbeats that keep every
 * silence under 5 seconds, a progress bar on a terminal and plain lines elsewhere, results
 * printed through it to stdout, and tasks of workers shown beside the main thread's.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { workerProgressStream } from '../../src/pipeline/train-eval-job.js';
import { DEFAULT_HEARTBEAT_MS, Progress, useProgressBar } from '../../src/util/progress.js';

/** A stream that records what is written to it (a terminal when `tty`). */
function capture(tty = false): { stream: NodeJS.WritableStream; text: () => string; writes: string[] } {
  const writes: string[] = [];
  const stream = { isTTY: tty, columns: 100, write: (s: string) => (writes.push(s), true) } as unknown as NodeJS.WritableStream;
  return { stream, writes, text: () => writes.join('') };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Progress: rate and ETA', () => {
  it('the first step (set-up included) is left out of the rate, so the first ETA is not several times too long', () => {
    const out = capture();
    let now = 0;
    const p = new Progress({ stream: out.stream, now: () => now, heartbeatMs: 0, intervalMs: 0 });
    p.start('train', 20);
    // Building sessions makes the first step take 10 s; every later step takes 1 s.
    now = 10_000;
    p.step(1, { loss: 2 });
    now = 11_000;
    p.step(2, { loss: 1.5 });
    now = 12_000;
    p.step(3, { loss: 1.2 });
    const lines = out.text().trim().split('\n');
    expect(lines[0]).toMatch(/^train 1\/20 {2}loss 2 {2}first step 10\.0s \(with set-up; ETA from the next\)$/);
    expect(lines[0]).not.toMatch(/ETA \d/);
    // 18 steps left at 1 step/s: 18 s (counting the set-up it would say 99 s).
    expect(lines[1]).toMatch(/1\.00 steps\/s {2}ETA 18\.0s$/);
    expect(lines[2]).toMatch(/1\.00 steps\/s {2}ETA 17\.0s$/);
    now = 29_000;
    p.step(20, { loss: 0.1 });
    expect(out.text().trim().split('\n')[3]).toMatch(/^train 20\/20 {2}loss 0\.1000 {2}done in 29\.0s$/);
  });

  it('JSON lines: steps/s and eta_s are null until a rate is known', () => {
    const out = capture();
    let now = 0;
    const p = new Progress({ stream: out.stream, json: true, now: () => now, heartbeatMs: 0, intervalMs: 0 });
    p.start('search', 4);
    now = 5000;
    p.step(1);
    now = 6000;
    p.step(2);
    const [first, second] = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ event: 'progress', step: 1, 'steps/s': null, eta_s: null });
    expect(second).toMatchObject({ event: 'progress', step: 2, 'steps/s': 1, eta_s: 2 });
  });
});

describe('Progress: no silent gap of 5 seconds', () => {
  it('the default heartbeat is under 5 s', () => {
    expect(DEFAULT_HEARTBEAT_MS).toBeLessThan(5000);
  });

  /** Drive a task whose steps take `stepMs` with fake timers; the longest stretch without output. */
  function longestSilence(run: (p: Progress, advance: (ms: number) => void) => void, tty = false): { gap: number; text: string } {
    vi.useFakeTimers();
    const out = capture(tty);
    let now = 0;
    const at: number[] = [0];
    const stream = { isTTY: tty, columns: 100, write: (s: string) => (at.push(now), out.stream.write(s)) } as unknown as NodeJS.WritableStream;
    const p = new Progress({ stream, now: () => now });
    const advance = (ms: number) => {
      for (let t = 0; t < ms; t += 50) {
        now += 50;
        vi.advanceTimersByTime(50);
      }
    };
    run(p, advance);
    at.push(now);
    let gap = 0;
    for (let i = 1; i < at.length; i++) gap = Math.max(gap, (at[i] as number) - (at[i - 1] as number));
    return { gap, text: out.text() };
  }

  it('a task whose steps take 12 s each (the work runs on a worker) still prints every few seconds', () => {
    const { gap, text } = longestSilence((p, advance) => {
      p.start('search', 3);
      for (let s = 1; s <= 3; s++) {
        advance(12_000);
        p.step(s, { trials: s });
      }
    });
    expect(gap).toBeLessThan(5000);
    expect(text).toMatch(/search 0\/3 {2}step 1 running for 4\.\ds/);
  });

  it('an activity of unknown length (starting workers, hashing) says it is still running', () => {
    const { gap, text } = longestSilence((p, advance) => {
      p.activity('starting 2 evaluation workers');
      advance(13_000);
      p.done();
      // Done: no more heartbeats.
      p.log('next stage');
    });
    expect(gap).toBeLessThan(5000);
    expect(text).toMatch(/^starting 2 evaluation workers\nstarting 2 evaluation workers: still running \(4\.\ds\)\n/);
    expect(text.match(/still running/g)?.length).toBe(3);
    expect(text.endsWith('next stage\n')).toBe(true);
  });

  it('on a terminal the bar ticks every second while a step runs', () => {
    const { gap } = longestSilence((p, advance) => {
      p.start('train', 2);
      advance(9_000);
      p.step(1);
      advance(9_000);
      p.step(2);
    }, true);
    expect(gap).toBeLessThanOrEqual(1000);
  });
});

describe('Progress: a bar on a terminal, plain lines elsewhere', () => {
  it('chooses by the stream, json and quiet; NLS_PROGRESS overrides', () => {
    const tty = capture(true).stream;
    const pipe = capture(false).stream;
    expect(useProgressBar({ stream: tty }, {})).toBe(true);
    expect(useProgressBar({ stream: pipe }, {})).toBe(false);
    expect(useProgressBar({ stream: tty, json: true }, {})).toBe(false);
    expect(useProgressBar({ stream: tty, quiet: true }, {})).toBe(false);
    expect(useProgressBar({ stream: tty }, { TERM: 'dumb' })).toBe(false);
    expect(useProgressBar({ stream: tty }, { NLS_PROGRESS: 'plain' })).toBe(false);
    expect(useProgressBar({ stream: pipe }, { NLS_PROGRESS: 'bar' })).toBe(true);
  });

  it('plain lines hold no control characters', () => {
    const out = capture(false);
    let now = 0;
    const p = new Progress({ stream: out.stream, now: () => now, heartbeatMs: 0 });
    p.start('train', 3);
    for (let s = 1; s <= 3; s++) {
      now += 1500;
      p.step(s, { loss: 1 / s });
    }
    p.log('a message');
    expect(out.text()).not.toMatch(/[\r\x1b]/);
    expect(out.text().split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('a bar rewrites one status line; messages and results go above it; its last state stays as a line', () => {
    const err = capture(true);
    const stdout = capture(false);
    let now = 0;
    const p = new Progress({ stream: err.stream, out: stdout.stream, now: () => now });
    expect(p.bar).toBe(true);
    p.start('supernet', 10);
    expect(err.writes.at(-1)).toMatch(/^supernet \[░{24}\] 0\/10 /);
    now = 1000;
    p.step(1, { loss: 3.9 });
    now = 1500;
    p.step(5, { loss: 0.2 });
    const status = err.writes.at(-1) as string;
    // Cleared and redrawn in place: carriage return and erase-line, no newline.
    expect(status.startsWith('\r\x1b[2K')).toBe(true);
    expect(status).not.toContain('\n');
    expect(status).toMatch(/supernet \[█{12}░{12}\] 5\/10 {2}loss 0\.2000 {2}8\.00 steps\/s {2}ETA 0\.6s/);
    // A message: the bar is erased, the message printed, the bar drawn again below it.
    p.log('a message');
    expect(err.writes.at(-1)).toMatch(/^\r\x1b\[2Ka message\nsupernet \[/);
    // A result on stdout: the bar steps aside on stderr, then comes back.
    const before = err.writes.length;
    p.output('LoRA  74.0%');
    expect(stdout.text()).toBe('LoRA  74.0%\n');
    expect(err.writes.slice(before)).toEqual(['\r\x1b[2K', expect.stringMatching(/^supernet \[/)]);
    // The last step: the bar goes, a plain line stays.
    now = 2500;
    p.step(10, { loss: 0.1 });
    expect(err.writes.slice(-2)).toEqual(['\r\x1b[2K', 'supernet 10/10  loss 0.1000  done in 2.5s\n']);
    p.done();
  });

  it('forks keep one bar each (a worker\'s task beside the main thread\'s)', () => {
    const err = capture(true);
    let now = 0;
    const p = new Progress({ stream: err.stream, now: () => now });
    const baseline = p.fork();
    p.start('supernet', 10);
    baseline.start('lora', 10);
    const two = err.writes.at(-1) as string;
    expect(two).toMatch(/supernet \[.*\n.*lora \[/s);
    now = 500;
    p.log('message');
    // Two status lines to erase: up one line between them.
    expect(err.writes.at(-1)).toMatch(/^\r\x1b\[2K\x1b\[1A\x1b\[2Kmessage\nsupernet .*\nlora /s);
    baseline.done();
    p.done();
  });

  it('a worker writes its progress lines whole, straight to stderr; beside a bar each first erases the bar\'s line', () => {
    const direct: string[] = [];
    let now = 0;
    const plain = new Progress({ stream: workerProgressStream(false, (t) => direct.push(t)), bar: false, now: () => now, heartbeatMs: 0 });
    plain.start('lora', 2);
    now = 1500;
    plain.step(1, { loss: 1 });
    now = 2500;
    plain.step(2, { loss: 0.5 });
    expect(direct).toEqual([expect.stringMatching(/^lora 1\/2 {2}loss 1 {2}first step 1\.5s/), expect.stringMatching(/^lora 2\/2 {2}loss 0\.5000 {2}done in 2\.5s\n$/)]);
    direct.length = 0;
    const beside = new Progress({ stream: workerProgressStream(true, (t) => direct.push(t)), bar: false, now: () => now, heartbeatMs: 0 });
    beside.log('task spam-demo');
    expect(direct).toEqual(['\r\x1b[2Ktask spam-demo\n']);
  });
});
