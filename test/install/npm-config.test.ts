/**
 * The repository's npm setup (issue 18, item 15; docs/install.md): onnxruntime-node's install
 * script, which downloads CUDA libraries from NuGet, is turned off by npm's own `allowScripts`
 * policy in package.json, not by an `.npmrc` key npm does not know (which made every npm command
 * print `npm warn Unknown project config "onnxruntime-node-install"`).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { npmWarnings, runCommand } from '../helpers/npm.js';

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const ORT = 'onnxruntime-node';

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('npm in this repository', () => {
  it('prints no warning (no unknown config key in .npmrc)', async () => {
    const r = await runCommand('npm', ['pkg', 'get', 'name'], { cwd: ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(npmWarnings(r.stderr)).toEqual([]);
  });

  it('every dependency with an install script is reviewed in allowScripts (no "not yet covered" warning after npm ci)', () => {
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([where]) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts).toContain(ORT);
    for (const name of withScripts) expect(typeof pkg.allowScripts?.[name], `allowScripts["${name}"]`).toBe('boolean');
    expect(pkg.allowScripts?.[ORT]).toBe(false);
  });

  it("npm skips onnxruntime-node's install script under the repository's policy, offline", async () => {
    // A project holding onnxruntime-node's manifest and install script, without its dependencies:
    // if npm ran the script it would fail (at its first require, or at the download).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nls-npm-policy-'));
    scratch.push(dir);
    const ortDir = path.join(dir, 'node_modules', ORT);
    mkdirSync(ortDir, { recursive: true });
    const source = path.join(ROOT, 'node_modules', ORT);
    cpSync(path.join(source, 'package.json'), path.join(ortDir, 'package.json'));
    cpSync(path.join(source, 'script'), path.join(ortDir, 'script'), { recursive: true });
    const version = pkg.dependencies?.[ORT] ?? pkg.optionalDependencies?.[ORT];
    expect(version).toBeDefined();
    const project = (allowScripts?: Record<string, boolean>) =>
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'policy-check', version: '1.0.0', private: true, dependencies: { [ORT]: version }, ...(allowScripts ? { allowScripts } : {}) }));

    project();
    const without = await runCommand('npm', ['rebuild', ORT, '--offline'], { cwd: dir, offline: true });
    expect(without.code, 'without the policy the script runs (and fails here): the check below means something').not.toBe(0);

    project(pkg.allowScripts);
    const withPolicy = await runCommand('npm', ['rebuild', ORT, '--offline'], { cwd: dir, offline: true });
    expect(withPolicy.code, withPolicy.stderr).toBe(0);
    expect(npmWarnings(withPolicy.stderr)).toEqual([]);
  });
});
