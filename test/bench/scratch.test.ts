/**
 * The bench's cleanup: it removes exactly the keys and schemas it made, through plain
 * clients (not the guarded `clear()` that used to leave `tcbench:*:miss:*` keys behind),
 * and `inTurn` runs every cleanup step even after one fails.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  benchNamespace,
  benchSchema,
  dropSchema,
  inTurn,
  KEY_PREFIX,
  removeNamespace,
  removeRunLeftovers,
} from '../../bench/scratch.js';
import { postgresUrlForTests, redisUrlForTests, stopAll } from '../support/services.js';

afterAll(stopAll);

describe('bench scratch', () => {
  it('removes every key of a namespace, and only those', async () => {
    const url = await redisUrlForTests();
    const namespace = benchNamespace('scratch-test');
    const neighbour = `${namespace}x`;
    const client = new Redis(url);
    try {
      // More keys than one SCAN batch, so the cursor loop is exercised.
      const pipeline = client.pipeline();
      for (let i = 0; i < 2_500; i++) pipeline.set(`${KEY_PREFIX}${namespace}:miss:${i}`, 'v', 'EX', 60);
      pipeline.set(`${KEY_PREFIX}${neighbour}:k`, 'v', 'EX', 60);
      pipeline.set(`${KEY_PREFIX}${namespace}#epoch:`, 'v', 'EX', 60);
      await pipeline.exec();
      await removeNamespace(url, namespace);
      expect(await client.keys(`${KEY_PREFIX}${namespace}:*`)).toEqual([]);
      expect(await client.exists(`${KEY_PREFIX}${namespace}#epoch:`)).toBe(0);
      expect(await client.exists(`${KEY_PREFIX}${neighbour}:k`)).toBe(1);
    } finally {
      await client.del(`${KEY_PREFIX}${neighbour}:k`);
      client.disconnect();
    }
  });

  it('drops a schema with its tables', async () => {
    const url = await postgresUrlForTests();
    const schema = benchSchema('scratch-test');
    expect(schema).toMatch(/^tcbench_scratch_test_\d+_[a-z0-9]+$/);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`CREATE TABLE ${schema}.t (k text)`);
      await dropSchema(url, schema);
      const left = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        schema,
      ]);
      expect(left.rowCount).toBe(0);
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  it("removes this run's leftovers after an interruption, and not another run's", async () => {
    const redisUrl = await redisUrlForTests();
    const postgresUrl = await postgresUrlForTests();
    const mine = benchNamespace('cut-short');
    const theirs = `bench-cut-short-${process.pid + 1}-abcdef`;
    const schema = benchSchema('cut_short');
    const redis = new Redis(redisUrl);
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await redis.set(`${KEY_PREFIX}${mine}:k`, 'v', 'EX', 60);
      await redis.set(`${KEY_PREFIX}${theirs}:k`, 'v', 'EX', 60);
      await client.query(`CREATE SCHEMA ${schema}`);
      await removeRunLeftovers({ redis: redisUrl, postgres: postgresUrl });
      expect(await redis.exists(`${KEY_PREFIX}${mine}:k`)).toBe(0);
      expect(await redis.exists(`${KEY_PREFIX}${theirs}:k`)).toBe(1);
      const left = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        schema,
      ]);
      expect(left.rowCount).toBe(0);
    } finally {
      await redis.del(`${KEY_PREFIX}${theirs}:k`);
      redis.disconnect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  it('runs every step even after one fails, then throws the first failure', async () => {
    const ran: string[] = [];
    await expect(
      inTurn(
        () => ran.push('close'),
        () => Promise.reject(new Error('close failed')),
        () => {
          ran.push('remove keys');
          throw new Error('second failure');
        },
        async () => ran.push('drop schema'),
      ),
    ).rejects.toThrow('close failed');
    expect(ran).toEqual(['close', 'remove keys', 'drop schema']);
  });
});
