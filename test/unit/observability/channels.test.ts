import { tracingChannel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { TieredCache } from '../../../src/index.js';
import { loadChannel, operationChannel, storeChannel, traced } from '../../../src/observability/channels.js';
import { MemoryStore } from '../../../src/testing/index.js';

const caches: TieredCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close({ timeout: 0 })));
});

describe('diagnostics_channel tracing channels', () => {
  it('are the documented names, and report no subscriber until one subscribes', () => {
    expect(traced(operationChannel)).toBe(false);
    expect(traced(storeChannel)).toBe(false);
    expect(traced(loadChannel)).toBe(false);
    const handlers = { start() {} };
    const channel = tracingChannel('tiercache:operation');
    channel.subscribe(handlers as never);
    try {
      expect(traced(operationChannel)).toBe(true);
    } finally {
      channel.unsubscribe(handlers as never);
    }
    expect(traced(operationChannel)).toBe(false);
  });

  it('publish an operation, its store calls and its load, with their contexts; an L1 hit publishes nothing', async () => {
    const cache = new TieredCache({ namespace: 'dc', stores: [new MemoryStore('l2')] });
    caches.push(cache);
    await cache.get('warm-up');
    const seen: string[] = [];
    const on = (name: string) => ({
      start: (c: Record<string, unknown>) =>
        seen.push(`${name} start ${JSON.stringify(c, ['operation', 'key', 'store', 'kind', 'keys'])}`),
      asyncEnd: (c: Record<string, unknown>) =>
        seen.push(`${name} end${c.error !== undefined ? ' error' : ''}`),
    });
    const handlers = [
      [tracingChannel('tiercache:operation'), on('operation')],
      [tracingChannel('tiercache:store'), on('store')],
      [tracingChannel('tiercache:load'), on('load')],
    ] as const;
    for (const [channel, h] of handlers) channel.subscribe(h as never);
    try {
      await cache.getOrSet('k', () => 'v');
      await cache.getOrSet('k', () => 'v'); // L1 hit: nothing
    } finally {
      for (const [channel, h] of handlers) channel.unsubscribe(h as never);
    }
    expect(seen).toEqual([
      'operation start {"operation":"getOrSet","key":"k"}',
      'store start {"store":"l2","kind":"read","keys":1}',
      'store end',
      'load start {"key":"k"}',
      'load end',
      'store start {"store":"l2","kind":"write","keys":1}',
      'store end',
      'operation end',
    ]);
  });
});
