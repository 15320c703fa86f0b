// The README a newcomer follows: its quick start is examples/quick-start.ts, character for
// character, and running that file against the real Redis and Postgres prints what the
// README says it prints; its Postgres schema block creates exactly what the store creates,
// and a store with `ensureSchema: false` works on a table made from it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { postgresStore } from '../../../src/postgres/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';

const root = resolve(import.meta.dirname, '../../..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const fromReadme = `tc_readme_sql_${suffix}`;
const fromStore = `tc_readme_store_${suffix}`;
let redisUrl: string;
let pgUrl: string;
let admin: pg.Pool;

/** The first fenced block opened with ```lang after `marker`. */
function block(marker: string, lang: string): string {
  const start = readme.indexOf(marker);
  if (start < 0) throw new Error(`README has no "${marker}"`);
  const open = readme.indexOf(`\n\`\`\`${lang}\n`, start);
  if (open < 0) throw new Error(`no \`\`\`${lang} block after "${marker}"`);
  const body = open + lang.length + 5;
  return readme.slice(body, readme.indexOf('\n```\n', body - 1) + 1);
}

beforeAll(async () => {
  [redisUrl, pgUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
  admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
});

afterAll(async () => {
  if (admin === undefined) return;
  for (const schema of [fromReadme, fromStore])
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

describe('README quick start', () => {
  it('is examples/quick-start.ts, character for character', () => {
    expect(block('## Quick start', 'ts')).toBe(
      readFileSync(resolve(root, 'examples/quick-start.ts'), 'utf8'),
    );
  });

  it('runs against the real Redis and Postgres and prints what the README says', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/quick-start.ts'], {
      cwd: root,
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        DATABASE_URL: pgUrl,
        CACHE_NAMESPACE: uniqueNamespace('qs'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    // It exited by itself after close(): nothing kept the process alive.
    expect(stdout).toBe(block('It prints:', ''));
  }, 60_000);
});

describe('README Postgres schema', () => {
  it('creates exactly what the store creates (maxRows: both indexes)', async () => {
    const sql = block('### The Postgres tier', 'sql').replaceAll('public', pg.escapeIdentifier(fromReadme));
    await admin.query(sql);
    const store = postgresStore({
      connectionString: pgUrl,
      schema: fromStore,
      maxRows: 1_000,
      sweepIntervalMs: 0,
    });
    await store.ensureSchema();
    await store.close();

    const describeSchema = async (schema: string) => {
      const columns = await admin.query(
        `SELECT column_name, data_type, is_nullable, collation_name, column_default
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tiercache_entries'
          ORDER BY ordinal_position`,
        [schema],
      );
      const indexes = await admin.query(
        `SELECT indexname, replace(indexdef, $2, 'S.') AS def FROM pg_indexes
          WHERE schemaname = $1 AND tablename = 'tiercache_entries' ORDER BY indexname`,
        [schema, `${schema}.`],
      );
      const persistence = await admin.query(
        `SELECT c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = 'tiercache_entries'`,
        [schema],
      );
      return { columns: columns.rows, indexes: indexes.rows, persistence: persistence.rows };
    };
    const documented = await describeSchema(fromReadme);
    expect(documented.columns.map((c) => c.column_name)).toEqual([
      'key',
      'value',
      'expires_at',
      'created_at',
      'version',
    ]);
    expect(documented.indexes).toHaveLength(3);
    expect(documented).toEqual(await describeSchema(fromStore));
  });

  it('a store with ensureSchema: false works on the table made from the README', async () => {
    const cache = new TieredCache({
      namespace: uniqueNamespace('readme-sql'),
      l1: false,
      stores: [postgresStore({ connectionString: pgUrl, schema: fromReadme, ensureSchema: false })],
      strict: true,
    });
    try {
      await cache.set('k', { n: 1 });
      expect(await cache.get('k')).toEqual({ n: 1 });
      await cache.clear();
    } finally {
      await cache.close();
    }
  });
});
