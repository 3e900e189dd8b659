/**
 * TensorFlow.js's Node.js banner must never reach stdout (the CLI's stdout is machine-readable).
 * Each case runs a fresh child process, because the banner prints once per process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { DAWN_PACKAGE, WEBGPU_PACKAGE, defaultProbe } from '../../src/backend/index.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/stdout-child.ts', import.meta.url));
const BANNER = /looks like you are running TensorFlow\.js in Node\.js/;
/** Whether `--backend webgpu` can work here (any adapter; webgpu.test.ts fails CI when it cannot). */
const webgpuUsable =
  [WEBGPU_PACKAGE, DAWN_PACKAGE].every((p) => defaultProbe.isInstalled(p)) &&
  (await defaultProbe.detectWebGpu().then((d) => d.hardware !== undefined || d.software !== undefined));

function runChild(...args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fixture, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    // The banner and our filter do not depend on these, but a developer's shell might set them.
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('stdout stays machine-readable', () => {
  it('importing tfjs and the backend module prints nothing', () => {
    const r = runChild('import-only');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('imported\n');
    expect(r.stderr).toBe('');
  });

  it('plain tfjs prints its banner to stderr at the first cpu op, not at import or setBackend', () => {
    const r = runChild('raw-cpu');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('done\n');
    const banner = r.stderr.search(BANNER);
    expect(banner).toBeGreaterThan(r.stderr.indexOf('[after setBackend]'));
    expect(banner).toBeLessThan(r.stderr.indexOf('[after first op]'));
  });

  it('cpu, quiet: stdout is exactly the result and the banner is dropped', () => {
    const r = runChild('nls', 'cpu');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"backend":"cpu","y":[19,22,43,50]}\n');
    expect(r.stderr).not.toMatch(BANNER);
  });

  it('cpu, not quiet: stdout is exactly the result and the banner goes to stderr', () => {
    const r = runChild('nls', 'cpu', 'loud');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"backend":"cpu","y":[19,22,43,50]}\n');
    expect(r.stderr).toMatch(BANNER);
  });

  it.skipIf(!webgpuUsable)("webgpu, quiet: stdout is exactly the result (Dawn's C++ warnings go to stderr)", () => {
    const r = runChild('nls', 'webgpu');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"backend":"webgpu","y":[19,22,43,50]}\n');
  });

  it.skipIf(!webgpuUsable)('webgpu: a WebGPU validation error throws on read and prints nothing to stdout (Dawn would)', () => {
    const r = runChild('webgpu-error');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"threw":true}\n');
  });

  it('wasm, quiet: stdout is exactly the result', () => {
    const r = runChild('nls', 'wasm');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"backend":"wasm","y":[19,22,43,50]}\n');
    expect(r.stderr).toBe('');
  });
});
