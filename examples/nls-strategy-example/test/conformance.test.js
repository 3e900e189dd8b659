// Runs the nls conformance kit on this plugin: `npm test` (node:test).
import { test } from 'node:test';
import { strategyConformance } from 'nls/testing';
import localSearch from '../index.js';

for (const check of strategyConformance(localSearch)) test(check.name, check.run);
for (const check of strategyConformance(localSearch, { options: { start: 'random', restartProbability: 0.5 }, studyCheck: false })) {
  test(`${check.name} (start: random)`, check.run);
}
