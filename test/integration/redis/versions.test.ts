import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZERO_VERSION } from '../../../src/entry/version.js';
import { TierCacheError } from '../../../src/errors.js';
import { escapeGlob, type RedisStore, redisStore } from '../../../src/redis/index.js';
import type { StoreWrite } from '../../../src/stores/store.js';
import { nextVersion } from '../../../src/testing/versions.js';
import { bytes, text } from '../../support/bytes.js';
import { redisUrlForTests, uniqueNamespace } from '../../support/services.js';
import { rawClients } from './helpers.js';

const url = await redisUrlForTests();
const opened = rawClients(url);
const hour = () => Date.now() + 3_600_000;

let raw: Redis;
let store: RedisStore;
let ns: string;

beforeAll(() => {
  raw = opened.client();
  ns = `${uniqueNamespace('redis-versions')}:`;
  store = redisStore({ client: raw, prefix: ns });
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${escapeGlob(ns)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await raw.unlink(...keys);
  } while (cursor !== '0');
  await store.close();
  await opened.quitAll();
});

function w(key: string, value: string, version: string, expiresAt = hour()): StoreWrite {
  return { key, value: bytes(value), expiresAt, version };
}

/** A version from its three parts: 12 hex of ms, 4 of counter, 8 of tag. */
function v(ms: string, counter: string, tag: string): string {
  return ms.padStart(12, '0') + counter.padStart(4, '0') + tag.padStart(8, '0');
}

describe('redisStore versioned writes', () => {
  it('a value written by the previous release (no frame) is read as is and replaced by any write', async () => {
    // The entry codec's magic byte `t` (0x74) leads every unframed value, and it is not hex.
    const legacy = Buffer.from([0x74, 1, 2, 3, 0x30, 0x31, ...Buffer.from('0'.repeat(30))]);
    await raw.set(`${ns}legacy:a`, legacy, 'PX', 60_000);
    await raw.set(`${ns}legacy:b`, legacy, 'PX', 60_000);
    expect(await store.get('legacy:a')).toEqual(legacy);
    expect(await store.getMany(['legacy:a', 'legacy:b'])).toEqual([legacy, legacy]);
    // Older than every version: even the zero version replaces it, alone or in a batch.
    await store.setMany([w('legacy:a', 'new a', ZERO_VERSION)]);
    await store.setMany([w('legacy:b', 'new b', ZERO_VERSION), w('legacy:c', 'c', nextVersion())]);
    expect((await store.getMany(['legacy:a', 'legacy:b'])).map(text)).toEqual(['new a', 'new b']);
  });

  it('a key of another type under the prefix is replaced, not an error', async () => {
    await raw.hset(`${ns}typed`, 'f', 'v');
    await store.setMany([w('typed', 'string now', nextVersion())]);
    expect(text(await store.get('typed'))).toBe('string now');
  });

  it('compares versions by number in every part: ms, then counter, then tag', async () => {
    // Pairs [older, newer] differing in one part each, including digits against letters.
    const pairs: Array<[string, string]> = [
      [v('9', '0', '0'), v('a', '0', '0')],
      [v('f', 'ffff', 'ffffffff'), v('10', '0', '0')],
      [v('a', '9', 'ffffffff'), v('a', 'a', '0')],
      [v('a', 'a', '0000000f'), v('a', 'a', '000000f0')],
      [v('ffffffff', '0', '0'), v('100000000', '0', '0')],
    ];
    for (const [i, [older, newer]] of pairs.entries()) {
      await store.setMany([w(`cmp:${i}`, 'newer', newer)]);
      await store.setMany([w(`cmp:${i}`, 'older', older)]);
      await store.setMany([w(`cmp:${i}`, 'equal', newer)]);
      expect(text(await store.get(`cmp:${i}`)), `${older} < ${newer}`).toBe('newer');
      await store.setMany([w(`cmp-up:${i}`, 'older', older)]);
      await store.setMany([w(`cmp-up:${i}`, 'newer', newer)]);
      expect(text(await store.get(`cmp-up:${i}`)), `${newer} replaces ${older}`).toBe('newer');
    }
  });

  it('a past expiry deletes only when its version is newer than what the key holds', async () => {
    const older = nextVersion();
    const held = nextVersion();
    const newest = nextVersion();
    await store.setMany([w('past:k', 'kept', held)]);
    await store.setMany([w('past:k', 'x', v('1', '0', '0'), Date.now() - 5)]);
    expect(text(await store.get('past:k'))).toBe('kept');
    await store.setMany([w('past:k', 'x', older, Date.now() - 5)]);
    expect(text(await store.get('past:k'))).toBe('kept');
    await store.setMany([w('past:k', 'x', newest, Date.now() - 5), w('past:other', 'o', nextVersion())]);
    expect(await raw.exists(`${ns}past:k`)).toBe(0);
  });

  it('keeps PXAT expiry from the winning write only', async () => {
    const expiresAt = Date.now() + 60_000;
    const first = nextVersion();
    const second = nextVersion();
    await store.setMany([w('pxat', 'b', second, expiresAt)]);
    await store.setMany([w('pxat', 'a', first, expiresAt + 5_000)]);
    expect(await raw.pexpiretime(`${ns}pxat`)).toBe(expiresAt);
  });

  it('batches over 1,000 keys (a pipeline of script calls) keep the greatest version of a repeated key', async () => {
    const versions = Array.from({ length: 3 }, () => nextVersion());
    const writes: StoreWrite[] = Array.from({ length: 2_500 }, (_, i) =>
      w(`bulk:${i}`, `v${i}`, nextVersion()),
    );
    // One key written in three script calls of the pipeline, newest in the middle.
    writes[10] = w('bulk:rep', 'old', versions[0] as string);
    writes[1_200] = w('bulk:rep', 'newest', versions[2] as string);
    writes[2_400] = w('bulk:rep', 'middle', versions[1] as string);
    await store.setMany(writes);
    expect(text(await store.get('bulk:rep'))).toBe('newest');
    const got = await store.getMany(['bulk:0', 'bulk:1999', 'bulk:2499']);
    expect(got.map(text)).toEqual(['v0', 'v1999', 'v2499']);
  });

  it('writes still land after SCRIPT FLUSH (EVALSHA falls back to EVAL), alone and pipelined', async () => {
    const own = opened.client();
    const flushed = redisStore({ client: own, prefix: ns });
    await flushed.setMany([w('flush:warm', 'w', nextVersion())]);
    await own.script('FLUSH');
    await flushed.setMany([w('flush:one', 'one', nextVersion())]);
    await own.script('FLUSH');
    const many = Array.from({ length: 1_500 }, (_, i) => w(`flush:${i}`, `m${i}`, nextVersion()));
    await flushed.setMany(many);
    expect((await flushed.getMany(['flush:one', 'flush:0', 'flush:1499'])).map(text)).toEqual([
      'one',
      'm0',
      'm1499',
    ]);
  });

  it('clear(prefix, upTo): keys of another type or without a full frame count as oldest', async () => {
    const upTo = v('a', 'a', 'a');
    await raw.hset(`${ns}cu:hash`, 'f', 'v');
    await raw.set(`${ns}cu:short`, '0123abcd', 'PX', 60_000);
    await raw.set(`${ns}cu:uppercase`, `${'A'.repeat(24)}value`, 'PX', 60_000);
    await store.setMany([w('cu:newer', 'n', v('a', 'a', 'b')), w('cu:equal', 'e', upTo)]);
    await store.clear('cu:', upTo);
    const left = ['hash', 'short', 'uppercase', 'newer', 'equal'];
    const exists = await Promise.all(left.map((k) => raw.exists(`${ns}cu:${k}`)));
    expect(exists).toEqual([0, 0, 0, 1, 0]);
    // Defined once per client: also after SCRIPT FLUSH (EVALSHA falls back to EVAL).
    await raw.script('FLUSH');
    await store.clear('cu:', v('a', 'a', 'b'));
    expect(await raw.exists(`${ns}cu:newer`)).toBe(0);
  });

  it('clear refuses a malformed upTo before deleting anything', async () => {
    await store.setMany([w('bad-up-to', 'kept', nextVersion())]);
    for (const upTo of ['', 'f'.repeat(25), 'G'.repeat(24), `${'0'.repeat(23)}z`]) {
      await expect(store.clear('bad-up-to', upTo)).rejects.toBeInstanceOf(TierCacheError);
    }
    expect(text(await store.get('bad-up-to'))).toBe('kept');
  });

  it('refuses a malformed version instead of writing a broken frame', async () => {
    for (const version of ['', 'tiercache-version-000000', 'A'.repeat(24), '0'.repeat(23)]) {
      await expect(store.setMany([w('bad', 'x', version)])).rejects.toBeInstanceOf(TierCacheError);
    }
    expect(await store.get('bad')).toBeUndefined();
  });
});
