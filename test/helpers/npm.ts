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
