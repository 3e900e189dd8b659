import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** Run the CLI as a user would (through tsx), returning stdout, stderr and the exit code. */
export async function nls(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      timeout: 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/**
 * Run the CLI in this process (`main`, the same command layer as the binary, without a tsx
 * start-up per call), capturing what it writes to stdout.
 */
export async function nlsInProcess(...args: string[]): Promise<{ stdout: string; code: number }> {
  const { main } = await import('../../src/cli/main.js');
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => (chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')), true)) as typeof process.stdout.write;
  try {
    const code = await main(args);
    return { stdout: chunks.join(''), code };
  } finally {
    process.stdout.write = write;
  }
}

/** {@link nlsInProcess}, also capturing stderr (where usage errors and progress go). */
export async function nlsInProcessWithStderr(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => (chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')), true)) as typeof process.stderr.write;
  try {
    const { stdout, code } = await nlsInProcess(...args);
    return { stdout, stderr: chunks.join(''), code };
  } finally {
    process.stderr.write = write;
  }
}
