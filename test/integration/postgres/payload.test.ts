import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BusMessage, BusOp } from '../../../src/bus/bus.js';
import { TierCacheError } from '../../../src/errors.js';
import { decodePayload, encodePayloads, MAX_NOTIFY_PAYLOAD_BYTES } from '../../../src/postgres/index.js';
import { nextVersion } from '../../../src/testing/versions.js';

/** Every payload under the limit, each a message on its own; their concatenation. */
function roundTrip(message: BusMessage): BusMessage[] {
  return encodePayloads(message).map((payload) => {
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_NOTIFY_PAYLOAD_BYTES);
    const decoded = decodePayload(payload);
    expect(decoded, payload.slice(0, 80)).toBeDefined();
    return decoded as BusMessage;
  });
}

describe('Postgres bus payloads with versions (no server)', () => {
  it('a message with versions round-trips them aligned with its keys', () => {
    const keys = ['a', 'user:1', 'ünï "q" \\'];
    const versions = keys.map(() => nextVersion());
    expect(roundTrip({ origin: 'o', op: 'set', keys, versions })).toEqual([
      { origin: 'o', op: 'set', keys, versions },
    ]);
  });

  it('a message without versions arrives without them (as from a database trigger)', () => {
    const [message] = roundTrip({ origin: 'o', op: 'delete', keys: ['k'] });
    expect(message).toEqual({ origin: 'o', op: 'delete', keys: ['k'] });
    expect(message && 'versions' in message).toBe(false);
    expect(decodePayload('{"origin":"trigger","op":"delete","keys":["x"]}')).toEqual({
      origin: 'trigger',
      op: 'delete',
      keys: ['x'],
    });
  });

  it('chunks 5,000 long keys with their versions: every chunk aligned, nothing lost, in order', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `${i}:${'k'.repeat(150)}:ключ:"q"\\`);
    const versions = keys.map(() => nextVersion());
    const chunks = roundTrip({ origin: 'o', op: 'delete', keys, versions });
    expect(chunks.length).toBeGreaterThan(100);
    for (const chunk of chunks) expect(chunk.versions).toHaveLength(chunk.keys.length);
    expect(chunks.flatMap((c) => c.keys)).toEqual(keys);
    expect(chunks.flatMap((c) => c.versions)).toEqual(versions);
  });

  it('a clear of many prefixes keeps each prefix’s version aligned across chunks', () => {
    const version = nextVersion();
    const prefixes = Array.from({ length: 200 }, (_, i) => `${i}:${'p'.repeat(100)}`);
    const versions = prefixes.map(() => nextVersion());
    const chunks = roundTrip({ origin: 'o', op: 'clear', keys: prefixes, versions });
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.versions).toHaveLength(chunk.keys.length);
    expect(chunks.flatMap((c) => c.keys)).toEqual(prefixes);
    expect(chunks.flatMap((c) => c.versions)).toEqual(versions);
    expect(roundTrip({ origin: 'o', op: 'clear', keys: [''], versions: [version] })).toEqual([
      { origin: 'o', op: 'clear', keys: [''], versions: [version] },
    ]);
  });

  it('a 1,024-character key of the worst escaping still fits alone with its version', () => {
    const key = '\u0001'.repeat(1024);
    const version = nextVersion();
    expect(
      roundTrip({ origin: 'o', op: 'set', keys: [key, key], versions: [version, version] }),
    ).toHaveLength(2);
  });

  it('refuses versions not aligned with the keys instead of sending what receivers would drop', () => {
    const v = nextVersion();
    const bad: BusMessage[] = [
      { origin: 'o', op: 'set', keys: ['a', 'b'], versions: [v] },
      { origin: 'o', op: 'delete', keys: ['a'], versions: [v, v] },
      { origin: 'o', op: 'clear', keys: [''], versions: [v, v] },
      { origin: 'o', op: 'clear', keys: ['a:', 'b:'], versions: [v] },
      { origin: 'o', op: 'clear', keys: [''], versions: [] },
    ];
    for (const message of bad) expect(() => encodePayloads(message)).toThrow(TierCacheError);
  });

  it('any keys with versions split into aligned payloads under the limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 1024 }), { maxLength: 60 }),
        fc.constantFrom<BusOp>('set', 'delete', 'clear'),
        (keys, op) => {
          const versions = keys.map(() => nextVersion());
          const chunks = roundTrip({ origin: 'o', op, keys, versions });
          expect(chunks.flatMap((c) => c.keys)).toEqual(keys);
          expect(chunks.flatMap((c) => c.versions ?? [])).toEqual(versions);
        },
      ),
      { numRuns: 60 },
    );
  });
});
