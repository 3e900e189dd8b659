/**
 * The distributed-evaluation protocol (issue 20): queue URLs, password redaction, job and result
 * validation (property tests), job ids, path mapping; and, on a throwaway Redis, what the
 * coordinator does with workers that fail or lie (the trial fails, the study goes on), what a
 * worker does with a malformed job, and TLS with a CA of the test's own.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueueUrl, redisOptions } from '../../src/distributed/connection.js';
import { checkJob, checkResult, checkSliceValue, type EvaluationJob, jobId, PayloadError, RESULT_FORMAT } from '../../src/distributed/job.js';
import { liveStudies, QUEUE_PREFIX, studyQueueName } from '../../src/distributed/registry.js';
import { mapPath, parsePathMapping, runEvaluationWorker } from '../../src/distributed/worker.js';
import { NlsError } from '../../src/errors.js';
import { runSearch } from '../../src/pipeline/search.js';
import { adapterParameters } from '../../src/predict/cost.js';
import { redactPasswords } from '../../src/run/record.js';
import { loadSupernetModelConfig, loadSupernetSpace } from '../../src/supernet/artifact.js';
import { Progress } from '../../src/util/progress.js';
import { freePort, REDIS_SKIP_REASON, removeRedis, startRedis, type TestRedis } from '../helpers/redis.js';
import { type ToySupernet, toySupernet } from '../helpers/toy-supernet.js';

const quiet = () => new Progress({ quiet: true });

describe('queue URLs', () => {
  it('reads host, port, database, TLS and credentials, and never shows the password', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6380/2')).toMatchObject({ host: '127.0.0.1', port: 6380, db: 2, tls: false, display: 'redis://127.0.0.1:6380/2' });
    expect(parseQueueUrl('redis://queue.lab')).toMatchObject({ host: 'queue.lab', port: 6379, db: 0 });
    const a = parseQueueUrl('rediss://alice:p%40ss@queue.lab:6390/1');
    expect(a).toMatchObject({ tls: true, username: 'alice', password: 'p@ss', db: 1 });
    expect(a.display).toBe('rediss://alice:***@queue.lab:6390/1');
  });

  it('refuses what is not a Redis URL, saying how to write one', () => {
    for (const bad of ['localhost:6379', 'http://h:1/0', 'redis://h:1/x', 'redis://h:1/0?db=1', 'redis:///0']) {
      expect(() => parseQueueUrl(bad), bad).toThrow(NlsError);
      expect(() => parseQueueUrl(bad), bad).toThrow(/fix: /);
    }
  });

  it('TLS verifies against NLS_REDIS_CA when it is set, and SNI is sent for host names only', () => {
    const opts = redisOptions(parseQueueUrl('rediss://127.0.0.1:1/0'), {});
    expect(opts.tls).toEqual({});
    expect(redisOptions(parseQueueUrl('rediss://queue.lab:1/0'), {}).tls).toEqual({ servername: 'queue.lab' });
    expect(() => redisOptions(parseQueueUrl('rediss://h:1/0'), { NLS_REDIS_CA: '/no/such/ca.pem' })).toThrow(/NLS_REDIS_CA/);
    expect(redisOptions(parseQueueUrl('redis://h:1/0'), {}).maxRetriesPerRequest).toBeNull();
  });

  it('property: a recorded command line or option never holds the password of a URL', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=-]{1,24}$/);
    fc.assert(
      fc.property(secret, fc.constantFrom('redis', 'rediss'), fc.boolean(), (pw, scheme, user) => {
        const url = `${scheme}://${user ? 'bob' : ''}:${pw}@10.0.0.7:6379/0`;
        const line = redactPasswords(`--queue=${url} --out run`);
        expect(line).toBe(`--queue=${scheme}://${user ? 'bob' : ''}:***@10.0.0.7:6379/0 --out run`);
      }),
    );
    expect(redactPasswords('redis://10.0.0.7:6379/0')).toBe('redis://10.0.0.7:6379/0');
  });
});

const SHA = 'a'.repeat(64);
const validJob = (over: Partial<Record<keyof EvaluationJob, unknown>> = {}): Record<string, unknown> => ({
  format: 'nls-eval-job/1',
  study: '0123456789abcdef',
  kind: 'measure',
  scorer: { evaluator: 'supernet', supernet: { path: '/runs/supernet', sha256: SHA }, needs: ['accuracy', 'params'], engine: 'auto' },
  trial: 3,
  config: [0, 1, 1],
  ...over,
});

describe('job payloads', () => {
  const arbJob = fc.record({
    kind: fc.constantFrom('measure', 'slice', 'info'),
    trial: fc.nat({ max: 1e6 }),
    config: fc.array(fc.nat({ max: 9 }), { minLength: 1, maxLength: 30 }),
    start: fc.nat({ max: 500 }),
    len: fc.integer({ min: 1, max: 500 }),
    fidelity: fc.double({ min: 0.01, max: 1, noNaN: true }),
    needs: fc.uniqueArray(fc.constantFrom('accuracy', 'loss', 'params', 'flops', 'latency', 'memory', 'exact'), { minLength: 1 }),
    engine: fc.constantFrom('auto', 'onnx', 'tfjs'),
    validationSize: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
  });
  const build = (j: typeof arbJob extends fc.Arbitrary<infer T> ? T : never): Record<string, unknown> => ({
    format: 'nls-eval-job/1',
    study: 'fedcba9876543210',
    kind: j.kind,
    scorer: { evaluator: 'supernet', supernet: { path: '/s', sha256: SHA }, needs: j.needs, engine: j.engine, ...(j.validationSize !== undefined ? { validationSize: j.validationSize } : {}) },
    ...(j.kind !== 'info' ? { trial: j.trial, config: j.config } : {}),
    ...(j.kind === 'slice' ? { slice: [j.start, j.start + j.len], fidelity: j.fidelity } : {}),
  });

  it('property: every well-formed job passes the check unchanged (through JSON, as BullMQ stores it)', () => {
    fc.assert(
      fc.property(arbJob, (j) => {
        const payload = JSON.parse(JSON.stringify(build(j))) as unknown;
        expect(checkJob(payload)).toEqual(payload);
      }),
    );
  });

  it('property: dropping any field, or adding one, is refused naming the field', () => {
    fc.assert(
      fc.property(arbJob, fc.nat(), fc.string({ minLength: 1, maxLength: 8 }), (j, pick, extra) => {
        const payload = build(j);
        const keys = Object.keys(payload);
        const drop = keys[pick % keys.length]!;
        const { [drop]: _dropped, ...rest } = payload;
        expect(() => checkJob(rest)).toThrow(PayloadError);
        if (!keys.includes(extra)) expect(() => checkJob({ ...payload, [extra]: 1 })).toThrow(/unexpected field/);
      }),
    );
  });

  it('refuses anything executable or off-format: an unknown evaluator, code in a field, a bad hash, a foreign format', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [validJob({ scorer: { evaluator: 'require("child_process")', supernet: { path: '/s', sha256: SHA }, needs: ['accuracy'], engine: 'auto' } }), /scorer\.evaluator: expected one of supernet/],
      [validJob({ scorer: { evaluator: 'supernet', supernet: { path: '/s', sha256: 'abc' }, needs: ['accuracy'], engine: 'auto' } }), /scorer\.supernet\.sha256/],
      [validJob({ scorer: { evaluator: 'supernet', supernet: { path: '/s', sha256: SHA }, needs: ['accuracy'], engine: 'auto', module: './evil.js' } }), /scorer: unexpected field\(s\) module/],
      [validJob({ format: 'nls-eval-job/2' }), /format: expected nls-eval-job\/1/],
      [validJob({ config: [0, -1] }), /config\[1\]/],
      [validJob({ study: '../../etc' }), /study: expected a string matching/],
      [validJob({ kind: 'slice', slice: [5, 5], fidelity: 0.5 }), /slice: expected start < end/],
      [validJob({ fidelity: 0.5 }), /slice and fidelity belong to slice jobs only/],
    ];
    for (const [payload, message] of cases) expect(() => checkJob(payload), JSON.stringify(payload)).toThrow(message);
  });

  it('results: the format, the worker and, for a slice, one entry per example are checked', () => {
    const worker = { host: 'h', pid: 1, id: 'h:1:x' };
    expect(checkResult({ format: RESULT_FORMAT, ok: false, worker, message: 'boom' })).toMatchObject({ ok: false, message: 'boom' });
    expect(() => checkResult({ format: RESULT_FORMAT, ok: 'yes', worker })).toThrow(/result\.ok/);
    expect(() => checkResult({ ok: true, worker, seconds: 1, value: {} })).toThrow(/result\.format/);
    const job = checkJob(validJob({ kind: 'slice', slice: [0, 3], fidelity: 0.5 }));
    expect(checkSliceValue({ cost: { params: 10 }, correct: [1, 0, 1], logLikelihood: [-1, -2, -3], tokens: [1, 1, 2] }, job)).toMatchObject({ correct: [1, 0, 1] });
    expect(() => checkSliceValue({ cost: { params: 10 }, correct: [1, 0] }, job)).toThrow(/value\.correct: expected 3 numbers/);
    expect(() => checkSliceValue({ cost: { params: 10 }, correct: [1, 0, 2] }, job)).toThrow(/value\.correct\[2\]: expected 0 or 1/);
  });

  it('property: job ids are a function of (study, trial, fidelity), distinct across them, and hold no ":" (BullMQ reserves it)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.double({ min: 0.01, max: 1, noNaN: true }), fc.double({ min: 0.01, max: 1, noNaN: true }), (t1, t2, f1, f2) => {
        const a = jobId('0123456789abcdef', 'slice', t1, f1);
        expect(a).toBe(jobId('0123456789abcdef', 'slice', t1, f1));
        expect(a).not.toContain(':');
        expect(a === jobId('0123456789abcdef', 'slice', t2, f2)).toBe(t1 === t2 && f1 === f2);
        expect(a).not.toBe(jobId('0123456789abcdef', 'measure', t1));
        expect(a).not.toBe(jobId('fedcba9876543210', 'slice', t1, f1));
      }),
    );
  });

  it('path mappings move paths under FROM to TO, and nothing else', () => {
    const maps = [parsePathMapping('/shared/runs=/data/runs')];
    expect(mapPath('/shared/runs/s1/supernet', maps)).toBe('/data/runs/s1/supernet');
    expect(mapPath('/shared/runs', maps)).toBe('/data/runs');
    expect(mapPath('/shared/runs2/x', maps)).toBe('/shared/runs2/x');
    expect(() => parsePathMapping('runs=/data')).toThrow(/two absolute folders/);
  });
});

const skip = REDIS_SKIP_REASON;

describe.skipIf(skip !== undefined)('coordinator and worker against misbehaving peers (throwaway Redis)', () => {
  let root = '';
  let toy: ToySupernet;
  let redis: TestRedis | undefined;

  beforeAll(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-protocol-'));
    toy = await toySupernet(root);
    redis = await startRedis();
  }, 120_000);

  afterAll(async () => {
    await removeRedis(redis);
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('an evaluation that throws fails its trial with the message and host; malformed values fail theirs; the study goes on', async () => {
    const client = new Redis(redis!.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const worker = { host: 'fakehost', pid: 42, id: 'fakehost:42:x' };
    // Adapter parameters are known to the study: an honest worker reports them exactly.
    const modelConfig = await loadSupernetModelConfig(toy.supernet);
    const space = await loadSupernetSpace(toy.supernet);
    const params = (config: readonly number[]) => adapterParameters(modelConfig, space, config);
    let fake: Worker | undefined;
    const serving = (async () => {
      for (;;) {
        const [study] = await liveStudies(client);
        if (study) {
          fake = new Worker(
            studyQueueName(study.id),
            async (job: Job) => {
              const data = job.data as EvaluationJob;
              if (data.kind === 'info') return { format: RESULT_FORMAT, ok: true, worker, seconds: 0, value: { validationExamples: 8, engine: 'tfjs' } };
              if (data.trial === 0) return { format: RESULT_FORMAT, ok: false, worker, message: 'device lost while scoring' };
              if (data.trial === 1) return { format: RESULT_FORMAT, ok: true, worker, seconds: 0, value: { accuracy: 'high', params: 10 } };
              if (data.trial === 2) return { hello: 'world' };
              const honest = params(data.config!);
              // Trial 5 misreports the known adapter parameters: the study must not believe it.
              return { format: RESULT_FORMAT, ok: true, worker, seconds: 0, value: { accuracy: 0.5 + data.trial! / 100, params: data.trial === 5 ? honest + 1 : honest } };
            },
            { connection: { host: '127.0.0.1', port: redis!.port, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX },
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const out = path.join(root, 'liars');
      const result = await runSearch({ supernet: toy.supernet, out, queue: redis!.url, engine: 'tfjs', strategy: 'random', budget: 6, seed: 1, progress: quiet() });
      await serving;
      expect(result.study.reason).toBe('budget');
      const ts = [...result.study.trials].sort((a, b) => a.number - b.number);
      expect(ts.map((t) => t.state)).toEqual(['failed', 'failed', 'failed', 'complete', 'complete', 'failed']);
      expect(ts[0]!.message).toBe('device lost while scoring [worker fakehost (pid 42)]');
      expect(ts[1]!.message).toMatch(/^the worker on fakehost returned malformed values \(value\.accuracy: expected a finite number, got "high"\)$/);
      expect(ts[2]!.message).toMatch(/returned malformed values \(result\.format: expected nls-eval-result\/1/);
      expect(ts[3]!.values).toEqual([0.53, params(ts[3]!.config)]);
      expect(ts[5]!.message).toMatch(/^objective "params" is \d+ from the evaluator but \d+ from known\.objectives\["params"\]; fix: /);
    } finally {
      await fake?.close();
      client.disconnect();
    }
  }, 120_000);

  it('a worker refuses a malformed job (the BullMQ failure names the field) and one on another study\'s queue', async () => {
    const client = new Redis(redis!.port, '127.0.0.1', { maxRetriesPerRequest: null });
    const study = '00000000000000aa';
    const beat = setInterval(() => void client.hset('nls:studies', study, JSON.stringify({ id: study, host: 'h', journal: '/j', beat: Date.now() })), 500);
    await client.hset('nls:studies', study, JSON.stringify({ id: study, host: 'h', journal: '/j', beat: Date.now() }));
    const queue = new Queue(studyQueueName(study), { connection: { host: '127.0.0.1', port: redis!.port, maxRetriesPerRequest: null }, prefix: QUEUE_PREFIX });
    try {
      const controller = new AbortController();
      const done = runEvaluationWorker({ queue: redis!.url, engine: 'tfjs', maxJobs: 2, signal: controller.signal, progress: quiet() });
      await queue.add('measure', validJob({ study, config: 'rm -rf /' }), { jobId: 'bad-1' });
      await queue.add('measure', validJob({ study: '00000000000000bb' }), { jobId: 'bad-2' });
      const summary = await done;
      expect(summary).toMatchObject({ completed: 0, failed: 2 });
      const bad1 = await queue.getJob('bad-1');
      const bad2 = await queue.getJob('bad-2');
      expect(bad1?.failedReason).toMatch(/malformed job bad-1 refused by .*: config: expected a list of choice indices, got "rm -rf \/"/);
      expect(bad2?.failedReason).toMatch(/names study 00000000000000bb but sits on the queue of study 00000000000000aa; refused/);
    } finally {
      clearInterval(beat);
      await queue.close();
      client.disconnect();
    }
  }, 60_000);

  it('rediss:// with a CA of its own (NLS_REDIS_CA): a study and a worker talk TLS', async () => {
    const certs = path.join(root, 'tls');
    await fsp.mkdir(certs);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=nls-test-ca');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    await fsp.writeFile(path.join(certs, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
    const tlsPort = await freePort();
    const secure = await startRedis({
      port: 0,
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', path.join(certs, 'server.crt'), '--tls-key-file', path.join(certs, 'server.key'), '--tls-ca-cert-file', path.join(certs, 'ca.crt'), '--tls-auth-clients', 'no'],
      url: () => `rediss://127.0.0.1:${tlsPort}/0`,
    });
    const before = process.env['NLS_REDIS_CA'];
    try {
      // Without the CA the server's certificate is not trusted: a clear error, no hang.
      await expect(runSearch({ supernet: toy.supernet, out: path.join(root, 'tls-untrusted'), queue: secure.url, engine: 'tfjs', strategy: 'random', budget: 1, seed: 1, progress: quiet() })).rejects.toThrow(
        /cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+\/0 .*NLS_REDIS_CA/,
      );
      process.env['NLS_REDIS_CA'] = path.join(certs, 'ca.crt');
      const controller = new AbortController();
      const worker = runEvaluationWorker({ queue: secure.url, engine: 'tfjs', signal: controller.signal, progress: quiet() });
      try {
        const result = await runSearch({ supernet: toy.supernet, out: path.join(root, 'tls'), queue: secure.url, engine: 'tfjs', strategy: 'random', budget: 3, seed: 1, progress: quiet() });
        expect(result.study.trials.filter((t) => t.state === 'complete')).toHaveLength(3);
      } finally {
        controller.abort();
        expect((await worker).completed).toBe(4); // the info job and three trials
      }
    } finally {
      if (before === undefined) delete process.env['NLS_REDIS_CA'];
      else process.env['NLS_REDIS_CA'] = before;
      await removeRedis(secure);
    }
  }, 120_000);
});
