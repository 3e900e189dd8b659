/**
 * The results of an `nls replicate` study folder in a report: per task, a chart of test accuracy
 * (mean over seeds, 95% confidence interval as an error bar) for every subnet and base, with the
 * task's reference points as dashed lines, the summary tables, and the findings with their
 * evidence (src/pipeline/replicate.ts writes results.json).
 */
import type { ReplicateResult, SummaryRow } from '../pipeline/replicate.js';
import type { Plot } from './plots.js';
import { el, linearScale, niceTicks, svgDocument, textElement } from './svg.js';

/** Bar colours by base (Okabe–Ito). */
const BASE_COLORS: Readonly<Record<string, string>> = { dense: '#0072B2', sparse50: '#E69F00', 'sparse50-int4': '#009E73' };

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The results chart: one panel per task, one horizontal bar (with its interval) per subnet and base. */
export function resultsPlot(r: ReplicateResult): Plot | undefined {
  if (r.summary.length === 0) return undefined;
  const width = 900;
  const labelWidth = 300;
  const rowHeight = 16;
  const panelGap = 46;
  const scale = linearScale([0, 1], [labelWidth, width - 40]);
  const x = (v: number): number => scale.map(v);
  const ticks = niceTicks(0, 1, 5);
  const parts: string[] = [];
  let y = 40;
  for (const task of r.budget.tasks) {
    const rows = r.summary.filter((s) => s.task === task);
    if (rows.length === 0) continue;
    const top = y;
    parts.push(textElement(labelWidth, y - 14, task, { size: 14, weight: 'bold' }));
    const bottom = top + rows.length * rowHeight;
    for (const t of ticks.values) {
      parts.push(el('line', { x1: x(t), x2: x(t), y1: top - 4, y2: bottom, stroke: '#e2e2e2' }));
      parts.push(textElement(x(t), bottom + 14, `${Math.round(t * 100)}%`, { anchor: 'middle', size: 10, fill: '#555' }));
    }
    for (const ref of r.references[task] ?? []) {
      parts.push(el('line', { x1: x(ref.test), x2: x(ref.test), y1: top - 6, y2: bottom, stroke: '#555', 'stroke-dasharray': '4 3' }, `<title>${ref.name}: ${pct(ref.test)}</title>`));
      parts.push(textElement(x(ref.test) + 3, top - 4, ref.name, { size: 9, fill: '#555' }));
    }
    rows.forEach((s: SummaryRow, i) => {
      const cy = top + i * rowHeight + rowHeight / 2;
      const color = BASE_COLORS[s.base] ?? '#7F7F7F';
      parts.push(textElement(labelWidth - 8, cy, `${s.base} · ${s.row}`, { anchor: 'end', size: 10, baseline: 'middle' }));
      const m = s.test.mean;
      if (!Number.isFinite(m)) return;
      parts.push(el('rect', { x: x(0), y: cy - 5, width: Math.max(0, x(m) - x(0)), height: 10, fill: color, opacity: 0.85 }, `<title>${s.base}, ${s.row}: ${pct(m)}${Number.isFinite(s.test.halfWidth) ? ` ± ${(100 * s.test.halfWidth).toFixed(1)}` : ''} (${s.test.n} seeds)</title>`));
      if (Number.isFinite(s.test.halfWidth)) {
        const lo = x(Math.max(0, s.test.low));
        const hi = x(Math.min(1, s.test.high));
        parts.push(el('line', { x1: lo, x2: hi, y1: cy, y2: cy, stroke: '#111', 'stroke-width': 1.2, class: 'error-bar' }));
        for (const e of [lo, hi]) parts.push(el('line', { x1: e, x2: e, y1: cy - 4, y2: cy + 4, stroke: '#111', 'stroke-width': 1.2 }));
      }
    });
    y = bottom + panelGap;
  }
  const legendY = y - panelGap + 30;
  Object.entries(BASE_COLORS).forEach(([base, color], i) => {
    parts.push(el('rect', { x: labelWidth + i * 140, y: legendY - 8, width: 12, height: 10, fill: color }));
    parts.push(textElement(labelWidth + i * 140 + 16, legendY, `${base} base`, { size: 11, baseline: 'middle' }));
  });
  const svg = svgDocument({ width, height: legendY + 20, title: 'Test accuracy over seeds', description: 'Mean test accuracy of each subnet and base over the seeds, with 95% confidence intervals' }, parts.join(''));
  return {
    id: 'results',
    title: 'Test accuracy over seeds',
    caption: `Mean test accuracy over ${r.budget.seeds} seeds (bars) with its 95% confidence interval (whiskers), per task, subnet and base; dashed lines: the reference points that need no model.`,
    svg,
  };
}

/** What a partial study's results say about themselves; undefined when the study is complete. */
export function partialNote(r: Pick<ReplicateResult, 'progress'>): string | undefined {
  const p = r.progress;
  if (!p || p.done >= p.planned) return undefined;
  return `Partial: ${p.done} of ${p.planned} cells done. Cells run seed by seed; a row with one seed has no interval, and a finding is tested where its rows have two seeds or more. Run the same command again to continue.`;
}
