/**
 * Uncaught errors (issue 18, item 16): an error nobody catches — thrown in a timer, a rejected
 * promise nobody awaits — ends the CLI with one line and the stack frames outside dependencies,
 * exit 70. Before, once tfjs-backend-wasm had loaded, its emscripten glue rethrew such an error
 * from its own uncaughtException handler: Node printed the glue's source line (~40 KB of minified
 * JavaScript) and exited 7.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInternalError } from '../../src/cli/crash.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);

/**
 * Preloaded into the CLI's process: once the wasm glue's uncaughtException handler is in place
 * (nls has initialised the wasm backend), throw in a timer or leave a rejected promise.
 */
const PRELOAD = `
const glue = () => process.listeners('uncaughtException').some((l) => String(l).includes('ExitStatus'));
const timer = setInterval(() => {
  if (!glue()) return;
  clearInterval(timer);
  if (process.env.CRASH_KIND === 'reject') Promise.reject(new Error('crash test: rejected'));
  else throw new Error('crash test: thrown in a timer');
}, 5);
setTimeout(() => clearInterval(timer), 60_000).unref();
`;

let tmp = '';
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'nls-crash-'));
  await fsp.writeFile(path.join(tmp, 'preload.mjs'), PRELOAD);
});
afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
});

/** `nls init-model` (which initialises the wasm backend) with the crash preloaded. */
async function crashingRun(kind: 'throw' | 'reject'): Promise<{ stderr: string; code: number }> {
  const args = ['--import', 'tsx', '--import', path.join(tmp, 'preload.mjs'), path.join(ROOT, 'src/cli/main.ts')];
  const cli = ['init-model', '--out', path.join(tmp, `model-${kind}`), '--hidden', '16', '--layers', '1', '--heads', '2', '--intermediate', '16', '--backend', 'wasm', '--quiet'];
  try {
    const { stderr } = await run(process.execPath, [...args, ...cli], { cwd: ROOT, env: { ...process.env, CRASH_KIND: kind }, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { stderr, code: 0 };
  } catch (err) {
    const e = err as { stderr: string; code: number };
    return { stderr: e.stderr, code: e.code };
  }
}

describe('an uncaught error ends the CLI with one line and its own stack frames', () => {
  for (const [kind, message] of [
    ['throw', 'crash test: thrown in a timer'],
    ['reject', 'crash test: rejected'],
  ] as const) {
    it(`${kind === 'throw' ? 'thrown in a timer' : 'an unhandled rejection'}, after the wasm backend loaded: exit 70, no minified source (subprocess)`, async () => {
      const { stderr, code } = await crashingRun(kind);
      expect(code, stderr.slice(0, 2000)).toBe(70);
      expect(stderr.length, stderr.slice(0, 2000)).toBeLessThan(2000);
      const lines = stderr.trimEnd().split('\n');
      expect(lines[0]).toBe(`nls: internal error: Error: ${message}`);
      expect(stderr).toContain('preload.mjs');
      expect(stderr).not.toMatch(/node_modules|var Module=/);
      for (const line of lines.slice(1)) expect(line.length).toBeLessThanOrEqual(300);
    });
  }
});

describe('describeInternalError', () => {
  it('one line (huge messages cut), then the frames outside dependencies and Node', () => {
    const err = new TypeError(`x is not a function\n${'var Module=1;'.repeat(4000)}`);
    err.stack = [
      `TypeError: ${err.message}`,
      `    at Object.kernel (${path.join(PACKAGE_ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js')}:7724:12)`,
      `    at runSearch (${path.join(PACKAGE_ROOT, 'src/pipeline/search.ts')}:150:3)`,
      `    at async main (file://${path.join(PACKAGE_ROOT, 'dist/cli/main.js')}:120:5)`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      `    at minified (${path.join(PACKAGE_ROOT, 'src/x.ts')}:1:${'9'.repeat(1000)})`,
    ].join('\n');
    const text = describeInternalError(err);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(`nls: internal error: TypeError: x is not a function (the message goes on for ${(err.message.length - 'x is not a function'.length).toLocaleString('en-US')} more characters)`);
    expect(lines.slice(1, 4)).toEqual([
      `    at runSearch (${path.join(PACKAGE_ROOT, 'src/pipeline/search.ts')}:150:3)`,
      `    at async main (file://${path.join(PACKAGE_ROOT, 'dist/cli/main.js')}:120:5)`,
      expect.stringMatching(/^ {4}at minified .{0,250}…$/),
    ]);
    expect(lines[4]).toBe('    (2 frames in dependencies and Node.js left out)');
    expect(text.length).toBeLessThan(1000);
  });

  it('a frame of nls installed in a node_modules folder is its own', () => {
    const err = new Error('boom');
    const installed = path.join(path.sep, 'app', 'node_modules', 'nls');
    err.stack = `Error: boom\n    at f (${installed}/dist/cli/main.js:1:1)\n    at g (${installed}/node_modules/yargs/index.js:1:1)`;
    expect(describeInternalError(err, installed).split('\n').slice(1, 3)).toEqual([`    at f (${installed}/dist/cli/main.js:1:1)`, '    (1 frame in dependencies and Node.js left out)']);
  });

  it('a thrown non-error is shown as it is', () => {
    expect(describeInternalError('just a string')).toBe('nls: internal error: just a string\n');
  });
});
