/**
 * The example plugin package (examples/nls-strategy-example) loaded through the real plugin loader
 * and run through the conformance kit, as its own `npm test` does with `nls/testing`.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadStrategyPlugin } from '../../src/search/plugins.js';
import { resolveStrategyOptions } from '../../src/search/registry.js';
import { strategyConformance } from '../../src/search/testing.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/nls-strategy-example/index.js', import.meta.url));
const plugin = await loadStrategyPlugin(EXAMPLE, { registry: false });
const [factory] = plugin.factories;

describe('example plugin', () => {
  it('exports one valid factory', () => {
    expect(plugin.factories.map((f) => f.name)).toEqual(['example-local-search']);
    expect(plugin.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(resolveStrategyOptions(factory!, {})).toEqual({ restartProbability: 0.1, start: 'median' });
    expect(() => factory!.create({ restartProbability: 2 })).toThrow(/restartProbability/);
  });
});

describe('example plugin: conformance', () => {
  for (const check of strategyConformance(factory!, { numRuns: 15 })) it(check.name, check.run);
});

describe('example plugin: conformance (start: random, restartProbability: 0.5)', () => {
  for (const check of strategyConformance(factory!, { numRuns: 10, options: { start: 'random', restartProbability: 0.5 }, studyCheck: false, strictExhaustion: true })) {
    it(check.name, check.run);
  }
});
