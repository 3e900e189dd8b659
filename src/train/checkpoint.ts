/**
 * Training checkpoints, written so that a crash at any moment leaves the last complete one
 * usable: each checkpoint is written into a temporary folder, fsynced and renamed to
 * `step-NNNNNN/`; only then does `latest.json` (itself written atomically) point at it.
 * Older checkpoints beyond `keep` are removed afterwards.
 *
 * Layout of `DIR/checkpoints/`:
 *   latest.json                 {"step": 120, "dir": "step-000120"}
 *   step-000120/weights.safetensors    trainable variables by name
 *   step-000120/optimizer.safetensors  AdamW moments: "<name>.m", "<name>.v"
 *   step-000120/state.json             step, RNG state, optimizer step counts, records, options
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NlsError } from '../errors.js';
import { readSafetensors, serializeSafetensors } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';

/** Everything a checkpoint holds. */
export interface CheckpointContents<State> {
  readonly step: number;
  /** Trainable tensors by name (float32). */
  readonly weights: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>;
  /** Optimizer tensors by name (float32). */
  readonly optimizer: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>;
  /** JSON-serialisable loop state. */
  readonly state: State;
}

const LATEST = 'latest.json';

async function writeDurable(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fsp.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write a checkpoint into `dir` (created if needed) and point latest.json at it. */
export async function saveCheckpointDir<State>(dir: string, contents: CheckpointContents<State>, keep = 2): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const name = `step-${String(contents.step).padStart(6, '0')}`;
  const tmp = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  await fsp.mkdir(tmp);
  try {
    await writeDurable(path.join(tmp, 'weights.safetensors'), serializeSafetensors(contents.weights));
    await writeDurable(path.join(tmp, 'optimizer.safetensors'), serializeSafetensors(contents.optimizer));
    await writeDurable(path.join(tmp, 'state.json'), `${JSON.stringify(contents.state)}\n`);
    const final = path.join(dir, name);
    await fsp.rm(final, { recursive: true, force: true });
    await fsp.rename(tmp, final);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await writeFileAtomic(path.join(dir, LATEST), `${JSON.stringify({ step: contents.step, dir: name })}\n`);
  const old = (await fsp.readdir(dir)).filter((f) => /^step-\d+$/.test(f) && f !== name).sort();
  for (const f of old.slice(0, Math.max(0, old.length - (keep - 1)))) await fsp.rm(path.join(dir, f), { recursive: true, force: true });
  return path.join(dir, name);
}

/** Whether `dir` holds a checkpoint. */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(path.join(dir, LATEST));
}

/** Load the checkpoint latest.json points at. */
export async function loadLatestCheckpoint<State>(dir: string): Promise<CheckpointContents<State>> {
  const latestFile = path.join(dir, LATEST);
  if (!existsSync(latestFile)) {
    throw new NlsError(`no checkpoint to resume from (${LATEST} is missing); fix: drop --resume to start a new run, or point --out at the run to resume`, {
      file: dir,
    });
  }
  const latest = JSON.parse(await fsp.readFile(latestFile, 'utf8')) as { step: number; dir: string };
  const ckpt = path.join(dir, latest.dir);
  const float = async (file: string) => {
    const { tensors } = await readSafetensors(path.join(ckpt, file));
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, t] of tensors) {
      if (!(t.data instanceof Float32Array)) throw new NlsError('expected a float tensor', { file: path.join(ckpt, file), field: name });
      out.set(name, { shape: t.shape, data: t.data });
    }
    return out;
  };
  const state = JSON.parse(await fsp.readFile(path.join(ckpt, 'state.json'), 'utf8')) as State;
  return { step: latest.step, weights: await float('weights.safetensors'), optimizer: await float('optimizer.safetensors'), state };
}
