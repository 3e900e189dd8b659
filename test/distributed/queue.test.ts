/**
 * Distributed evaluation end to end (issue 20): `nls search --queue` with `nls worker` processes
 * on a throwaway redis-server. The journal of a distributed study equals that of the same study
 * with local workers; it loses and duplicates nothing when a worker is killed mid-job, when the
 * coordinator is killed and resumed, and when Redis restarts; workers refuse a supernet whose
 * SHA-256 differs; two studies share one Redis without seeing each other's jobs; a worker that
 * returns malformed values fails the trial and the study goes on; passwords work and are never
 * recorded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nls, ROOT } from '../helpers/cli.js';
import { REDIS_SKIP_REASON, removeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { type ToySupernet, toySupernet } from '../helpers/toy-supernet.js';

/** A CLI process in the background, with its stderr collected. */
interface Running {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function background(...args: string[]): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface TrialLine {
  type: string;
  number: number;
  key: string;
  state: string;
  values?: number[];
  constraints?: number[];
  message?: string;
}

async function trials(out: string): Promise<TrialLine[]> {
  const text = await fsp.readFile(path.join(out, 'trials.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as TrialLine)
    .filter((r) => r.type === 'trial');
}

/** What must agree between two runs of one study: every trial's number, configuration, state and values. */
const essence = (ts: readonly TrialLine[]) =>
  [...ts].sort((a, b) => a.number - b.number).map((t) => ({ number: t.number, key: t.key, state: t.state, values: t.values, constraints: t.constraints }));

const skip = REDIS_SKIP_REASON;
if (skip) console.warn(`skipping the distributed-evaluation tests: ${skip}`);

describe.skipIf(skip !== undefined)('nls search --queue with nls worker', () => {
  let root = '';
  let toy: ToySupernet;
  let redis: TestRedis | undefined;
  const workers: Running[] = [];
  const STUDY = ['--strategy', 'nsga2', '--budget', '8', '--batch-size', '4', '--seed', '5', '--constraint', 'params<=1800'];
  let reference: ReturnType<typeof essence> = [];

  const worker = (...args: string[]): Running => {
    const w = background('worker', '--queue', redis!.url, '--engine', 'tfjs', '--lock-duration', '2000', ...args);
    workers.push(w);
    return w;
  };
  const stopWorkers = async (): Promise<void> => {
    for (const w of workers.splice(0)) {
      if (w.child.exitCode === null) w.child.kill('SIGTERM');
      await w.exited;
    }
  };
  const searchArgs = (out: string, ...more: string[]) => ['search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, '--queue', redis!.url, ...STUDY, ...more];

  beforeAll(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-queue-'));
    toy = await toySupernet(root);
    redis = await startRedis();
    const local = path.join(root, 'local');
    const r = await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', local, ...STUDY);
    expect(r.code, r.stderr).toBe(0);
    reference = essence(await trials(local));
    expect(reference).toHaveLength(8);
    // Not all the same: the comparison would be vacuous.
    expect(new Set(reference.map((t) => t.key)).size).toBe(8);
  }, 180_000);

  // A failed test must not leave its workers serving the next test's study.
  afterEach(stopWorkers);

  afterAll(async () => {
    await stopWorkers();
    await removeRedis(redis);
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('three worker processes give the journal of local workers, and the coordinator shows the queue and who is alive', async () => {
    const three = [worker(), worker(), worker()];
    await until('the workers are up', () => three.every((w) => /serving redis:/.test(w.stderr())));
    const out = path.join(root, 'three');
    const r = await nls(...searchArgs(out));
    expect(r.code, r.stderr).toBe(0);
    expect(essence(await trials(out))).toEqual(reference);
    expect(r.stderr).toMatch(/queue redis:\/\/127\.0\.0\.1:\d+\/0: \d+ waiting, \d+ running, \d+ done, \d+ failed; 3 workers alive \(/);
    // Together the workers took every trial's job exactly once.
    const taken = three.flatMap((w) => [...w.stderr().matchAll(/job \S+-t(\d+)-full: measure/g)].map((m) => Number(m[1])));
    expect([...taken].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await stopWorkers();
  }, 180_000);

  it('racing (--fidelities) through the queue: each stage is a job, and the trials equal local racing', async () => {
    const racing = ['--fidelities', '0.5,1'];
    const local = path.join(root, 'racing-local');
    const l = await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', local, ...STUDY, ...racing);
    expect(l.code, l.stderr).toBe(0);
    const w = worker();
    const out = path.join(root, 'racing');
    const r = await nls(...searchArgs(out, ...racing));
    expect(r.code, r.stderr).toBe(0);
    const fidelityOf = async (dir: string) => (await trials(dir)).sort((a, b) => a.number - b.number).map((t) => (t as TrialLine & { fidelity?: number }).fidelity);
    expect(essence(await trials(out))).toEqual(essence(await trials(local)));
    expect(await fidelityOf(out)).toEqual(await fidelityOf(local));
    expect(w.stderr()).toMatch(/job \S+-t0-f0\.5: slice trial 0/);
  }, 180_000);

  it('a worker killed with SIGKILL mid-evaluation: its job goes to another worker; nothing is lost or duplicated', async () => {
    const slow = worker('--job-delay-ms', '4000');
    const out = path.join(root, 'killed-worker');
    const search = background(...searchArgs(out));
    // Kill the slow worker while it holds a trial's job (not the info job), then start a healthy one.
    await until('the slow worker holds a trial', () => /job \S+-t\d+-full: measure trial/.test(slow.stderr()));
    slow.child.kill('SIGKILL');
    await slow.exited;
    worker();
    const code = await search.exited;
    expect(code, search.stderr()).toBe(0);
    const ts = await trials(out);
    expect(ts).toHaveLength(8);
    expect(essence(ts)).toEqual(reference);
    await stopWorkers();
  }, 180_000);

  it('a coordinator killed with SIGKILL: --resume re-attaches to its jobs and finishes with the same trials', async () => {
    const w = worker('--job-delay-ms', '700');
    const out = path.join(root, 'killed-coordinator');
    const first = background(...searchArgs(out));
    await until('two trials are journaled', async () => (await trials(out)).length >= 2);
    first.child.kill('SIGKILL');
    await first.exited;
    const before = (await trials(out)).length;
    expect(before).toBeLessThan(8);
    const resumed = await nls(...searchArgs(out, '--resume'));
    expect(resumed.code, resumed.stderr).toBe(0);
    const ts = await trials(out);
    expect(ts).toHaveLength(8);
    expect(essence(ts)).toEqual(reference);
    // Jobs the first coordinator had sent were evaluated once, not sent again: the worker took
    // each trial's job at most once.
    const taken = [...w.stderr().matchAll(/job \S+-t(\d+)-full: measure/g)].map((m) => Number(m[1]));
    expect(new Set(taken).size).toBe(taken.length);
    await stopWorkers();
  }, 180_000);

  it('Redis restarted mid-study (no persistence): both sides reconnect, lost jobs are sent again, the trials are the same', async () => {
    worker('--job-delay-ms', '600');
    const out = path.join(root, 'redis-restart');
    const search = background(...searchArgs(out));
    await until('a trial is journaled', async () => (await trials(out)).length >= 1);
    await redis!.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await redis!.start();
    const code = await search.exited;
    expect(code, search.stderr()).toBe(0);
    expect(search.stderr()).toMatch(/lost the connection|no longer on the queue|reconnected/);
    const ts = await trials(out);
    expect(ts).toHaveLength(8);
    expect(essence(ts)).toEqual(reference);
    await stopWorkers();
  }, 180_000);

  it("a worker whose supernet copy differs refuses the job: the study stops before its first trial, naming the SHA-256, the host and the fix", async () => {
    const copy = path.join(root, 'copy');
    await fsp.cp(toy.supernet, path.join(copy, 'supernet'), { recursive: true });
    await fsp.cp(toy.model, path.join(copy, 'model'), { recursive: true });
    const adapters = path.join(copy, 'supernet', 'adapters.safetensors');
    const bytes = await fsp.readFile(adapters);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await fsp.writeFile(adapters, bytes);
    worker('--path-map', `${path.dirname(toy.supernet)}=${copy}`);
    const out = path.join(root, 'mismatch');
    const r = await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, '--queue', redis!.url, '--strategy', 'random', '--budget', '2', '--validation-size', '4');
    // The info job fails, so the study cannot start: the error says why.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SHA-256 [0-9a-f]{12}…, the study expects [0-9a-f]{12}…/);
    expect(r.stderr).toMatch(new RegExp(`worker ${os.hostname()}`));
    expect(r.stderr).toMatch(/fix: copy the study's supernet to this machine again/);
    await stopWorkers();
  }, 180_000);

  it("two studies on one Redis at once each get their own trials (queues are namespaced by study)", async () => {
    worker();
    worker();
    const a = path.join(root, 'two-a');
    const b = path.join(root, 'two-b');
    const [ra, rb] = await Promise.all([nls(...searchArgs(a)), nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', b, '--queue', redis!.url, '--strategy', 'random', '--budget', '5', '--seed', '9')]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    expect(essence(await trials(a))).toEqual(reference);
    const local = path.join(root, 'two-b-local');
    expect((await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', local, '--strategy', 'random', '--budget', '5', '--seed', '9')).code).toBe(0);
    expect(essence(await trials(b))).toEqual(essence(await trials(local)));
    await stopWorkers();
  }, 180_000);

  it('a password-protected Redis works with the password in the URL, refuses without it, and the manifest never records it', async () => {
    const secret = 'nls-test-s3cret';
    const guarded = await startRedis({ password: secret });
    try {
      const w = background('worker', '--queue', guarded.url, '--engine', 'tfjs');
      workers.push(w);
      const out = path.join(root, 'password');
      const r = await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', out, '--queue', guarded.url, '--strategy', 'random', '--budget', '3');
      expect(r.code, r.stderr).toBe(0);
      expect((await trials(out)).filter((t) => t.state === 'complete')).toHaveLength(3);
      const manifest = readFileSync(path.join(out, 'manifest.json'), 'utf8');
      expect(manifest).not.toContain(secret);
      expect(manifest).toContain(':***@127.0.0.1');
      expect(r.stderr).not.toContain(secret);
      const refused = await nls('search', '--supernet', toy.supernet, '--engine', 'tfjs', '--out', path.join(root, 'no-password'), '--queue', `redis://127.0.0.1:${guarded.port}/0`, '--budget', '1');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/0 .*fix: give the password in the URL/);
      await stopWorkers();
    } finally {
      await removeRedis(guarded);
    }
  }, 180_000);
});
