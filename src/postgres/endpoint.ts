import type pg from 'pg';

/**
 * `host:port/database` of a pool, from its options or its connection string, with pg's
 * own fallbacks (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`); never the password.
 */
export function pgEndpoint(pool: pg.Pool): string {
  const options = ((pool as { options?: pg.PoolConfig }).options ?? {}) as pg.PoolConfig;
  let url: URL | undefined;
  try {
    if (typeof options.connectionString === 'string') url = new URL(options.connectionString);
  } catch {
    url = undefined; // a key=value connection string: fall back to the options and the environment
  }
  const env = process.env;
  const host = options.host ?? (url?.hostname || undefined) ?? env.PGHOST ?? 'localhost';
  const port = options.port ?? (url?.port || undefined) ?? env.PGPORT ?? 5432;
  const database =
    options.database ??
    (url !== undefined && url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined) ??
    env.PGDATABASE ??
    options.user ??
    (url?.username || undefined) ??
    env.PGUSER ??
    'postgres';
  return `${host}:${port}/${database}`;
}
