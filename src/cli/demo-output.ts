/**
 * `nls demo`'s text output, section by section: the pipeline hands each part of its result over
 * as soon as it is known (`DemoOptions.onSection`), and the command prints it then, instead of
 * every table at the end. Tables that arrive in parts (the result rows: baselines, then the
 * supernet's subnets; one strategy after another) get their column widths up front from the
 * `setup` section, so their rows line up however far apart they are printed.
 */
import type { DemoResult, DemoSection } from '../pipeline/demo.js';
import { formatDuration } from '../util/progress.js';
import { formatTable } from '../util/table.js';

/** Options of {@link demoTextPrinter}. */
export interface DemoTextOptions {
  /**
   * A column with each configuration's rank pattern (last, since its width varies): `of` maps a
   * configuration key to it, `legend` says how to read it.
   */
  readonly ranks?: { readonly of: (key: string) => string; readonly legend: string };
}

const pct = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)}%`);

/** How the setup line names each built-in task. */
const TASK_TITLES: Readonly<Record<string, string>> = {
  spam: 'Spam classification (SpamAssassin e-mails)',
  'brown-cloze': 'Brown cloze (a blanked word of a held-out Brown sentence, 4 candidates)',
  arith: 'Arithmetic word problems (exact match)',
};
const count = (x: number | undefined): string => (x === undefined ? '-' : x.toLocaleString('en-US'));

/** A column of a table printed row by row. */
interface Column {
  readonly header: string;
  readonly width: number;
  /** Right-aligned (numbers). */
  readonly numeric?: boolean;
  /** The last column is not padded (its width varies). */
  readonly last?: boolean;
}

/** A table whose header and rows are printed at different times, with fixed column widths. */
class StreamedTable {
  private started = false;
  constructor(private readonly columns: readonly Column[]) {}

  private line(cells: readonly string[]): string {
    return this.columns
      .map((c, i) => {
        const v = cells[i] ?? '';
        return c.last ? v : c.numeric ? v.padStart(c.width) : v.padEnd(c.width);
      })
      .join('  ')
      .trimEnd();
  }

  /** The rows' text, after the header and rule when these are the first rows. */
  rows(rows: readonly (readonly string[])[], before = ''): string {
    const out: string[] = [];
    if (!this.started) {
      this.started = true;
      out.push(`${before}${this.line(this.columns.map((c) => c.header))}`, this.line(this.columns.map((c) => '-'.repeat(c.last ? c.header.length : c.width))));
    }
    for (const r of rows) out.push(this.line(r));
    return out.join('\n');
  }
}

/**
 * A printer of the demo's sections: call it with each {@link DemoSection} in the order they come
 * and print what it returns at once. {@link demoClosingText} gives the last lines.
 */
export function demoTextPrinter(options: DemoTextOptions = {}): (section: DemoSection) => string {
  const ranks = options.ranks;
  let models: StreamedTable | undefined;
  let strategies: StreamedTable | undefined;
  const width = (header: string, ...values: readonly string[]) => Math.max(header.length, ...values.map((v) => v.length));
  return (section) => {
    switch (section.kind) {
      case 'setup': {
        const s = section;
        const key = (h: string) => width(h, 'x'.repeat(s.keyWidth));
        models = new StreamedTable([
          { header: 'model', width: width('model', ...s.rowDescriptions) },
          { header: 'config key', width: key('config key') },
          { header: 'adapter params', width: width('adapter params', '204,800,000'), numeric: true },
          { header: 'val loss', width: 8, numeric: true },
          { header: 'val acc', width: 8, numeric: true },
          { header: 'test acc', width: 8, numeric: true },
          ...(ranks ? [{ header: `ranks (${ranks.legend})`, width: 0, last: true }] : []),
        ]);
        strategies = new StreamedTable([
          { header: 'strategy', width: width('strategy', ...s.strategies) },
          { header: 'evaluations', width: 11, numeric: true },
          { header: 'new', width: 4, numeric: true },
          { header: 'best feasible: val acc', width: 22, numeric: true },
          { header: 'params', width: width('params', '204,800,000'), numeric: true },
          { header: 'config key', width: key('config key') },
          ...(ranks ? [{ header: 'ranks', width: 0, last: true }] : []),
        ]);
        const title = TASK_TITLES[s.task.name] ?? `Task ${s.task.name}`;
        const refs = (s.task.references ?? []).map((r) => `${r.name} ${pct(r.test)}`).join(', ');
        return [
          `${title}: ${s.task.train} training, ${s.task.validation} validation (search selects on it), ${s.task.test} test examples (results reported on it)`,
          ...(refs ? [`Reference points needing no model (test): ${refs}`] : []),
          `Search space ${s.space.name}: ${BigInt(s.space.cardinality).toLocaleString('en-US')} subnets; backend ${s.backend.name}`,
        ].join('\n');
      }
      case 'sparsify': {
        const sp = section.sparsify;
        return `Base model pruned by ${sp.method} to ${pct(sp.overall.sparsity)} sparsity (${sp.samples} x ${sp.seqlen} calibration tokens): perplexity ${sp.perplexity.before.toFixed(3)} -> ${sp.perplexity.after.toFixed(3)} on ${sp.evaluation.tokens} held-out Brown tokens`;
      }
      case 'rows': {
        const table = models ?? new StreamedTable([]);
        return table.rows(
          section.rows.map((r) => [r.description, r.key || '-', count(r.adapterParameters), r.loss.toFixed(4), pct(r.accuracy), pct(r.test), ...(ranks ? [r.key ? ranks.of(r.key) : '-'] : [])]),
          '\n',
        );
      }
      case 'strategy': {
        const o = section.outcome;
        const table = strategies ?? new StreamedTable([]);
        const best = o.best;
        return table.rows(
          [[o.label, String(o.evaluations), String(o.newlyMeasured), pct(best?.metrics['accuracy']), count(best?.metrics['params']), best?.key ?? '-', ...(ranks ? [best ? ranks.of(best.key) : '-'] : [])]],
          `\nSearch: accuracy vs adapter parameters, feasible when params <= ${section.paramsBound.toLocaleString('en-US')}; each strategy's most accurate feasible subnet:\n\n`,
        );
      }
      case 'search': {
        const s = section.search;
        const test = s.test ?? {};
        const bests = s.strategies.filter((o) => o.best).map((o) => `${o.label} ${pct(test[o.best!.key])}`);
        return [
          '',
          `${s.measured} subnets measured in ${formatDuration(s.seconds)} (engine ${s.engine.name}). Pareto front over all strategies (feasible subnets; val acc is what the search selected on):`,
          formatTable(
            ['val acc', 'test acc', 'adapter params', 'config key', 'found by', ...(ranks ? [`ranks (${ranks.legend})`] : [])],
            s.front.map((m) => [pct(m.metrics['accuracy']), pct(test[m.key]), m.metrics['params'] ?? '-', m.key, m.foundBy.join(', '), ...(ranks ? [ranks.of(m.key)] : [])]),
          ),
          ...(bests.length > 0 ? [`Test accuracy of each strategy's best feasible subnet: ${bests.join(', ')}`] : []),
        ].join('\n');
      }
      case 'merge': {
        const m = section.merge;
        return [
          '',
          `Merged subnet ${m.key} (${ranks ? `ranks ${ranks.of(m.key)}, ` : ''}val acc ${pct(m.accuracy)}, ${m.params.toLocaleString('en-US')} adapter params) into the sparse base; the merged model's test acc ${pct(m.test)}: non-zeros ${m.nonZerosBefore.toLocaleString('en-US')} before, ${m.nonZerosAfter.toLocaleString('en-US')} after, ${m.newNonZeros} pruned weights filled in (sparsity kept); max |logit diff| vs base + adapter ${m.maxLogitDiff.toExponential(1)}`,
        ].join('\n');
      }
    }
  };
}

/** The demo's last lines: where its files are, and how long it took. */
export function demoClosingText(result: DemoResult): string {
  const lines = [''];
  if (result.out) {
    if (result.merge) lines.push(`merged model: ${result.merge.mergedDir} (no PEFT adapter: PEFT cannot express the SparsePEFT masked delta; docs/formats.md)`);
    lines.push(`supernet and search journals: ${result.out}`);
  }
  lines.push(`demo finished in ${formatDuration(result.seconds)}`);
  return lines.join('\n');
}
