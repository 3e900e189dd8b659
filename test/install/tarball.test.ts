/**
 * nls installed as a dependency with no network (issue 18, item 13; docs/install.md): the package
 * is packed from this working tree as `npm pack` would pack it, installed into a scratch project
 * by `npm ci --offline` from the npm cache, in a network namespace with no network (`unshare -n`;
 * where that is not allowed, every proxy variable points at a closed port), and its CLI runs from
 * there: `nls space demo`, a short `nls train` of the shipped demo model and a small `nls search`.
 *
 * Slow (a full install: ~600 MB of dependencies unpacked): everything is set up once.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, promises as fsp, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAndResolveSearchSpace } from '../../src/space/index.js';
import { ROOT } from '../helpers/cli.js';
import { type CommandResult, dependentLockfile, type Manifest, runCommand } from '../helpers/npm.js';

const ORT = 'onnxruntime-node';
/** Any network access fails at once, also where `unshare -n` is not available. */
const NO_NETWORK = Object.fromEntries(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'GLOBAL_AGENT_HTTP_PROXY', 'GLOBAL_AGENT_HTTPS_PROXY'].map((k) => [k, 'http://127.0.0.1:9']),
);

let tmp = '';
let project = '';
let installed: CommandResult = { stdout: '', stderr: 'not run', code: -1 };

/** `npm pack` of this working tree: its packed files (bar dist/) copied with src/, then packed, which builds dist/ (prepare). */
async function packWorkingTree(): Promise<{ tarball: string; manifest: Manifest }> {
  const listed = await runCommand('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
  if (listed.code !== 0) throw new Error(`npm pack --dry-run failed: ${listed.stderr}`);
  const files = (JSON.parse(listed.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  const dir = path.join(tmp, 'package');
  for (const file of [...files.filter((f) => !f.startsWith('dist/')), 'tsconfig.json', 'tsconfig.build.json']) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    cpSync(path.join(ROOT, file), path.join(dir, file));
  }
  cpSync(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const packed = await runCommand('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: dir, timeoutMs: 600_000 });
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const name = (JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[])[0]!.filename;
  return { tarball: path.join(tmp, name), manifest: JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest };
}

/** The scratch project, with the tarball and a lockfile for its dependencies. */
function scratchProject(tarball: string, manifest: Manifest): string {
  const dir = path.join(tmp, 'project');
  mkdirSync(dir);
  const file = path.basename(tarball);
  cpSync(tarball, path.join(dir, file));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true, dependencies: { [manifest.name]: `file:${file}` } }, null, 2));
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const repoLock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as Parameters<typeof dependentLockfile>[0];
  writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(dependentLockfile(repoLock, manifest, file, integrity), null, 2));
  return dir;
}

/** Run a command in the scratch project with no network. */
function offline(command: string, ...args: string[]): Promise<CommandResult> {
  return runCommand(command, args, { cwd: project, env: NO_NETWORK, offline: true });
}

/** Whether the scratch project holds onnxruntime-node with this platform's CPU binary. */
function ortInstalled(): boolean {
  return existsSync(path.join(project, 'node_modules', ORT, 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node'));
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nls-install-'));
  const { tarball, manifest } = await packWorkingTree();
  project = scratchProject(tarball, manifest);
  // A user's plain install: no flag, no policy, no environment variable for onnxruntime-node.
  installed = await offline('npm', 'ci', '--offline', '--no-audit', '--no-fund');
}, 1_200_000);

afterAll(async () => {
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
}, 300_000);

describe('nls installed from its tarball into a project with no network', () => {
  it('npm ci --offline succeeds and links the nls binary', () => {
    expect(installed.code, `${installed.stdout}\n${installed.stderr}`).toBe(0);
    expect(existsSync(path.join(project, 'node_modules', '.bin', 'nls'))).toBe(true);
  });

  it('npx nls space demo reads the shipped search space', async () => {
    const r = await offline('npx', '--offline', 'nls', 'space', 'demo', '--layers', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    const space = JSON.parse(r.stdout) as { name: string; genes: number };
    const expected = await loadAndResolveSearchSpace(path.join(ROOT, 'search-spaces', 'demo.json'), { numLayers: 4 });
    expect(space).toMatchObject({ name: 'demo', genes: expected.size });
  }, 120_000);

  it('trains the shipped demo model a few steps and searches it; the engine is ONNX Runtime exactly when its CPU binary is installed', async () => {
    const shipped = (...parts: string[]) => path.join(project, 'node_modules', 'nls', ...parts);
    const train = await offline(
      'npx', '--offline', 'nls', 'train', '--model', shipped('models', 'demo'), '--data', 'spam-demo', '--space', shipped('search-spaces', 'demo.json'),
      '--out', 'supernet', '--steps', '2', '--warmup', '0', '--batch', '2', '--validation-size', '4', '--max-length', '32', '--json', '--quiet',
    );
    expect(train.code, train.stderr).toBe(0);
    const search = await offline('npx', '--offline', 'nls', 'search', '--supernet', 'supernet', '--strategy', 'random', '--budget', '3', '--out', 'search', '--json', '--quiet');
    expect(search.code, search.stderr).toBe(0);
    const result = JSON.parse(search.stdout) as { evaluations: number; engine: { name: string }; pareto: { front: unknown[] } };
    expect(result.evaluations).toBe(3);
    expect(result.pareto.front.length).toBeGreaterThan(0);
    expect(result.engine.name).toBe(ortInstalled() ? 'onnx' : 'tfjs');
    if (!ortInstalled()) {
      // Asked for explicitly, the missing engine is refused with how to install it.
      const onnx = await offline('npx', '--offline', 'nls', 'search', '--supernet', 'supernet', '--budget', '1', '--engine', 'onnx', '--out', 'search-refused', '--quiet');
      expect(onnx.code).toBe(1);
      expect(onnx.stderr).toMatch(/onnxruntime-node is not installed; fix: .*"allowScripts": \{ "onnxruntime-node": false \}.*docs\/install\.md/);
    }
  }, 300_000);

  it("with onnxruntime-node's install script denied (docs/install.md), ONNX Runtime is installed offline and evaluates", async () => {
    if (!ortInstalled()) {
      // npm left the optional dependency out because its install script could not download
      // CUDA libraries. The documented fix: deny that script, install again.
      const pkg = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(project, 'package.json'), JSON.stringify({ ...pkg, allowScripts: { [ORT]: false } }, null, 2));
      const again = await offline('npm', 'install', '--offline', '--no-audit', '--no-fund');
      expect(again.code, again.stderr).toBe(0);
    }
    expect(ortInstalled()).toBe(true);
    const search = await offline('npx', '--offline', 'nls', 'search', '--supernet', 'supernet', '--strategy', 'random', '--budget', '2', '--engine', 'onnx', '--out', 'search-onnx', '--json', '--quiet');
    expect(search.code, search.stderr).toBe(0);
    expect((JSON.parse(search.stdout) as { engine: { name: string } }).engine.name).toBe('onnx');
  }, 600_000);
});
