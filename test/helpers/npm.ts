/**
 * Running npm from tests as a user would in a shell: without the `npm_*` variables that the
 * `npm test` running these tests exported (its config, its project folder, its package), which
 * would otherwise leak into the child npm and into the install scripts it runs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `process.env` without npm's per-run variables, plus `extra`. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return { ...env, ...extra };
}

/** The result of a command: output and exit code, never a throw. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/**
 * Run `command args` in `cwd` with {@link userEnv}. With `offline`, in a network namespace of its
 * own with no interface but loopback (`unshare -n`) when the machine allows it, so nothing it
 * starts (npm, install scripts, nls) can reach the network; see {@link canIsolateNetwork}.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; offline?: boolean; timeoutMs?: number },
): Promise<CommandResult> {
  const [file, argv] = options.offline && canIsolateNetwork() ? ['unshare', ['-n', command, ...args]] : [command, [...args]];
  try {
    const { stdout, stderr } = await run(file, argv, { cwd: options.cwd, env: userEnv(options.env), timeout: options.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string; message: string };
    return { stdout: e.stdout ?? '', stderr: `${e.stderr ?? ''}${typeof e.code === 'number' ? '' : `\n${e.message}`}`, code: typeof e.code === 'number' ? e.code : -1 };
  }
}

let isolation: boolean | undefined;

/** Whether `unshare -n` works here (root, or unprivileged user namespaces). */
export function canIsolateNetwork(): boolean {
  isolation ??= process.platform === 'linux' && spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  return isolation;
}

/** The `npm warn ...` lines of npm's output. */
export function npmWarnings(output: string): string[] {
  return output.split('\n').filter((line) => /^npm warn/i.test(line));
}

/** One `packages` entry of a package-lock.json (version 3), as much of it as is read here. */
interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

/** The fields of a package.json that a lockfile records for a dependency. */
export interface Manifest {
  name: string;
  version: string;
  license?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * The package-lock.json of a project whose one dependency is `manifest`'s package, installed from
 * the tarball `tarball` (a path relative to the project, with its SHA-512 `integrity`), and whose
 * other packages are the ones `repoLock` (the repository's lockfile) installs for that package's
 * own dependencies, at the same places: what npm would write if it resolved the project today
 * with the repository's versions.
 *
 * An offline install needs it: resolving version ranges needs the registry's package documents,
 * which `npm ci` never fetches, so an npm cache filled by `npm ci` holds the tarballs only.
 * Flags are recomputed for the new root: dev-only packages are left out, and a package is optional
 * when only optional dependencies lead to it.
 */
export function dependentLockfile(repoLock: { packages: Record<string, LockEntry> }, manifest: Manifest, tarball: string, integrity: string): object {
  const packages = repoLock.packages;
  // Node's lookup: the nearest node_modules/NAME from `from` upwards.
  const locate = (from: string, name: string): string | undefined => {
    for (let dir = from; ; ) {
      const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (packages[key]) return key;
      if (!dir) return undefined;
      const up = dir.lastIndexOf('/node_modules/');
      dir = up < 0 ? '' : dir.slice(0, up);
    }
  };
  const edges = (entry: LockEntry | Manifest, requiredOnly: boolean): string[] => {
    const optional = entry.optionalDependencies ?? {};
    const peers = Object.keys(entry.peerDependencies ?? {}).filter((n) => !entry.peerDependenciesMeta?.[n]?.optional);
    const names = [...Object.keys(entry.dependencies ?? {}), ...peers, ...Object.keys(optional)];
    return [...new Set(names)].filter((n) => !requiredOnly || !(n in optional));
  };
  const reach = (requiredOnly: boolean): Set<string> => {
    const seen = new Set<string>();
    const stack = edges(manifest, requiredOnly).map((n) => locate('', n));
    while (stack.length > 0) {
      const key = stack.pop();
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      for (const n of edges(packages[key]!, requiredOnly)) stack.push(locate(key, n));
    }
    return seen;
  };
  const all = reach(false);
  const required = reach(true);
  const { name, version, license, bin, engines, dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta } = manifest;
  const lock: Record<string, object> = {
    '': { name: 'scratch', version: '1.0.0', dependencies: { [name]: `file:${tarball}` } },
    [`node_modules/${name}`]: { version, resolved: `file:${tarball}`, integrity, license, dependencies, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines },
  };
  for (const key of [...all].sort()) {
    const { dev: _dev, optional: _optional, devOptional: _devOptional, ...entry } = packages[key]!;
    lock[key] = required.has(key) ? entry : { ...entry, optional: true };
  }
  return { name: 'scratch', version: '1.0.0', lockfileVersion: 3, requires: true, packages: lock };
}
