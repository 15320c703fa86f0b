import { defineConfig } from 'tsup';

// One entry per public subpath: the core never imports an optional peer, so a user
// with L1 only installs none of ioredis, pg, prom-client or keyv.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    redis: 'src/redis/index.ts',
    postgres: 'src/postgres/index.ts',
    testing: 'src/testing/index.ts',
    decorators: 'src/decorators/index.ts',
    keyv: 'src/keyv/index.ts',
    prometheus: 'src/prometheus/index.ts',
    opentelemetry: 'src/opentelemetry/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  // Class names survive bundling: `TieredCache.name`, `err.name === 'InvalidOptionError'`.
  keepNames: true,
  external: ['ioredis', 'pg', 'prom-client', '@opentelemetry/api', 'vitest', 'keyv'],
});
