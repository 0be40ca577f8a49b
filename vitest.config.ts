import { defineConfig } from 'vitest/config';

// .ci/run sets this to count the tests that actually ran (a green run with zero tests is a failure
// there); the terminal keeps vitest's default reporter either way.
const jsonReport = process.env.STRATA_VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts', 'test/setup/s3-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Container start or cluster start-up plus a slow teardown of leftovers.
    teardownTimeout: 60_000,
    ...(jsonReport ? { reporters: ['default', ['json', { outputFile: jsonReport }]] } : {}),
  },
});
