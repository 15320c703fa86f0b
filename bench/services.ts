/**
 * Redis and Postgres for the bench. Finding them is the shared helper's job
 * (test/support/services.ts, the same chain the tests use: environment, default ports,
 * a server of our own, testcontainers); this layer only resolves each service lazily,
 * once, for whichever section asks first, turns "none can be had" into a
 * {@link SkipSection} carrying the helper's one line on how to provide it, and records
 * where each server came from for the report.
 */
import {
  type ResolvedService,
  type ResolveOptions,
  resolvePostgres,
  resolveRedis,
  stopAll,
} from '../test/support/services.js';

/** Thrown by a section (or part of one) that cannot run here; the runner prints `reason` and goes on. */
export class SkipSection extends Error {
  override readonly name = 'SkipSection';
}

/** Where a server came from, for the report (the URL without its password). */
export type ServiceInfo = ResolvedService;

/** The bench's view of its servers: resolved lazily, once, by whichever section asks first. */
export interface BenchServices {
  /** A Redis URL that answers PING. @throws SkipSection when none can be had. */
  redis(): Promise<string>;
  /** A Postgres connection string that answers `SELECT 1`. @throws SkipSection when none can be had. */
  postgres(): Promise<string>;
  /** The URLs resolved so far, passwords and all (for cleanup, not for printing). */
  urls(): { redis?: string; postgres?: string };
  /** What was resolved so far (URLs without passwords). */
  describe(): Record<string, ServiceInfo | { readonly skipped: string }>;
  /** Stops every server started here. Idempotent. */
  stop(): Promise<void>;
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Creates the resolver. With `own` (env `TIERCACHE_BENCH_SERVERS=own`), the environment
 * and default ports are skipped and private servers are started: a quiet machine for
 * measuring, and a way to exercise the fallbacks.
 */
export function benchServices(options: { own?: boolean; log?: (line: string) => void } = {}): BenchServices {
  const own = options.own ?? process.env.TIERCACHE_BENCH_SERVERS === 'own';
  const resolveOptions: ResolveOptions = {
    ...(own ? { skip: ['environment', 'default-port'] } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  const info: Record<string, ServiceInfo | { readonly skipped: string }> = {};
  const resolved: Record<string, Promise<string>> = {};
  const urls: { redis?: string; postgres?: string } = {};

  const service =
    (name: 'redis' | 'postgres', resolve: (options: ResolveOptions) => Promise<ResolvedService>) => () => {
      resolved[name] ??= resolve(resolveOptions).then(
        (found) => {
          info[name] = { url: withoutPassword(found.url), source: found.source };
          urls[name] = found.url;
          return found.url;
        },
        (error: Error) => {
          info[name] = { skipped: error.message };
          throw new SkipSection(error.message);
        },
      );
      return resolved[name];
    };

  let stopped: Promise<void> | undefined;
  return {
    redis: service('redis', resolveRedis),
    postgres: service('postgres', resolvePostgres),
    urls: () => ({ ...urls }),
    describe: () => ({ ...info }),
    stop: () => {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
