/**
 * Who is on a queue's Redis: studies announce themselves (so workers know which study queues to
 * serve) and workers announce themselves (so coordinators can show who is alive). Both are
 * heartbeats in two Redis hashes; an entry whose heartbeat is older than {@link STALE_MS} is gone.
 */
import type { Redis as RedisClient } from 'ioredis';

/** BullMQ key prefix of nls's queues (keys `nls:study-ID:...`). */
export const QUEUE_PREFIX = 'nls';
/** Hash of the studies that are running: study id -> {@link StudyEntry}. */
export const STUDIES_KEY = 'nls:studies';
/** Hash of the live workers: worker id -> {@link WorkerEntry}. */
export const WORKERS_KEY = 'nls:workers';
/** Heartbeats are written every {@link BEAT_MS}; an entry not renewed for {@link STALE_MS} is gone. */
export const BEAT_MS = 2000;
export const STALE_MS = 60_000;
/** A worker not heard from for this long is shown as gone (a study's entry lives longer: see {@link STALE_MS}). */
export const WORKER_STALE_MS = 10_000;

/** The queue of a study. */
export function studyQueueName(studyId: string): string {
  return `study-${studyId}`;
}

/** A running study, as its coordinator announces it. */
export interface StudyEntry {
  readonly id: string;
  /** The coordinator's host and the study's journal there (for people reading the registry). */
  readonly host: string;
  readonly journal: string;
  /** Unix milliseconds of the last heartbeat. */
  readonly beat: number;
}

/** A live worker, as it announces itself. */
export interface WorkerEntry {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly concurrency: number;
  /** Jobs evaluated (completed or failed) since it started. */
  readonly done: number;
  /** Jobs running now. */
  readonly running: number;
  readonly beat: number;
}

function parseEntries<T extends { beat: number }>(raw: Record<string, string>, now: number, stale: number): T[] {
  const out: T[] = [];
  for (const v of Object.values(raw)) {
    try {
      const e = JSON.parse(v) as T;
      if (typeof e.beat === 'number' && now - e.beat <= stale) out.push(e);
    } catch {
      // Not ours, or torn: ignore.
    }
  }
  return out;
}

/** The studies whose coordinators are alive. */
export async function liveStudies(redis: RedisClient, now = Date.now()): Promise<StudyEntry[]> {
  return parseEntries<StudyEntry>(await redis.hgetall(STUDIES_KEY), now, STALE_MS).filter((s) => typeof s.id === 'string' && /^[0-9a-f]{16}$/.test(s.id));
}

/** The workers that are alive. */
export async function liveWorkers(redis: RedisClient, now = Date.now()): Promise<WorkerEntry[]> {
  return parseEntries<WorkerEntry>(await redis.hgetall(WORKERS_KEY), now, WORKER_STALE_MS);
}

/** Write `entry` under `field` of `key` now, and every {@link BEAT_MS} until the returned stop is called (which removes it). */
export function heartbeat(redis: RedisClient, key: string, field: string, entry: () => object, onError: (err: Error) => void = () => {}): { stop(): Promise<void> } {
  const beat = async (): Promise<void> => {
    await redis.hset(key, field, JSON.stringify({ ...entry(), beat: Date.now() }));
  };
  const timer = setInterval(() => void beat().catch(onError), BEAT_MS);
  timer.unref();
  void beat().catch(onError);
  return {
    stop: async () => {
      clearInterval(timer);
      await redis.hdel(key, field).catch(onError);
    },
  };
}
