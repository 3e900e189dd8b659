/**
 * Redis connections for the evaluation queue, from a `redis://` or `rediss://` (TLS) URL with an
 * optional user, password and database. Connections retry for ever: a restarted Redis is
 * reconnected to and the work carries on (docs/distributed.md says what a Redis without
 * persistence loses).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { NlsError } from '../errors.js';

/** A parsed queue URL. */
export interface QueueAddress {
  /** The URL as given (holds the password, if any: never print it; print {@link QueueAddress.display}). */
  readonly url: string;
  /** The URL with the password replaced by `***`. */
  readonly display: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

/** Parse `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://` for TLS); `field` names the flag in errors. */
export function parseQueueUrl(text: string, field = '--queue'): QueueAddress {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new NlsError(`cannot read ${JSON.stringify(text)} as a URL; fix: write redis://HOST:PORT/DB (or rediss:// for TLS), e.g. redis://127.0.0.1:6379/0`, { field });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new NlsError(`the queue must be a Redis URL (redis:// or rediss://), got ${u.protocol}//; fix: e.g. redis://127.0.0.1:6379/0`, { field });
  }
  if (u.hostname === '') throw new NlsError('the queue URL has no host; fix: e.g. redis://127.0.0.1:6379/0', { field });
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isSafeInteger(db) || db < 0) throw new NlsError(`the database must be a number, got ${JSON.stringify(dbText)}; fix: end the URL with /0 (or another database number)`, { field });
  if (u.search !== '' || u.hash !== '') throw new NlsError('the queue URL takes no query or fragment; fix: redis://[USER:PASSWORD@]HOST:PORT/DB', { field });
  const password = u.password !== '' ? decodeURIComponent(u.password) : undefined;
  const username = u.username !== '' ? decodeURIComponent(u.username) : undefined;
  const shown = new URL(u.href);
  if (shown.password !== '') shown.password = '***';
  return {
    url: text,
    display: shown.href,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    tls: u.protocol === 'rediss:',
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/**
 * ioredis options for an address. `maxRetriesPerRequest: null` makes commands wait through a
 * reconnection instead of failing (BullMQ requires it for workers, and a coordinator wants it
 * too). TLS verifies the server against the system's CAs plus `NLS_REDIS_CA` (a PEM file) when set.
 */
export function redisOptions(a: QueueAddress, env: NodeJS.ProcessEnv = process.env): RedisOptions {
  const caFile = env['NLS_REDIS_CA'];
  let ca: string | undefined;
  if (a.tls && caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new NlsError(`cannot read the CA certificate NLS_REDIS_CA names (${(err as Error).message}); fix: point NLS_REDIS_CA at a PEM file, or unset it`, { file: caFile, cause: err });
    }
  }
  return {
    host: a.host,
    port: a.port,
    db: a.db,
    ...(a.username !== undefined ? { username: a.username } : {}),
    ...(a.password !== undefined ? { password: a.password } : {}),
    // SNI takes host names only (RFC 6066); an IP address is checked against the certificate's IP entries.
    ...(a.tls ? { tls: { ...(isIP(a.host) === 0 ? { servername: a.host } : {}), ...(ca !== undefined ? { ca } : {}) } } : {}),
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    // Back off to at most 2 s between reconnection attempts, for ever.
    retryStrategy: (times: number) => Math.min(2000, 50 * times),
    lazyConnect: false,
  };
}

/** Connection errors that retrying cannot fix: authentication and TLS certificate checks. */
const FATAL_CONNECTION_ERROR = /NOAUTH|WRONGPASS|invalid password|invalid username|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|certificate/i;

/** Open a connection; resolves once it is ready, or rejects with a clear error after `timeoutMs`. */
export async function connectRedis(a: QueueAddress, timeoutMs = 15_000, env: NodeJS.ProcessEnv = process.env): Promise<RedisClient> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redisOptions(a, env));
  // Errors while reconnecting are expected (a restarting Redis); readiness is what matters. A
  // refused password or an untrusted certificate will not heal by retrying: those fail at once.
  try {
    await new Promise<void>((resolve, reject) => {
      let lastError: Error | undefined;
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s${lastError ? `: ${lastError.message}` : ''}`)), timeoutMs);
      client.on('error', (err: Error & { code?: string }) => {
        lastError = err;
        if (FATAL_CONNECTION_ERROR.test(`${err.code ?? ''} ${err.message}`)) {
          clearTimeout(timer);
          reject(err);
        }
      });
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    client.disconnect();
    const why = (err as Error).message;
    const auth = /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(why);
    const cert = !auth && FATAL_CONNECTION_ERROR.test(why);
    throw new NlsError(
      `cannot reach Redis at ${a.display} (${why}); fix: ${auth ? 'give the password in the URL (redis://:PASSWORD@HOST:PORT/DB)' : cert ? "set NLS_REDIS_CA to a PEM file of the CA that signed the server's certificate" : 'start redis-server there, or check the host, port and (for rediss://) NLS_REDIS_CA'}`,
      { field: '--queue', cause: err },
    );
  }
  return client;
}
