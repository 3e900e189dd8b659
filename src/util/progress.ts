/**
 * Progress and log output for long work. Everything goes to stderr so stdout stays
 * machine-readable; `quiet` silences it, `json` turns it into one JSON object per line.
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Print nothing. */
  readonly quiet?: boolean;
  /** Print JSON lines instead of human-readable text. */
  readonly json?: boolean;
  /** Where to write (default process.stderr). */
  readonly stream?: NodeJS.WritableStream;
  /** Minimum milliseconds between two progress lines (default 1000; the last step always prints). */
  readonly intervalMs?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
  /**
   * While a task runs, print a "still running" line when no step finished for this many
   * milliseconds (default 15000; 0 = never). It fires only while the event loop is free, i.e.
   * while the work runs elsewhere (the onnx engine's sessions run on a worker thread).
   */
  readonly heartbeatMs?: number;
}

/** Format seconds as `1h02m`, `3m05s` or `12.3s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatValue(v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

/** Reports steps, rate and ETA of one task, plus free-form messages. */
export class Progress {
  private readonly stream: NodeJS.WritableStream;
  private readonly now: () => number;
  private started = 0;
  private lastPrint = -Infinity;
  private task = '';
  private total = 0;
  private firstStep = 0;
  private lastStep = 0;
  private lastStepAt = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
  }

  /** A message line. */
  log(message: string, fields: Record<string, unknown> = {}): void {
    if (this.options.quiet) return;
    this.stream.write(this.options.json ? `${JSON.stringify({ event: 'log', message, ...fields })}\n` : `${message}\n`);
  }

  /** Begin a task of `total` steps; `firstStep` > 0 when resuming. */
  start(task: string, total: number, firstStep = 0): void {
    this.task = task;
    this.total = total;
    this.firstStep = firstStep;
    this.started = this.now();
    this.lastPrint = -Infinity;
    this.lastStep = firstStep;
    this.lastStepAt = this.started;
    this.stopHeartbeat();
    const every = this.options.heartbeatMs ?? 15_000;
    if (!this.options.quiet && every > 0) {
      this.heartbeat = setInterval(() => this.beat(every), Math.max(250, Math.floor(every / 4)));
      this.heartbeat.unref?.();
    }
  }

  /** The task is over (or stopped early): no more "still running" lines. */
  done(): void {
    this.stopHeartbeat();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Print a "still running" line when no step finished for `every` ms (and nothing was printed meanwhile). */
  beat(every: number): void {
    const t = this.now();
    if (t - this.lastStepAt < every || t - this.lastPrint < every) return;
    this.lastPrint = t;
    const running = (t - this.lastStepAt) / 1000;
    const elapsed = (t - this.started) / 1000;
    if (this.options.json) {
      this.stream.write(`${JSON.stringify({ event: 'heartbeat', task: this.task, step: this.lastStep, total: this.total, running_s: running, elapsed_s: elapsed })}\n`);
      return;
    }
    this.stream.write(`${this.task} ${this.lastStep}/${this.total}  step ${this.lastStep + 1} running for ${formatDuration(running)}  (elapsed ${formatDuration(elapsed)})\n`);
  }

  /**
   * Step `step` (1-based, of `total`) finished, with metrics to show. `units` adds a
   * throughput column, e.g. `{ tokens: 4096 }` for tokens/s over the whole task so far.
   */
  step(step: number, metrics: Record<string, number | string> = {}, units: Record<string, number> = {}): void {
    if (this.options.quiet) return;
    const t = this.now();
    this.lastStep = step;
    this.lastStepAt = t;
    if (step >= this.total) this.stopHeartbeat();
    if (step < this.total && t - this.lastPrint < (this.options.intervalMs ?? 1000)) return;
    this.lastPrint = t;
    const elapsed = (t - this.started) / 1000;
    const done = step - this.firstStep;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (this.total - step) / rate : Infinity;
    const throughput: Record<string, number> = {};
    for (const [name, perStep] of Object.entries(units)) throughput[`${name}/s`] = rate * perStep;
    if (this.options.json) {
      this.stream.write(
        `${JSON.stringify({ event: 'progress', task: this.task, step, total: this.total, ...metrics, 'steps/s': rate, ...throughput, elapsed_s: elapsed, eta_s: Number.isFinite(eta) ? eta : null })}\n`,
      );
      return;
    }
    const parts = [`${this.task} ${step}/${this.total}`];
    for (const [k, v] of Object.entries(metrics)) parts.push(`${k} ${formatValue(v)}`);
    for (const [k, v] of Object.entries(throughput)) parts.push(`${formatValue(v)} ${k}`);
    parts.push(`${rate.toFixed(2)} steps/s`, `ETA ${formatDuration(eta)}`);
    this.stream.write(`${parts.join('  ')}\n`);
  }
}
