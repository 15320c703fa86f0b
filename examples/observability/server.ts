/**
 * An HTTP service with a tiered cache, observed three ways:
 *
 * - `GET /metrics`: Prometheus metrics (`tiercache/prometheus`) on prom-client's registry;
 * - OpenTelemetry traces (`tiercache/opentelemetry`), printed by the console exporter;
 * - a pino-shaped logger (here a small console adapter) for store failures, once per change.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     npx tsx examples/observability/server.ts
 *   curl localhost:3000/users/1; curl localhost:3000/users/1; curl localhost:3000/metrics
 *
 * Import the package as `tiercache`, `tiercache/redis`, ... in your own code.
 */
import { createServer, type Server } from 'node:http';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { type CacheLogger, TieredCache } from '../../src/index.js';
import { instrument } from '../../src/opentelemetry/index.js';
import { postgresStore } from '../../src/postgres/index.js';
import { registerMetrics } from '../../src/prometheus/index.js';
import { redisBus, redisStore } from '../../src/redis/index.js';

/** What the service serves: a user, loaded from a slow "database" on a miss. */
export interface User {
  readonly id: number;
  readonly name: string;
}

/** A console logger with pino's call shape: `(object, message)`. */
export const consoleLogger: CacheLogger = {
  debug: (object, message) => console.debug(message, object),
  info: (object, message) => console.info(message, object),
  warn: (object, message) => console.warn(message, object),
  error: (object, message) => console.error(message, object),
};

export interface ServiceOptions {
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly port?: number;
  /** Namespace, Redis prefix and Postgres schema (tests give their own). */
  readonly namespace?: string;
  readonly schema?: string;
  /** Where spans go. Default: the console. */
  readonly exporter?: SpanExporter;
  readonly logger?: CacheLogger;
}

export interface Service {
  readonly server: Server;
  readonly url: string;
  readonly registry: Registry;
  readonly cache: TieredCache<User>;
  close(): Promise<void>;
}

/** Starts the service; `close()` stops the server, the cache and the tracer. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const namespace = options.namespace ?? 'users';
  const cache = new TieredCache<User>({
    namespace,
    ttl: '5m',
    grace: '1h',
    stores: [
      redisStore({ url: options.redisUrl }),
      postgresStore({ connectionString: options.databaseUrl, schema: options.schema ?? 'public' }),
    ],
    bus: redisBus({ url: options.redisUrl }),
    logger: options.logger ?? consoleLogger,
  });
  const registry = new Registry();
  const unregister = registerMetrics(cache, { registry, keyGroups: { user: /^user:/ } });
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(options.exporter ?? new ConsoleSpanExporter())],
  });
  const uninstrument = instrument(cache, { tracer: provider.getTracer('users-service'), keys: true });

  const server = createServer(async (req, res) => {
    try {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
        return;
      }
      const match = /^\/users\/(\d+)$/.exec(req.url ?? '');
      if (match === null) {
        res.writeHead(404).end();
        return;
      }
      const id = Number(match[1]);
      const user = await cache.getOrSet(`user:${id}`, async () => findUser(id));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(user));
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    registry,
    cache,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      uninstrument();
      unregister();
      await cache.close();
      await provider.shutdown();
    },
  };
}

/** The "database": 20 ms per lookup. */
async function findUser(id: number): Promise<User> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { id, name: `User ${id}` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const service = await startService({
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    port: Number(process.env.PORT ?? 3000),
  });
  console.log(`listening on ${service.url} (GET /users/:id, GET /metrics)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void service.close());
}
