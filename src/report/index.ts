/**
 * Run reports (`nls report RUN_DIR`): one Markdown and one self-contained HTML file describing a
 * run folder — results first: the Pareto front, the search progression, the chosen subnets' rank
 * patterns, the evaluated configurations in parallel coordinates, the supernet's training curve
 * and validation, the latency predictor's validation and the demo's result table; then the run's
 * settings. Sections with nothing to show are left out. See docs/reports.md.
 *
 * Pure TypeScript: nothing here imports tfjs, so a report is written in well under a second.
 *
 * @packageDocumentation
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { analyseSearch, type SearchAnalysis } from './analysis.js';
import { collectReport, type CollectOptions, type ReportData } from './collect.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { buildPlots, type Plot, type PlotId } from './plots.js';
import { buildDocument, type ReportDocument, type SectionId } from './sections.js';

/** File name of the Markdown report. */
export const REPORT_MARKDOWN_FILE = 'report.md';
/** File name of the HTML report. */
export const REPORT_HTML_FILE = 'report.html';
/** Folder (next to report.md) holding the plots as SVG files. */
export const REPORT_FIGURES_DIR = 'report';
/** Every plot id, in report order. */
export const PLOT_IDS: readonly PlotId[] = ['pareto', 'progression', 'ranks', 'parallel', 'loss'];

/** A report rendered in memory. */
export interface RenderedReport {
  /** Content of report.md (figures linked as `report/<id>.svg`). */
  readonly markdown: string;
  /** Content of report.html (figures inline). */
  readonly html: string;
  /** The plots the data allowed. */
  readonly plots: readonly Plot[];
  readonly document: ReportDocument;
  readonly analysis?: SearchAnalysis;
}

/** Render the report of collected data without writing anything. */
export function renderReport(data: ReportData): RenderedReport {
  const analysis = analyseSearch(data);
  const plots = buildPlots(data, analysis);
  const document = buildDocument(data, analysis, plots);
  return {
    markdown: renderMarkdown(document, { figurePath: (id) => `${REPORT_FIGURES_DIR}/${id}.svg` }),
    html: renderHtml(document),
    plots,
    document,
    ...(analysis ? { analysis } : {}),
  };
}

/** Options of {@link writeReport}. */
export interface ReportOptions extends CollectOptions {
  /** Folder to write the report into (default: the run folder). */
  readonly out?: string;
}

/** What {@link writeReport} wrote. */
export interface WriteReportResult {
  /** Path of report.md. */
  readonly markdown: string;
  /** Path of report.html. */
  readonly html: string;
  /** Every file written: the SVG figures, report.md, report.html. */
  readonly files: readonly string[];
  /** Sections of the report, in order. */
  readonly sections: readonly SectionId[];
  /** Plots drawn. */
  readonly plots: readonly PlotId[];
  /** What could not be found or did not fit (also in the report's notes). */
  readonly warnings: readonly string[];
}

/**
 * Read the run folder `runDir` and write `report.md`, `report.html` and the figures
 * (`report/<plot>.svg`) into `options.out` (default `runDir`), each file atomically. Figures of
 * an earlier report that this one does not draw are removed.
 *
 * @throws NlsError when the folder holds nothing to report or a file in it is malformed.
 */
export async function writeReport(runDir: string, options: ReportOptions = {}): Promise<WriteReportResult> {
  const data = await collectReport(runDir, options);
  const rendered = renderReport(data);
  const out = path.resolve(options.out ?? data.runDir);
  const figures = path.join(out, REPORT_FIGURES_DIR);
  const files: string[] = [];
  for (const plot of rendered.plots) {
    const file = path.join(figures, `${plot.id}.svg`);
    await writeFileAtomic(file, `${plot.svg}\n`);
    files.push(file);
  }
  for (const id of PLOT_IDS) {
    const stale = path.join(figures, `${id}.svg`);
    if (!rendered.plots.some((p) => p.id === id) && existsSync(stale)) await fsp.rm(stale, { force: true });
  }
  const markdown = path.join(out, REPORT_MARKDOWN_FILE);
  const html = path.join(out, REPORT_HTML_FILE);
  await writeFileAtomic(markdown, rendered.markdown);
  await writeFileAtomic(html, rendered.html);
  files.push(markdown, html);
  return {
    markdown,
    html,
    files,
    sections: rendered.document.sections.map((s) => s.id),
    plots: rendered.plots.map((p) => p.id),
    warnings: [...data.warnings, ...(rendered.analysis?.notes ?? [])],
  };
}

export {
  collectReport,
  readDemoResult,
  readTrainingLog,
  readValidation,
  type CollectOptions,
  type DemoResultData,
  type DemoRowData,
  type ReportHeuristic,
  type PredictorReport,
  type PredictorValidationRow,
  type ReportData,
  type ReportLayout,
  type ReportStudy,
  type ReportSupernet,
  type TrainingLogRecord,
  type ValidationSubnet,
} from './collect.js';
export {
  analyseSearch,
  HV_REFERENCE,
  type AxisChoice,
  type ChosenSubnet,
  type FrontMember,
  type PlotTrial,
  type ProgressPoint,
  type SearchAnalysis,
  type StudyProgression,
  type StudySummary,
} from './analysis.js';
export { buildPlots, lossPlot, parallelPlot, paretoPlot, progressionPlot, ranksPlot, type Plot, type PlotId } from './plots.js';
export { buildDocument, SECTION_IDS, type Block, type ReportDocument, type Section, type SectionId } from './sections.js';
export { renderMarkdown, type MarkdownOptions } from './markdown.js';
export { renderHtml } from './html.js';
export * as svg from './svg.js';
