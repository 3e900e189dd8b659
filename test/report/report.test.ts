/** writeReport on synthetic run folders: files, sections, self-containment, determinism; the CLI handler; no tfjs. */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { reportCommand } from '../../src/cli/commands/report.js';
import { renderReport, writeReport } from '../../src/report/index.js';
import { collectReport } from '../../src/report/collect.js';
import { NO_SEARCH } from '../../src/report/sections.js';
import { writeRun } from './fixtures.js';
import { tempDir } from './temp.js';
import { checkXml } from './xml.js';

const root = tempDir('nls-report-write-');
const demo = path.join(root, 'demo');
const search = path.join(root, 'search');
const train = path.join(root, 'train');

beforeAll(async () => {
  await writeRun(demo, 'demo');
  await writeRun(search, 'search');
  await writeRun(train, 'train');
});

const SECTION_TITLES = [
  '1. Pareto front',
  '2. Search progression',
  '3. Rank patterns of the chosen subnets',
  '4. Evaluated configurations',
  '5. Supernet training',
  '6. Latency predictor validation',
  '7. Demo results',
  '8. Settings',
];

/** Checks that hold for every report.html: well-formed, no script, nothing fetched. */
function expectSelfContained(html: string): void {
  const check = checkXml(html, { voidElements: ['meta'] });
  expect(check.problems).toEqual([]);
  expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|@import|url\(/i);
  for (const e of check.elements) {
    for (const [k, v] of Object.entries(e.attrs)) {
      if (k === 'xmlns') continue;
      expect(`${e.name} ${k}=${v}`).not.toMatch(/(https?:|file:|data:|\/\/)/);
      if (k === 'href') expect(v.startsWith('#')).toBe(true);
    }
  }
}

describe('writeReport', () => {
  it('nls demo folder: report.md with every section and linked SVGs, report.html with the plots inline', async () => {
    const r = await writeReport(demo);
    expect(r.markdown).toBe(path.join(demo, 'report.md'));
    expect(r.html).toBe(path.join(demo, 'report.html'));
    expect(r.plots).toEqual(['pareto', 'progression', 'ranks', 'parallel', 'loss']);
    expect(r.sections).toEqual(['pareto', 'progression', 'ranks', 'configurations', 'training', 'predictors', 'demo', 'settings']);
    expect(r.files.map((f) => path.relative(demo, f))).toEqual(['report/pareto.svg', 'report/progression.svg', 'report/ranks.svg', 'report/parallel.svg', 'report/loss.svg', 'report.md', 'report.html']);
    const md = readFileSync(r.markdown, 'utf8');
    for (const t of SECTION_TITLES) expect(md).toContain(`## ${t}`);
    for (const id of r.plots) {
      expect(md).toContain(`](report/${id}.svg)`);
      const svg = readFileSync(path.join(demo, 'report', `${id}.svg`), 'utf8');
      expect(checkXml(svg).problems).toEqual([]);
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    }
    // Settings from the manifest, studies, the front, hypervolume, validation, predictor, demo rows.
    expect(md).toContain("`nls demo --out");
    expect(md).toContain("'it'\\''s'");
    expect(md).toContain('Test CPU &lt;fast&gt; & "cheap"');
    expect(md).toMatch(/\| heuristic \| heuristic 1\.0\.0 \|/);
    expect(md).toMatch(/Most accurate feasible subnet: `\d{3}\.\d{3}\.\d{3}\.\d{3}`/);
    expect(md).toMatch(/reference point 1\.1 in every objective/);
    // The ranks next to each key (SearchSpace.rankPattern).
    expect(md).toMatch(/\| max \| `000\.000\.000\.000` \| 16\/16\/16×4 \| 204,800 \| 0\.7100 \| 93\.0% \|/);
    expect(md).toMatch(/\| lookup-table \| per-gene terms \| all measured \| 40 \| 3\.1% \| 0\.420 \| 80\.0% \| 97\.5% \| 0\.930 \| yes \|/);
    expect(md).toMatch(/\| ridge .* \| – \| no \|/);
    // Demo rows: a pipe in a description is escaped; a missing loss is a dash.
    expect(md).toContain('| LoRA \\| fixed rank r\\_max |');
    expect(md).toMatch(/NLS supernet: median &lt;heuristic&gt; subnet \| `111\.111\.111\.111` \| 12\/12\/12×4 \| 153,600 \| – \| – \|/);
    expect(md).toMatch(/Merged subnet `333\.333\.333\.333`/);
    expect(md).not.toContain('## 9. Notes');

    const html = readFileSync(r.html, 'utf8');
    expectSelfContained(html);
    for (const id of r.plots) expect(html).toContain(`<figure id="plot-${id}"><svg xmlns="http://www.w3.org/2000/svg"`);
    expect((html.match(/<svg /g) ?? []).length).toBe(5);
    for (const s of r.sections) expect(html).toContain(`<section id="${s}">`);
    expect(html).toContain('NLS supernet: median &lt;heuristic&gt; subnet');
  });

  it('is deterministic: a second report of the same folder is byte-identical', async () => {
    const first = Object.fromEntries((await writeReport(demo)).files.map((f) => [f, readFileSync(f, 'utf8')]));
    const second = await writeReport(demo);
    for (const f of second.files) expect(readFileSync(f, 'utf8'), f).toBe(first[f]);
  });

  it('nls search folder: the supernet found through the manifest gives the rank patterns and the loss curve', async () => {
    const r = await writeReport(search);
    expect(r.plots).toEqual(['pareto', 'progression', 'ranks', 'parallel', 'loss']);
    const md = readFileSync(r.markdown, 'utf8');
    expect(md).toContain('Study random scored latency with a lookup-table predictor');
    expect(md).toContain('No validation scores were recorded');
    // A search folder has no demo table: no section for it, and no note either.
    expect(md).not.toContain('Demo results');
    expect(md).not.toContain('demo-result.json');
    expect(md).toContain('an `nls search --out` folder');
  });

  it('nls train folder: loss curve and validation, then settings; no search, predictor or demo sections', async () => {
    const r = await writeReport(train);
    expect(r.plots).toEqual(['loss']);
    expect(r.sections).toEqual(['training', 'settings']);
    const md = readFileSync(r.markdown, 'utf8');
    expect(md.match(/^## .*$/gm)).toEqual(['## 1. Supernet training', '## 2. Settings']);
    expect(md).not.toContain(NO_SEARCH);
    expect(md).not.toContain('predictor');
    expect(md).toContain('training rule | sandwich');
    expect(md).toMatch(/\| min \| `333\.333\.333\.333` \| 4\/4\/4×4 \| 51,200 \| 0\.9300 \| 84\.0% \|/);
    expectSelfContained(readFileSync(r.html, 'utf8'));
  });

  it('--out writes elsewhere; figures an earlier report drew but this one does not are removed', async () => {
    const out = path.join(root, 'elsewhere');
    await writeReport(demo, { out });
    expect(readdirSync(path.join(out, 'report')).sort()).toEqual(['loss.svg', 'parallel.svg', 'pareto.svg', 'progression.svg', 'ranks.svg']);
    // Now the same folder reports a train run: only the loss figure remains.
    const r = await writeReport(train, { out });
    expect(r.plots).toEqual(['loss']);
    expect(readdirSync(path.join(out, 'report'))).toEqual(['loss.svg']);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).not.toContain('Pareto front');
  });

  it('a folder without manifest.json or supernet: the report says so and shows the rest', async () => {
    const dir = path.join(root, 'bare');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    cpSync(path.join(demo, 'search', 'nsga2'), dir, { recursive: true });
    const r = await writeReport(dir);
    expect(r.plots).toEqual(['pareto', 'progression', 'parallel']);
    expect(r.sections).toEqual(['pareto', 'progression', 'configurations', 'settings', 'notes']);
    const md = readFileSync(r.markdown, 'utf8');
    expect(md).toContain('No manifest.json in this run folder');
    // Sections with nothing to show are left out; why goes to the notes.
    expect(md).not.toContain('## 3. Rank patterns');
    expect(md).not.toContain('Supernet training');
    expect(md).toMatch(/^- The search space is unknown/m);
    expect(md).toMatch(/^- No supernet folder found/m);
    expect(md).toContain('## 5. Notes');
  });

  it('renderReport renders without writing', async () => {
    const rendered = renderReport(await collectReport(demo));
    expect(rendered.markdown.startsWith('# nls report: demo\n')).toBe(true);
    expect(rendered.plots).toHaveLength(5);
    expect(rendered.analysis?.front.length).toBeGreaterThan(0);
  });
});

describe('report.html layout', () => {
  it('results come first (front, progression, chosen subnets, configurations), settings last', async () => {
    const html = readFileSync((await writeReport(demo)).html, 'utf8');
    const at = (id: string) => html.indexOf(`<section id="${id}">`);
    const order = ['pareto', 'progression', 'ranks', 'configurations', 'training', 'predictors', 'demo', 'settings'];
    for (const id of order) expect(at(id), id).toBeGreaterThan(0);
    expect(order.map(at)).toEqual([...order.map(at)].sort((p, q) => p - q));
    // The first figure comes before any settings table.
    expect(html.indexOf('<figure id="plot-pareto">')).toBeLessThan(html.indexOf('Options after parsing and defaults'));
    expect(html.indexOf('<figure id="plot-pareto">')).toBeLessThan(html.indexOf('<table>'));
  });

  it('no empty section: every heading stands over a figure, a table or a paragraph', async () => {
    for (const dir of [demo, search, train]) {
      const html = readFileSync((await writeReport(dir)).html, 'utf8');
      const sections = [...html.matchAll(/<section id="([a-z]+)">\n<h2>[^<]*<\/h2>\n([\s\S]*?)\n<\/section>/g)];
      expect(sections.length).toBeGreaterThan(0);
      for (const [, id, body] of sections) {
        if (id === 'notes') continue;
        expect(body, `${dir} ${id}`).toMatch(/<figure|<table|<p>/);
      }
      expect(html).not.toContain(NO_SEARCH);
    }
  });

  it('configuration keys, constraints and options never wrap inside a token', async () => {
    const html = readFileSync((await writeReport(demo)).html, 'utf8');
    const css = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const codeRule = /(^|\n)code \{([^}]*)\}/.exec(css)?.[2] ?? '';
    expect(codeRule).toContain('white-space: nowrap');
    expect(css).not.toMatch(/break-all|overflow-wrap: anywhere/);
    // Wide tables scroll sideways instead of squeezing their cells.
    expect(css).toMatch(/div\.table \{[^}]*overflow-x: auto/);
    expect(html).toMatch(/<div class="table"><table>/);
    // Keys and constraints are single tokens: plain (nowrap) code spans.
    expect(html).toMatch(/<td><code>\d{3}\.\d{3}\.\d{3}\.\d{3}<\/code><\/td>/);
    expect(html).toMatch(/<code>params&lt;=120000<\/code>/);
    // Values with spaces (a command line, JSON options) may break at their spaces only.
    expect(html).toMatch(/<code class="words">nls demo --out /);
    expect(html).toMatch(/<code class="words">\{&quot;\w+&quot;: /);
  });
});

describe('nls report (command handler)', () => {
  async function run(args: Record<string, unknown>): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      const handler = reportCommand.handler as (argv: Record<string, unknown>) => Promise<void>;
      await handler({ backend: 'wasm', quiet: false, json: false, seed: 0, _: [], $0: 'nls', ...args });
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    return { out, err };
  }

  it('prints the two paths, or one JSON document with --json; notes go to stderr', async () => {
    const text = await run({ run: search });
    expect(text.out).toBe(`wrote ${path.join(search, 'report.md')}\nwrote ${path.join(search, 'report.html')}\n`);
    const dir = path.join(root, 'cli-bare');
    mkdirSync(dir, { recursive: true });
    cpSync(path.join(demo, 'search', 'random'), dir, { recursive: true });
    const json = await run({ run: dir, json: true, out: path.join(root, 'cli-out') });
    const doc = JSON.parse(json.out) as { markdown: string; html: string; files: string[]; sections: string[]; warnings: string[] };
    expect(doc.markdown).toBe(path.join(root, 'cli-out', 'report.md'));
    expect(doc.files).toContain(path.join(root, 'cli-out', 'report', 'pareto.svg'));
    expect(doc.warnings[0]).toMatch(/no manifest\.json/);
    expect(json.err).toBe('');
    const noted = await run({ run: dir });
    expect(noted.err).toMatch(/^nls report: note: no manifest\.json/);
  });
});

describe('src/report imports', () => {
  it('never loads tfjs: the static import graph from src/report stays clear of it', () => {
    const src = fileURLToPath(new URL('../../src/', import.meta.url));
    const seen = new Set<string>();
    const queue = [...readdirSync(path.join(src, 'report')).map((f) => path.join(src, 'report', f))];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file) || !existsSync(file) || statSync(file).isDirectory()) continue;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // Value imports and re-exports (type-only ones are erased).
      const specs = [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1] as string);
      for (const spec of specs) {
        expect(spec, `${path.relative(src, file)} imports ${spec}`).not.toMatch(/tensorflow|tfjs/);
        if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    }
    expect(seen.size).toBeGreaterThan(8);
    expect([...seen].some((f) => f.includes(`${path.sep}model${path.sep}`) || f.includes(`${path.sep}adapters${path.sep}`))).toBe(false);
  });
});

// Keep the fixture helpers honest: writing a report leaves the run's own files alone.
describe('the run folder', () => {
  it('keeps every file the run wrote', async () => {
    const dir = path.join(root, 'untouched');
    await writeRun(dir, 'search');
    const before = readdirSync(dir).sort();
    writeFileSync(path.join(dir, 'extra.txt'), 'x');
    await writeReport(dir);
    expect(readdirSync(dir).sort()).toEqual([...before, 'extra.txt', 'report', 'report.html', 'report.md'].sort());
  });
});
