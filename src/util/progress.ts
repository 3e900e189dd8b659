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
  }

  /**
   * Step `step` (1-based, of `total`) finished, with metrics to show. `units` adds a
   * throughput column, e.g. `{ tokens: 4096 }` for tokens/s over the whole task so far.
   */
  step(step: number, metrics: Record<string, number | string> = {}, units: Record<string, number> = {}): void {
    if (this.options.quiet) return;
    const t = this.now();
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
