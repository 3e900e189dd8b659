/**
 * `nls report` end to end: one short real `nls demo` run (built once), reported through the CLI, and
 * the HTML rendered by headless Chromium (screenshot decoded and checked not to be blank; the DOM
 * checked for one filled <svg> per plot).
 *
 * Chromium: the Debian packages `chromium` and `chromium-driver` (.ci/run installs them). Without
 * it the rendering test is skipped with a message, unless NLS_REQUIRE_CHROMIUM=1, which makes it
 * fail instead.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './fixtures.js';
import { decodePng, inkStatistics } from './png.js';
import { tempDir } from './temp.js';

const exec = promisify(execFile);
const root = tempDir('nls-report-demo-');
const run = path.join(root, 'run');

/** The Chromium binary on PATH, if any. */
function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const CHROMIUM = findChromium();
const REQUIRE_CHROMIUM = process.env['NLS_REQUIRE_CHROMIUM'] === '1';
if (!CHROMIUM && !REQUIRE_CHROMIUM) {
  console.warn('test/report/demo-report.test.ts: chromium is not installed (apt-get install -y chromium chromium-driver); skipping the rendering test');
}

/** Headless Chromium with a throwaway profile; resolves to stdout. */
async function chromium(...args: string[]): Promise<string> {
  const profile = path.join(root, `profile-${args.length}`);
  mkdirSync(profile, { recursive: true });
  const { stdout } = await exec(
    CHROMIUM as string,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, ...args],
    { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

interface ReportJson {
  markdown: string;
  html: string;
  files: string[];
  sections: string[];
  plots: string[];
  warnings: string[];
}

let report: ReportJson;

/** The CLI as a user runs it (through tsx). */
async function nls(...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

beforeAll(async () => {
  // Through the CLI, so that the run folder has its manifest.json as a user's would.
  await nls('demo', '--steps', '4', '--train-size', '32', '--validation-size', '8', '--test-size', '8', '--search-budget', '3', '--out', run, '--quiet');
  report = JSON.parse(await nls('report', run, '--json')) as ReportJson;
}, 300_000);

describe('nls report on a real demo run', () => {
  it('writes report.md, report.html and one SVG per plot, every section present', () => {
    expect(report.markdown).toBe(path.join(run, 'report.md'));
    expect(report.html).toBe(path.join(run, 'report.html'));
    expect(report.plots).toEqual(['pareto', 'progression', 'ranks', 'parallel', 'loss']);
    // Results first, settings last; no predictor section (the demo uses no latency predictor).
    expect(report.sections).toEqual(['pareto', 'progression', 'ranks', 'configurations', 'training', 'demo', 'settings']);
    expect(report.warnings).toEqual([]);
    for (const f of report.files) expect(existsSync(f), f).toBe(true);
    const md = readFileSync(report.markdown, 'utf8');
    expect(md.match(/^## .*$/gm)).toEqual([
      '## 1. Pareto front',
      '## 2. Search progression',
      '## 3. Rank patterns of the chosen subnets',
      '## 4. Evaluated configurations',
      '## 5. Supernet training',
      '## 6. Demo results',
      '## 7. Settings',
    ]);
    expect(md).toContain('`nls demo --out');
    for (const s of ['heuristic', 'random', 'nsga2', 'hill-climbing']) expect(md).toMatch(new RegExp(`^\\| ${s} \\|`, 'm'));
    expect(md).toMatch(/\| max \| `000\.000\.000\.000` \| 16\/16\/16×4 \| 204,800 \|/);
    expect(md).toMatch(/\| median \| `111\.111\.111\.111` \|/);
    if (existsSync(path.join(run, 'demo-result.json'))) {
      expect(md).toMatch(/\| NLS supernet \(SparsePEFT\): max subnet \| `000\.000\.000\.000` \| 16\/16\/16×4 \| 204,800 \|/);
      expect(md).toMatch(/Merged subnet `[0-9a-z.]+`/);
    } else expect(md).toContain('No demo-result.json');
  });

  it.skipIf(!CHROMIUM && !REQUIRE_CHROMIUM)('renders in headless Chromium: a page that is not blank, with one filled <svg> per plot', async () => {
    if (!CHROMIUM) throw new Error('NLS_REQUIRE_CHROMIUM=1 but chromium is not installed; fix: apt-get install -y chromium chromium-driver');
    const url = pathToFileURL(report.html).href;
    const png = path.join(root, 'report.png');
    await chromium(`--screenshot=${png}`, '--window-size=1200,3000', url);
    const image = decodePng(readFileSync(png));
    expect([image.width, image.height]).toEqual([1200, 3000]);
    const ink = inkStatistics(image);
    expect(ink.nonWhite).toBeGreaterThan(0.02);
    expect(ink.colors).toBeGreaterThan(12);
    // Some saturated pixels: the plots' markers, lines and heatmap cells (text and tables are grey).
    let saturated = 0;
    for (let i = 0; i < image.width * image.height; i++) {
      const [r, g, b] = [image.rgba[4 * i] as number, image.rgba[4 * i + 1] as number, image.rgba[4 * i + 2] as number];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 100) saturated++;
    }
    expect(saturated).toBeGreaterThan(200);

    const dom = await chromium('--dump-dom', url);
    const figures = [...dom.matchAll(/<figure id="plot-([a-z]+)"><svg\b([\s\S]*?)<\/svg>/g)];
    expect(figures.map((m) => m[1])).toEqual(['pareto', 'progression', 'ranks', 'parallel', 'loss']);
    expect((dom.match(/<svg\b/g) ?? []).length).toBe(5);
    for (const [, id, body] of figures) {
      expect(body, id).toMatch(/<title>[^<]+<\/title>/);
      expect((body?.match(/<(circle|path|rect|line|text)\b/g) ?? []).length, id).toBeGreaterThan(20);
    }
    expect(dom).not.toMatch(/<script/);
  }, 120_000);
});
