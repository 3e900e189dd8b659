/** The SVG primitives: escaping, number formatting, scales, ticks, and well-formed, deterministic markup. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  axes,
  contrastText,
  el,
  escapeXml,
  fmt,
  formatTick,
  groupThousands,
  heatmap,
  legend,
  linePath,
  lineSeries,
  linearScale,
  logScale,
  logTicks,
  formatLogTick,
  marker,
  type MarkerShape,
  mixColor,
  niceTicks,
  scatter,
  svgDocument,
  textElement,
  viridis,
} from '../../src/report/svg.js';
import { checkXml, unescapeXml } from './xml.js';

const wellFormed = (s: string) => expect(checkXml(s).problems).toEqual([]);

describe('escaping and number formatting', () => {
  it('escapeXml escapes the five XML specials and round-trips', () => {
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&#39;');
    fc.assert(
      fc.property(fc.string(), (s) => {
        const e = escapeXml(s);
        expect(e).not.toMatch(/[<>"']/);
        expect(unescapeXml(e)).toBe(s);
      }),
    );
  });

  it('text elements hold escaped text and stay well-formed for any string', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const t = textElement(1, 2, s, { rotate: -90, halo: true });
        wellFormed(svgDocument({ width: 10, height: 10, title: s, description: s }, t));
      }),
    );
  });

  it('fmt writes at most 2 decimals, no trailing zeros, no -0; refuses non-finite values', () => {
    expect(fmt(12.3456)).toBe('12.35');
    expect(fmt(3.1)).toBe('3.1');
    expect(fmt(4)).toBe('4');
    expect(fmt(-0.001)).toBe('0');
    expect(fmt(0.125, 3)).toBe('0.125');
    expect(() => fmt(Number.NaN)).toThrow(/cannot write NaN/);
    expect(() => fmt(Infinity)).toThrow();
  });

  it('groupThousands is locale-independent', () => {
    expect(groupThousands(0)).toBe('0');
    expect(groupThousands(999)).toBe('999');
    expect(groupThousands(1234567)).toBe('1,234,567');
    expect(groupThousands(-204800)).toBe('-204,800');
  });

  it('formatTick uses k / M above 10,000 and the step’s decimals below', () => {
    expect(formatTick(0, 50000)).toBe('0');
    expect(formatTick(50000, 50000)).toBe('50k');
    expect(formatTick(125000, 25000)).toBe('125k');
    expect(formatTick(1500000, 500000)).toBe('1.5M');
    expect(formatTick(0.25, 0.05)).toBe('0.25');
    expect(formatTick(0.3, 0.1)).toBe('0.3');
    expect(formatTick(7.5, 2.5)).toBe('7.5');
    expect(formatTick(3, 1)).toBe('3');
    expect(formatTick(2000, 500)).toBe('2000');
  });
});

describe('scales and ticks', () => {
  it('linearScale maps the domain ends to the range ends (also reversed, for y axes)', () => {
    const x = linearScale([0, 10], [100, 200]);
    expect(x.map(0)).toBe(100);
    expect(x.map(5)).toBe(150);
    expect(x.map(10)).toBe(200);
    const y = linearScale([0, 1], [400, 50]);
    expect(y.map(0)).toBe(400);
    expect(y.map(1)).toBe(50);
    expect(y.map(0.5)).toBe(225);
    expect(linearScale([3, 3], [0, 10]).map(3)).toBe(5);
    expect(() => linearScale([0, Infinity], [0, 1])).toThrow();
  });

  it('property: a scale maps the domain into the range, monotonically', () => {
    const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(finite, finite, finite, finite, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (d0, d1, r0, r1, t, u) => {
        fc.pre(Math.abs(d1 - d0) > 1e-6);
        const s = linearScale([d0, d1], [r0, r1]);
        const a = d0 + t * (d1 - d0);
        const b = d0 + u * (d1 - d0);
        const pa = s.map(a);
        const tol = 1e-6 * (1 + Math.abs(r0) + Math.abs(r1));
        expect(pa).toBeGreaterThanOrEqual(Math.min(r0, r1) - tol);
        expect(pa).toBeLessThanOrEqual(Math.max(r0, r1) + tol);
        // Order is kept (or reversed with a reversed range).
        if (t < u) expect(Math.sign(s.map(b) - pa) * Math.sign(r1 - r0)).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('niceTicks: round steps, covering the data', () => {
    expect(niceTicks(0, 1).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.74, 0.86, 5).values).toEqual([0.725, 0.75, 0.775, 0.8, 0.825, 0.85, 0.875]);
    expect(niceTicks(0.74, 0.86, 6).values).toEqual([0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86]);
    expect(niceTicks(51200, 204800, 6)).toMatchObject({ step: 50000, domain: [50000, 250000] });
    expect(niceTicks(0.5, 0.5).domain).toEqual([0.45, 0.55]);
    expect(niceTicks(0, 0).domain).toEqual([-1, 1]);
    expect(niceTicks(0, 3, 6, { integer: true }).values).toEqual([0, 1, 2, 3]);
    expect(niceTicks(0, 14, 6, { integer: true }).step).toBe(5);
    expect(() => niceTicks(2, 1)).toThrow(/not a finite interval/);
    expect(() => niceTicks(0, Number.NaN)).toThrow();
  });

  it('property: ticks are strictly increasing, evenly spaced by a nice step and cover [min, max]', () => {
    const v = fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(v, v, fc.integer({ min: 2, max: 10 }), fc.boolean(), (a, b, count, integer) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const t = niceTicks(min, max, count, { integer });
        expect(t.values.length).toBeGreaterThanOrEqual(2);
        expect(t.values[0]).toBeLessThanOrEqual(min);
        expect(t.values[t.values.length - 1]).toBeGreaterThanOrEqual(max);
        expect(t.domain).toEqual([t.values[0], t.values[t.values.length - 1]]);
        for (let i = 1; i < t.values.length; i++) {
          expect(t.values[i]).toBeGreaterThan(t.values[i - 1] as number);
          expect(Math.abs((t.values[i] as number) - (t.values[i - 1] as number) - t.step)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(t.step), Math.abs(max), Math.abs(min)));
        }
        const mantissa = t.step / Math.pow(10, Math.floor(Math.log10(t.step)));
        expect([1, 2, 2.5, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-9)).toBe(true);
        if (integer) expect(Number.isInteger(t.step)).toBe(true);
        // Not absurdly many ticks.
        expect(t.values.length).toBeLessThanOrEqual(4 * count + 3);
      }),
    );
  });
});

describe('logarithmic axes', () => {
  it('logScale: equal ratios take equal distances; refuses non-positive domains', () => {
    const s = logScale([0.1, 10], [400, 0]);
    expect(s.map(0.1)).toBeCloseTo(400);
    expect(s.map(1)).toBeCloseTo(200);
    expect(s.map(10)).toBeCloseTo(0);
    expect(s.map(2) - s.map(4)).toBeCloseTo(s.map(0.25) - s.map(0.5));
    expect(() => logScale([0, 1], [0, 1])).toThrow(/positive/);
  });

  it('logTicks: 1-2-5 ticks snapped around the data, decades only when there would be too many', () => {
    expect(logTicks(0.0994, 3.9).values).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
    expect(logTicks(1.02, 3.2).values).toEqual([1, 2, 5]);
    // Narrow: 1..9 per decade.
    expect(logTicks(0.11, 0.14).values).toEqual([0.1, 0.2]);
    expect(logTicks(0.31, 0.62).values).toEqual([0.2, 0.5, 1]);
    // Wide: the powers of ten and the ends.
    expect(logTicks(0.001, 5000).values).toEqual([0.001, 0.01, 0.1, 1, 10, 100, 1000, 5000]);
    expect(formatLogTick(0.05)).toBe('0.05');
    expect(formatLogTick(20000)).toBe('20k');
    expect(() => logTicks(0, 1)).toThrow(/positive/);
  });

  it('property: log ticks are positive, strictly increasing and cover [min, max]', () => {
    const v = fc.double({ min: 1e-6, max: 1e6, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(v, v, (a, b) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const t = logTicks(min, max);
        expect(t.values.length).toBeGreaterThanOrEqual(2);
        expect(t.domain).toEqual([t.values[0], t.values[t.values.length - 1]]);
        expect(t.domain[0]).toBeLessThanOrEqual(min);
        expect(t.domain[1]).toBeGreaterThanOrEqual(max);
        expect(t.values.every((x, i) => x > 0 && (i === 0 || x > (t.values[i - 1] as number)))).toBe(true);
        expect(t.values.length).toBeLessThanOrEqual(12);
      }),
    );
  });

  it('viridis runs from dark purple to yellow', () => {
    expect(viridis(0)).toBe('#440154');
    expect(viridis(1)).toBe('#fde725');
    expect(viridis(2)).toBe('#fde725');
    expect(viridis(Number.NaN)).toBe('#440154');
  });
});

describe('elements', () => {
  it('el writes attributes in order, skips undefined, escapes values and formats numbers', () => {
    expect(el('rect', { x: 1.005, y: undefined, fill: 'a"b' })).toBe('<rect x="1" fill="a&quot;b"/>');
    expect(el('g', { class: 'c' }, el('circle', { r: 2 }))).toBe('<g class="c"><circle r="2"/></g>');
  });

  it('scatter puts each point at its scaled pixel position', () => {
    const x = linearScale([0, 100], [50, 550]);
    const y = linearScale([0, 1], [300, 100]);
    const s = scatter(
      [
        { x: 0, y: 0, title: 'origin <0,0>' },
        { x: 50, y: 0.5, attrs: { 'data-key': '111.111' } },
        { x: 100, y: 1 },
      ],
      x,
      y,
      { shape: 'circle', size: 4 },
    );
    wellFormed(s);
    const circles = checkXml(s).elements.filter((e) => e.name === 'circle');
    expect(circles.map((c) => [c.attrs['cx'], c.attrs['cy']])).toEqual([
      ['50', '300'],
      ['300', '200'],
      ['550', '100'],
    ]);
    expect(circles[1]?.attrs['data-key']).toBe('111.111');
    expect(s).toContain('<title>origin &lt;0,0&gt;</title>');
  });

  it('every marker shape is well-formed and centred on its point', () => {
    for (const shape of ['circle', 'square', 'diamond', 'triangle', 'cross', 'ring'] as MarkerShape[]) {
      const m = marker(10, 20, { shape, size: 5, fill: '#123456' }, 'tip & more');
      wellFormed(m);
      if (shape === 'square') expect(m).toContain('x="5" y="15" width="10" height="10"');
      if (shape === 'circle' || shape === 'ring') expect(m).toContain('cx="10" cy="20"');
      if (shape === 'cross') expect(m).toContain('M5 15L15 25M5 25L15 15');
    }
  });

  it('lineSeries: straight segments or a staircase that holds each value until the next x', () => {
    const x = linearScale([0, 10], [0, 100]);
    const y = linearScale([0, 10], [100, 0]);
    const pts = [
      { x: 0, y: 0 },
      { x: 5, y: 5 },
      { x: 10, y: 10 },
    ];
    expect(linePath(pts, x, y)).toBe('M0 100L50 50L100 0');
    expect(linePath(pts, x, y, 'after')).toBe('M0 100L50 100L50 50L100 50L100 0');
    expect(lineSeries([], x, y)).toBe('');
    wellFormed(lineSeries(pts, x, y, { dash: '4 3', step: 'after' }));
  });

  it('heatmap draws rows × columns cells (empty ones too), labelled, with readable text', () => {
    const rows = ['layer 0', 'layer 1', 'layer 2', 'layer 3'];
    const cols = ['qkv', 'up', 'down'];
    const values = rows.map((_, r) => cols.map((_, c) => (r === 3 && c === 2 ? null : 4 * (r + c))));
    const h = heatmap({ x: 60, y: 40, cellWidth: 30, cellHeight: 20, rowLabels: rows, columnLabels: cols, values, color: (v) => mixColor('#ffffff', '#000000', v / 20), title: 'a & b' });
    const check = checkXml(h);
    expect(check.problems).toEqual([]);
    const cells = check.elements.filter((e) => e.name === 'rect' && e.attrs['class'] === 'cell');
    expect(cells).toHaveLength(rows.length * cols.length);
    const last = cells.find((c) => c.attrs['data-row'] === '2' && c.attrs['data-col'] === '1');
    expect([last?.attrs['x'], last?.attrs['y']]).toEqual(['90', '80']);
    expect(cells.find((c) => c.attrs['data-row'] === '3' && c.attrs['data-col'] === '2')?.attrs['fill']).toBe('#f4f4f4');
    for (const label of [...rows, ...cols]) expect(h).toContain(`>${label}</text>`);
    expect(() => heatmap({ x: 0, y: 0, cellWidth: 1, cellHeight: 1, rowLabels: ['a'], columnLabels: ['b', 'c'], values: [[1]], color: () => '#000000' })).toThrow(/1 rows of 2 values/);
  });

  it('colours: mixing and contrasting text', () => {
    expect(mixColor('#000000', '#ffffff', 0.5)).toBe('#808080');
    expect(mixColor('#000000', '#ffffff', 2)).toBe('#ffffff');
    expect(contrastText('#08306b')).toBe('#ffffff');
    expect(contrastText('#deebf7')).toBe('#000000');
  });

  it('axes and legends are well-formed, with one label per tick', () => {
    const xt = niceTicks(0, 250000, 6);
    const yt = niceTicks(0, 1, 5);
    const area = { left: 90, top: 40, width: 600, height: 300 };
    const a = axes({ area, x: linearScale(xt.domain, [90, 690]), y: linearScale(yt.domain, [340, 40]), xTicks: xt, yTicks: yt, xLabel: 'params <adapter>', yLabel: 'accuracy' });
    wellFormed(a);
    const texts = checkXml(a).elements.filter((e) => e.name === 'text');
    expect(texts).toHaveLength(xt.values.length + yt.values.length + 2);
    expect(a).toContain('>250k</text>');
    expect(a).toContain('params &lt;adapter&gt;');
    const l = legend(
      [
        { label: 'random', swatch: 'circle', color: '#E69F00' },
        { label: 'front', swatch: 'line', color: '#111', dash: '4 2' },
        { label: 'rank 16', swatch: 'box', color: '#08306b' },
      ],
      { x: 10, y: 10 },
    );
    wellFormed(l);
  });

  it('a document is deterministic: the same input gives the same bytes', () => {
    const make = () => svgDocument({ width: 100, height: 50, title: 't' }, scatter([{ x: 1 / 3, y: 2 / 3 }], linearScale([0, 1], [0, 100]), linearScale([0, 1], [50, 0])));
    expect(make()).toBe(make());
    expect(make()).not.toMatch(/id="/);
    wellFormed(make());
  });
});
