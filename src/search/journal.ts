/**
 * The study journal `trials.jsonl` (format `nls-study/1`): an append-only JSON-lines file holding
 * everything needed to resume a study exactly. Each line is appended with one write and fsynced;
 * nothing is ever rewritten. A crash can at worst leave a torn last line (no final newline), which
 * readers ignore and a resuming study cuts off before appending.
 *
 * Records, in file order (`docs/search.md` documents every field):
 * - one {@link StudyHeaderRecord} (`type: "study"`) first: the settings a resume must match;
 * - per ask round, one {@link AskRecord} (`type: "ask"`) written *before* evaluation, with the keys
 *   the strategy proposed;
 * - one {@link TrialRecord} (`type: "trial"`) per proposed configuration, written as soon as its
 *   outcome is known (so trials of a round may appear in completion order);
 * - a {@link ResumeRecord} (`type: "resume"`) each time the study is resumed;
 * - an {@link EndRecord} (`type: "end"`) when a run stops normally.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import type { ConstraintSpec, ObjectiveSpec, TrialResult } from './contract.js';

/** Value of the header's `format` field. */
export const STUDY_FORMAT = 'nls-study/1';

/** Where a strategy came from, for the record. */
export interface StrategySourceRecord {
  /** `builtin`, `plugin` (loaded by `loadStrategyPlugin`) or `api` (a factory passed in code). */
  readonly kind: 'builtin' | 'plugin' | 'api';
  /** Plugin module file (absolute path). */
  readonly module?: string;
  /** SHA-256 (hex) of the plugin module file. */
  readonly sha256?: string;
  /** The plugin as it was named (`./my.js`, `nls-strategy-acme`), without a `#name` choice. */
  readonly spec?: string;
}

/** First line of a journal: the study's settings. */
export interface StudyHeaderRecord {
  readonly type: 'study';
  readonly format: typeof STUDY_FORMAT;
  /** ISO 8601 creation time. */
  readonly created: string;
  /** nls version that created the study. */
  readonly nls: string;
  readonly strategy: {
    readonly name: string;
    readonly version: string;
    /** Options after merging with the strategy's documented defaults. */
    readonly options: Readonly<Record<string, unknown>>;
    readonly source?: StrategySourceRecord;
  };
  readonly objectives: readonly ObjectiveSpec[];
  readonly constraints: readonly ConstraintSpec[];
  readonly seed: number | string;
  readonly space: { readonly name: string; readonly fingerprint: string; readonly genes: number; readonly cardinality: string };
  /** Configurations asked per batch. */
  readonly batchSize: number;
  /** Maximum number of evaluations; `null` = unlimited. */
  readonly budget: number | null;
  /** Whether repeated configurations are answered from the cache. */
  readonly cache: boolean;
  /** Whether configurations whose evaluation failed are evaluated again when proposed again. */
  readonly retryFailed: boolean;
  /** Replacement rounds per batch for filtered configurations. */
  readonly maxReplacementRounds: number;
  /** The study stops after this many consecutive batches that evaluated nothing. */
  readonly maxIdleBatches: number;
  /** The cost filter, when there is one. */
  readonly costFilter: { readonly name: string; readonly bound: number } | null;
  /** SHA-256 of the training statistics given to strategies, or null. */
  readonly trainingStatistics: string | null;
  /**
   * Settings of the evaluator that the study cannot see but that change trial values (nls search:
   * validation size, fidelities, racing confidence, sub-space and latency-predictor files), so
   * that a resume can take them from the journal. Absent when the caller gave none.
   */
  readonly evaluator?: Readonly<Record<string, unknown>>;
  /** Names of the objectives and constraints the study was given as known (`StudyOptions.known`); absent when none. */
  readonly known?: { readonly objectives: readonly string[]; readonly constraints: readonly string[] };
}

/** One ask round: what the strategy proposed, journaled before evaluation. */
export interface AskRecord {
  readonly type: 'ask';
  /** Batch index, 0-based. */
  readonly batch: number;
  /** Round within the batch: 0 for the batch's ask, 1.. for cost-filter replacement rounds. */
  readonly round: number;
  /** How many configurations were asked for (`ask(n)`). */
  readonly n: number;
  /** Trial number of the first proposal; the proposals are numbered consecutively. */
  readonly firstNumber: number;
  /** Remaining budget the strategy saw (`null` = unlimited). */
  readonly remainingBudget: number | null;
  /** Canonical keys of the proposals, in order (`SearchSpace.parseKey` gives the configurations). */
  readonly keys: readonly string[];
}

/** Wall-clock timing of a trial (excluded when comparing runs). */
export interface TrialTime {
  /** ISO 8601 time the round's evaluation started. */
  readonly start: string;
  /** ISO 8601 time the outcome arrived. */
  readonly end: string;
  readonly seconds: number;
}

/** One finished trial. */
export interface TrialRecord extends TrialResult {
  readonly type: 'trial';
  readonly batch: number;
  readonly round: number;
  readonly time?: TrialTime;
}

/** Written each time a study is resumed. */
export interface ResumeRecord {
  readonly type: 'resume';
  /** ISO 8601 time. */
  readonly time: string;
  /** Number of ask records before this one: the budget below applies from that ask on. */
  readonly asks: number;
  /** Budget from here on (`null` = unlimited). */
  readonly budget: number | null;
}

/** Why a study run stopped. */
export type StopReason = 'budget' | 'exhausted' | 'idle' | 'stopped';

/** Written when a run stops normally (not after a crash or a fatal error). */
export interface EndRecord {
  readonly type: 'end';
  readonly reason: StopReason;
  /** Trials in the journal. */
  readonly trials: number;
  /** Evaluations spent (trials neither cached nor filtered). */
  readonly evaluations: number;
  /** ISO 8601 time. */
  readonly time: string;
}

/** Any journal line. */
export type JournalRecord = StudyHeaderRecord | AskRecord | TrialRecord | ResumeRecord | EndRecord;

/** A journal as read from disk. */
export interface JournalContents {
  readonly file: string;
  readonly header: StudyHeaderRecord;
  /** Every record after the header, in file order. */
  readonly records: readonly JournalRecord[];
  readonly asks: readonly AskRecord[];
  /** Trials in trial-number order. */
  readonly trials: readonly TrialRecord[];
  readonly resumes: readonly ResumeRecord[];
  /** Bytes up to the end of the last complete line. */
  readonly validBytes: number;
  /** Bytes of a torn final line (0 when the file ends with a newline). */
  readonly tornBytes: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Check the shape of one parsed line; returns a problem description or undefined. */
function problemOf(r: Record<string, unknown>): string | undefined {
  switch (r['type']) {
    case 'study':
      if (r['format'] !== STUDY_FORMAT) return `format is ${JSON.stringify(r['format'])}, this nls reads ${STUDY_FORMAT}`;
      if (!isObject(r['strategy']) || !Array.isArray(r['objectives']) || !isObject(r['space'])) return 'header lacks strategy, objectives or space';
      return undefined;
    case 'ask':
      if (!isNat(r['batch']) || !isNat(r['round']) || !isNat(r['n']) || !isNat(r['firstNumber']) || !Array.isArray(r['keys'])) return 'ask record lacks batch, round, n, firstNumber or keys';
      return undefined;
    case 'trial':
      if (!isNat(r['number']) || !isNat(r['batch']) || !isNat(r['round']) || typeof r['key'] !== 'string' || !Array.isArray(r['config'])) {
        return 'trial record lacks number, batch, round, key or config';
      }
      if (r['state'] !== 'complete' && r['state'] !== 'failed' && r['state'] !== 'filtered') return `trial state ${JSON.stringify(r['state'])} is not complete, failed or filtered`;
      return undefined;
    case 'resume':
    case 'end':
      return undefined;
    default:
      return `unknown record type ${JSON.stringify(r['type'])}`;
  }
}

/**
 * Read and check a journal. A torn final line (no newline at the end of the file, as a crash
 * mid-write leaves) is ignored; any other unreadable line is an error naming its line number.
 *
 * @throws NlsError when the file cannot be read, is empty, or is not a valid journal
 */
export async function readJournal(file: string): Promise<JournalContents> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NlsError(`cannot read study journal (${code ?? String(err)}); fix: check the path`, { file, cause: err });
  }
  const lastNewline = buf.lastIndexOf(0x0a);
  const validBytes = lastNewline + 1;
  const text = buf.subarray(0, validBytes).toString('utf8');
  const lines = text.split('\n');
  lines.pop(); // the empty string after the final newline
  const records: JournalRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new NlsError(`line ${i + 1} is not valid JSON (${(err as Error).message}); fix: the journal is corrupt — restore it from a backup or start a new study`, { file, cause: err });
    }
    if (!isObject(value)) throw new NlsError(`line ${i + 1} is not a JSON object; fix: the journal is corrupt`, { file });
    const problem = problemOf(value);
    if (problem) throw new NlsError(`line ${i + 1}: ${problem}; fix: the journal is corrupt or was written by another program`, { file });
    if (i === 0 && value['type'] !== 'study') throw new NlsError('the first line is not a study header ({"type":"study",...}); fix: pass a trials.jsonl written by nls', { file });
    if (i > 0 && value['type'] === 'study') throw new NlsError(`line ${i + 1} is a second study header; fix: one journal holds one study`, { file });
    records.push(value as unknown as JournalRecord);
  });
  const header = records.shift();
  if (!header || header.type !== 'study') throw new NlsError('the journal holds no complete study header; fix: start a new study', { file });
  const asks: AskRecord[] = [];
  const trials = new Map<number, TrialRecord>();
  const resumes: ResumeRecord[] = [];
  for (const r of records) {
    if (r.type === 'ask') asks.push(r);
    else if (r.type === 'resume') resumes.push(r);
    else if (r.type === 'trial') {
      if (trials.has(r.number)) throw new NlsError(`trial ${r.number} is recorded twice; fix: the journal is corrupt`, { file });
      trials.set(r.number, r);
    }
  }
  return {
    file,
    header,
    records,
    asks,
    trials: [...trials.values()].sort((a, b) => a.number - b.number),
    resumes,
    validBytes,
    tornBytes: buf.length - validBytes,
  };
}

/** Options of {@link JournalWriter.open}. */
export interface JournalWriterOptions {
  /** Cut the file to this many bytes before appending (drops a torn final line). */
  readonly truncateTo?: number;
  /** fsync after every record (default true). Turn off only for throwaway studies and tests. */
  readonly fsync?: boolean;
}

/**
 * Appends records to a journal, one line per record, each with a single write followed by fsync.
 * Appends are serialized in call order, so concurrent callers cannot interleave lines.
 */
export class JournalWriter {
  private tail: Promise<void> = Promise.resolve();
  private failed: unknown;

  private constructor(
    readonly file: string,
    private readonly handle: fsp.FileHandle,
    private readonly fsync: boolean,
  ) {}

  /** Open `file` for appending (creating it and its folder when missing). */
  static async open(file: string, options: JournalWriterOptions = {}): Promise<JournalWriter> {
    await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    if (options.truncateTo !== undefined) {
      const stat = await fsp.stat(file).catch(() => undefined);
      if (stat && stat.size > options.truncateTo) await fsp.truncate(file, options.truncateTo);
    }
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'a');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new NlsError(`cannot open the study journal for writing (${code ?? String(err)}); fix: check the folder exists and is writable`, { file, cause: err });
    }
    return new JournalWriter(file, handle, options.fsync ?? true);
  }

  /** Append one record; resolves once it is on disk. */
  append(record: JournalRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const run = async (): Promise<void> => {
      if (this.failed !== undefined) throw this.failed;
      try {
        await this.handle.appendFile(line, 'utf8');
        if (this.fsync) await this.handle.sync();
      } catch (err) {
        this.failed = new NlsError(`cannot write the study journal: ${(err as Error).message}`, { file: this.file, cause: err });
        throw this.failed;
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Wait for pending appends, then close the file. */
  async close(): Promise<void> {
    await this.tail;
    await this.handle.close();
  }
}
