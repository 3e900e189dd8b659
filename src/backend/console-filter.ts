/**
 * Keeps TensorFlow.js's console chatter out of stdout while a backend is loaded and initialised.
 *
 * What prints, and when (tfjs 4.22, Node):
 * - Importing `@tensorflow/tfjs` prints nothing.
 * - The cpu backend prints "Hi, looks like you are running TensorFlow.js in Node.js. To speed things up
 *   dramatically, install our node backend..." through `console.warn` on the *first tensor it stores*
 *   (`MathBackendCPU.write`, guarded by `firstUse`), i.e. at the first op, not at import or `setBackend`.
 * - tfjs-node's import calls `tf.setPlatform('node')`, which warns "Platform node has already been set.
 *   Overwriting the platform with node."; a second registration warns "... backend was already registered".
 * - A backend whose initialisation fails is reported by the engine as two `console.warn` calls:
 *   "Initialization of backend X failed" then the error's stack; `setBackend` itself just returns false.
 *
 * All of these go through tfjs-core's `log.warn`, which is silenced only by the global flags `PROD`
 * (`tf.enableProdMode()`: hides *every* tfjs warning, including real ones, for the rest of the process)
 * or `IS_TEST` (also turns on a memory-leak check around every kernel). Neither is acceptable for a
 * library, so instead the console is intercepted for the duration of backend initialisation only, and
 * only the messages listed in {@link KNOWN_TFJS_NOISE} are dropped.
 */
import { format } from 'node:util';

/** Messages that tfjs prints during backend setup and that nls reports itself (in `BackendInfo.reason`). */
export const KNOWN_TFJS_NOISE: readonly RegExp[] = [
  /looks like you are running TensorFlow\.js in Node\.js/i,
  /Platform \S+ has already been set\. Overwriting the platform/,
  /backend was already registered\. Reusing existing backend factory/,
  /^Initialization of backend \S+ failed/,
];

/** The engine prints a failed backend's stack as a separate message right after this one. */
const INIT_FAILED = /^Initialization of backend \S+ failed/;

const METHODS = ['log', 'info', 'debug', 'warn'] as const;
type Method = (typeof METHODS)[number];
type ConsoleFn = (...args: unknown[]) => void;

/** Options for {@link withConsoleFilter}. */
export interface ConsoleFilterOptions {
  /** Drop known tfjs noise (true) or forward it to stderr (false). */
  quiet: boolean;
  /** Receives the text of every intercepted message, e.g. to quote a backend's init error. */
  captured?: string[];
}

/**
 * Run `fn` with `console.log/info/debug/warn` intercepted.
 *
 * Known tfjs noise is dropped when `quiet`, else written to stderr. Anything else is passed on, but
 * never to stdout: during backend setup the only speakers are libraries, and nls's stdout is reserved
 * for machine-readable output. The original methods are restored afterwards, unless someone else
 * replaced them in the meantime (then theirs are left in place).
 */
export async function withConsoleFilter<T>(options: ConsoleFilterOptions, fn: () => Promise<T>): Promise<T> {
  const saved = new Map<Method, ConsoleFn>();
  const installed = new Map<Method, ConsoleFn>();
  let nextIsInitFailureDetail = false;

  for (const method of METHODS) {
    const original = console[method] as ConsoleFn;
    saved.set(method, original);
    const wrapper: ConsoleFn = (...args: unknown[]) => {
      const text = format(...args);
      const known = nextIsInitFailureDetail || KNOWN_TFJS_NOISE.some((re) => re.test(text));
      nextIsInitFailureDetail = INIT_FAILED.test(text);
      options.captured?.push(text);
      if (known && options.quiet) return;
      if (method === 'warn') original.apply(console, args);
      else process.stderr.write(`${text}\n`);
    };
    installed.set(method, wrapper);
    console[method] = wrapper;
  }

  try {
    return await fn();
  } finally {
    for (const method of METHODS) {
      const original = saved.get(method);
      if (original !== undefined && console[method] === installed.get(method)) console[method] = original;
    }
  }
}
