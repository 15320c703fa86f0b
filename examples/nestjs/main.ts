// A small NestJS app whose CacheModule stores in tiercache (L1 + Redis + Postgres).
//
//   npx tsc -p examples/nestjs --outDir /tmp/nest-out && ln -s "$PWD/node_modules" /tmp/nest-out/node_modules
//   node /tmp/nest-out/examples/nestjs/main.js
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres), PORT (default 3000), CACHE_NAMESPACE,
// CACHE_SCHEMA. Prints `listening on <port>`; SIGTERM or SIGINT closes the app (and with
// it the cache) and the process exits.
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { appModule, createAppCache } from './app.module.js';

const cache = createAppCache({
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  namespace: process.env.CACHE_NAMESPACE ?? 'nest-example',
  schema: process.env.CACHE_SCHEMA ?? 'public',
});
const app = await NestFactory.create(appModule(cache), { logger: ['error', 'warn'] });
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
console.log(`listening on ${(app.getHttpServer().address() as AddressInfo).port}`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    // CacheModule's onModuleDestroy disconnects its store: the cache closes; nothing else
    // keeps the process alive.
    void app.close().then(() => console.log('closed'));
  });
}
