import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../../src/bus/bus.js';
import { TierCacheError } from '../../../src/errors.js';
import { decodeBusMessage, encodeBusMessage } from '../../../src/redis/index.js';
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
