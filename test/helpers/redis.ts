/**
 * A throwaway redis-server for the distributed-evaluation tests: its own free port on 127.0.0.1,
 * its own data folder, no persistence unless asked, stopped at the end. Tests skip with a reason
 * when redis-server is not installed, unless NLS_REQUIRE_REDIS=1 (set by .ci/run), which makes
 * them fail instead.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Path of redis-server, or undefined when it is not installed. */
export const REDIS_SERVER: string | undefined = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** Whether the tests must fail rather than skip without Redis. */
export const REQUIRE_REDIS = process.env['NLS_REQUIRE_REDIS'] === '1';

/** The reason the Redis tests skip, or undefined when they run. */
export const REDIS_SKIP_REASON: string | undefined = REDIS_SERVER === undefined && !REQUIRE_REDIS ? 'redis-server is not installed (apt-get install redis-server); NLS_REQUIRE_REDIS=1 makes this a failure' : undefined;

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running throwaway Redis. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stop it (SIGTERM; without persistence its data are gone). */
  stop(): Promise<void>;
  /** Start it again on the same port (after {@link TestRedis.stop}). */
  start(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface TestRedisOptions {
  readonly password?: string;
  /** Append-only persistence (default off: a restart loses everything). */
  readonly persist?: boolean;
  /** Extra redis-server arguments (e.g. TLS settings). */
  readonly args?: readonly string[];
  /** The URL to report (default redis://[:PASSWORD@]127.0.0.1:PORT/0). */
  readonly url?: (port: number) => string;
  /** Port to listen on without TLS (default: a free one; 0 turns plain TCP off, for TLS-only servers). */
  readonly port?: number;
}

/** Start redis-server; throws with a fix when it is not installed. */
export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  if (REDIS_SERVER === undefined) throw new Error('NLS_REQUIRE_REDIS=1 but redis-server is not installed; fix: apt-get install -y redis-server');
  const port = options.port ?? (await freePort());
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-redis-'));
  let child: ChildProcess | undefined;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.persist ? 'yes' : 'no',
    '--daemonize', 'no', '--loglevel', 'warning',
    ...(options.password !== undefined ? ['--requirepass', options.password] : []),
    ...(options.args ?? []),
  ];
  const start = async (): Promise<void> => {
    child = spawn(REDIS_SERVER!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const probe = options.port === 0 ? undefined : port;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${stderr}`);
      if (probe === undefined) {
        await new Promise((r) => setTimeout(r, 300));
        break;
      }
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(probe, '127.0.0.1', () => {
          s.end();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (up) break;
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    port,
    dir,
    url: options.url ? options.url(port) : `redis://${options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${port}/0`,
    start,
    stop: async () => {
      await stop();
    },
  };
}

/** Stop a Redis and remove its folder. */
export async function removeRedis(r: TestRedis | undefined): Promise<void> {
  if (!r) return;
  await r.stop();
  await fsp.rm(r.dir, { recursive: true, force: true });
}
