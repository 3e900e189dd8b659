/**
 * The report's content as renderer-neutral blocks (paragraphs, tables, figures, lists), in up to
 * eight numbered sections plus notes: the results first (front, progression, chosen subnets,
 * evaluated configurations, training, predictors, demo table), the run's settings last. A section
 * the run has nothing for is left out (a reason worth knowing goes to the notes). `markdown.ts`
 * and `html.ts` render the same document, so the two files always say the same thing.
 *
 * Inline text is plain; a span between backticks is code. Nothing here depends on the clock or
 * the locale: the same run folder gives the same document.
 */
import * as path from 'node:path';
import { NLS_VERSION } from '../package-info.js';
import type { SearchAnalysis } from './analysis.js';
import type { PredictorReport, ReportData } from './collect.js';
import { formatCount, formatFixed as fixed, formatObjective, formatPercent as pct, formatValue } from './format.js';
import type { Plot, PlotId } from './plots.js';
import { partialNote } from './results.js';
import type { SearchSpace } from '../space/index.js';

/** A block of a section. */
export type Block =
  | { readonly kind: 'paragraph'; readonly text: string }
  /** A remark that a section has nothing to show, or a caveat. */
  | { readonly kind: 'note'; readonly text: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | {
      readonly kind: 'table';
      readonly header: readonly string[];
      readonly rows: readonly (readonly string[])[];
      /** Right-aligned columns (numbers). */
      readonly numeric?: readonly boolean[];
    }
  | { readonly kind: 'figure'; readonly plot: Plot };

/** Stable ids of the sections, in order (results first, settings last). */
export const SECTION_IDS = ['results', 'pareto', 'progression', 'ranks', 'configurations', 'training', 'predictors', 'demo', 'settings', 'notes'] as const;

/** One of {@link SECTION_IDS}. */
export type SectionId = (typeof SECTION_IDS)[number];

/** A titled section. */
export interface Section {
  readonly id: SectionId;
  readonly title: string;
  readonly blocks: readonly Block[];
}

/** The whole report. */
export interface ReportDocument {
  readonly title: string;
  /** One line under the title. */
  readonly subtitle: string;
  readonly sections: readonly Section[];
}

/** The note of a search or demo run folder without a study (the search sections are left out). */
export const NO_SEARCH = 'No search in this run: no Pareto front, search progression or chosen subnets.';

/** Inline code span for `text` (backticks inside are replaced, so the span cannot break). */
export function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

/**
 * A JSON value on one line, for tables, with a space after each `,` and `:` outside strings, so
 * that a long value wraps between its entries and never inside a token.
 */
export function jsonCell(v: unknown): string {
  if (typeof v === 'string') return v;
  const text = JSON.stringify(v) ?? 'null';
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    out += c;
    if (inString && c === '\\') out += text[++i] ?? '';
    else if (c === '"') inString = !inString;
    else if (!inString && (c === ',' || c === ':')) out += ' ';
  }
  return out;
}

/** A command line with arguments quoted where the shell needs it. */
function commandLine(argv: readonly string[]): string {
  return ['nls', ...argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))].join(' ');
}

function settingsSection(data: ReportData): Section {
  const blocks: Block[] = [];
  const m = data.manifest;
  const layoutText: Record<ReportData['layout'], string> = {
    demo: 'an `nls demo --out` folder',
    search: 'an `nls search --out` folder',
    train: 'a supernet folder (`nls train --out`)',
    replicate: 'an `nls replicate --out` study folder',
    other: 'a run folder',
  };
  blocks.push({ kind: 'paragraph', text: `Run folder ${code(data.runDir)}: ${layoutText[data.layout]}.` });
  if (!m) {
    blocks.push({ kind: 'note', text: 'No manifest.json in this run folder: the command, options, inputs and versions of the run are unknown. The report continues with what the folder holds.' });
  } else {
    const env = m.environment;
    const git = env.nls.git ? ` (git ${env.nls.git.commit.slice(0, 12)}${env.nls.git.dirty ? ', uncommitted changes' : ''})` : '';
    const backend = env.backend ? `${env.backend.name}${env.backend.device ? `: ${env.backend.device}` : ''}` : '–';
    const versions = env.backend ? Object.entries(env.backend.versions).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    blocks.push({
      kind: 'table',
      header: ['setting', 'value'],
      rows: [
        ['command', code(commandLine(m.argv))],
        ['seed', String(m.seeds.seed)],
        ['working folder', code(m.cwd)],
        ['started', m.timings.started],
        ['finished', m.timings.finished],
        ['duration', `${fixed(m.timings.seconds, 1)} s`],
        ['nls', `${env.nls.version}${git}`],
        ['Node.js', `${env.node} on ${env.platform}/${env.arch}`],
        ['CPUs', `${env.cpus.count} × ${env.cpus.model}`],
        ['backend', backend],
        ...(versions ? [['versions', versions]] : []),
        ['outputs', `${m.outputs.length} ${m.outputs.length === 1 ? 'file' : 'files'}, each with its SHA-256 in manifest.json`],
      ],
    });
    const options = Object.keys(m.options).sort();
    blocks.push({ kind: 'paragraph', text: 'Options after parsing and defaults:' });
    blocks.push({ kind: 'table', header: ['option', 'value'], rows: options.map((k) => [code(`--${k}`), code(jsonCell(m.options[k]))]) });
    if (m.inputs.length > 0) {
      blocks.push({ kind: 'paragraph', text: 'Inputs:' });
      blocks.push({
        kind: 'table',
        header: ['input', 'given', 'kind', 'SHA-256', 'bytes', 'files'],
        rows: m.inputs.map((i) => [i.name, code(i.given), i.kind, code(i.sha256.slice(0, 16)), formatValue(i.bytes), formatValue(i.fileCount)]),
        numeric: [false, false, false, false, true, true],
      });
    }
  }
  const sn = data.supernet;
  if (sn) {
    const t = sn.training;
    const d = sn.data;
    const rows: string[][] = [['supernet folder', code(sn.dir)], ['base model', code(sn.baseModel)]];
    if (data.space) rows.push(['search space', `${data.space.name}: ${data.space.size} genes over ${data.space.layers.length} layers, ${formatCount(data.space.cardinality())} subnets (fingerprint ${code(data.space.fingerprint)})`]);
    else rows.push(['search space', `${sn.spaceSpec.name} (not resolved)`]);
    for (const k of ['rule', 'steps', 'lr', 'warmupSteps', 'batchSize', 'gradAccum', 'maxLength', 'weightDecay', 'seed', 'backend', 'seconds']) {
      if (t[k] !== undefined) rows.push([`training ${k}`, k === 'seconds' && typeof t[k] === 'number' ? `${fixed(t[k] as number, 1)} s` : jsonCell(t[k])]);
    }
    if (t['adapterMode'] !== undefined) rows.push(['adapter mode', code(jsonCell(t['adapterMode']))]);
    if (typeof d['name'] === 'string') rows.push(['task', `${d['name']}${typeof d['train'] === 'number' ? `: ${d['train']} training / ${String(d['validation'])} validation examples` : ''}`]);
    blocks.push({ kind: 'paragraph', text: 'Supernet (supernet.json):' });
    blocks.push({ kind: 'table', header: ['setting', 'value'], rows });
  }
  if (data.studies.length > 0) {
    blocks.push({ kind: 'paragraph', text: 'Studies (the header of each trials.jsonl):' });
    blocks.push({
      kind: 'table',
      header: ['study', 'strategy', 'options', 'objectives', 'constraints', 'budget', 'batch', 'seed', 'space'],
      rows: data.studies.map((s) => {
        const h = s.header;
        return [
          s.label,
          `${h.strategy.name} ${h.strategy.version}`,
          code(jsonCell(h.strategy.options)),
          h.objectives.map((o) => `${o.name} (${o.direction === 'maximize' ? 'max' : 'min'})`).join(', '),
          h.constraints.map((c) => code(c.name)).join(', ') || '–',
          h.budget === null ? 'none' : String(h.budget),
          String(h.batchSize),
          String(h.seed),
          `${h.space.name} ${code(h.space.fingerprint)}`,
        ];
      }),
    });
  }
  return { id: 'settings', title: 'Settings', blocks };
}

/**
 * The ranks column of a table of configuration keys (`SearchSpace.rankPattern`, e.g.
 * `16/12/8 8/8/8×3`), or nothing when the space is unknown. A key of another space gets `–`.
 */
function ranksColumn(space: SearchSpace | undefined): { header: string[]; cell: (key: string | undefined) => string[] } {
  if (!space) return { header: [], cell: () => [] };
  return {
    header: [`ranks (${space.rankPatternLegend()})`],
    cell: (key) => {
      if (!key) return ['–'];
      try {
        return [space.rankPattern(key)];
      } catch {
        return ['–'];
      }
    },
  };
}

function figure(plots: ReadonlyMap<PlotId, Plot>, id: PlotId): Block[] {
  const p = plots.get(id);
  return p ? [{ kind: 'figure', plot: p }] : [];
}

function paretoSection(a: SearchAnalysis | undefined, plots: ReadonlyMap<PlotId, Plot>): Section | undefined {
  if (!a) return undefined;
  const blocks: Block[] = [...figure(plots, 'pareto')];
  const yName = a.y.name;
  const xName = a.x.name;
  if (a.front.length === 0) blocks.push({ kind: 'note', text: 'No trial is feasible: the front is empty.' });
  else {
    blocks.push({ kind: 'paragraph', text: `The front over all ${a.studies.length === 1 ? 'trials' : 'studies'}: ${a.front.length} feasible ${a.front.length === 1 ? 'subnet' : 'subnets'} that no other usable feasible trial dominates, by ${xName}.` });
    blocks.push({
      kind: 'table',
      header: ['config key', yName, xName, ...a.objectives.slice(2).map((o) => o.name), 'found by'],
      rows: a.front.map((p) => [code(p.key), formatObjective(yName, p.y), formatObjective(xName, p.x), ...a.objectives.slice(2).map((o, k) => formatObjective(o.name, p.values[k + 2])), p.foundBy.join(', ')]),
      numeric: [false, true, true, ...a.objectives.slice(2).map(() => true), false],
    });
  }
  if (a.best) blocks.push({ kind: 'paragraph', text: `Most accurate feasible subnet: ${code(a.best.key)} (${yName} ${formatObjective(yName, a.best.y)}, ${xName} ${formatObjective(xName, a.best.x)}; ${a.best.study} trial ${a.best.number}).` });
  if (a.heuristics.length > 0) {
    const onFront = new Set(a.front.map((p) => p.key));
    blocks.push({ kind: 'paragraph', text: 'The heuristic subnets of the space (every gene at its largest, median and smallest rank):' });
    blocks.push({
      kind: 'table',
      header: ['heuristic', 'config key', yName, xName, 'feasible', 'on the front'],
      rows: a.heuristics.map((h) => [
        h.name,
        code(h.key),
        h.trial ? formatObjective(yName, h.trial.y) : 'not evaluated',
        h.trial ? formatObjective(xName, h.trial.x) : '–',
        h.trial ? (h.trial.feasible ? 'yes' : 'no') : '–',
        onFront.has(h.key) ? 'yes' : 'no',
      ]),
      numeric: [false, false, true, true, false, false],
    });
  }
  return { id: 'pareto', title: 'Pareto front', blocks };
}

function progressionSection(a: SearchAnalysis | undefined, plots: ReadonlyMap<PlotId, Plot>): Section | undefined {
  if (!a) return undefined;
  const yName = a.y.name;
  const d = a.objectives.length;
  const blocks: Block[] = [...figure(plots, 'progression')];
  blocks.push({
    kind: 'paragraph',
    text:
      `Hypervolume: of the feasible front in all ${d} objectives, each turned into one to minimise and scaled to [0, 1] by its ideal and nadir over every usable trial of the run ` +
      `(${a.objectives.map((o, m) => `${o.name}: ideal ${formatObjective(o.name, a.normalisation.ideal[m])}, nadir ${formatObjective(o.name, a.normalisation.nadir[m])}`).join('; ')}), ` +
      `reference point ${a.normalisation.reference} in every objective; the largest possible value is ${formatValue(Math.pow(a.normalisation.reference, d))}. It compares the strategies of this run, not runs with each other.`,
  });
  blocks.push({
    kind: 'table',
    header: ['study', 'budget', 'evaluations', 'complete', 'feasible', 'failed', 'filtered', `best ${yName}`, 'best config', 'front', 'hypervolume'],
    rows: a.summaries.map((s) => [
      s.study,
      s.budget === null ? 'none' : String(s.budget),
      String(s.evaluations),
      String(s.complete),
      String(s.feasible),
      String(s.failed),
      String(s.filtered),
      s.best ? formatObjective(yName, s.best.y) : '–',
      s.best ? code(s.best.key) : '–',
      String(s.frontSize),
      fixed(s.hypervolume, 4),
    ]),
    numeric: [false, true, true, true, true, true, true, true, false, true, true],
  });
  const recorded = a.studies.filter((s) => s.pareto?.hypervolume !== null && s.pareto?.hypervolume !== undefined && s.pareto.referencePoint);
  if (recorded.length > 0) {
    blocks.push({
      kind: 'paragraph',
      text: `Hypervolume recorded in pareto.json (in original units, under the study's own reference point): ${recorded.map((s) => `${s.label} ${formatValue(s.pareto?.hypervolume)} (reference [${(s.pareto?.referencePoint ?? []).join(', ')}])`).join('; ')}.`,
    });
  }
  return { id: 'progression', title: 'Search progression', blocks };
}

function ranksSection(data: ReportData, a: SearchAnalysis | undefined, plots: ReadonlyMap<PlotId, Plot>): Section | undefined {
  if (!a) return undefined;
  const space = data.space;
  if (!space) {
    return {
      id: 'ranks',
      title: 'Rank patterns of the chosen subnets',
      blocks: [{ kind: 'note', text: 'The search space is unknown (no supernet found, see the notes), so the configurations cannot be mapped to layers and module groups.' }],
    };
  }
  const blocks: Block[] = [...figure(plots, 'ranks')];
  const hasWidths = space.instances.some((g) => g.kind === 'width');
  blocks.push({
    kind: 'table',
    // describe() writes a width gene as `group=w<width>`.
    header: ['subnet', 'config key', hasWidths ? 'ranks and MLP widths (w) by layer' : 'ranks by layer'],
    rows: a.chosen.map((c) => [c.roles.join(', '), code(c.key), space.describe(c.config).split('\n').join('; ')]),
  });
  return { id: 'ranks', title: 'Rank patterns of the chosen subnets', blocks };
}

function configurationsSection(a: SearchAnalysis | undefined, plots: ReadonlyMap<PlotId, Plot>): Section | undefined {
  const fig = figure(plots, 'parallel');
  if (!a || fig.length === 0) return undefined;
  const keys = new Map(a.points.map((p) => [p.key, p.feasible]));
  const feasible = [...keys.values()].filter(Boolean).length;
  return {
    id: 'configurations',
    title: 'Evaluated configurations',
    blocks: [
      ...fig,
      { kind: 'paragraph', text: `${keys.size} distinct ${keys.size === 1 ? 'configuration' : 'configurations'} evaluated (${feasible} feasible) by ${a.studies.length} ${a.studies.length === 1 ? 'study' : 'studies'}.` },
    ],
  };
}

function trainingSection(data: ReportData, plots: ReadonlyMap<PlotId, Plot>): Section {
  const sn = data.supernet;
  const title = 'Supernet training';
  if (!sn) return { id: 'training', title, blocks: [{ kind: 'note', text: 'No supernet folder found for this run: no training curve or validation.' }] };
  const blocks: Block[] = [...figure(plots, 'loss')];
  if (sn.trainingLog.length === 0) blocks.push({ kind: 'note', text: `No training-log.jsonl in ${code(sn.dir)}.` });
  else {
    const first = sn.trainingLog[0];
    const last = sn.trainingLog[sn.trainingLog.length - 1];
    if (first && last) blocks.push({ kind: 'paragraph', text: `Training loss from ${formatValue(first.loss)} (step ${first.step}) to ${formatValue(last.loss)} (step ${last.step}).` });
  }
  if (sn.validation && sn.validation.length > 0) {
    blocks.push({ kind: 'paragraph', text: "Validation of the supernet's heuristic subnets (validation.json):" });
    const ranks = ranksColumn(data.space);
    blocks.push({
      kind: 'table',
      header: ['subnet', 'config key', ...ranks.header, 'adapter params', 'loss', 'accuracy'],
      rows: sn.validation.map((v) => [v.name, code(v.key), ...ranks.cell(v.key), formatValue(v.adapterParameters), fixed(v.loss, 4), pct(v.accuracy)]),
      numeric: [false, false, ...ranks.header.map(() => false), true, true, true],
    });
  } else blocks.push({ kind: 'note', text: `No validation.json in ${code(sn.dir)}.` });
  return { id: 'training', title, blocks };
}

function predictorBlocks(p: PredictorReport, runDir: string): Block[] {
  const blocks: Block[] = [];
  const where = code(path.relative(runDir, p.source) || p.source);
  const used = p.study ? `Study ${p.study} scored latency with ${p.kind ? `a ${p.kind} predictor` : 'a predictor'}${p.predictorFile ? ` (${code(p.predictorFile)})` : ''}; from ${where}.` : `Predictor validation from ${where}.`;
  blocks.push({ kind: 'paragraph', text: used });
  if (p.rows.length === 0) {
    blocks.push({ kind: 'note', text: 'No validation scores were recorded for it (nls profile --validate writes predictor-quality.json next to the predictor).' });
    return blocks;
  }
  if (p.split) blocks.push({ kind: 'paragraph', text: `Validation split: ${p.split.train} configurations to fit, ${p.split.validation} held out (seed ${String(p.split.seed)}).` });
  const t = p.targets ?? {};
  const meets = (r: PredictorReport['rows'][number]) => {
    const checks: boolean[] = [];
    if (t['within10'] !== undefined) checks.push(r.within10 !== null && r.within10 >= t['within10']);
    if (t['kendallTau'] !== undefined) checks.push(r.kendallTau !== null && r.kendallTau >= t['kendallTau']);
    return checks.length === 0 ? '–' : checks.every(Boolean) ? 'yes' : 'no';
  };
  blocks.push({
    kind: 'table',
    header: ['predictor', 'fitted on', 'evaluated on', 'n', 'MAPE', 'RMSE', 'within ±5%', 'within ±10%', 'Kendall τ', 'meets targets'],
    rows: p.rows.map((r) => [r.predictor, r.fittedOn ?? '–', r.evaluatedOn ?? '–', formatValue(r.n), pct(r.mape), fixed(r.rmse, 3), pct(r.within5), pct(r.within10), fixed(r.kendallTau, 3), meets(r)]),
    numeric: [false, false, false, true, true, true, true, true, true, false],
  });
  if (Object.keys(t).length > 0) {
    blocks.push({ kind: 'paragraph', text: `Targets: ${Object.entries(t).map(([k, v]) => (k === 'within10' ? `within ±10% ≥ ${pct(v)}` : k === 'kendallTau' ? `Kendall τ ≥ ${v}` : `${k} ${v}`)).join(', ')}.` });
  }
  return blocks;
}

function predictorsSection(data: ReportData): Section | undefined {
  const title = 'Latency predictor validation';
  if (data.predictors.length === 0) return undefined;
  return { id: 'predictors', title, blocks: data.predictors.flatMap((p) => predictorBlocks(p, data.runDir)) };
}

function demoSection(data: ReportData): Section | undefined {
  const title = 'Demo results';
  const d = data.demo;
  if (!d) return data.layout === 'demo' ? { id: 'demo', title, blocks: [{ kind: 'note', text: 'No demo-result.json in this run folder (nls demo --out writes it).' }] } : undefined;
  const blocks: Block[] = [];
  if (d.task) {
    const t = d.task;
    blocks.push({
      kind: 'paragraph',
      text: `Task ${t.name ?? '–'}${t.train !== undefined ? `: ${t.train} training / ${t.validation ?? '–'} validation examples` : ''}${t.majorityAccuracy !== undefined ? `; majority class ${pct(t.majorityAccuracy)}` : ''}${d.steps !== undefined ? `; ${d.steps} training steps` : ''}.`,
    });
  }
  const ranks = ranksColumn(data.space);
  blocks.push({
    kind: 'table',
    header: ['model', 'config key', ...ranks.header, 'adapter params', 'val loss', 'accuracy'],
    rows: d.rows.map((r) => [r.description, r.key ? code(r.key) : '–', ...ranks.cell(r.key), formatValue(r.adapterParameters), fixed(r.loss, 4), pct(r.accuracy)]),
    numeric: [false, false, ...ranks.header.map(() => false), true, true, true],
  });
  if (d.search) {
    const s = d.search;
    blocks.push({
      kind: 'paragraph',
      text: `Search: ${s.measured !== undefined ? `${s.measured} subnets measured` : 'subnets measured'}${s.seconds !== undefined ? ` in ${fixed(s.seconds, 1)} s` : ''}${s.paramsBound !== undefined ? `; feasible when params ≤ ${formatValue(s.paramsBound)}` : ''}.`,
    });
  }
  if (d.merge) {
    const m = d.merge;
    blocks.push({
      kind: 'paragraph',
      text:
        `Merged subnet ${code(m.key)}${m.accuracy !== undefined ? ` (accuracy ${pct(m.accuracy)}` : ' ('}${m.params !== undefined ? `, ${formatValue(m.params)} adapter params)` : ')'}` +
        `${m.newNonZeros !== undefined ? `: ${formatValue(m.newNonZeros)} pruned weights filled in` : ''}${m.maxLogitDiff !== undefined ? `, max |logit difference| against base + adapter ${m.maxLogitDiff.toExponential(1)}` : ''}.`,
    });
  }
  return { id: 'demo', title, blocks };
}

/** The results of an nls replicate study: its chart, a table per task, and the findings. */
function resultsSection(data: ReportData, plots: ReadonlyMap<PlotId, Plot>): Section | undefined {
  const r = data.replicate;
  if (!r) return undefined;
  const interval = (m: { mean: number; halfWidth: number }) => (Number.isFinite(m.mean) ? `${pct(m.mean)}${Number.isFinite(m.halfWidth) ? ` ± ${(100 * m.halfWidth).toFixed(1)}` : ''}` : '–');
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      text: `${r.budget.seeds} seeds x ${r.budget.tasks.length} tasks; ${r.budget.steps} training steps, ${r.budget.searchBudget} evaluations per search; accuracy on ${r.budget.testSize} test examples, searches selected on ${r.budget.validationSize} validation examples. Intervals are 95% Student-t intervals over seeds.`,
    },
    ...[partialNote(r)].filter((t) => t !== undefined).map((text) => ({ kind: 'note' as const, text })),
    ...figure(plots, 'results'),
  ];
  for (const task of r.budget.tasks) {
    blocks.push({ kind: 'paragraph', text: `Task ${code(task)}:` });
    blocks.push({
      kind: 'table',
      header: ['base', 'subnet', 'adapter params', 'test accuracy', 'validation accuracy'],
      rows: [
        ...(r.references[task] ?? []).map((ref) => ['–', `${ref.name} (no model)`, '0', pct(ref.test), pct(ref.validation)]),
        ...r.summary.filter((s) => s.task === task).map((s) => [s.base, s.row, formatValue(Math.round(s.params)), interval(s.test), interval(s.validation)]),
      ],
      numeric: [false, false, true, true, true],
    });
  }
  blocks.push({
    kind: 'list',
    items: r.findings.map((f) => `${f.id}. ${f.statement}: ${f.checks.length === 0 ? 'not tested' : `held in ${f.checks.filter((c) => c.holds).length} of ${f.checks.length}`}${f.checks.map((c) => ` — ${c.task}, ${c.base}: ${c.holds ? 'holds' : 'does not hold'} (${c.evidence})`).join('')}`),
  });
  return { id: 'results', title: 'Results over seeds', blocks };
}

/** Build the report document of `data` with its plots. */
export function buildDocument(data: ReportData, analysis: SearchAnalysis | undefined, plots: readonly Plot[]): ReportDocument {
  const byId = new Map(plots.map((p) => [p.id, p]));
  const notes = [...data.warnings, ...(analysis?.notes ?? [])];
  if (!analysis && data.layout !== 'train' && data.layout !== 'replicate') notes.push(NO_SEARCH);
  // Results first, settings last. A section holding nothing but notes is left out and its notes
  // join the others, so no heading stands over an empty section.
  const candidates = [
    resultsSection(data, byId),
    paretoSection(analysis, byId),
    progressionSection(analysis, byId),
    ranksSection(data, analysis, byId),
    configurationsSection(analysis, byId),
    trainingSection(data, byId),
    predictorsSection(data),
    demoSection(data),
    settingsSection(data),
  ];
  const sections: Section[] = [];
  for (const s of candidates) {
    if (!s) continue;
    if (s.blocks.every((b) => b.kind === 'note')) {
      for (const b of s.blocks) if (b.kind === 'note' && !notes.includes(b.text)) notes.push(b.text);
      continue;
    }
    sections.push(s);
  }
  if (notes.length > 0) sections.push({ id: 'notes', title: 'Notes', blocks: [{ kind: 'list', items: notes }] });
  const command = data.manifest ? `nls ${data.manifest.command}` : data.layout === 'train' ? 'nls train' : data.layout === 'search' ? 'nls search' : 'nls';
  return {
    title: `nls report: ${path.basename(data.runDir)}`,
    subtitle: `Report of the ${command} run in ${code(data.runDir)}, written by nls ${NLS_VERSION} (nls report).`,
    sections,
  };
}
