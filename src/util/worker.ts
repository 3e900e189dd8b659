/**
 * Worker threads that run this package's own modules, from src/ (through tsx) or dist/ alike.
 *
 * wasm runs one thread per tfjs instance, so a worker with its own backend is how nls uses a
 * second core. Node does not carry tsx's loader into workers, so a worker on a `.ts` module
 * starts from a tiny ES-module bootstrap that registers tsx first and then imports the module.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Start a worker on a module of this package (`new URL('./x.js', import.meta.url)`). */
export function startWorker(url: URL, options: WorkerOptions = {}): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `const { register } = await import(${JSON.stringify(tsxApi)}); register(); await import(${JSON.stringify(url.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), options);
}
