import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests spawn real interpreters and servers; two cores are all CI has.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
