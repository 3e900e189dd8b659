/**
 * Every code block of the README and docs/plugins.md runs as written (issue 18, item 14; the
 * rules are in docs/doc-tests.md): TypeScript and JavaScript blocks run as ES modules
 * under Node with tsx, in a scratch project where `nls` is this package (its `exports` mapped from
 * dist/ to src/); JSON blocks must parse; shell blocks run in bash with `nls` on the PATH. A block
 * preceded by `<!-- doc-test: file PATH -->` is written to PATH in the scratch project first (so
 * the files of one example, e.g. a plugin package, see each other); `<!-- doc-test: skip REASON -->`
 * leaves a block out, with the reason in the test's name.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, chmodSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { runCommand } from '../helpers/npm.js';

/** The documents whose code blocks are tested. */
const DOCUMENTS = ['README.md', 'docs/plugins.md'];

const RUN_LANGUAGES: Record<string, 'script' | 'json' | 'shell'> = {
  ts: 'script',
  typescript: 'script',
  js: 'script',
  javascript: 'script',
  json: 'json',
  sh: 'shell',
  bash: 'shell',
  shell: 'shell',
};

/** A fenced code block and the directive on the line before it. */
export interface CodeBlock {
  readonly line: number;
  readonly language: string;
  readonly code: string;
  readonly file?: string;
  readonly skip?: string;
}

const DIRECTIVE = /^<!--\s*doc-test:\s*(skip|file)\s+(.+?)\s*-->$/;

/** The fenced code blocks of `markdown` (``` fences), with their `doc-test` directives. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, language] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.trimStart().startsWith(fence!); j++) body.push(lines[j]!.slice(indent!.length));
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const directive = k >= 0 ? DIRECTIVE.exec(lines[k]!.trim()) : null;
    blocks.push({
      line: i + 1,
      language: language!.toLowerCase(),
      code: body.join('\n') + '\n',
      ...(directive?.[1] === 'file' ? { file: directive[2]! } : {}),
      ...(directive?.[1] === 'skip' ? { skip: directive[2]! } : {}),
    });
    i = j;
  }
  return blocks;
}

/** The last lines of a command's output, each cut short (a thrown error may print a minified bundle). */
function tail(text: string): string {
  return text.split('\n').slice(-30).map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l)).join('\n');
}

/** tsx's loader, by URL (the scratch project has no tsx of its own). */
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * A scratch project in which `import ... from 'nls'` (and `nls/testing`) is this working tree's
 * source, as the built package maps them to dist/, and `nls` on the PATH is its CLI.
 */
function scratchProject(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nls-doc-'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'doc-test', version: '1.0.0', private: true, type: 'module' }, null, 2));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; exports: Record<string, string | { import?: string }> };
  const exports: Record<string, string> = {};
  for (const [key, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.import;
    if (file) exports[key] = file.replace(/^\.\/dist\/(.*)\.js$/, './src/$1.ts');
  }
  const nls = path.join(dir, 'node_modules', 'nls');
  mkdirSync(nls, { recursive: true });
  writeFileSync(path.join(nls, 'package.json'), JSON.stringify({ name: 'nls', version: pkg.version, type: 'module', exports }, null, 2));
  symlinkSync(path.join(ROOT, 'src'), path.join(nls, 'src'));
  const bin = path.join(dir, 'node_modules', '.bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'nls'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${path.join(ROOT, 'src/cli/main.ts')}" "$@"\n`);
  chmodSync(path.join(bin, 'nls'), 0o755);
  return dir;
}

for (const document of DOCUMENTS) {
  const blocks = codeBlocks(readFileSync(path.join(ROOT, document), 'utf8'));

  describe(`${document}: code blocks`, () => {
    let project = '';
    beforeAll(() => {
      project = scratchProject();
      // Every file of every example first: a block may import a file a later block shows.
      for (const b of blocks) {
        if (b.file === undefined || b.skip !== undefined) continue;
        mkdirSync(path.dirname(path.join(project, b.file)), { recursive: true });
        writeFileSync(path.join(project, b.file), b.code);
      }
    });
    afterAll(async () => {
      if (project) await fsp.rm(project, { recursive: true, force: true });
    });

    it('has code blocks, each in a language the test runs or marked with a skip reason', () => {
      expect(blocks.length).toBeGreaterThan(0);
      for (const b of blocks) expect(b.skip !== undefined || RUN_LANGUAGES[b.language] !== undefined, `${document}:${b.line}: \`\`\`${b.language}`).toBe(true);
    });

    blocks.forEach((b, n) => {
      const name = `${document}:${b.line} (${b.language}${b.file ? ` ${b.file}` : ''})`;
      if (b.skip !== undefined) {
        it.skip(`${name}, skipped: ${b.skip}`, () => {});
        return;
      }
      it(`${name} runs as written`, async () => {
        const kind = RUN_LANGUAGES[b.language];
        if (kind === 'json') {
          expect(() => JSON.parse(b.code), name).not.toThrow();
          return;
        }
        const env = { PATH: `${path.join(project, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}` };
        let r;
        if (kind === 'shell') {
          r = await runCommand('bash', ['-euo', 'pipefail', '-c', b.code], { cwd: project, env });
        } else {
          const file = b.file ?? `snippet-${n}.${b.language.startsWith('t') ? 'ts' : 'js'}`;
          if (b.file === undefined) writeFileSync(path.join(project, file), b.code);
          r = await runCommand(process.execPath, ['--import', TSX, file], { cwd: project, env });
        }
        expect(r.code, `${name}\n${tail(r.stdout)}\n${tail(r.stderr)}`).toBe(0);
      }, 300_000);
    });
  });
}
