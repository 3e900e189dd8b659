/** The search analysis and the four plots, on synthetic ReportData with known answers. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConstraintSpec, ObjectiveSpec } from '../../src/search/contract.js';
import { hypervolume } from '../../src/search/hypervolume.js';
import type { StudyHeaderRecord, TrialRecord } from '../../src/search/journal.js';
import { paretoFront } from '../../src/search/results.js';
import { analyseSearch, HV_REFERENCE, movingAverage, smoothingWindow, stepMeans } from '../../src/report/analysis.js';
import type { ReportData, ReportStudy, TrainingLogRecord } from '../../src/report/collect.js';
import { lossPlot, parallelPlot, paretoPlot, progressionPlot, rankColor, rankGrid, ranksPlot, spreadLabels, widthColor } from '../../src/report/plots.js';
import { viridis } from '../../src/report/svg.js';
import { resolveSearchSpace, validateSearchSpaceSpec } from '../../src/space/index.js';
import { formatCount, formatObjective, formatValue } from '../../src/report/format.js';
import { DEMO_SPACE, ROOT } from './fixtures.js';
import { checkXml, type XmlElement } from './xml.js';

const OBJECTIVES: ObjectiveSpec[] = [
  { name: 'accuracy', direction: 'maximize' },
  { name: 'params', direction: 'minimize' },
];
const CONSTRAINTS: ConstraintSpec[] = [{ name: 'params<=60' }];

interface T {
  acc: number;
  params: number;
  config?: readonly number[];
  state?: 'complete' | 'failed' | 'filtered';
  cached?: boolean;
}

/** A distinct demo configuration per index (all keys differ, none is a heuristic subnet for i < 1000). */
function configOf(i: number): number[] {
  return Array.from({ length: 12 }, (_, g) => Math.floor((i + 1) / 4 ** (g % 6)) % 4);
}

function study(label: string, list: readonly T[], objectives = OBJECTIVES, constraints = CONSTRAINTS, offset = 0): ReportStudy {
  const header = {
    type: 'study',
    format: 'nls-study/1',
    created: `2026-01-01T00:00:0${offset}.000Z`,
    nls: '0.1.0',
    strategy: { name: label, version: '1.0.0', options: {} },
    objectives,
    constraints,
    seed: 0,
    space: { name: 'demo', fingerprint: DEMO_SPACE.fingerprint, genes: 12, cardinality: '16777216' },
    batchSize: 1,
    budget: list.length,
    cache: true,
    retryFailed: false,
    maxReplacementRounds: 3,
    maxIdleBatches: 10,
    costFilter: null,
    trainingStatistics: null,
  } satisfies StudyHeaderRecord;
  const trials: TrialRecord[] = list.map((t, number) => {
    const config = t.config ?? configOf(number + offset * 100);
    const state = t.state ?? 'complete';
    return {
      type: 'trial',
      batch: number,
      round: 0,
      number,
      config,
      key: DEMO_SPACE.key(config),
      state,
      ...(state === 'complete'
        ? {
            values: objectives.length === 1 ? [t.acc] : [t.acc, t.params],
            constraints: constraints.length > 0 ? [t.params - 60] : [],
            attrs: { params: t.params, ...(t.cached ? { cached: true } : {}) },
          }
        : { message: state }),
    };
  });
  return { label, dir: `/runs/${label}`, header, trials };
}

function dataOf(studies: ReportStudy[], extra: Partial<ReportData> = {}): ReportData {
  const heuristics = (
    [
      ['max', DEMO_SPACE.maxConfig()],
      ['median', DEMO_SPACE.medianConfig()],
      ['min', DEMO_SPACE.minConfig()],
    ] as const
  ).map(([name, config]) => ({ name, config, key: DEMO_SPACE.key(config), ranks: DEMO_SPACE.decode(config) }));
  return { runDir: '/runs/x', layout: 'search', space: DEMO_SPACE, heuristics, studies, predictors: [], warnings: [], ...extra };
}

const A = study('alpha', [
  { acc: 0.5, params: 10 },
  { acc: 0.7, params: 30 },
  { acc: 0.6, params: 40 }, // dominated by #1
  { acc: 0.9, params: 80 }, // infeasible
  { acc: 0, params: 0, state: 'failed' },
  { acc: 0.8, params: 50, config: DEMO_SPACE.medianConfig() },
]);
const B = study(
  'beta',
  [
    { acc: 0.75, params: 55 }, // dominated by alpha #5
    { acc: 0.7, params: 30, config: A.trials[1]!.config }, // same configuration as alpha #1
    { acc: 0.4, params: 5, state: 'filtered' },
    { acc: 0.95, params: 100, config: DEMO_SPACE.maxConfig() }, // infeasible heuristic
    { acc: 0.99, params: 1, cached: true }, // a cache hit: not usable, not an evaluation
  ],
  OBJECTIVES,
  CONSTRAINTS,
  1,
);

const elements = (svg: string, pred: (e: XmlElement) => boolean) => {
  const check = checkXml(svg);
  expect(check.problems).toEqual([]);
  return check.elements.filter(pred);
};

describe('analyseSearch', () => {
  const a = analyseSearch(dataOf([A, B]))!;

  it('the front over all studies is the Pareto front of their usable feasible trials, sorted by cost', () => {
    const frontKeys = a.front.map((p) => p.key);
    const expected = paretoFront(
      [...A.trials, ...B.trials.map((t) => ({ ...t, number: t.number + 100 }))],
      OBJECTIVES,
    ).map((t) => t.key);
    expect([...frontKeys].sort()).toEqual([...expected].sort());
    // beta's (0.75, 55) is dominated by alpha's (0.8, 50).
    expect(a.front.map((p) => p.x)).toEqual([10, 30, 50]);
    expect(a.front.find((p) => p.x === 30)?.foundBy).toEqual(['alpha', 'beta']);
    expect(a.staircase.map((p) => p.x)).toEqual([10, 30, 50]);
  });

  it('points: every usable trial of every study (no failed, filtered or cached ones)', () => {
    expect(a.points.filter((p) => p.study === 'alpha')).toHaveLength(5);
    expect(a.points.filter((p) => p.study === 'beta')).toHaveLength(3);
    expect(a.points.filter((p) => !p.feasible).map((p) => p.y)).toEqual([0.9, 0.95]);
    expect(a.x).toMatchObject({ objective: 1, name: 'params', label: 'adapter parameters' });
    expect(a.y).toMatchObject({ objective: 0, name: 'accuracy' });
  });

  it('best, heuristics and the chosen subnets with their roles', () => {
    expect(a.best?.y).toBe(0.8);
    expect(a.heuristics.map((h) => [h.name, h.trial?.y])).toEqual([
      ['max', 0.95],
      ['median', 0.8],
      ['min', undefined],
    ]);
    expect(a.chosen.map((c) => c.roles.join('+'))).toEqual(['most accurate feasible+front+median', 'front', 'front', 'max', 'min']);
    expect(a.chosen[0]?.key).toBe(DEMO_SPACE.key(DEMO_SPACE.medianConfig()));
  });

  it('progression: evaluations count failed trials, not filtered or cached ones; best and hypervolume never fall', () => {
    const [pa, pb] = a.progression;
    expect(pa?.points.map((p) => p.evaluations)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pb?.points.map((p) => p.evaluations)).toEqual([1, 2, 3]);
    expect(pa?.points.map((p) => p.best)).toEqual([0.5, 0.7, 0.7, 0.7, 0.7, 0.8]);
    for (const s of a.progression) {
      for (let i = 1; i < s.points.length; i++) expect(s.points[i]!.hypervolume).toBeGreaterThanOrEqual(s.points[i - 1]!.hypervolume - 1e-12);
    }
    expect(a.summaries.map((s) => [s.study, s.evaluations, s.complete, s.feasible, s.failed, s.filtered, s.frontSize])).toEqual([
      ['alpha', 6, 5, 4, 1, 0, 3],
      ['beta', 3, 3, 2, 0, 1, 2],
    ]);
  });

  it('hypervolume: normalised by the run’s ideal and nadir, reference 1.1', () => {
    // accuracy: ideal 0.95 (max over usable trials), nadir 0.5; params: ideal 10, nadir 100.
    expect(a.normalisation).toEqual({ ideal: [0.95, 10], nadir: [0.5, 100], reference: HV_REFERENCE });
    const norm = (acc: number, params: number) => [(0.95 - acc) / 0.45, (params - 10) / 90];
    const alphaFront = [norm(0.5, 10), norm(0.7, 30), norm(0.8, 50)];
    const expected = hypervolume(alphaFront, [1.1, 1.1], ['minimize', 'minimize']);
    expect(a.summaries[0]?.hypervolume).toBeCloseTo(expected, 12);
    expect(a.summaries[0]!.hypervolume).toBeLessThanOrEqual(1.1 * 1.1);
  });

  it('studies with other objectives are left out, with a note; no studies: undefined', () => {
    const other = study('gamma', [{ acc: 0.5, params: 1 }], [{ name: 'loss', direction: 'minimize' }], [], 2);
    const b = analyseSearch(dataOf([A, other]))!;
    expect(b.studies.map((s) => s.label)).toEqual(['alpha']);
    expect(b.notes[0]).toMatch(/gamma has other objectives/);
    expect(analyseSearch(dataOf([]))).toBeUndefined();
  });

  it('a single objective: the cost axis is a numeric attribute all trials have', () => {
    const single = study('solo', [{ acc: 0.5, params: 10 }, { acc: 0.6, params: 20 }], [{ name: 'accuracy', direction: 'maximize' }], [], 3);
    const s = analyseSearch(dataOf([single]))!;
    expect(s.x).toMatchObject({ attr: 'params', name: 'params' });
    expect(s.front.map((p) => p.y)).toEqual([0.6]);
  });
});

describe('the plots', () => {
  const data = dataOf([A, B]);
  const a = analyseSearch(data)!;

  it('pareto: every usable trial drawn at its pixel position, infeasible ones as crosses, the front ringed and stepped', () => {
    const p = paretoPlot(a)!;
    expect(p.id).toBe('pareto');
    const trials = elements(p.svg, (e) => (e.attrs['class'] ?? '').startsWith('trial '));
    expect(trials).toHaveLength(a.points.length);
    expect(trials.filter((e) => e.attrs['class'] === 'trial infeasible').every((e) => e.name === 'path')).toBe(true);
    expect(elements(p.svg, (e) => e.attrs['class'] === 'front')).toHaveLength(a.front.length);
    expect(elements(p.svg, (e) => e.attrs['class'] === 'front-line')).toHaveLength(1);
    expect(elements(p.svg, (e) => e.attrs['class'] === 'heuristic').map((e) => e.attrs['data-heuristic'])).toEqual(['max', 'median']);
    expect(p.svg).toContain('params ≤ 60');
    expect(p.caption).toMatch(/Not evaluated in the search: min \(333\.333\.333\.333\)/);
    // Axes: x = params 0..100 padded to 0..120 (step 20) over [90, 732] px; y = accuracy 0.5..0.95
    // padded to 0.4..1 (step 0.1) over [438, 64] px.
    const point = trials.find((e) => e.attrs['data-study'] === 'alpha' && e.attrs['data-number'] === '1')!;
    expect(Number(point.attrs['cx'])).toBeCloseTo(90 + (30 / 120) * 642, 1);
    expect(Number(point.attrs['cy'])).toBeCloseTo(438 - ((0.7 - 0.4) / 0.6) * 374, 1);
    expect(p.svg).toContain('>120</text>');
  });

  it('progression: one line per strategy in each panel', () => {
    const p = progressionPlot(a)!;
    const series = elements(p.svg, (e) => e.name === 'g' && e.attrs['class'] === 'series');
    expect(series.map((e) => e.attrs['data-study'])).toEqual(['alpha', 'alpha', 'beta', 'beta']);
    expect(p.caption).toMatch(/reference point 1\.1/);
  });

  it('ranks: one layers × groups heatmap per chosen subnet, with a rank legend', () => {
    const p = ranksPlot(data, a)!;
    const panels = elements(p.svg, (e) => e.attrs['class'] === 'subnet');
    expect(panels).toHaveLength(a.chosen.length);
    const cells = elements(p.svg, (e) => e.attrs['class'] === 'cell');
    expect(cells).toHaveLength(a.chosen.length * 4 * 3);
    for (const r of [16, 12, 8, 4]) expect(p.svg).toContain(`>rank ${r}</text>`);
    // The max subnet's panel: every cell 16.
    expect(rankGrid(data, DEMO_SPACE.decode(DEMO_SPACE.maxConfig())).values).toEqual(new Array(4).fill([16, 16, 16]));
    expect(rankGrid(data, DEMO_SPACE.decode(DEMO_SPACE.maxConfig())).columns).toEqual(['qkv', 'up', 'down']);
    expect(ranksPlot({ ...data, space: undefined }, a)).toBeUndefined();
  });

  it('ranks: width genes are drawn as widths (own column, colour scale and legend), not as ranks', () => {
    const spec: unknown = JSON.parse(readFileSync(path.join(ROOT, 'search-spaces/demo-widths.json'), 'utf8'));
    const space = resolveSearchSpace(validateSearchSpaceSpec(spec), { numLayers: 4 });
    const widthData: ReportData = { ...data, space };
    const median = space.medianConfig();
    const chosen = [
      { key: space.key(space.maxConfig()), config: space.maxConfig(), roles: ['max'] },
      { key: space.key(median), config: median, roles: ['median'] },
    ];
    const grid = rankGrid(widthData, space.decode(space.maxConfig()));
    expect(grid.columns).toEqual(['qkv', 'up', 'down', 'mlp (width)']);
    expect(grid.kinds).toEqual(['rank', 'rank', 'rank', 'width']);
    expect(grid.values).toEqual(new Array(4).fill([16, 16, 16, 704]));
    expect(rankGrid(widthData, space.decode(median)).values[0]).toEqual([12, 12, 12, 528]);
    const p = ranksPlot(widthData, { ...a, chosen })!;
    expect(p.title).toBe('Rank and width patterns');
    for (const w of [704, 616, 528, 440, 352]) expect(p.svg).toContain(`>width ${w}</text>`);
    for (const r of [16, 12, 8, 4]) expect(p.svg).toContain(`>rank ${r}</text>`);
    // A full-width cell is the darkest orange, not a rank colour far off the rank scale.
    const cells = elements(p.svg, (e) => e.attrs['class'] === 'cell');
    expect(cells).toHaveLength(2 * 4 * 4);
    const fullWidthCell = cells.find((e) => e.attrs['data-row'] === '0' && e.attrs['data-col'] === '3');
    expect(fullWidthCell?.attrs['fill']).toBe(widthColor(704, 704));
    expect(widthColor(704, 704)).toBe('#a63603');
    expect(cells.find((e) => e.attrs['data-row'] === '0' && e.attrs['data-col'] === '0')?.attrs['fill']).toBe(rankColor(16, 16));
    // A rank-only space keeps its title and has no width legend.
    expect(ranksPlot(data, a)!.title).toBe('Rank patterns');
    expect(ranksPlot(data, a)!.svg).not.toContain('width:');
  });

  it('loss: every pass, the per-step mean, a moving average for long runs, validation lines', () => {
    const log: TrainingLogRecord[] = [];
    for (let step = 0; step < 100; step++) for (const label of ['max', 'min']) log.push({ step, label, loss: 3 - step / 50 + (label === 'min' ? 0.2 : 0) });
    const withLog = dataOf([], {
      supernet: {
        dir: '/sn',
        baseModel: '/m',
        spaceSpec: {} as never,
        training: {},
        data: {},
        trainingLog: log,
        validation: [
          { name: 'max', key: 'k', adapterParameters: 1, loss: 1.1, accuracy: 0.9 },
          { name: 'median', key: 'k', adapterParameters: 1, loss: 1.12 },
          { name: 'min', key: 'k', adapterParameters: 1, loss: Number.NaN },
        ],
      },
    });
    const p = lossPlot(withLog)!;
    expect(elements(p.svg, (e) => e.name === 'g' && e.attrs['class'] === 'passes')).toHaveLength(1);
    expect(elements(p.svg, (e) => e.name === 'circle')).toHaveLength(200 + 1 /* legend */);
    expect(elements(p.svg, (e) => e.attrs['class'] === 'smoothed')).toHaveLength(1);
    expect(elements(p.svg, (e) => e.attrs['class'] === 'validation')).toHaveLength(2);
    expect(p.caption).toMatch(/2 configurations per step/);
    expect(lossPlot(dataOf([]))).toBeUndefined();
  });

  it('loss: a logarithmic loss axis (equal ratios take equal heights), ticks at 1, 2, 5 × 10^k', () => {
    // A loss falling from 4 to 0.1, as the demo's does in its first steps.
    const log: TrainingLogRecord[] = Array.from({ length: 60 }, (_, step) => ({ step, label: 'uniform', loss: 4 * Math.pow(0.025, step / 59) }));
    const p = lossPlot(dataOf([], { supernet: { dir: '/sn', baseModel: '/m', spaceSpec: {} as never, training: {}, data: {}, trainingLog: log, validation: [{ name: 'max', key: 'k', adapterParameters: 1, loss: 0.12 }] } }))!;
    expect(elements(p.svg, (e) => e.name === 'g' && e.attrs['class'] === 'log-y')).toHaveLength(1);
    expect(p.caption).toMatch(/logarithmic axis/);
    // The y tick labels (right-aligned, left of the frame) and their heights.
    const ticks = [...p.svg.matchAll(/<text x="82" y="([\d.]+)" text-anchor="end" dominant-baseline="middle"[^>]*>([^<]+)<\/text>/g)].map((m) => ({ y: Number(m[1]), label: m[2] as string }));
    expect(ticks.map((t) => t.label)).toEqual(['0.1', '0.2', '0.5', '1', '2', '5']);
    const yOf = (label: string) => ticks.find((t) => t.label === label)!.y;
    // 0.1 -> 1 spans the same height as 0.5 -> 5 (one decade); 1 -> 2 as 0.1 -> 0.2.
    expect(yOf('0.1') - yOf('1')).toBeCloseTo(yOf('0.5') - yOf('5'), 1);
    expect(yOf('1') - yOf('2')).toBeCloseTo(yOf('0.1') - yOf('0.2'), 1);
    expect(yOf('0.1') - yOf('1')).toBeCloseTo((yOf('1') - yOf('2')) / Math.log10(2), 0);
    // A non-positive loss cannot sit on a log axis: it is left out instead of breaking the plot.
    const withZero = lossPlot(dataOf([], { supernet: { dir: '/sn', baseModel: '/m', spaceSpec: {} as never, training: {}, data: {}, trainingLog: [...log, { step: 60, label: 'uniform', loss: 0 }] } }))!;
    expect(checkXml(withZero.svg).problems).toEqual([]);
  });

  it('parallel coordinates: one axis per gene (plus the objective), one polyline per evaluated configuration, coloured by accuracy', () => {
    const p = parallelPlot(data, a)!;
    expect(p.id).toBe('parallel');
    const keys = [...new Set(a.points.map((q) => q.key))];
    const lines = elements(p.svg, (e) => e.name === 'polyline');
    expect(lines.map((e) => e.attrs['data-key']).sort()).toEqual([...keys].sort());
    // Every line visits every axis: the objective and the 12 genes.
    const geneAxes = elements(p.svg, (e) => e.name === 'g' && e.attrs['class'] === 'axis gene');
    expect(geneAxes.map((e) => Number(e.attrs['data-gene']))).toEqual(Array.from({ length: DEMO_SPACE.size }, (_, i) => i));
    expect(elements(p.svg, (e) => e.name === 'g' && e.attrs['class'] === 'axis objective')).toHaveLength(1);
    for (const l of lines) expect(l.attrs['points']!.split(' ')).toHaveLength(1 + DEMO_SPACE.size);
    // The gene axes are labelled by group and layer, their ticks by the rank choices.
    expect(p.svg).toContain('>qkv</text>');
    expect(p.svg).toContain('>L3</text>');
    for (const r of [16, 12, 8, 4]) expect(p.svg).toContain(`>${r}</text>`);
    // Colour: the most accurate configuration is the top of the colour map, the least accurate the bottom;
    // infeasible ones are dashed.
    const byAcc = [...new Map(a.points.map((q) => [q.key, q])).values()].sort((q, r) => q.y - r.y);
    const colorOf = (key: string) => lines.find((l) => l.attrs['data-key'] === key)!.attrs['stroke'];
    expect(colorOf(byAcc[byAcc.length - 1]!.key)).toBe(viridis(1));
    expect(colorOf(byAcc[0]!.key)).toBe(viridis(0));
    expect(lines.filter((l) => l.attrs['stroke-dasharray'] !== undefined).length).toBe(new Set(a.points.filter((q) => !q.feasible).map((q) => q.key)).size);
    // A configuration's y position on a gene axis is its choice: index 0 (the largest rank) on top.
    const max = lines.find((l) => l.attrs['data-key'] === DEMO_SPACE.key(DEMO_SPACE.maxConfig()))!;
    const median = lines.find((l) => l.attrs['data-key'] === DEMO_SPACE.key(DEMO_SPACE.medianConfig()))!;
    const ys = (l: (typeof lines)[number]) => l.attrs['points']!.split(' ').slice(1).map((pt) => Number(pt.split(',')[1]));
    expect(new Set(ys(max)).size).toBe(1);
    expect(ys(max)[0]).toBeLessThan(ys(median)[0]!);
    // Without a space the axes are the genes' choice indices.
    const bare = parallelPlot({ ...data, space: undefined }, a)!;
    expect(bare.svg).toContain('>gene 11</text>');
    expect(elements(bare.svg, (e) => e.name === 'polyline')).toHaveLength(keys.length);
    expect(parallelPlot(data, { ...a, points: [] })).toBeUndefined();
  });

  it('helpers: step means, moving average, window, label spreading', () => {
    expect(stepMeans([{ step: 1, loss: 2 }, { step: 0, loss: 1 }, { step: 1, loss: 4 }])).toEqual([
      { step: 0, loss: 1 },
      { step: 1, loss: 3 },
    ]);
    expect(movingAverage([1, 2, 3, 4, 5], 3)).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(smoothingWindow(4)).toBe(1);
    expect(smoothingWindow(100)).toBe(5);
    expect(smoothingWindow(1000) % 2).toBe(1);
    expect(spreadLabels([100, 105, 300], 12)).toEqual([93, 105, 300]);
  });

  it('number formatting is locale-independent', () => {
    expect(formatValue(204800)).toBe('204,800');
    expect(formatValue(1.4979554)).toBe('1.498');
    expect(formatValue(12345.6)).toBe('12,346');
    expect(formatValue(Number.NaN)).toBe('–');
    expect(formatObjective('accuracy', 0.5)).toBe('50.0%');
    expect(formatObjective('params', 51200)).toBe('51,200');
    expect(formatCount(16777216n)).toBe('16,777,216');
    expect(formatCount(4n ** 200n)).toBe('2.58e120');
  });

  it('plots are deterministic', () => {
    const again = analyseSearch(dataOf([A, B]))!;
    expect(paretoPlot(again)?.svg).toBe(paretoPlot(a)?.svg);
    expect(ranksPlot(data, again)?.svg).toBe(ranksPlot(data, a)?.svg);
    expect(parallelPlot(data, again)?.svg).toBe(parallelPlot(data, a)?.svg);
  });
});
