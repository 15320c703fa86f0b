import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // 2 cores: a modest pool; integration files each use their own namespace or schema.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    setupFiles: ['test/setup.ts'],
    coverage: { provider: 'v8', include: ['src/**'], reporter: ['text-summary'] },
  },
});
