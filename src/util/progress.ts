/**
 * Progress and log output for long work. Everything goes to stderr so stdout stays
 * machine-readable; `quiet` silences it, `json` turns it into one JSON object per line.
 *
 * On a terminal (stderr a TTY, not `json`) a task is a progress bar: one status line rewritten in
 * place, with log lines and results ({@link Progress.output}, to stdout) printed above it; its
 * last state stays as a plain line when the task ends. Elsewhere (a pipe, a file, CI) every
 * update is a plain line. `NLS_PROGRESS=plain` or `NLS_PROGRESS=bar` forces one or the other.
 *
 * Nothing stays silent for long: while a task or an {@link Progress.activity} runs and the event
 * loop is free (the work runs on a worker thread or in I/O), a "still running" line follows
 * {@link DEFAULT_HEARTBEAT_MS} after the last output (on a terminal the bar's clock ticks).
 *
 * Rates and ETAs leave out the first step of a task, which also pays for set-up (sessions,
 * graphs, caches), so the first estimate is not several times too long.
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
   * While a task runs, print a "still running" line when nothing was printed for this many
   * milliseconds (default {@link DEFAULT_HEARTBEAT_MS}; 0 = never). It fires only while the event
   * loop is free, i.e. while the work runs elsewhere (the onnx engine's sessions run on a worker
   * thread; hashing waits for the disk).
   */
  readonly heartbeatMs?: number;
  /**
   * Draw a progress bar in place of progress lines (default: when `stream` is a terminal and
   * neither `json` nor `quiet`; the environment variable `NLS_PROGRESS=plain|bar` overrides).
   */
  readonly bar?: boolean;
  /** Where {@link Progress.output} writes results (default process.stdout). */
  readonly out?: NodeJS.WritableStream;
}

/** Default {@link ProgressOptions.heartbeatMs}: no silent gap of 5 seconds or more. */
export const DEFAULT_HEARTBEAT_MS = 4000;

/** Whether a progress bar is drawn for these options (see {@link ProgressOptions.bar}). */
export function useProgressBar(options: ProgressOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  if (options.quiet || options.json) return false;
  if (env['NLS_PROGRESS'] === 'plain') return false;
  if (env['NLS_PROGRESS'] === 'bar') return true;
  if (options.bar !== undefined) return options.bar;
  const stream = (options.stream ?? process.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

/**
 * The status lines at the bottom of a terminal and what is printed above them. Shared by a
 * {@link Progress} and its forks, so concurrent tasks each keep one line. Without a bar it only
 * writes lines.
 */
class StatusArea {
  private readonly lines = new Map<object, string>();
  private drawn = 0;

  constructor(
    readonly stream: NodeJS.WritableStream,
    readonly bar: boolean,
  ) {}

  private columns(): number {
    const c = (this.stream as NodeJS.WritableStream & { columns?: number }).columns;
    return typeof c === 'number' && c > 10 ? c : 100;
  }

  /** Erase the status lines drawn (the cursor ends at the start of the first). */
  private clearText(): string {
    if (this.drawn === 0) return '';
    let s = '\r\x1b[2K';
    for (let i = 1; i < this.drawn; i++) s += '\x1b[1A\x1b[2K';
    this.drawn = 0;
    return s;
  }

  private drawText(): string {
    const width = this.columns() - 1;
    const lines = [...this.lines.values()].map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
    this.drawn = lines.length;
    return lines.join('\n');
  }

  /** Print `text` (ending in a newline) above the status lines. */
  print(text: string): void {
    if (!this.bar || this.lines.size === 0) {
      this.stream.write(this.clearText() + text);
      return;
    }
    this.stream.write(this.clearText() + text + this.drawText());
  }

  /** Write `text` to another stream (stdout) with the status lines out of its way. */
  printTo(other: NodeJS.WritableStream, text: string): void {
    if (!this.bar || this.drawn === 0 || other === this.stream) {
      if (other === this.stream) this.print(text);
      else other.write(text);
      return;
    }
    this.stream.write(this.clearText());
    other.write(text);
    this.stream.write(this.drawText());
  }

  /** Set (or with undefined, remove) the status line of `owner`, and redraw. */
  status(owner: object, line: string | undefined): void {
    if (!this.bar) return;
    if (line === undefined) {
      if (!this.lines.delete(owner)) return;
    } else this.lines.set(owner, line);
    this.stream.write(this.clearText() + this.drawText());
  }
}

const BAR_WIDTH = 24;

function barText(done: number, total: number): string {
  const filled = total > 0 ? Math.max(0, Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH))) : 0;
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}]`;
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
  private readonly area: StatusArea;
  private started = 0;
  private lastPrint = -Infinity;
  private lastDraw = -Infinity;
  private task = '';
  private total = 0;
  private lastStep = 0;
  private lastStepAt = 0;
  /** The first step reported since `start` and when: rates are measured from it. */
  private rateFrom: { step: number; at: number } | undefined;
  private lastMetrics: Record<string, number | string> = {};
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly options: ProgressOptions = {},
    area?: StatusArea,
  ) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.area = area ?? new StatusArea(this.stream, useProgressBar(options));
  }

  /** True when this reporter draws a progress bar (a terminal). */
  get bar(): boolean {
    return this.area.bar;
  }

  /** True when nothing is printed. */
  get quiet(): boolean {
    return this.options.quiet === true;
  }

  /** True when lines are JSON. */
  get json(): boolean {
    return this.options.json === true;
  }

  /**
   * Another reporter with these options on the same output, for a task that runs at the same
   * time as this one's (on a terminal each keeps its own bar).
   */
  fork(): Progress {
    return new Progress(this.options, this.area);
  }

  private print(text: string): void {
    this.lastPrint = this.now();
    this.area.print(text);
  }

  /** A message line. */
  log(message: string, fields: Record<string, unknown> = {}): void {
    if (this.options.quiet) return;
    this.print(this.options.json ? `${JSON.stringify({ event: 'log', message, ...fields })}\n` : `${message}\n`);
  }

  /**
   * A result for the user, written to stdout (or `options.out`) as soon as it is known, with a
   * progress bar on stderr moved out of its way. Printed even when `quiet` (that silences stderr).
   */
  output(text: string): void {
    this.area.printTo(this.options.out ?? process.stdout, text.endsWith('\n') ? text : `${text}\n`);
  }

  /**
   * Begin work of unknown length (opening sessions, hashing, waiting for workers): `label` is
   * logged, and until the next `start`, `activity` or `done` heartbeats say it is still running.
   */
  activity(label: string): void {
    this.log(label);
    this.start(label, 0);
  }

  /** Begin a task of `total` steps; `firstStep` > 0 when resuming (rates count the steps done in this run). */
  start(task: string, total: number, firstStep = 0): void {
    this.task = task;
    this.total = total;
    this.started = this.now();
    // A step line within the first interval would only say "started": the first line comes after
    // `intervalMs` (or a heartbeat, or the last step).
    this.lastPrint = this.started;
    this.lastDraw = -Infinity;
    this.lastStep = firstStep;
    this.lastStepAt = this.started;
    this.rateFrom = undefined;
    this.lastMetrics = {};
    this.stopHeartbeat();
    if (this.options.quiet) return;
    if (this.area.bar) this.draw(true);
    const every = this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (every > 0 || this.area.bar) {
      const tick = this.area.bar ? 1000 : Math.max(250, Math.floor(every / 4));
      this.heartbeat = setInterval(() => (this.area.bar ? this.draw(true) : this.beat(every)), tick);
      this.heartbeat.unref?.();
    }
  }

  /** The task is over (or stopped early): no more "still running" lines; its bar is removed. */
  done(): void {
    this.stopHeartbeat();
    this.area.status(this, undefined);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Print a "still running" line when nothing was printed and no step finished for `every` ms. */
  beat(every: number): void {
    const t = this.now();
    if (t - this.lastStepAt < every || t - this.lastPrint < every) return;
    const running = (t - this.lastStepAt) / 1000;
    const elapsed = (t - this.started) / 1000;
    if (this.options.json) {
      this.print(`${JSON.stringify({ event: 'heartbeat', task: this.task, step: this.lastStep, total: this.total, running_s: running, elapsed_s: elapsed })}\n`);
      return;
    }
    if (this.total === 0) {
      this.print(`${this.task}: still running (${formatDuration(elapsed)})\n`);
      return;
    }
    this.print(`${this.task} ${this.lastStep}/${this.total}  step ${this.lastStep + 1} running for ${formatDuration(running)}  (elapsed ${formatDuration(elapsed)})\n`);
  }

  /** Steps per second since the first step (undefined until a second step is reported). */
  private rate(step: number, t: number): number | undefined {
    const from = this.rateFrom;
    if (!from || step <= from.step || t <= from.at) return undefined;
    return (step - from.step) / ((t - from.at) / 1000);
  }

  /** The bar's status line (or, at the end, its last state as a plain line). */
  private draw(force: boolean): void {
    const t = this.now();
    if (!force && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    const elapsed = (t - this.started) / 1000;
    if (this.total === 0) {
      this.area.status(this, `${this.task}  … ${formatDuration(elapsed)}`);
      return;
    }
    const rate = this.rate(this.lastStep, this.lastStepAt);
    const eta = rate ? (this.total - this.lastStep) / rate - (t - this.lastStepAt) / 1000 : undefined;
    const parts = [`${this.task} ${barText(this.lastStep, this.total)} ${this.lastStep}/${this.total}`];
    for (const [k, v] of Object.entries(this.lastMetrics)) parts.push(`${k} ${formatValue(v)}`);
    parts.push(rate ? `${rate.toFixed(2)} steps/s` : `step ${this.lastStep + 1} running ${formatDuration((t - this.lastStepAt) / 1000)}`);
    parts.push(eta !== undefined ? `ETA ${formatDuration(Math.max(0, eta))}` : `elapsed ${formatDuration(elapsed)}`);
    this.area.status(this, parts.join('  '));
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
    this.lastMetrics = metrics;
    // The first step reported pays for set-up: rates and ETAs are measured from its end.
    if (this.rateFrom === undefined) this.rateFrom = { step, at: t };
    const last = step >= this.total;
    if (last) this.stopHeartbeat();
    if (this.area.bar && !this.options.json) {
      if (!last) {
        this.draw(false);
        return;
      }
      this.area.status(this, undefined);
    } else if (!last && t - this.lastPrint < (this.options.intervalMs ?? 1000)) return;
    const elapsed = (t - this.started) / 1000;
    const rate = this.rate(step, t);
    const eta = rate !== undefined ? (this.total - step) / rate : undefined;
    const throughput: Record<string, number> = {};
    if (rate !== undefined) for (const [name, perStep] of Object.entries(units)) throughput[`${name}/s`] = rate * perStep;
    if (this.options.json) {
      this.print(
        `${JSON.stringify({ event: 'progress', task: this.task, step, total: this.total, ...metrics, 'steps/s': rate ?? null, ...throughput, elapsed_s: elapsed, eta_s: eta ?? null })}\n`,
      );
      return;
    }
    const parts = [`${this.task} ${step}/${this.total}`];
    for (const [k, v] of Object.entries(metrics)) parts.push(`${k} ${formatValue(v)}`);
    for (const [k, v] of Object.entries(throughput)) parts.push(`${formatValue(v)} ${k}`);
    if (last) parts.push(`done in ${formatDuration(elapsed)}`);
    else if (rate !== undefined && eta !== undefined) parts.push(`${rate.toFixed(2)} steps/s`, `ETA ${formatDuration(eta)}`);
    else parts.push(`first step ${formatDuration(elapsed)} (with set-up; ETA from the next)`);
    this.print(`${parts.join('  ')}\n`);
  }
}
