/**
 * The report's five plots, as SVG documents built from {@link ReportData}:
 *
 * - `pareto`: accuracy against cost, every usable trial of every study (colour = strategy,
 *   infeasible trials as crosses), the front over all studies ringed and joined by a step line,
 *   the heuristic subnets (max / median / min) labelled, constraint bounds dashed;
 * - `progression`: best-so-far feasible value of the first objective, and the normalised
 *   hypervolume (src/report/analysis.ts), against the number of evaluations, one line per strategy;
 * - `ranks`: the rank pattern (layers × module groups) of the chosen subnets, one heatmap each;
 * - `loss`: the supernet's training loss per pass against the step (logarithmic loss axis), the
 *   per-step mean and a moving average, with the validation loss of its max / median / min
 *   subnets as dashed lines;
 * - `parallel`: parallel coordinates of every evaluated configuration (one axis per gene, plus the
 *   first objective), each configuration a polyline coloured by that objective.
 *
 * A plot is undefined when the run has nothing to draw in it. Output is deterministic.
 */
import type { GroupKind } from '../space/index.js';
import type { ReportData } from './collect.js';
import { resultsPlot } from './results.js';
import { formatObjective, formatValue } from './format.js';
import { type ChosenSubnet, type PlotTrial, type SearchAnalysis, movingAverage, smoothingWindow, stepMeans } from './analysis.js';
import {
  axes,
  el,
  escapeXml,
  fmt,
  heatmap,
  legend,
  type LegendItem,
  lineSeries,
  linearScale,
  logScale,
  logTicks,
  formatLogTick,
  marker,
  mixColor,
  niceTicks,
  type PlotArea,
  type Scale,
  scatter,
  svgDocument,
  viridis,
  colorBar,
  textElement,
  type Ticks,
} from './svg.js';

/** Names of the plots. */
export type PlotId = 'results' | 'pareto' | 'progression' | 'parallel' | 'ranks' | 'loss';

/** One plot: its SVG document and what it shows. */
export interface Plot {
  readonly id: PlotId;
  readonly title: string;
  /** One or two sentences under the figure. */
  readonly caption: string;
  readonly svg: string;
}

/** Colours of the strategies, in study order (Okabe–Ito, colour-blind safe). */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#7F7F7F', '#000000'] as const;

/** Colour of the `i`-th series. */
export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length] as string;
}

/** Dash patterns of the progression lines, so that lines on top of each other stay visible. */
const SERIES_DASHES = [undefined, '7 4', '2 3', '9 3 2 3'] as const;
/** Marker shapes of the progression lines. */
const SERIES_SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;

/**
 * Move labels at pixel heights `ys` apart by at least `gap`, keeping their order: the lowest
 * stays, each one above it moves up as far as needed. Returns the new heights.
 */
export function spreadLabels(ys: readonly number[], gap: number): number[] {
  const order = ys.map((y, i) => ({ y, i })).sort((p, q) => q.y - p.y || p.i - q.i);
  const out = new Array<number>(ys.length).fill(0);
  let prev = Infinity;
  for (const { y, i } of order) {
    const placed = Math.min(y, prev - gap);
    out[i] = placed;
    prev = placed;
  }
  return out;
}

const WIDTH = 760;

/**
 * Ticks over `values`, padded by `pad` of their range on both sides (so that points do not sit
 * on the frame), the padding kept within `limits` (e.g. [0, 1] for accuracies).
 */
function ticksOver(values: readonly number[], count: number, options: { integer?: boolean; pad?: number; limits?: readonly [number, number] } = {}): Ticks {
  const finite = values.filter(Number.isFinite);
  const integer = options.integer ?? false;
  if (finite.length === 0) return niceTicks(0, 1, count, { integer });
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const pad = (max - min) * (options.pad ?? 0);
  const [lo, hi] = options.limits ?? [-Infinity, Infinity];
  const low = Math.max(min - pad, Math.min(lo, min));
  const high = Math.min(max + pad, Math.max(hi, max));
  return niceTicks(low, high, count, { integer });
}

/** The natural limits of a quantity's axis: [0, 1] for shares, [0, ∞) for costs and losses. */
function limitsOf(name: string): readonly [number, number] {
  if (name === 'accuracy' || name === 'exact') return [0, 1];
  if (['params', 'flops', 'latency', 'memory', 'loss', 'trial'].includes(name)) return [0, Infinity];
  return [-Infinity, Infinity];
}

function areaScales(area: PlotArea, xt: Ticks, yt: Ticks): { x: Scale; y: Scale } {
  return {
    x: linearScale(xt.domain, [area.left, area.left + area.width]),
    y: linearScale(yt.domain, [area.top + area.height, area.top]),
  };
}

/** `metric<=bound` / `metric>=bound` constraint names. */
function constraintBound(name: string): { metric: string; op: '<=' | '>='; bound: number } | undefined {
  const m = /^\s*([A-Za-z_][\w-]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$/.exec(name);
  if (!m) return undefined;
  const bound = Number(m[3]);
  return Number.isFinite(bound) ? { metric: m[1] as string, op: m[2] as '<=' | '>=', bound } : undefined;
}

/** The Pareto plot of a search analysis; undefined when no trial is usable. */
export function paretoPlot(a: SearchAnalysis): Plot | undefined {
  const pts = a.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length === 0) return undefined;
  const bounds = a.constraints.map((c) => constraintBound(c.name)).filter((b): b is NonNullable<typeof b> => b !== undefined);
  const xBounds = bounds.filter((b) => b.metric === a.x.name);
  const yBounds = bounds.filter((b) => b.metric === a.y.name);
  const height = 500;
  const area: PlotArea = { left: 90, top: 64, width: WIDTH - 90 - 28, height: height - 64 - 62 };
  const xt = ticksOver([...pts.map((p) => p.x), ...xBounds.map((b) => b.bound)], 6, { integer: a.x.attr === 'trial', pad: 0.04, limits: limitsOf(a.x.name) });
  const yt = ticksOver([...pts.map((p) => p.y), ...yBounds.map((b) => b.bound)], 5, { pad: 0.06, limits: limitsOf(a.y.name) });
  const { x, y } = areaScales(area, xt, yt);
  const parts: string[] = [axes({ area, x, y, xTicks: xt, yTicks: yt, xLabel: a.x.label, yLabel: a.y.label })];

  // Constraint bounds: dashed lines with their names.
  for (const b of xBounds) {
    const px = x.map(b.bound);
    parts.push(el('line', { class: 'bound', x1: px, y1: area.top, x2: px, y2: area.top + area.height, stroke: '#B22222', 'stroke-width': 1.2, 'stroke-dasharray': '5 4' }));
    parts.push(textElement(px + (b.op === '<=' ? -4 : 4), area.top + 12, `${b.metric} ${b.op === '<=' ? '≤' : '≥'} ${formatValue(b.bound)}`, { anchor: b.op === '<=' ? 'end' : 'start', size: 10, fill: '#B22222' }));
  }
  for (const b of yBounds) {
    const py = y.map(b.bound);
    parts.push(el('line', { class: 'bound', x1: area.left, y1: py, x2: area.left + area.width, y2: py, stroke: '#B22222', 'stroke-width': 1.2, 'stroke-dasharray': '5 4' }));
    parts.push(textElement(area.left + area.width - 4, py - 4, `${b.metric} ${b.op === '<=' ? '≤' : '≥'} ${formatValue(b.bound)}`, { anchor: 'end', size: 10, fill: '#B22222' }));
  }

  const title = (p: (typeof pts)[number]) =>
    `${p.study} #${p.number} ${p.key}: ${a.y.name} ${formatObjective(a.y.name, p.y)}, ${a.x.name} ${formatObjective(a.x.name, p.x)}${p.feasible ? '' : ' (infeasible)'}`;
  const pointAttrs = (p: (typeof pts)[number]) => ({ 'data-key': p.key, 'data-study': p.study, 'data-number': p.number });
  a.studies.forEach((s, i) => {
    const color = seriesColor(i);
    const mine = pts.filter((p) => p.study === s.label);
    const infeasible = mine.filter((p) => !p.feasible).map((p) => ({ x: p.x, y: p.y, title: title(p), attrs: { class: 'trial infeasible', ...pointAttrs(p) } }));
    const feasible = mine.filter((p) => p.feasible).map((p) => ({ x: p.x, y: p.y, title: title(p), attrs: { class: 'trial feasible', ...pointAttrs(p) } }));
    parts.push(scatter(infeasible, x, y, { shape: 'cross', size: 3.5, fill: color, strokeWidth: 1.5 }, { class: 'series' }));
    parts.push(scatter(feasible, x, y, { shape: 'circle', size: 4, fill: color, opacity: 0.8 }, { class: 'series' }));
  });

  // The front: a staircase through the members non-dominated in (x, y), every member ringed.
  const stairs = a.staircase.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  parts.push(lineSeries(stairs, x, y, { stroke: '#111', width: 1.8, step: 'after' }, { class: 'front-line' }));
  parts.push(
    scatter(
      a.front.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => ({ x: p.x, y: p.y, title: `front: ${p.key} (found by ${p.foundBy.join(', ')}): ${a.y.name} ${formatObjective(a.y.name, p.y)}, ${a.x.name} ${formatObjective(a.x.name, p.x)}`, attrs: { class: 'front', 'data-key': p.key } })),
      x,
      y,
      { shape: 'ring', size: 7.5, fill: '#111', strokeWidth: 1.8 },
      { class: 'front-members' },
    ),
  );

  // Heuristic subnets (and the most accurate feasible one), labelled; labels at one spot are joined.
  const labelled = new Map<string, { px: number; py: number; names: string[] }>();
  const addLabel = (px: number, py: number, name: string) => {
    const at = `${Math.round(px)},${Math.round(py)}`;
    const l = labelled.get(at);
    if (l) l.names.push(name);
    else labelled.set(at, { px, py, names: [name] });
  };
  for (const h of a.heuristics) {
    if (!h.trial || !Number.isFinite(h.trial.x) || !Number.isFinite(h.trial.y)) continue;
    const px = x.map(h.trial.x);
    const py = y.map(h.trial.y);
    parts.push(marker(px, py, { shape: 'diamond', size: 7, fill: '#6A3D9A', strokeWidth: 1.5, stroke: '#6A3D9A', opacity: 0 }, `heuristic ${h.name}: ${h.key}`, { class: 'heuristic', 'data-key': h.key, 'data-heuristic': h.name }));
    addLabel(px, py, h.name);
  }
  if (a.best && Number.isFinite(a.best.x) && Number.isFinite(a.best.y)) addLabel(x.map(a.best.x), y.map(a.best.y), 'best');
  for (const { px, py, names } of labelled.values()) {
    const right = px < area.left + area.width - 90;
    parts.push(textElement(px + (right ? 11 : -11), py - 9, names.join(' = '), { anchor: right ? 'start' : 'end', size: 11, fill: '#6A3D9A', weight: 'bold', halo: true }));
  }

  const items: LegendItem[] = [
    ...a.studies.map((s, i) => ({ label: s.label, swatch: 'circle' as const, color: seriesColor(i) })),
    { label: 'infeasible', swatch: 'cross', color: '#555' },
    { label: 'Pareto front', swatch: 'ring', color: '#111' },
    { label: 'heuristic subnet', swatch: 'diamond', color: '#ffffff', stroke: '#6A3D9A' },
  ];
  parts.push(legend(items, { x: area.left, y: 22 }));
  const feasibleCount = pts.filter((p) => p.feasible).length;
  const svg = svgDocument(
    { width: WIDTH, height, title: `Pareto front: ${a.y.name} against ${a.x.name}`, description: `${pts.length} usable trials (${feasibleCount} feasible) of ${a.studies.length} studies; ${a.front.length} front members.` },
    parts.join(''),
  );
  const unevaluated = a.heuristics.filter((h) => !h.trial).map((h) => `${h.name} (${h.key})`);
  return {
    id: 'pareto',
    title: 'Pareto front',
    caption:
      `${a.y.label} against ${a.x.label}: ${pts.length} usable trials of ${a.studies.length} ${a.studies.length === 1 ? 'study' : 'studies'} (colour = strategy; crosses are infeasible), ` +
      `the ${a.front.length}-member front over all of them ringed and joined by a step line.` +
      (unevaluated.length > 0 ? ` Not evaluated in the search: ${unevaluated.join(', ')}.` : ''),
    svg,
  };
}

/** Best-so-far and hypervolume against evaluations; undefined when no study spent an evaluation. */
export function progressionPlot(a: SearchAnalysis): Plot | undefined {
  const maxEval = Math.max(0, ...a.progression.map((s) => s.points[s.points.length - 1]?.evaluations ?? 0));
  if (maxEval === 0) return undefined;
  const height = 620;
  const left = 90;
  const w = WIDTH - left - 28;
  const top: PlotArea = { left, top: 56, width: w, height: 210 };
  const bottom: PlotArea = { left, top: 56 + 210 + 80, width: w, height: 210 };
  const xt = niceTicks(0, maxEval, 6, { integer: true });
  const bests = a.progression.flatMap((s) => s.points.map((p) => p.best).filter((v): v is number => v !== null));
  const hvs = a.progression.flatMap((s) => s.points.map((p) => p.hypervolume));
  const yt1 = ticksOver(bests, 5, { pad: 0.06, limits: limitsOf(a.y.name) });
  const yt2 = ticksOver([0, ...hvs], 5, { pad: 0.04, limits: [0, Infinity] });
  const s1 = areaScales(top, xt, yt1);
  const s2 = areaScales(bottom, xt, yt2);
  const parts: string[] = [
    axes({ area: top, x: s1.x, y: s1.y, xTicks: xt, yTicks: yt1, xLabel: 'evaluations', yLabel: `best feasible ${a.y.name}` }),
    axes({ area: bottom, x: s2.x, y: s2.y, xTicks: xt, yTicks: yt2, xLabel: 'evaluations', yLabel: 'hypervolume (normalised)' }),
  ];
  a.progression.forEach((s, i) => {
    const color = seriesColor(i);
    const best = s.points.filter((p) => p.best !== null).map((p) => ({ x: p.evaluations, y: p.best as number }));
    const hv = s.points.map((p) => ({ x: p.evaluations, y: p.hypervolume }));
    const attrs = { class: 'series', 'data-study': s.study };
    const dash = SERIES_DASHES[i % SERIES_DASHES.length];
    const line = { stroke: color, width: 2, step: 'after' as const, ...(dash ? { dash } : {}) };
    const dot = { shape: SERIES_SHAPES[i % SERIES_SHAPES.length], size: 3.5, fill: color };
    parts.push(el('g', attrs, lineSeries(best, s1.x, s1.y, line) + scatter(best, s1.x, s1.y, dot)));
    parts.push(el('g', attrs, lineSeries(hv, s2.x, s2.y, line) + scatter(hv, s2.x, s2.y, dot)));
  });
  parts.push(
    legend(
      a.progression.map((s, i) => {
        const dash = SERIES_DASHES[i % SERIES_DASHES.length];
        return { label: s.study, swatch: 'line' as const, color: seriesColor(i), ...(dash ? { dash } : {}) };
      }),
      { x: left, y: 22 },
    ),
  );
  const d = a.objectives.length;
  const svg = svgDocument(
    { width: WIDTH, height, title: `Search progression: best feasible ${a.y.name} and hypervolume against evaluations`, description: `Hypervolume of the feasible front in ${d} objectives normalised to [0, 1] by the run's ideal and nadir, reference point ${a.normalisation.reference} in each.` },
    parts.join(''),
  );
  return {
    id: 'progression',
    title: 'Search progression',
    caption:
      `Top: the best feasible ${a.y.name} found so far; bottom: the hypervolume of the feasible front so far, one line per strategy, against the evaluations spent. ` +
      `Hypervolume in the ${d} objectives (${a.objectives.map((o) => o.name).join(', ')}) each scaled to [0, 1] by the ideal and nadir over all usable trials of the run (0 = best), reference point ${a.normalisation.reference} in each (largest possible value ${formatValue(Math.pow(a.normalisation.reference, d))}).`,
    svg,
  };
}

/** Distinct ranks of a space's rank genes, largest first. */
function rankLevels(data: ReportData): number[] {
  const s = new Set<number>();
  for (const g of data.space?.instances ?? []) if (g.kind === 'rank') for (const r of g.ranks) s.add(r);
  return [...s].sort((p, q) => q - p);
}

/** Distinct MLP widths of a space's width genes, largest first. */
function widthLevels(data: ReportData): number[] {
  const s = new Set<number>();
  for (const g of data.space?.instances ?? []) if (g.kind === 'width') for (const w of g.choices) s.add(w);
  return [...s].sort((p, q) => q - p);
}

/** Colour of a rank: light to dark blue with the rank, grey for 0 (adapter off). */
export function rankColor(rank: number, rMax: number): string {
  if (rank <= 0 || rMax <= 0) return '#d9d9d9';
  return mixColor('#deebf7', '#08306b', rank / rMax);
}

/**
 * Colour of an MLP width: light to dark orange with the width's share of the layer's full width
 * (a different hue from ranks, since the two genes measure different things).
 */
export function widthColor(width: number, fullWidth: number): string {
  if (width <= 0 || fullWidth <= 0) return '#d9d9d9';
  return mixColor('#fee6ce', '#a63603', width / fullWidth);
}

/**
 * Rows = layers, columns = groups: the value of each (layer, group) gene under `values` (a
 * decoded configuration: ranks of rank genes, MLP widths of width genes), null where a group has
 * no gene on a layer. `kinds[c]` says what column `c` holds; `full[r][c]` is the gene's largest
 * choice (r_max or the layer's full width), the scale its colour is drawn on.
 */
export function rankGrid(
  data: ReportData,
  values: readonly number[],
): { rows: string[]; columns: string[]; kinds: GroupKind[]; values: (number | null)[][]; full: (number | null)[][] } {
  const space = data.space;
  if (!space) return { rows: [], columns: [], kinds: [], values: [], full: [] };
  const groups: string[] = [];
  const kinds: GroupKind[] = [];
  for (const g of [...space.instances].sort((p, q) => p.groupIndex - q.groupIndex)) {
    if (!groups.includes(g.group)) {
      groups.push(g.group);
      kinds.push(g.kind);
    }
  }
  const grid = space.layers.map(() => groups.map(() => null as number | null));
  const full = space.layers.map(() => groups.map(() => null as number | null));
  for (const g of space.instances) {
    const r = space.layers.indexOf(g.layer);
    const c = groups.indexOf(g.group);
    const row = grid[r];
    const fullRow = full[r];
    if (row) row[c] = values[g.index] ?? null;
    if (fullRow) fullRow[c] = g.choices[0] ?? null;
  }
  return { rows: space.layers.map((l) => `layer ${l}`), columns: groups.map((g, c) => (kinds[c] === 'width' ? `${g} (width)` : g)), kinds, values: grid, full };
}

/** The three title lines of a rank-pattern panel: roles, key, measured values. */
function panelTitle(c: ChosenSubnet, a: SearchAnalysis | undefined): string[] {
  const lines = [c.roles.join(' · '), c.key];
  if (c.trial && a) lines.push(`${a.y.name} ${formatObjective(a.y.name, c.trial.y)} · ${a.x.name} ${formatObjective(a.x.name, c.trial.x)}${c.trial.feasible ? '' : ' (infeasible)'}`);
  else lines.push('not evaluated in the search');
  return lines;
}

/** Heatmaps of the chosen subnets' rank (and MLP width) patterns; undefined without a space or a subnet. */
export function ranksPlot(data: ReportData, a: SearchAnalysis | undefined): Plot | undefined {
  const space = data.space;
  const chosen: readonly ChosenSubnet[] = a?.chosen ?? [];
  if (!space || chosen.length === 0) return undefined;
  const levels = rankLevels(data);
  const widths = widthLevels(data);
  const rMax = Math.max(0, ...levels);
  const grid0 = rankGrid(data, space.decode(space.maxConfig()));
  const nRows = grid0.rows.length;
  const nCols = grid0.columns.length;
  const cellW = Math.max(42, ...grid0.columns.map((c) => c.length * 7 + 10));
  const cellH = nRows > 24 ? 10 : nRows > 12 ? 16 : 22;
  const rowLabelW = 62;
  const panelLines = chosen.map((c) => panelTitle(c, a));
  const longest = Math.max(0, ...panelLines.flatMap((ls) => ls.map((l, k) => l.length * (k === 0 ? 7 : 6.2))));
  const panelW = Math.max(rowLabelW + nCols * cellW + 28, Math.ceil(longest) + rowLabelW + 12);
  const titleH = 74;
  const panelH = titleH + nRows * cellH + 22;
  const perRow = Math.max(1, Math.min(chosen.length, Math.floor((WIDTH + 160) / panelW)));
  const width = Math.max(WIDTH, perRow * panelW + 20);
  const legendRows = (levels.length > 0 ? 1 : 0) + (widths.length > 0 ? 1 : 0);
  const legendH = 20 + 24 * legendRows;
  const height = legendH + Math.ceil(chosen.length / perRow) * panelH + 8;
  const parts: string[] = [];
  let legendY = 24;
  if (levels.length > 0) {
    const items: LegendItem[] = levels.map((r) => ({ label: r === 0 ? 'off (0)' : `rank ${r}`, swatch: 'box', color: rankColor(r, rMax) }));
    parts.push(textElement(12, legendY, 'rank:', { size: 11, baseline: 'middle', weight: 'bold' }));
    parts.push(legend(items, { x: 52, y: legendY, itemWidth: 84 }));
    legendY += 24;
  }
  if (widths.length > 0) {
    // Width genes are coloured by their share of the layer's full width; the legend names the
    // widths on the widest layer's scale.
    const wMax = widths[0] ?? 0;
    const items: LegendItem[] = widths.map((w) => ({ label: `width ${w}`, swatch: 'box', color: widthColor(w, wMax) }));
    parts.push(textElement(12, legendY, 'width:', { size: 11, baseline: 'middle', weight: 'bold' }));
    parts.push(legend(items, { x: 52, y: legendY, itemWidth: 96 }));
  }
  chosen.forEach((c, i) => {
    const col = i % perRow;
    const row = Math.floor(i / perRow);
    const px = 10 + col * panelW;
    const py = legendH + row * panelH;
    const grid = rankGrid(data, space.decode(c.config));
    const lines = panelLines[i] ?? [];
    // Centre the grid (and the title over it) in the room right of the row labels.
    const cx = px + rowLabelW + (panelW - rowLabelW - 12) / 2;
    const gridX = cx - (nCols * cellW) / 2;
    const text = lines.map((l, k) => textElement(cx, py + 14 + k * 14, l, { anchor: 'middle', size: k === 0 ? 12 : 11, weight: k === 0 ? 'bold' : 'normal', fill: k === 0 ? '#222' : '#555' })).join('');
    const map = heatmap({
      x: gridX,
      y: py + titleH,
      cellWidth: cellW,
      cellHeight: cellH,
      rowLabels: grid.rows,
      columnLabels: grid.columns,
      values: grid.values,
      color: (v, r, col) => (grid.kinds[col] === 'width' ? widthColor(v, grid.full[r]?.[col] ?? v) : rankColor(v, rMax)),
      cellText: (v) => (cellH < 14 ? undefined : String(v)),
    });
    parts.push(el('g', { class: 'subnet', 'data-key': c.key }, text + map));
  });
  const modules = [...new Map(space.instances.map((g) => [g.group, g.kind === 'width' ? 'MLP width' : g.modules.join(', ')])).entries()];
  const what = widths.length > 0 ? 'Rank and width patterns' : 'Rank patterns';
  const cellMeaning = widths.length > 0 ? 'the active LoRA rank (blue) or MLP intermediate width (orange)' : 'the active LoRA rank';
  const svg = svgDocument(
    { width, height, title: `${what} of ${chosen.length} subnets`, description: `Rows: decoder layers; columns: module groups (${modules.map(([g, m]) => `${g} = ${m}`).join('; ')}); cell: ${cellMeaning}.` },
    parts.join(''),
  );
  return {
    id: 'ranks',
    title: what,
    caption:
      `${widths.length > 0 ? 'The active LoRA rank or MLP width' : 'The active LoRA rank'} of every (layer, group) gene of ${chosen.length} subnets: rows are decoder layers, columns the groups of the space ` +
      `(${modules.map(([g, m]) => `${g}: ${m}`).join('; ')}), darker = larger rank${widths.length > 0 ? ' (blue) or larger share of the layer\'s full MLP width (orange)' : ''}.`,
    svg,
  };
}

/** The supernet's training loss (and validation losses); undefined without a training log or validation. */
export function lossPlot(data: ReportData): Plot | undefined {
  const sn = data.supernet;
  if (!sn) return undefined;
  // A logarithmic loss axis: the first steps fall by orders of magnitude, the rest by percents.
  const log = sn.trainingLog.filter((r) => Number.isFinite(r.loss) && r.loss > 0);
  const val = (sn.validation ?? []).filter((v) => Number.isFinite(v.loss) && v.loss > 0);
  if (log.length === 0) return undefined;
  const height = 440;
  const area: PlotArea = { left: 90, top: 64, width: WIDTH - 90 - 28, height: height - 64 - 62 };
  const means = stepMeans(log);
  const xt = ticksOver(log.map((r) => r.step), 6, { integer: true });
  const losses = [...log.map((r) => r.loss), ...val.map((v) => v.loss)];
  const yt = logTicks(Math.min(...losses), Math.max(...losses));
  const x = linearScale(xt.domain, [area.left, area.left + area.width]);
  const y = logScale(yt.domain, [area.top + area.height, area.top]);
  const parts: string[] = [el('g', { class: 'log-y' }, axes({ area, x, y, xTicks: xt, yTicks: yt, xLabel: 'optimizer step', yLabel: 'loss (nats per answer token, log scale)', yFormat: formatLogTick }))];
  const passesPerStep = log.length / Math.max(1, means.length);
  parts.push(
    scatter(
      log.map((r) => ({ x: r.step, y: r.loss, title: `step ${r.step} ${r.label}: ${formatValue(r.loss)}` })),
      x,
      y,
      { shape: 'circle', size: 2, fill: '#9a9a9a', opacity: 0.7 },
      { class: 'passes' },
    ),
  );
  parts.push(lineSeries(means.map((m) => ({ x: m.step, y: m.loss })), x, y, { stroke: '#0072B2', width: 1.2, opacity: 0.8 }, { class: 'mean' }));
  const window = smoothingWindow(means.length);
  const items: LegendItem[] = [
    { label: passesPerStep > 1 ? 'pass (configuration)' : 'step', swatch: 'circle', color: '#9a9a9a' },
    { label: passesPerStep > 1 ? 'mean per step' : 'training loss', swatch: 'line', color: '#0072B2' },
  ];
  if (window > 1) {
    const smooth = movingAverage(
      means.map((m) => m.loss),
      window,
    );
    parts.push(lineSeries(means.map((m, i) => ({ x: m.step, y: smooth[i] ?? m.loss })), x, y, { stroke: '#E69F00', width: 2.5 }, { class: 'smoothed' }));
    items.push({ label: `moving average (${window} steps)`, swatch: 'line', color: '#E69F00' });
  }
  const valColors: Readonly<Record<string, string>> = { max: '#009E73', median: '#CC79A7', min: '#D55E00' };
  const labelYs = spreadLabels(
    val.map((v) => y.map(v.loss) - 4),
    12,
  );
  val.forEach((v, i) => {
    const color = valColors[v.name] ?? seriesColor(i + 4);
    const py = y.map(v.loss);
    parts.push(el('line', { class: 'validation', x1: area.left, y1: py, x2: area.left + area.width, y2: py, stroke: color, 'stroke-width': 1.5, 'stroke-dasharray': '6 4' }));
    parts.push(textElement(area.left + area.width - 4, labelYs[i] ?? py - 4, `val ${v.name} ${formatValue(v.loss)}`, { anchor: 'end', size: 10, fill: color, halo: true }));
  });
  if (val.length > 0) items.push({ label: 'validation loss (max / median / min)', swatch: 'line', color: '#777', dash: '6 4' });
  parts.push(legend(items, { x: area.left, y: 22 }));
  const svg = svgDocument(
    { width: WIDTH, height, title: 'Supernet training loss', description: `${log.length} passes over ${means.length} steps.` },
    parts.join(''),
  );
  return {
    id: 'loss',
    title: 'Supernet training loss',
    caption:
      `Training loss of every pass (${log.length} passes over ${means.length} steps${passesPerStep > 1 ? `, ${formatValue(passesPerStep)} configurations per step` : ''}) from training-log.jsonl, on a logarithmic axis` +
      (window > 1 ? `, with a centred moving average over ${window} steps` : '') +
      (val.length > 0 ? `; dashed: the validation loss of the ${val.map((v) => v.name).join(', ')} subnets (validation.json).` : '.'),
    svg,
  };
}

/** One axis of the parallel-coordinates plot: its title lines and tick labels from top to bottom. */
interface ParallelAxis {
  readonly kind: 'objective' | 'gene';
  readonly gene?: number;
  readonly title: readonly string[];
  /** Position in [0, 1] (0 = top) of a configuration on this axis. */
  readonly position: (c: PlotTrial) => number;
  readonly ticks: readonly { readonly at: number; readonly label: string }[];
}

/** The gene axes: ticks at the gene's choices, the largest on top (without a space: choice indices). */
function geneAxes(data: ReportData, configs: readonly PlotTrial[]): ParallelAxis[] {
  const genes = Math.max(0, ...configs.map((c) => c.config.length));
  const axes: ParallelAxis[] = [];
  for (let g = 0; g < genes; g++) {
    const inst = data.space?.instances[g];
    const n = inst ? inst.choices.length : Math.max(1, ...configs.map((c) => (c.config[g] ?? 0) + 1));
    const at = (i: number) => (n <= 1 ? 0.5 : i / (n - 1));
    const title = inst ? [inst.kind === 'width' ? `${inst.group} w` : inst.group, `L${inst.layer}`] : [`gene ${g}`];
    axes.push({
      kind: 'gene',
      gene: g,
      title,
      position: (c) => at(c.config[g] ?? 0),
      ticks: Array.from({ length: n }, (_, i) => ({ at: at(i), label: inst ? String(inst.choices[i]) : String(i) })),
    });
  }
  return axes;
}

/**
 * Parallel coordinates of the evaluated configurations (as Optuna's and pymoo's plots): the first
 * objective on the left axis, then one axis per gene, each configuration a polyline through its
 * values coloured by the first objective (viridis), infeasible ones dashed. Each configuration is
 * drawn once, however many studies evaluated it. Undefined when no trial is usable.
 */
export function parallelPlot(data: ReportData, a: SearchAnalysis): Plot | undefined {
  const unique = new Map<string, PlotTrial>();
  for (const p of a.points) if (!unique.has(p.key) && Number.isFinite(p.y)) unique.set(p.key, p);
  const ySign = a.y.direction === 'maximize' ? 1 : -1;
  // Worst first, so that the best configurations are drawn on top.
  const configs = [...unique.values()].sort((p, q) => ySign * (p.y - q.y) || p.number - q.number);
  if (configs.length === 0) return undefined;
  const yt = ticksOver(
    configs.map((c) => c.y),
    5,
    { pad: 0.04, limits: limitsOf(a.y.name) },
  );
  const yMin = Math.min(...configs.map((c) => c.y));
  const yMax = Math.max(...configs.map((c) => c.y));
  const colorOf = (v: number) => viridis(yMax === yMin ? 1 : (v - yMin) / (yMax - yMin));
  const objective: ParallelAxis = {
    kind: 'objective',
    title: [a.y.name],
    position: (c) => (yt.domain[1] === yt.domain[0] ? 0.5 : (yt.domain[1] - c.y) / (yt.domain[1] - yt.domain[0])),
    ticks: yt.values.map((v) => ({ at: (yt.domain[1] - v) / (yt.domain[1] - yt.domain[0]), label: formatObjective(a.y.name, v) })),
  };
  const allAxes = [objective, ...geneAxes(data, configs)];
  const left = 70;
  const right = 36;
  const spacing = Math.max(30, (WIDTH - left - right) / Math.max(1, allAxes.length - 1));
  const width = Math.max(WIDTH, Math.ceil(left + right + spacing * (allAxes.length - 1)));
  const top = 64;
  const plotH = 320;
  const height = top + plotH + 56;
  const ax = (k: number) => left + k * spacing;
  const py = (t: number) => top + t * plotH;
  const parts: string[] = [];
  allAxes.forEach((axis, k) => {
    const x = ax(k);
    const ticks = axis.ticks
      .map((t) => el('line', { x1: x - 3, y1: py(t.at), x2: x + 3, y2: py(t.at), stroke: '#444', 'stroke-width': 1 }) + textElement(x - 5, py(t.at), t.label, { anchor: 'end', size: 9, fill: '#444', baseline: 'middle', halo: true }))
      .join('');
    const title = axis.title.map((line, i) => textElement(x, top + plotH + 18 + i * 12, line, { anchor: 'middle', size: i === 0 ? 10 : 9, fill: i === 0 ? '#222' : '#555', weight: axis.kind === 'objective' ? 'bold' : 'normal' })).join('');
    parts.push(el('g', { class: `axis ${axis.kind}`, 'data-gene': axis.gene }, el('line', { x1: x, y1: top, x2: x, y2: top + plotH, stroke: '#666', 'stroke-width': 1 }) + ticks + title));
  });
  const lines = configs.map((c) => {
    const points = allAxes.map((axis, k) => `${fmt(ax(k))},${fmt(py(axis.position(c)))}`).join(' ');
    const tip = `${c.key}: ${a.y.name} ${formatObjective(a.y.name, c.y)}, ${a.x.name} ${formatObjective(a.x.name, c.x)}${c.feasible ? '' : ' (infeasible)'} (${c.study} #${c.number})`;
    return el(
      'polyline',
      { class: c.feasible ? 'config feasible' : 'config infeasible', 'data-key': c.key, points, fill: 'none', stroke: colorOf(c.y), 'stroke-width': 1.6, 'stroke-opacity': 0.75, 'stroke-dasharray': c.feasible ? undefined : '4 3' },
      el('title', {}, escapeXml(tip)),
    );
  });
  // The lines go first (under the axes); tick labels carry a white halo to stay legible over them.
  parts.unshift(el('g', { class: 'configs' }, lines.join('')));
  const barTicks = [yMin, yMax].filter((v, i, all) => all.indexOf(v) === i).map((v) => ({ value: v, label: formatObjective(a.y.name, v) }));
  parts.push(
    colorBar({ x: left + 70, y: 22, width: 180, height: 10, domain: yMax === yMin ? [yMin - 1, yMax] : [yMin, yMax], color: colorOf, ticks: barTicks, title: a.y.name }),
    legend(
      [
        { label: 'feasible', swatch: 'line', color: '#555' },
        { label: 'infeasible', swatch: 'line', color: '#555', dash: '4 3' },
      ],
      { x: left + 300, y: 27 },
    ),
  );
  const genes = allAxes.length - 1;
  const svg = svgDocument(
    { width, height, title: `Parallel coordinates of ${configs.length} evaluated configurations`, description: `One axis per gene (${genes}) and ${a.y.name}; one line per configuration, coloured by ${a.y.name}.` },
    parts.join(''),
  );
  const what = data.space ? 'one axis per gene (module group over layer: its choices, the largest on top)' : 'one axis per gene (its choice indices: the search space is unknown)';
  return {
    id: 'parallel',
    title: 'Evaluated configurations',
    caption:
      `The ${configs.length} configurations the search evaluated (usable trials of every study, each configuration once) in parallel coordinates: ${a.y.name} on the left axis, then ${what}; ` +
      `each configuration is a line through its values, coloured by ${a.y.name} (viridis: yellow is higher), infeasible ones dashed.`,
    svg,
  };
}

/** Every plot the data allows, in report order. */
export function buildPlots(data: ReportData, a: SearchAnalysis | undefined): Plot[] {
  const out: (Plot | undefined)[] = [data.replicate ? resultsPlot(data.replicate) : undefined, a ? paretoPlot(a) : undefined, a ? progressionPlot(a) : undefined, ranksPlot(data, a), a ? parallelPlot(data, a) : undefined, lossPlot(data)];
  return out.filter((p): p is Plot => p !== undefined);
}
