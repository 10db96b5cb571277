import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own redis-server and S3 server; two cores, so two files at a time.
    maxWorkers: 2,
  },
});
