/**
 * The report as Markdown (report.md): the document of `sections.ts` with its figures linked as
 * SVG files (written next to it by `writeReport`).
 */
import type { PlotId } from './plots.js';
import type { Block, ReportDocument } from './sections.js';

/** Options of {@link renderMarkdown}. */
export interface MarkdownOptions {
  /** Path of each plot's SVG file relative to the Markdown file, e.g. `report/pareto.svg`. */
  readonly figurePath: (id: PlotId) => string;
}

/** Escape Markdown syntax in plain text (not in code spans). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\*_[\]<>|#]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : `\\${c}`));
}

/**
 * Inline text (plain text with code spans between backticks, see sections.ts) as Markdown: code
 * spans kept, everything else escaped. An unmatched backtick is literal.
 */
export function inlineMarkdown(text: string): string {
  const parts = text.split('`');
  if (parts.length % 2 === 0) return escapeMarkdown(text).replace(/`/g, '\\`');
  return parts.map((p, i) => (i % 2 === 1 ? `\`${p}\`` : escapeMarkdown(p))).join('');
}

function cell(text: string): string {
  // A pipe must be escaped even inside a code span of a table cell.
  return inlineMarkdown(text).replace(/\n/g, ' ').replace(/`([^`]*)`/g, (_, c: string) => `\`${c.replace(/\|/g, '\\|')}\``);
}

function block(b: Block, options: MarkdownOptions): string {
  switch (b.kind) {
    case 'paragraph':
      return inlineMarkdown(b.text);
    case 'note':
      return `> ${inlineMarkdown(b.text)}`;
    case 'list':
      return b.items.map((i) => `- ${inlineMarkdown(i)}`).join('\n');
    case 'table': {
      const align = b.header.map((_, i) => (b.numeric?.[i] ? '---:' : '---'));
      const row = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
      return [row(b.header), `| ${align.join(' | ')} |`, ...b.rows.map(row)].join('\n');
    }
    case 'figure':
      return `![${escapeMarkdown(b.plot.title)}](${options.figurePath(b.plot.id)})\n\n*${inlineMarkdown(b.plot.caption)}*`;
  }
}

/** Render `doc` as Markdown. */
export function renderMarkdown(doc: ReportDocument, options: MarkdownOptions): string {
  const out: string[] = [`# ${escapeMarkdown(doc.title)}`, inlineMarkdown(doc.subtitle)];
  out.push(doc.sections.map((s, i) => `${i + 1}. [${escapeMarkdown(s.title)}](#${anchor(i, s.title)})`).join('\n'));
  doc.sections.forEach((s, i) => {
    out.push(`## ${i + 1}. ${escapeMarkdown(s.title)}`);
    for (const b of s.blocks) out.push(block(b, options));
  });
  return `${out.join('\n\n')}\n`;
}

/** The anchor GitHub-flavoured Markdown gives the heading `N. title`. */
function anchor(i: number, title: string): string {
  return `${i + 1}-${title}`
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');
}
