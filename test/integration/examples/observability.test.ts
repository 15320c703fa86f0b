// examples/observability/server.ts: the HTTP service's /metrics after two requests, and its spans.
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Service, startService } from '../../../examples/observability/server.js';
import type { CacheLogger } from '../../../src/index.js';
import { postgresUrlForTests, redisUrlForTests, uniqueNamespace } from '../../support/services.js';

const schema = `tc_obs_example_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const exporter = new InMemorySpanExporter();
const quiet: CacheLogger = { debug() {}, info() {}, warn() {}, error() {} };
let service: Service;
let pgUrl: string;

beforeAll(async () => {
  const [redisUrl, databaseUrl] = await Promise.all([redisUrlForTests(), postgresUrlForTests()]);
  pgUrl = databaseUrl;
  service = await startService({
    redisUrl,
    databaseUrl,
    port: 0,
    namespace: uniqueNamespace('obs-example'),
    schema,
    exporter,
    logger: quiet,
  });
});

afterAll(async () => {
  await service?.cache.clear().catch(() => {});
  await service?.close();
  const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
});

describe('examples/observability', () => {
  it('serves users, exposes /metrics and exports spans', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${service.url}/users/7`);
      expect(await res.json()).toEqual({ id: 7, name: 'User 7' });
    }
    const res = await fetch(`${service.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /tiercache_lookups_total\{namespace="[^"]+",tier="l1",result="hit",group="user"\} 1/,
    );
    expect(text).toMatch(/tiercache_loader_duration_seconds_count\{namespace="[^"]+",outcome="ok"\} 1/);
    const names = exporter.getFinishedSpans().map((s) => s.name);
    expect(names).toContain('tiercache getOrSet');
    expect(names).toContain('tiercache load');
    expect(names).toContain('tiercache redis read');
  });
});
