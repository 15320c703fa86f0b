import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { type OwnServer, startPostgresServer } from '../../support/services.js';
import { waitFor } from '../../support/wait.js';

// Faults on a private server of this file's own: never kill sessions on the shared one.
const HOUR = 3_600_000;

let server: OwnServer;
let admin: pg.Client;

beforeAll(async () => {
  server = await startPostgresServer();
  admin = new pg.Client({ connectionString: server.url, application_name: 'test-admin' });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end().catch(() => {});
  await server?.stop();
});

const storeBackends = async (): Promise<number[]> =>
  (
    await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'tiercache'",
    )
  ).rows.map((row) => row.pid);

describe('postgresStore under faults', () => {
  let store: PostgresStore;

  afterAll(async () => {
    await store?.close();
  });

  it('idle connections terminated by the server do not crash the process, and the next operation reconnects', async () => {
    store = postgresStore({ connectionString: server.url, schema: 'faults', sweepIntervalMs: 0 });
    // Several concurrent reads open several pooled connections, all idle afterwards.
    await store.setMany([
      { key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    await Promise.all(Array.from({ length: 4 }, () => store.get('k')));
    const pids = await storeBackends();
    expect(pids.length).toBeGreaterThan(0);
    // Each idle pooled client now gets an error event (57P01). An `error` with no
    // listener on the pool would be an uncaught exception, failing this file.
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
    await waitFor(
      'the terminated backends to go away',
      async () => !(await storeBackends()).some((pid) => pids.includes(pid)),
      5_000,
      10,
    );
    // pg removes the broken clients from the pool; reads and writes go on, on new connections.
    let value: Uint8Array | undefined;
    for (let attempt = 0; attempt < 3 && value === undefined; attempt++) {
      value = await store.get('k').catch(() => undefined);
    }
    expect(text(value)).toBe('v');
    await store.setMany([
      { key: 'k2', value: bytes('v2'), expiresAt: Date.now() + HOUR, version: nextVersion() },
    ]);
    expect(text(await store.get('k2'))).toBe('v2');
  });

  it('a server that is gone makes operations reject (for the guard to count), never crash', async () => {
    const doomed = await startPostgresServer();
    const gone = postgresStore({ connectionString: doomed.url, sweepIntervalMs: 10 });
    try {
      await gone.setMany([
        { key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() },
      ]);
      await doomed.stop();
      await expect(gone.get('k')).rejects.toThrow();
      await expect(gone.getMany(['k'])).rejects.toThrow();
      await expect(
        gone.setMany([{ key: 'k', value: bytes('v'), expiresAt: Date.now() + HOUR, version: nextVersion() }]),
      ).rejects.toThrow();
      await expect(gone.sweep()).rejects.toThrow();
    } finally {
      await gone.close();
    }
  });
});
