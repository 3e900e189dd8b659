/**
 * The report as one self-contained HTML file (report.html): inline CSS, the plots as inline SVG,
 * no scripts and no external resources (no links to fetch, fonts, images or styles), so it opens
 * the same anywhere, offline.
 */
import { escapeXml } from './svg.js';
import type { Block, ReportDocument } from './sections.js';

const CSS = `
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d1d1f; font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; background: #ffffff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid #d9dce1; }
p.subtitle { color: #555; margin-top: 0; }
nav ol { columns: 2; margin: 8px 0 0; }
code { font: 13px/1.4 "SFMono-Regular", Menlo, Consolas, monospace; background: #f0f1f4; padding: 1px 4px; border-radius: 3px; white-space: nowrap; overflow-wrap: normal; word-break: normal; }
code.words { white-space: normal; }
div.table { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d9dce1; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f1f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 12px 0 20px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #e4e6ea; }
figcaption { color: #444; font-size: 13px; margin-top: 6px; }
.note { border-left: 4px solid #b0b7c3; background: #f4f5f7; padding: 8px 12px; color: #333; }
`;

/**
 * Inline text (code spans between backticks, see sections.ts) as HTML. A code span never breaks
 * inside a token (a configuration key, a constraint, an option, a path: `white-space: nowrap`);
 * one holding spaces (a command line, a JSON value) may break at them (`class="words"`). Wide
 * tables scroll sideways instead.
 */
export function inlineHtml(text: string): string {
  const parts = text.split('`');
  if (parts.length % 2 === 0) return escapeXml(text);
  return parts.map((p, i) => (i % 2 === 1 ? `<code${/\s/.test(p) ? ' class="words"' : ''}>${escapeXml(p)}</code>` : escapeXml(p))).join('');
}

function block(b: Block): string {
  switch (b.kind) {
    case 'paragraph':
      return `<p>${inlineHtml(b.text)}</p>`;
    case 'note':
      return `<p class="note">${inlineHtml(b.text)}</p>`;
    case 'list':
      return `<ul>${b.items.map((i) => `<li>${inlineHtml(i)}</li>`).join('')}</ul>`;
    case 'table': {
      const cls = (i: number) => (b.numeric?.[i] ? ' class="num"' : '');
      const head = `<thead><tr>${b.header.map((h, i) => `<th${cls(i)}>${inlineHtml(h)}</th>`).join('')}</tr></thead>`;
      const body = `<tbody>${b.rows.map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${inlineHtml(c)}</td>`).join('')}</tr>`).join('\n')}</tbody>`;
      return `<div class="table"><table>${head}\n${body}</table></div>`;
    }
    case 'figure':
      return `<figure id="plot-${b.plot.id}">${b.plot.svg}<figcaption>${inlineHtml(b.plot.caption)}</figcaption></figure>`;
  }
}

/** Render `doc` as a self-contained HTML document. */
export function renderHtml(doc: ReportDocument): string {
  const nav = `<nav><ol>${doc.sections.map((s) => `<li><a href="#${s.id}">${escapeXml(s.title)}</a></li>`).join('')}</ol></nav>`;
  const sections = doc.sections.map((s, i) => `<section id="${s.id}">\n<h2>${i + 1}. ${escapeXml(s.title)}</h2>\n${s.blocks.map(block).join('\n')}\n</section>`);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(doc.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeXml(doc.title)}</h1>`,
    `<p class="subtitle">${inlineHtml(doc.subtitle)}</p>`,
    nav,
    ...sections,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
