import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../../src/bus/bus.js';
import { TierCacheError } from '../../../src/errors.js';
import { decodeBusMessage, encodeBusMessage } from '../../../src/redis/index.js';
import { fromOrigin, originPrefix } from '../../../src/redis/wire.js';
import { nextVersion } from '../../../src/testing/versions.js';

const plain = new Packr({ useRecords: false, mapsAsObjects: true });

describe('Redis bus wire with versions (no server)', () => {
  it('set, delete and clear round-trip their versions', () => {
    const keys = ['a', 'user:1', 'ünï "q" \\', ''];
    const messages: BusMessage[] = [
      { origin: 'o', op: 'set', keys, versions: keys.map(() => nextVersion()) },
      { origin: 'o', op: 'delete', keys, versions: keys.map(() => nextVersion()) },
      { origin: 'o', op: 'clear', keys: [''], versions: [nextVersion()] },
    ];
    for (const message of messages) expect(decodeBusMessage(encodeBusMessage(message))).toEqual(message);
  });

  it('a message without versions round-trips without them, and one from an older release reads', () => {
    const decoded = decodeBusMessage(encodeBusMessage({ origin: 'o', op: 'delete', keys: ['k'] }));
    expect(decoded).toEqual({ origin: 'o', op: 'delete', keys: ['k'] });
    expect(decoded && 'versions' in decoded).toBe(false);
    expect(decodeBusMessage(plain.pack({ origin: 'old', op: 'set', keys: ['x'] }))).toEqual({
      origin: 'old',
      op: 'set',
      keys: ['x'],
    });
  });

  it('5,000 keys travel in one message with their versions aligned', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `${i}:${'k'.repeat(150)}`);
    const versions = keys.map(() => nextVersion());
    expect(decodeBusMessage(encodeBusMessage({ origin: 'o', op: 'delete', keys, versions }))).toEqual({
      origin: 'o',
      op: 'delete',
      keys,
      versions,
    });
  });

  it('refuses versions not aligned with the keys; drops such a message when received', () => {
    const v = nextVersion();
    const bad: BusMessage = { origin: 'o', op: 'set', keys: ['a', 'b'], versions: [v] };
    expect(() => encodeBusMessage(bad)).toThrow(TierCacheError);
    expect(decodeBusMessage(plain.pack(bad))).toBeUndefined();
    expect(
      decodeBusMessage(plain.pack({ origin: 'o', op: 'set', keys: ['a'], versions: ['nope'] })),
    ).toBeUndefined();
  });
});

describe('own messages are told by their first bytes (no server)', () => {
  it('a message is from an origin exactly when it was encoded for that origin (property)', () => {
    // Origins across msgpack's string sizes (fixstr < 32 bytes, str8 beyond), one a prefix
    // of another, and every optional field: only the sender's own messages match.
    const origin = fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.constantFrom('a', 'ab', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33)),
    );
    const message = fc.record(
      {
        op: fc.constantFrom('set' as const, 'delete' as const),
        keys: fc.array(fc.string(), { minLength: 1, maxLength: 4 }),
        external: fc.constant(true),
        partial: fc.constant(true),
      },
      { requiredKeys: ['op', 'keys'] },
    );
    fc.assert(
      fc.property(origin, origin, message, (sender, receiver, fields) => {
        const bytes = encodeBusMessage({ origin: sender, ...fields });
        expect(fromOrigin(bytes, originPrefix(receiver))).toBe(sender === receiver);
        // Whatever the quick check says, the message decodes to the same origin.
        expect(decodeBusMessage(bytes)?.origin).toBe(sender);
      }),
      { numRuns: 500 },
    );
  });

  it('bytes that are no message (another publisher on the channel) never match', () => {
    const prefix = originPrefix('me');
    expect(fromOrigin(plain.pack(['origin', 'me', 'x']), prefix)).toBe(false);
    // A fixmap header (another msgpack writer) is read as well as msgpackr's map16.
    const fields = [plain.pack('op'), plain.pack('set'), plain.pack('keys'), plain.pack(['k'])];
    expect(fromOrigin(Buffer.concat([Buffer.from([0x83]), prefix, ...fields]), prefix)).toBe(true);
    expect(fromOrigin(Buffer.concat([Buffer.from([0x83]), originPrefix('you'), ...fields]), prefix)).toBe(
      false,
    );
    expect(fromOrigin(Buffer.alloc(0), prefix)).toBe(false);
    expect(fromOrigin(encodeBusMessage({ origin: 'me', op: 'set', keys: ['k'] }), Buffer.alloc(0))).toBe(
      false,
    );
  });
});
