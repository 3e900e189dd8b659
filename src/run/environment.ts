/**
 * Where a run ran: nls's version and git commit, Node, the platform, and the tfjs backend with
 * its package versions. Recorded in run manifests so that a reproduction can say whether it ran
 * on the same software, and explain differences when it did not.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import type { BackendInfo } from '../backend/index.js';
import { NLS_VERSION, PACKAGE_ROOT } from '../package-info.js';
import { currentMachine, machineDifferences, type MachineSignature } from './machine.js';

/** The git commit of the nls checkout, when nls runs from one. */
export interface GitState {
  readonly commit: string;
  /** True when tracked files differ from the commit (the code that ran is not exactly `commit`). */
  readonly dirty: boolean;
}

/** Software and machine a run ran on. */
export interface RunEnvironment {
  readonly nls: { readonly version: string; readonly git: GitState | null };
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  /** `features`: the instruction-set extensions native float kernels dispatch on (src/run/machine.ts; absent in manifests before it was recorded, and off Linux). */
  readonly cpus: { readonly count: number; readonly model: string; readonly features?: readonly string[] };
  /** The backend the run computed with (absent when the command loaded none). */
  readonly backend?: { readonly name: string; readonly tfjsBackend: string; readonly versions: Readonly<Record<string, string>>; readonly device?: string; readonly threads?: number };
}

let gitCache: GitState | null | undefined;

/**
 * The commit of the nls checkout and whether it has uncommitted changes to tracked files; null
 * when nls is not a git checkout (an npm install) or git is not installed.
 */
export function gitState(root: string = PACKAGE_ROOT): GitState | null {
  if (root === PACKAGE_ROOT && gitCache !== undefined) return gitCache;
  const git = (args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 10_000 });
  const head = git(['rev-parse', '--show-toplevel', 'HEAD']);
  let state: GitState | null = null;
  const [top, commit] = head.status === 0 ? head.stdout.trim().split('\n') : [];
  // Only nls's own repository counts: an npm install inside some other git checkout does not.
  if (top !== undefined && commit !== undefined && /^[0-9a-f]{40}$/.test(commit) && sameDir(top, root)) {
    const status = git(['status', '--porcelain', '--untracked-files=no']);
    state = { commit, dirty: status.status !== 0 || status.stdout.trim() !== '' };
  }
  if (root === PACKAGE_ROOT) gitCache = state;
  return state;
}

function sameDir(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/[/\\]+$/, '');
  return norm(a) === norm(b);
}

/** The environment of this process, with `backend` when one was initialised. */
export function runEnvironment(backend?: BackendInfo): RunEnvironment {
  const { cpu, features } = currentMachine();
  return {
    nls: { version: NLS_VERSION, git: gitState() },
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
    cpus: { count: os.cpus().length, model: cpu, ...(features !== undefined ? { features } : {}) },
    ...(backend
      ? {
          backend: {
            name: backend.name,
            tfjsBackend: backend.tfjsBackend,
            versions: backend.versions,
            ...(backend.device !== undefined ? { device: backend.device } : {}),
            ...(backend.threads !== undefined ? { threads: backend.threads } : {}),
          },
        }
      : {}),
  };
}

/** The machine signature an environment records. */
function machineOf(e: RunEnvironment): MachineSignature {
  return { arch: e.arch, cpu: e.cpus.model, ...(e.cpus.features ? { features: e.cpus.features } : {}) };
}

/**
 * What differs between the environment a run was recorded in and `current`, one phrase each:
 * nls's commit, Node, platform, the machine (src/run/machine.ts) and the backend's packages.
 * Empty when nothing recorded differs; used to explain a reproduction that is not bit-identical.
 */
export function environmentDifferences(recorded: RunEnvironment, current: RunEnvironment): string[] {
  const out: string[] = [];
  const commit = (e: RunEnvironment) => (e.nls.git ? `${e.nls.git.commit.slice(0, 12)}${e.nls.git.dirty ? ' (dirty)' : ''}` : `version ${e.nls.version}`);
  if (commit(recorded) !== commit(current)) out.push(`nls ${commit(recorded)} -> ${commit(current)}`);
  if (recorded.node !== current.node) out.push(`Node ${recorded.node} -> ${current.node}`);
  if (recorded.platform !== current.platform) out.push(`platform ${recorded.platform} -> ${current.platform}`);
  const machine = machineDifferences(machineOf(recorded), machineOf(current));
  if (machine.length > 0) out.push(`machine: ${machine.join(', ')}`);
  const versions = (e: RunEnvironment) => e.backend?.versions ?? {};
  for (const [pkg, v] of Object.entries(versions(recorded))) {
    const now = versions(current)[pkg];
    if (now !== undefined && now !== v) out.push(`${pkg} ${v} -> ${now}`);
  }
  return out;
}
