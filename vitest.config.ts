import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A run that finds no test is a failure, not a pass.
    passWithNoTests: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // tfjs backends are process-global state: one worker per file keeps files isolated.
    pool: 'forks',
  },
});
