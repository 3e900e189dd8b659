/**
 * Shipped names and paths (issue 18, item 10; docs/cli.md): a value that is exactly the name of a
 * shipped input (`demo`, `shears-llama`, ...) means the shipped one, whatever the working folder
 * holds; anything else is a path, so a local file or folder of that name is written `./demo`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MODEL_DIR } from '../../src/model/demo-model.js';
import { locateInputValue } from '../../src/run/inputs.js';
import { builtinSearchSpacePath } from '../../src/space/index.js';
import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

/** tsx's loader, by URL: `--import tsx` would be resolved from the working folder. */
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** The CLI in a subprocess whose working folder is `cwd`. */
async function nlsIn(cwd: string, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', TSX, path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

let cwd = '';
beforeAll(async () => {
  cwd = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-names-'));
  // A folder named like the shipped `demo` space and model, and a file named like `demo-widths`.
  mkdirSync(path.join(cwd, 'demo'));
  const local = JSON.parse(readFileSync(builtinSearchSpacePath('demo'), 'utf8')) as Record<string, unknown>;
  writeFileSync(path.join(cwd, 'demo-widths'), JSON.stringify({ ...local, $schema: undefined, name: 'local-space' }));
});
afterAll(async () => {
  if (cwd) await fsp.rm(cwd, { recursive: true, force: true });
});

describe('a shipped name means the shipped input, whatever the working folder holds', () => {
  it('nls space demo is the shipped space even beside a folder named demo (was EISDIR)', async () => {
    const r = await nlsIn(cwd, 'space', 'demo', '--layers', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }).name).toBe('demo');
  });

  it('a local file of a shipped name is reached as a path, ./demo-widths', async () => {
    const [shipped, local] = await Promise.all([nlsIn(cwd, 'space', 'demo-widths', '--layers', '4', '--json'), nlsIn(cwd, 'space', './demo-widths', '--layers', '4', '--json')]);
    expect(shipped.code, shipped.stderr).toBe(0);
    expect((JSON.parse(shipped.stdout) as { name: string }).name).toBe('demo-widths');
    expect(local.code, local.stderr).toBe(0);
    expect((JSON.parse(local.stdout) as { name: string }).name).toBe('local-space');
  });

  it('a folder is never a search space; a name close to a shipped one gets a did-you-mean', async () => {
    const [folder, typo] = await Promise.all([nlsIn(cwd, 'space', './demo', '--layers', '4'), nlsIn(cwd, 'space', 'shears-lama', '--layers', '4')]);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/demo: is a folder, not a search-space file; fix: /);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/did you mean the shipped space "shears-llama"\?/);
  });

  it('run manifests record what the command read: the shipped input for a shipped name', () => {
    expect(locateInputValue('space', 'demo', cwd)?.path).toBe(builtinSearchSpacePath('demo'));
    expect(locateInputValue('space', 'demo-widths', cwd)?.path).toBe(builtinSearchSpacePath('demo-widths'));
    expect(locateInputValue('space', './demo-widths', cwd)?.path).toBe(path.join(cwd, 'demo-widths'));
    expect(locateInputValue('model', 'demo', cwd)?.path).toBe(DEMO_MODEL_DIR);
    expect(locateInputValue('model', './demo', cwd)?.path).toBe(path.join(cwd, 'demo'));
  });

  it('--model demo is the shipped demo model in every command that reads a model (nls train)', async () => {
    const out = path.join(cwd, 'supernet');
    const r = await nlsIn(cwd, 'train', '--model', 'demo', '--data', 'spam-demo', '--space', 'demo', '--out', out, '--steps', '1', '--warmup', '0', '--batch', '2', '--validation-size', '2', '--max-length', '32', '--engine', 'tfjs', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const supernet = JSON.parse(readFileSync(path.join(out, 'supernet.json'), 'utf8')) as { baseModel: string };
    expect(path.resolve(out, supernet.baseModel)).toBe(DEMO_MODEL_DIR);
  }, 300_000);
});
