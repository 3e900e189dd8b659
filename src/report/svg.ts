/**
 * Small SVG primitives for the report's plots: linear scales, "nice" axis ticks, axes, scatter
 * markers, line and step series, heatmaps and legends.
 *
 * Every function returns SVG markup as a string. The output is deterministic: no random ids, no
 * clock, no locale (numbers are written by {@link fmt} and {@link formatTick}, never by
 * `toLocaleString`), so the same data gives byte-identical files. Text and attribute values are
 * escaped with {@link escapeXml}. Nothing here knows about nls: the plots are built from these in
 * `plots.ts`.
 */
import { NlsError } from '../errors.js';

/** Escape text for XML / HTML content and attribute values (`& < > " '`). */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/**
 * A coordinate or size written with at most `digits` decimals (default 2), without trailing
 * zeros and without `-0`: `fmt(12.3456)` is `"12.35"`, `fmt(3.10)` is `"3.1"`, `fmt(-0.001)` is `"0"`.
 */
export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) throw new NlsError(`cannot write ${String(value)} as an SVG number; fix: filter non-finite values before plotting`, { field: 'value' });
  const s = value.toFixed(digits);
  const trimmed = s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
  return trimmed === '-0' ? '0' : trimmed;
}

/** An integer with `,` thousands separators (locale-independent): `1234567` -> `"1,234,567"`. */
export function groupThousands(value: number): string {
  const neg = value < 0;
  const digits = Math.round(Math.abs(value)).toString();
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg && grouped !== '0' ? `-${grouped}` : grouped;
}

/** A linear map from a data interval (`domain`) to a pixel interval (`range`). */
export interface Scale {
  readonly domain: readonly [number, number];
  readonly range: readonly [number, number];
  /** Pixel position of `value` (not clamped). */
  map(value: number): number;
}

/**
 * The linear scale taking `domain[0]` to `range[0]` and `domain[1]` to `range[1]`. A degenerate
 * domain (both ends equal) maps every value to the middle of the range.
 *
 * @throws NlsError when an end is not finite.
 */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (![d0, d1, r0, r1].every(Number.isFinite)) {
    throw new NlsError(`scale ends must be finite, got domain [${d0}, ${d1}] and range [${r0}, ${r1}]`, { field: 'domain' });
  }
  const span = d1 - d0;
  return {
    domain: [d0, d1],
    range: [r0, r1],
    map: span === 0 ? () => (r0 + r1) / 2 : (v) => r0 + ((v - d0) / span) * (r1 - r0),
  };
}

/** Axis ticks: evenly spaced round values whose first is `<=` the data minimum and last `>=` the maximum. */
export interface Ticks {
  /** Tick values, strictly increasing. */
  readonly values: readonly number[];
  /** Distance between ticks: 1, 2, 2.5 or 5 times a power of ten. */
  readonly step: number;
  /** `[first tick, last tick]`: the axis domain. */
  readonly domain: readonly [number, number];
}

/** The round step (1, 2, 2.5 or 5 times a power of ten) nearest above `raw`. */
function niceStep(raw: number): number {
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / power;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * power;
}

/** `k * step` without accumulated rounding error (`0.1 * 3` is written 0.3). */
function tickValue(k: number, step: number): number {
  return Number((k * step).toPrecision(12));
}

/**
 * "Nice" ticks covering `[min, max]` with about `count` intervals (Heckbert's algorithm): a
 * round step, and the first and last tick at multiples of it outside or on the data range. A
 * single value (`min === max`) gets an interval around it (±1 for 0, else ±10% of its size).
 * With `integer`, the step is at least 1 (for counts such as evaluations or steps).
 *
 * @throws NlsError when `min` or `max` is not finite or `min > max`.
 */
export function niceTicks(min: number, max: number, count = 5, options: { readonly integer?: boolean } = {}): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new NlsError(`axis range [${min}, ${max}] is not a finite interval; fix: plot finite values`, { field: 'range' });
  }
  let lo = min;
  let hi = max;
  // A single value, or a range too narrow for floating point to split: an interval around it.
  if (!(hi - lo > Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9) || hi - lo < 1e-100) {
    const centre = (lo + hi) / 2;
    const pad = Math.abs(centre) > 1e-100 ? Math.abs(centre) * 0.1 : 1;
    lo = centre - pad;
    hi = centre + pad;
  }
  const n = Math.max(1, Math.round(count));
  let step = niceStep((hi - lo) / n);
  if (options.integer) while (!Number.isInteger(step)) step = step < 1 ? 1 : niceStep(step * 1.5);
  // Widen the step until the ticks cover [lo, hi] despite rounding (a few rounds at most).
  for (let round = 0; round < 64; round++) {
    // The last multiple of the step at or below lo, the first at or above hi (after rounding).
    let first = Math.floor(lo / step);
    if (tickValue(first, step) > lo) first--;
    if (tickValue(first + 1, step) <= lo) first++;
    let last = Math.ceil(hi / step);
    if (tickValue(last, step) < hi) last++;
    if (tickValue(last - 1, step) >= hi) last--;
    const values: number[] = [];
    for (let k = first; k <= last; k++) values.push(tickValue(k, step));
    const a = values[0] ?? lo;
    const b = values[values.length - 1] ?? hi;
    if (values.length >= 2 && a <= lo && b >= hi && values.every((v, i) => i === 0 || v > (values[i - 1] as number))) return { values, step, domain: [a, b] };
    step = niceStep(step * 1.5);
    if (options.integer) while (!Number.isInteger(step)) step = niceStep(step * 1.5);
  }
  throw new NlsError(`no ticks found for [${min}, ${max}]`, { field: 'range' });
}

/** Decimals needed to write multiples of `step` exactly (0.25 -> 2, 2.5 -> 1, 50 -> 0). */
function stepDecimals(step: number): number {
  for (let d = 0; d < 12; d++) {
    const scaled = step * Math.pow(10, d);
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9 * Math.max(1, scaled)) return d;
  }
  return 12;
}

/**
 * A tick label: values of at least 10,000 in units of k (thousands) or M (millions), e.g. `50k`,
 * `1.5M`; others with the decimals the step needs (`0.25`, `3`). Locale-independent.
 */
export function formatTick(value: number, step: number): string {
  if (value === 0) return '0';
  const magnitude = Math.max(Math.abs(value), Math.abs(step));
  for (const [unit, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (magnitude >= 10 * unit || (unit > 1e3 && magnitude >= unit)) {
      return `${fmt(value / unit, stepDecimals(step / unit))}${suffix}`;
    }
  }
  return fmt(value, stepDecimals(step));
}

/** Attributes of an element; `undefined` values are left out. Order is kept. */
export type Attrs = Readonly<Record<string, string | number | undefined>>;

function attrText(attrs: Attrs): string {
  let s = '';
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    s += ` ${k}="${escapeXml(typeof v === 'number' ? fmt(v) : v)}"`;
  }
  return s;
}

/**
 * One element: `<tag attrs/>` without children, `<tag attrs>children</tag>` with. `children` is
 * markup (already escaped); use {@link textElement} for text.
 */
export function el(tag: string, attrs: Attrs = {}, children?: string): string {
  return children === undefined ? `<${tag}${attrText(attrs)}/>` : `<${tag}${attrText(attrs)}>${children}</${tag}>`;
}

/** Text anchoring. */
export type Anchor = 'start' | 'middle' | 'end';

/** Options of {@link textElement}. */
export interface TextOptions {
  readonly anchor?: Anchor;
  readonly size?: number;
  readonly fill?: string;
  readonly weight?: 'normal' | 'bold';
  /** Rotation in degrees about (x, y). */
  readonly rotate?: number;
  /** Vertical alignment (`dominant-baseline`). */
  readonly baseline?: 'auto' | 'middle' | 'hanging';
  /** Draw a white outline under the glyphs, to stay legible over lines and points. */
  readonly halo?: boolean;
}

/** A `<text>` element holding `text` (escaped). */
export function textElement(x: number, y: number, text: string, options: TextOptions = {}): string {
  return el(
    'text',
    {
      x,
      y,
      'text-anchor': options.anchor ?? 'start',
      'dominant-baseline': options.baseline,
      'font-size': options.size ?? 12,
      'font-weight': options.weight === 'bold' ? 'bold' : undefined,
      fill: options.fill ?? '#222',
      stroke: options.halo ? '#ffffff' : undefined,
      'stroke-width': options.halo ? 3 : undefined,
      'paint-order': options.halo ? 'stroke' : undefined,
      transform: options.rotate ? `rotate(${fmt(options.rotate)} ${fmt(x)} ${fmt(y)})` : undefined,
    },
    escapeXml(text),
  );
}

/** Options of {@link svgDocument}. */
export interface SvgDocumentOptions {
  readonly width: number;
  readonly height: number;
  /** Accessible title (`<title>`), also shown as a tooltip. */
  readonly title: string;
  /** Longer description (`<desc>`). */
  readonly description?: string;
}

/** A standalone `<svg>` document (valid as a .svg file and inline in HTML) around `body`. */
export function svgDocument(options: SvgDocumentOptions, body: string): string {
  const { width, height } = options;
  const head = el('title', {}, escapeXml(options.title)) + (options.description ? el('desc', {}, escapeXml(options.description)) : '');
  return el(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      width,
      height,
      viewBox: `0 0 ${fmt(width)} ${fmt(height)}`,
      role: 'img',
      'font-family': 'Helvetica, Arial, sans-serif',
    },
    `${head}${el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' })}${body}`,
  );
}

/** The drawing area of a plot: where the axes' ranges go. */
export interface PlotArea {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Options of {@link axes}. */
export interface AxesOptions {
  readonly area: PlotArea;
  readonly x: Scale;
  readonly y: Scale;
  readonly xTicks: Ticks;
  readonly yTicks: Ticks;
  readonly xLabel: string;
  readonly yLabel: string;
  /** Light grid lines at the ticks (default true). */
  readonly grid?: boolean;
  /** Tick labels; default {@link formatTick}. */
  readonly xFormat?: (value: number) => string;
  readonly yFormat?: (value: number) => string;
}

/** A frame, grid lines, tick marks with labels, and axis titles. */
export function axes(options: AxesOptions): string {
  const { area, x, y, xTicks, yTicks } = options;
  const bottom = area.top + area.height;
  const right = area.left + area.width;
  const xf = options.xFormat ?? ((v: number) => formatTick(v, xTicks.step));
  const yf = options.yFormat ?? ((v: number) => formatTick(v, yTicks.step));
  const parts: string[] = [];
  const grid = options.grid ?? true;
  for (const v of xTicks.values) {
    const px = x.map(v);
    if (grid) parts.push(el('line', { x1: px, y1: area.top, x2: px, y2: bottom, stroke: '#e5e5e5', 'stroke-width': 1 }));
    parts.push(el('line', { x1: px, y1: bottom, x2: px, y2: bottom + 5, stroke: '#444', 'stroke-width': 1 }));
    parts.push(textElement(px, bottom + 18, xf(v), { anchor: 'middle', size: 11, fill: '#444' }));
  }
  for (const v of yTicks.values) {
    const py = y.map(v);
    if (grid) parts.push(el('line', { x1: area.left, y1: py, x2: right, y2: py, stroke: '#e5e5e5', 'stroke-width': 1 }));
    parts.push(el('line', { x1: area.left - 5, y1: py, x2: area.left, y2: py, stroke: '#444', 'stroke-width': 1 }));
    parts.push(textElement(area.left - 8, py, yf(v), { anchor: 'end', size: 11, fill: '#444', baseline: 'middle' }));
  }
  parts.push(el('rect', { x: area.left, y: area.top, width: area.width, height: area.height, fill: 'none', stroke: '#444', 'stroke-width': 1 }));
  parts.push(textElement(area.left + area.width / 2, bottom + 38, options.xLabel, { anchor: 'middle', size: 12 }));
  const yx = area.left - 52;
  const yy = area.top + area.height / 2;
  parts.push(textElement(yx, yy, options.yLabel, { anchor: 'middle', size: 12, rotate: -90 }));
  return el('g', { class: 'axes' }, parts.join(''));
}

/** Marker shapes. */
export type MarkerShape = 'circle' | 'square' | 'diamond' | 'triangle' | 'cross' | 'ring';

/** Options of {@link marker} and {@link scatter}. */
export interface MarkerOptions {
  readonly shape?: MarkerShape;
  /** Half-size in pixels (radius of a circle); default 4. */
  readonly size?: number;
  readonly fill?: string;
  readonly stroke?: string;
  readonly strokeWidth?: number;
  readonly opacity?: number;
}

/** One marker centred on (cx, cy), with a tooltip `title` and extra attributes (e.g. `data-key`). */
export function marker(cx: number, cy: number, options: MarkerOptions = {}, title?: string, extra: Attrs = {}): string {
  const r = options.size ?? 4;
  const fill = options.fill ?? '#333';
  const paint: Attrs = {
    fill: options.shape === 'cross' || options.shape === 'ring' ? 'none' : fill,
    stroke: options.stroke ?? (options.shape === 'cross' || options.shape === 'ring' ? fill : 'none'),
    'stroke-width': options.strokeWidth ?? (options.shape === 'cross' ? 2 : options.stroke ? 1 : undefined),
    'fill-opacity': options.opacity,
    ...extra,
  };
  const tip = title === undefined ? undefined : el('title', {}, escapeXml(title));
  switch (options.shape ?? 'circle') {
    case 'circle':
    case 'ring':
      return el('circle', { cx, cy, r, ...paint }, tip);
    case 'square':
      return el('rect', { x: cx - r, y: cy - r, width: 2 * r, height: 2 * r, ...paint }, tip);
    case 'diamond':
      return el('path', { d: `M${fmt(cx)} ${fmt(cy - r * 1.3)}L${fmt(cx + r * 1.3)} ${fmt(cy)}L${fmt(cx)} ${fmt(cy + r * 1.3)}L${fmt(cx - r * 1.3)} ${fmt(cy)}Z`, ...paint }, tip);
    case 'triangle':
      return el('path', { d: `M${fmt(cx)} ${fmt(cy - r * 1.3)}L${fmt(cx + r * 1.2)} ${fmt(cy + r)}L${fmt(cx - r * 1.2)} ${fmt(cy + r)}Z`, ...paint }, tip);
    case 'cross':
      return el('path', { d: `M${fmt(cx - r)} ${fmt(cy - r)}L${fmt(cx + r)} ${fmt(cy + r)}M${fmt(cx - r)} ${fmt(cy + r)}L${fmt(cx + r)} ${fmt(cy - r)}`, ...paint }, tip);
  }
}

/** A data point for {@link scatter}. */
export interface ScatterPoint {
  readonly x: number;
  readonly y: number;
  /** Tooltip. */
  readonly title?: string;
  /** Extra attributes of the marker element (e.g. `{ 'data-key': key }`). */
  readonly attrs?: Attrs;
}

/** Markers at the scaled positions of `points`, in a `<g>`. */
export function scatter(points: readonly ScatterPoint[], x: Scale, y: Scale, options: MarkerOptions = {}, groupAttrs: Attrs = {}): string {
  return el('g', groupAttrs, points.map((p) => marker(x.map(p.x), y.map(p.y), options, p.title, p.attrs ?? {})).join(''));
}

/** Options of {@link lineSeries}. */
export interface LineOptions {
  readonly stroke?: string;
  readonly width?: number;
  /** `stroke-dasharray`, e.g. `"4 3"`. */
  readonly dash?: string;
  /**
   * `after`: a staircase that holds each value until the next point's x (horizontal, then
   * vertical); `none` (default): straight segments.
   */
  readonly step?: 'none' | 'after';
  readonly opacity?: number;
}

/** The path data of a polyline or staircase through the scaled points. */
export function linePath(points: readonly { readonly x: number; readonly y: number }[], x: Scale, y: Scale, step: 'none' | 'after' = 'none'): string {
  let d = '';
  let prev = 0;
  points.forEach((p, i) => {
    const px = x.map(p.x);
    const py = y.map(p.y);
    if (i === 0) d += `M${fmt(px)} ${fmt(py)}`;
    else if (step === 'after') d += `L${fmt(px)} ${fmt(prev)}L${fmt(px)} ${fmt(py)}`;
    else d += `L${fmt(px)} ${fmt(py)}`;
    prev = py;
  });
  return d;
}

/** A polyline or staircase (see {@link LineOptions.step}) through `points`; empty for no points. */
export function lineSeries(points: readonly { readonly x: number; readonly y: number }[], x: Scale, y: Scale, options: LineOptions = {}, extra: Attrs = {}): string {
  if (points.length === 0) return '';
  return el('path', {
    d: linePath(points, x, y, options.step ?? 'none'),
    fill: 'none',
    stroke: options.stroke ?? '#333',
    'stroke-width': options.width ?? 1.5,
    'stroke-dasharray': options.dash,
    'stroke-opacity': options.opacity,
    'stroke-linejoin': 'round',
    ...extra,
  });
}

/** Options of {@link heatmap}. */
export interface HeatmapOptions {
  /** Top-left corner of the first cell. */
  readonly x: number;
  readonly y: number;
  readonly cellWidth: number;
  readonly cellHeight: number;
  /** Row labels (drawn left of the rows) and column labels (drawn above the columns). */
  readonly rowLabels: readonly string[];
  readonly columnLabels: readonly string[];
  /** `values[row][column]`; `null` is an empty cell (drawn hatched-grey, labelled `–`). */
  readonly values: readonly (readonly (number | null)[])[];
  /** Fill colour of a value (its row and column given for grids whose columns differ in kind). */
  readonly color: (value: number, row: number, column: number) => string;
  /** Text written in a cell (default the value); `undefined` writes nothing. */
  readonly cellText?: (value: number, row: number, column: number) => string | undefined;
  /** Title above the grid. */
  readonly title?: string;
}

/**
 * A grid of `rows × columns` cells (`<rect class="cell">`, one per cell, empty ones included),
 * each filled by `color(value)` and labelled with its value in a contrasting colour.
 *
 * @throws NlsError when `values` does not have one row per row label and one value per column label.
 */
export function heatmap(options: HeatmapOptions): string {
  const { x, y, cellWidth: w, cellHeight: h, rowLabels, columnLabels, values } = options;
  if (values.length !== rowLabels.length || values.some((r) => r.length !== columnLabels.length)) {
    throw new NlsError(`heatmap values must be ${rowLabels.length} rows of ${columnLabels.length} values`, { field: 'values' });
  }
  const parts: string[] = [];
  if (options.title) parts.push(textElement(x + (w * columnLabels.length) / 2, y - 26, options.title, { anchor: 'middle', size: 12, weight: 'bold' }));
  columnLabels.forEach((label, c) => parts.push(textElement(x + c * w + w / 2, y - 8, label, { anchor: 'middle', size: 11, fill: '#444' })));
  rowLabels.forEach((label, r) => parts.push(textElement(x - 6, y + r * h + h / 2, label, { anchor: 'end', size: 11, fill: '#444', baseline: 'middle' })));
  values.forEach((row, r) =>
    row.forEach((v, c) => {
      const cx = x + c * w;
      const cy = y + r * h;
      const fill = v === null ? '#f4f4f4' : options.color(v, r, c);
      parts.push(el('rect', { class: 'cell', x: cx, y: cy, width: w, height: h, fill, stroke: '#ffffff', 'stroke-width': 1, 'data-row': r, 'data-col': c }, el('title', {}, escapeXml(`${rowLabels[r]} / ${columnLabels[c]}: ${v === null ? 'not adapted' : String(v)}`))));
      const label = v === null ? '–' : options.cellText ? options.cellText(v, r, c) : String(v);
      if (label !== undefined) {
        parts.push(textElement(cx + w / 2, cy + h / 2, label, { anchor: 'middle', baseline: 'middle', size: 11, fill: v === null ? '#999' : contrastText(fill) }));
      }
    }),
  );
  return el('g', { class: 'heatmap' }, parts.join(''));
}

/** Black or white, whichever reads better on the `#rrggbb` colour `background`. */
export function contrastText(background: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(background);
  if (!m) return '#000000';
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h ?? '0', 16) / 255) as [number, number, number];
  // Relative luminance (sRGB, approximately).
  const lum = 0.2126 * r * r + 0.7152 * g * g + 0.0722 * b * b;
  return lum > 0.25 ? '#000000' : '#ffffff';
}

/** Linear interpolation between two `#rrggbb` colours; `t` in [0, 1] (clamped). */
export function mixColor(a: string, b: string, t: number): string {
  const parse = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  const ca = parse(a);
  const cb = parse(b);
  const u = Math.max(0, Math.min(1, t));
  return `#${ca.map((v, i) => Math.round(v + ((cb[i] ?? v) - v) * u).toString(16).padStart(2, '0')).join('')}`;
}

/** One legend entry: a swatch and a label. */
export interface LegendItem {
  readonly label: string;
  /** `line` draws a short stroke; the marker shapes draw a marker; `box` a filled square. */
  readonly swatch: 'line' | 'box' | MarkerShape;
  readonly color: string;
  readonly dash?: string;
  /** Marker outline, for marker swatches. */
  readonly stroke?: string;
}

/** Options of {@link legend}. */
export interface LegendOptions {
  readonly x: number;
  readonly y: number;
  /** Lay items out in a row (default) or a column. */
  readonly direction?: 'row' | 'column';
  /** Horizontal room per item in a row; default from the label length. */
  readonly itemWidth?: number;
}

/** A legend: swatches with labels, in a row or a column starting at (x, y). */
export function legend(items: readonly LegendItem[], options: LegendOptions): string {
  const parts: string[] = [];
  let cx = options.x;
  let cy = options.y;
  for (const item of items) {
    const sx = cx + 8;
    if (item.swatch === 'line') {
      parts.push(el('line', { x1: cx, y1: cy, x2: cx + 18, y2: cy, stroke: item.color, 'stroke-width': 2, 'stroke-dasharray': item.dash }));
    } else if (item.swatch === 'box') {
      parts.push(el('rect', { x: cx + 2, y: cy - 7, width: 14, height: 14, fill: item.color, stroke: '#999', 'stroke-width': 0.5 }));
    } else {
      parts.push(marker(sx + 1, cy, { shape: item.swatch, size: 4.5, fill: item.color, ...(item.stroke ? { stroke: item.stroke, strokeWidth: 1.5 } : {}) }));
    }
    parts.push(textElement(cx + 24, cy, item.label, { size: 11, baseline: 'middle' }));
    if ((options.direction ?? 'row') === 'row') cx += options.itemWidth ?? 34 + item.label.length * 6.2;
    else cy += 18;
  }
  return el('g', { class: 'legend' }, parts.join(''));
}

/**
 * A logarithmic map from a positive data interval (`domain`) to a pixel interval (`range`):
 * equal ratios take equal distances (0.1 to 1 as far as 1 to 10).
 *
 * @throws NlsError when an end is not finite or the domain is not positive.
 */
export function logScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  if (!(d0 > 0 && d1 > 0) || !Number.isFinite(d0) || !Number.isFinite(d1)) {
    throw new NlsError(`a logarithmic scale needs a positive finite domain, got [${d0}, ${d1}]; fix: plot positive values`, { field: 'domain' });
  }
  const inner = linearScale([Math.log10(d0), Math.log10(d1)], range);
  return { domain: [d0, d1], range: inner.range, map: (v) => inner.map(Math.log10(v)) };
}

/** The values `m × 10^k` for the mantissas `ms` over the decades that cover [lo, hi], ascending. */
function decadeValues(lo: number, hi: number, ms: readonly number[]): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)) + 1; k++) {
    for (const m of ms) out.push(Number((m * Math.pow(10, k)).toPrecision(12)));
  }
  return out;
}

/**
 * Ticks of a logarithmic axis over `[min, max]` (both > 0): the domain runs from the largest
 * `1, 2, 5 × 10^k` at or below `min` to the smallest at or above `max`, with ticks at those
 * values (only at the powers of ten, or every few of them, when that would be more than `maxTicks`; at `1..9 × 10^k`
 * when the range is too narrow for three). `step` is 0: log ticks have no constant step; write
 * their labels with {@link formatLogTick}.
 *
 * @throws NlsError when `min` or `max` is not finite and positive, or `min > max`.
 */
export function logTicks(min: number, max: number, maxTicks = 8): Ticks {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new NlsError(`a logarithmic axis needs a positive finite range, got [${min}, ${max}]; fix: plot positive values`, { field: 'range' });
  }
  const snap = (ms: readonly number[]): number[] => {
    const all = decadeValues(min, max, ms);
    const lo = [...all].reverse().find((v) => v <= min) ?? min;
    const hi = all.find((v) => v >= max) ?? max;
    return all.filter((v) => v >= lo && v <= hi);
  };
  let values = snap([1, 2, 5]);
  if (values.length < 3) values = snap([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (values.length < 2) values = [min, max === min ? min * 10 : max];
  const domain: [number, number] = [values[0] as number, values[values.length - 1] as number];
  if (values.length > maxTicks) {
    const decades = values.filter((v) => Number.isInteger(Math.round(Math.log10(v) * 1e9) / 1e9));
    // Over very many decades, every k-th one.
    const every = Math.ceil(decades.length / Math.max(1, maxTicks - 1));
    values = [...new Set([domain[0], ...decades.filter((_, i) => i % every === 0), domain[1]])];
  }
  return { values, step: 0, domain };
}

/** A log-axis tick label: `0.05`, `0.1`, `2`, `50k` (the decimals the value itself needs). */
export function formatLogTick(value: number): string {
  return formatTick(value, value);
}

/** Stops of the viridis colour map (perceptually uniform, colour-blind safe), dark to light. */
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'] as const;

/** The viridis colour of `t` in [0, 1] (clamped): dark purple at 0, yellow at 1. */
export function viridis(t: number): string {
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  return mixColor(VIRIDIS[i] as string, VIRIDIS[i + 1] as string, u - i);
}

/** Options of {@link colorBar}. */
export interface ColorBarOptions {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** The values at the bar's two ends and the colour of a value in between. */
  readonly domain: readonly [number, number];
  readonly color: (value: number) => string;
  /** Labels under the bar: values and their text. */
  readonly ticks: readonly { readonly value: number; readonly label: string }[];
  readonly title?: string;
}

/** A horizontal colour bar (a legend for a continuous colour scale), from `domain[0]` on the left. */
export function colorBar(options: ColorBarOptions): string {
  const { x: x0, y: y0, width, height, domain } = options;
  const steps = 40;
  const parts: string[] = [];
  const scale = linearScale(domain, [x0, x0 + width]);
  for (let i = 0; i < steps; i++) {
    const v = domain[0] + ((domain[1] - domain[0]) * (i + 0.5)) / steps;
    parts.push(el('rect', { x: x0 + (i * width) / steps, y: y0, width: width / steps + 0.5, height, fill: options.color(v) }));
  }
  parts.push(el('rect', { x: x0, y: y0, width, height, fill: 'none', stroke: '#777', 'stroke-width': 0.5 }));
  for (const t of options.ticks) parts.push(textElement(scale.map(t.value), y0 + height + 12, t.label, { anchor: 'middle', size: 10, fill: '#444' }));
  if (options.title) parts.push(textElement(x0 - 6, y0 + height / 2, options.title, { anchor: 'end', size: 11, baseline: 'middle' }));
  return el('g', { class: 'color-bar' }, parts.join(''));
}
