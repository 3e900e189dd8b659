/**
 * nls-strategy-example: a complete nls search-strategy plugin in plain ES-module JavaScript.
 *
 * Strategy `example-local-search`: first-improvement local search on the first objective with
 * random restarts. It starts at the space's median configuration (the Shears/SQFT heuristic
 * sub-adapter), proposes unseen neighbours (one gene, one rank step) of the best feasible trial so
 * far, restarts from a random unseen configuration with probability `restartProbability` or when
 * the neighbourhood is used up, and answers [] once every configuration was proposed.
 *
 * Rules it follows (the nls strategy contract, src/search/contract.ts):
 * - every random choice comes from ctx.rng;
 * - its state (`seen`, `best`) follows only from its asks and tells, so a study can rebuild it by
 *   replaying the journal;
 * - failed and filtered results are accepted (they are just never "best");
 * - it never mutates ctx, its trials or the results it is told.
 */

/** @typedef {import('nls').StrategyFactory} StrategyFactory */
/** @typedef {import('nls').SearchStrategy} SearchStrategy */

/** Options of the strategy, with defaults and descriptions (shown by `nls strategies`). */
const OPTIONS = [
  {
    name: 'restartProbability',
    type: 'number',
    default: 0.1,
    description: 'Probability of proposing a random unseen configuration instead of a neighbour of the best one.',
  },
  {
    name: 'start',
    type: 'string',
    default: 'median',
    choices: ['median', 'max', 'min', 'random'],
    description: 'Where the search starts: the median, largest or smallest sub-adapter, or a random one.',
  },
];

/** Read and check the options (the registry already merged defaults and checked types). */
function readOptions(options) {
  const restart = Number(options.restartProbability ?? 0.1);
  if (!Number.isFinite(restart) || restart < 0 || restart > 1) {
    throw new Error(`option "restartProbability" of strategy "example-local-search" must be a number in [0, 1], got ${JSON.stringify(options.restartProbability)}`);
  }
  const start = options.start ?? 'median';
  if (!['median', 'max', 'min', 'random'].includes(start)) {
    throw new Error(`option "start" of strategy "example-local-search" must be one of median, max, min, random, got ${JSON.stringify(start)}`);
  }
  return { restart, start };
}

/** The value to minimize: the first objective, sign-adjusted. */
function score(result, objectives) {
  const v = result.values?.[0];
  return objectives[0]?.direction === 'maximize' ? -v : v;
}

function feasible(result) {
  return (result.constraints ?? []).every((c) => c <= 0);
}

/** @returns {SearchStrategy} */
function createLocalSearch(options) {
  const { restart, start } = readOptions(options);
  /** Keys proposed or told so far. */
  const seen = new Set();
  /** Best complete feasible result so far. */
  let best;

  /** A random configuration not seen yet, or undefined when none is found. */
  function randomUnseen(ctx) {
    for (let attempt = 0; attempt < 64; attempt++) {
      const c = ctx.space.sample(ctx.rng);
      if (!seen.has(ctx.space.key(c))) return c;
    }
    // Small or nearly exhausted space: enumerate (bounded) to find what is left.
    if (ctx.space.cardinality() <= 100_000n) {
      const rest = [];
      for (const c of ctx.space.enumerate({ limit: 100_000 })) if (!seen.has(ctx.space.key(c))) rest.push(c);
      if (rest.length > 0) return rest[ctx.rng.int(rest.length)];
    }
    return undefined;
  }

  function startConfig(ctx) {
    switch (start) {
      case 'max':
        return ctx.space.maxConfig();
      case 'min':
        return ctx.space.minConfig();
      case 'random':
        return ctx.space.sample(ctx.rng);
      default:
        return ctx.space.medianConfig();
    }
  }

  return {
    ask(n, ctx) {
      const out = [];
      const take = (c) => {
        seen.add(ctx.space.key(c));
        out.push(c);
      };
      if (seen.size === 0 && n > 0) take(startConfig(ctx));
      while (out.length < n) {
        let next;
        if (best && ctx.rng.next() >= restart) {
          const fresh = ctx.space.neighbours(best.config).filter((c) => !seen.has(ctx.space.key(c)));
          if (fresh.length > 0) next = fresh[ctx.rng.int(fresh.length)];
        }
        next ??= randomUnseen(ctx);
        if (!next) break; // nothing new left: the study ends when a fresh ask returns []
        take(next);
      }
      return out;
    },

    tell(results, ctx) {
      for (const r of results) {
        seen.add(r.key);
        if (r.state !== 'complete' || !feasible(r)) continue;
        if (!best || score(r, ctx.objectives) < score(best, ctx.objectives)) best = r;
      }
    },
  };
}

/** @type {StrategyFactory} */
const localSearch = {
  name: 'example-local-search',
  version: '1.0.0',
  description: 'First-improvement local search on the first objective, with random restarts (example plugin).',
  options: OPTIONS,
  create: createLocalSearch,
};

export default localSearch;
