import { defineConfig } from 'tsup';

// One entry per public subpath: the core never imports an optional peer, so a user
// with L1 only installs none of ioredis, pg or prom-client.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    redis: 'src/redis.ts',
    postgres: 'src/postgres.ts',
    testing: 'src/testing.ts',
    decorators: 'src/decorators.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  external: ['ioredis', 'pg', 'prom-client', '@opentelemetry/api', 'vitest'],
});
