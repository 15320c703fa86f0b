import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../../src/errors.js';
import { postgresBus, postgresStore } from '../../../src/postgres/index.js';
import { redisBus, redisStore } from '../../../src/redis/index.js';

// Every store and bus factory refuses an option it does not know, as the cache does: a
// misspelt `prefx` or `tabel` silently ignored would put keys where nobody looks. The
// checks run before anything connects, so no server is needed.

const url = 'redis://127.0.0.1:1';
const connectionString = 'postgres://nobody@127.0.0.1:1/none';

const cases: Array<[string, () => unknown, string]> = [
  ['redisStore', () => redisStore({ url, prefx: 'app:' } as never), 'prefx'],
  ['redisBus', () => redisBus({ url, hartbeatMs: 100 } as never), 'hartbeatMs'],
  ['postgresStore', () => postgresStore({ connectionString, tabel: 'x' } as never), 'tabel'],
  ['postgresBus', () => postgresBus({ connectionString, heartbeat: 1 } as never), 'heartbeat'],
  ['postgresStore with a pool', () => postgresStore({ pool: new pg.Pool(), schma: 's' } as never), 'schma'],
];

describe('store and bus factories refuse unknown options', () => {
  it.each(cases)('%s names the unknown option', (_, make, option) => {
    let error: unknown;
    try {
      make();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe(option);
    expect((error as Error).message).toMatch(new RegExp(`Unknown option \`${option}\``));
  });
});
