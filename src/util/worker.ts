/**
 * Worker threads that run this package's own modules, from src/ (through tsx) or dist/ alike.
 *
 * wasm runs one thread per tfjs instance, so a worker with its own backend is how nls uses a
 * second core. Node does not carry tsx's loader into workers, so a worker on a `.ts` module
 * starts from a tiny ES-module bootstrap that registers tsx first and then imports the module.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** URL of tsx's ESM registration API, read from tsx's package.json exports. */
function tsxEsmApi(): string {
  const pkgFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
}

/** Start a worker on a module of this package (`new URL('./x.js', import.meta.url)`). */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  const bootstrap = `const { register } = await import(${JSON.stringify(tsxEsmApi())}); register(); await import(${JSON.stringify(url.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}
