import fc from 'fast-check';
import { Packr, pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { EntryCodec, FORMAT_VERSION, msgpackCodec, type ValueCodec } from '../../../src/entry/codec.js';
import type { Entry } from '../../../src/entry/entry.js';
import { ZERO_VERSION } from '../../../src/entry/version.js';

const V = '0000000000010000deadbeef';

import { CodecError } from '../../../src/errors.js';
import { prototypePollutingMap } from '../../support/msgpack.js';

// Stores hand bytes back as Buffers (ioredis getBuffer, pg bytea): decode what a store returns.
const viaStore = (bytes: Uint8Array): Buffer => Buffer.from(bytes);

/** Values the default codec promises to round-trip, from fast-check's `anything` plus the edges it misses. */
const values: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
    withObjectString: true,
    // Not promised: null-prototype objects come back with Object.prototype (safer, not
    // equal), sparse-array holes as undefined, boxed primitives as plain objects.
    withNullPrototype: false,
    withSparseArray: false,
    withBoxedValues: false,
    maxDepth: 4,
    // Leaves as fast-check's defaults, minus -0: msgpack writes -0 as the integer 0 (reported).
    values: [
      fc.boolean(),
      fc.integer(),
      fc.double().filter((d) => !Object.is(d, -0)),
      fc.string({ unit: 'grapheme' }),
      fc.constant(null),
      fc.constant(undefined),
    ],
  }),
  // BigInt of any size, far past 64 bits.
  fc.bigInt({ min: -(2n ** 2048n), max: 2n ** 2048n }),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.uint8Array({ maxLength: 300 }),
  fc.date({ noInvalidDate: false }),
  // Objects whose fields are explicitly undefined: the field must survive, not vanish.
  fc.dictionary(fc.string(), fc.constantFrom(undefined, null, 0, '', false), {
    maxKeys: 6,
    noNullPrototype: true,
  }),
  fc.array(fc.oneof(fc.constant(undefined), fc.integer(), fc.string()), { maxLength: 8 }),
  fc.tuple(fc.string(), fc.bigInt(), fc.date(), fc.uint8Array({ maxLength: 16 })).map(([s, b, d, u]) => ({
    nested: { list: [new Map([[s, new Set([b])]]), { d, u: Buffer.from(u) }], gone: undefined },
  })),
);

const times = fc
  .tuple(
    fc.double({ min: 0, max: 4e12, noNaN: true }),
    fc.double({ min: 0, max: 1e10, noNaN: true }),
    fc.double({ min: 0, max: 1e10, noNaN: true }),
    fc.stringMatching(/^[0-9a-f]{24}$/),
  )
  .map(([createdAt, ttl, grace, version]) => ({
    version,
    createdAt,
    staleAt: createdAt + ttl,
    expiresAt: createdAt + ttl + grace,
  }));

const tags = fc.option(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), { nil: undefined });

/**
 * Whether a value holds an own `__proto__` key anywhere. fast-check makes such keys now
 * and then (about 1 dictionary in 6,000); msgpackr renames them to `__proto_` on purpose,
 * a documented non-guarantee of the codec, so the round-trip properties leave them out.
 */
function hasOwnProtoKey(value: unknown, seen = new Set<unknown>()): boolean {
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (value instanceof Map) return [...value.values()].some((v) => hasOwnProtoKey(v, seen));
  if (value instanceof Set) return [...value].some((v) => hasOwnProtoKey(v, seen));
  if (!Array.isArray(value) && Object.hasOwn(value, '__proto__')) return true;
  return Object.values(value).some((v) => hasOwnProtoKey(v, seen));
}

const entries: fc.Arbitrary<Entry> = fc
  .tuple(
    values.filter((value) => !hasOwnProtoKey(value)),
    times,
    tags,
  )
  .map(([value, t, tagList]) => {
    const entry: Entry = { value, ...t };
    if (tagList !== undefined) (entry as { tags?: readonly string[] }).tags = tagList;
    return entry;
  });

/** Calls `decode` and returns what it produced, or the error if it threw CodecError; anything else fails. */
function decodeOrCodecError(codec: EntryCodec, bytes: Uint8Array): Entry | CodecError {
  try {
    return codec.decode(bytes);
  } catch (error) {
    if (error instanceof CodecError) return error;
    throw new Error(
      `decode threw ${(error as Error)?.constructor?.name} instead of CodecError for bytes ${Buffer.from(bytes).toString('hex').slice(0, 200)}`,
      { cause: error },
    );
  }
}

describe('EntryCodec round trip (fast-check)', () => {
  it('decodes what it encodes: value, timing and tags, through a store (Buffer in)', () => {
    const codec = new EntryCodec();
    fc.assert(
      fc.property(entries, (entry) => {
        const decoded = codec.decode(viaStore(codec.encode(entry)));
        expect(decoded).toStrictEqual(entry);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes from any view of the bytes: a Buffer, or a plain Uint8Array at an offset in a larger buffer', () => {
    // The header is read at the view's own offset within its buffer, whatever kind of view
    // a store hands back.
    const codec = new EntryCodec();
    fc.assert(
      // JSON values: a Buffer inside a value reads back as a Buffer only from a Buffer.
      // Without own `__proto__` keys, as for every round-trip property (see hasOwnProtoKey).
      fc.property(
        entries,
        fc.jsonValue().filter((value) => !hasOwnProtoKey(value)),
        fc.nat({ max: 23 }),
        fc.boolean(),
        (e, value, offset, asBuffer) => {
          // Through JSON: -0 reads back as 0 (documented), not what this test is about.
          const entry = e.deleted === true ? e : { ...e, value: JSON.parse(JSON.stringify(value)) };
          const bytes = codec.encode(entry);
          const backing = new Uint8Array(offset + bytes.length + 5).fill(0xa5);
          backing.set(bytes, offset);
          const view = backing.subarray(offset, offset + bytes.length);
          const decoded = codec.decode(
            asBuffer ? Buffer.from(view.buffer, view.byteOffset, view.length) : view,
          );
          expect(decoded).toStrictEqual(entry);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes the header in place before the default codec’s bytes: the same bytes as a copy', () => {
    // msgpackCodec() leaves room for the header (no copy of the value); any other codec's
    // bytes are copied behind it. Shared references and cycles make msgpackr insert ids
    // into what it wrote, the case where the room could be misplaced.
    const values = msgpackCodec();
    const copying: ValueCodec = { encode: (v) => values.encode(v), decode: (b) => values.decode(b) };
    const inPlace = new EntryCodec(values);
    const copied = new EntryCodec(copying);
    const shared = fc.jsonValue().map((v) => ({ a: v, b: [v, { again: v }] }));
    const cyclic = fc.jsonValue().map((v) => {
      const node: Record<string, unknown> = { v };
      node.self = node;
      return node;
    });
    fc.assert(
      fc.property(entries, fc.oneof(fc.jsonValue(), shared, cyclic), (entry, value) => {
        const e = { ...entry, value };
        const bytes = inPlace.encode(e);
        expect(Buffer.from(bytes).equals(Buffer.from(copied.encode(e)))).toBe(true);
        const back = inPlace.decode(viaStore(bytes));
        expect(back.version).toBe(e.version);
        expect(back.tags).toStrictEqual(e.tags);
        // A later encode writes after these bytes, never over them.
        const again = Buffer.from(bytes);
        inPlace.encode({ ...entry, value: { other: [1, 2, 3] } });
        expect(Buffer.from(bytes).equals(again)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // Fails while msgpackCodec() sets `sequential: true`: the shared Packr then writes a
  // shape's record definition only the first time it packs that shape, and later values
  // of that shape as a bare record id another process cannot read (CodecError), or reads
  // with ITS OWN definition for that id: { role: 'admin', admin: true } written as a
  // writer's second value of that shape decodes as { quota: 'admin', name: true } in a
  // reader that first decoded { quota: 1, name: 'n' }. Reported with the fix (drop
  // `sequential`: without shared structures msgpackr defines records in every message).
  it('is self-describing: another instance (another process) decodes in any order', () => {
    fc.assert(
      fc.property(fc.array(entries, { minLength: 1, maxLength: 8 }), (list) => {
        const writer = new EntryCodec();
        const encoded = list.map((entry) => viaStore(writer.encode(entry)));
        const reader = new EntryCodec();
        for (let i = encoded.length - 1; i >= 0; i--) {
          expect(reader.decode(encoded[i] as Buffer)).toStrictEqual(list[i]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('never decodes a value with another writer’s record definitions', () => {
    const writer = new EntryCodec();
    const entry = (value: unknown): Entry => ({ value, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 });
    writer.encode(entry({ role: 'admin', admin: true }));
    const second = viaStore(writer.encode(entry({ role: 'admin', admin: true })));
    const reader = new EntryCodec();
    reader.decode(viaStore(new EntryCodec().encode(entry({ quota: 1, name: 'n' }))));
    expect(decodeOrCodecError(reader, second)).toStrictEqual(entry({ role: 'admin', admin: true }));
  });

  it('round-trips the types it names, exactly', () => {
    const codec = new EntryCodec();
    const value = {
      date: new Date(1_700_000_000_123),
      invalidDate: new Date(Number.NaN),
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: [3n] }],
      ]),
      set: new Set(['x', 1, 2n ** 100n]),
      huge: -(2n ** 4000n) + 17n,
      small: 5n,
      buffer: Buffer.from([0, 255, 1, 254]),
      bytes: new Uint8Array([9, 8, 7]),
      floats: new Float64Array([0.5, -1e300]),
      nested: [{ deep: [{ deeper: new Map([['k', new Set([new Date(0)])]]) }] }],
      missing: undefined,
      arrayWithUndefined: [1, undefined, 3],
      nan: Number.NaN,
      infinity: Number.POSITIVE_INFINITY,
      unicode: 'ünïcødé ✓ 🙂',
    };
    const entry: Entry = { value, version: V, createdAt: 1, staleAt: 2, expiresAt: 3, tags: ['t1', 't2'] };
    const decoded = codec.decode(viaStore(codec.encode(entry)));
    expect(decoded).toStrictEqual(entry);
    const got = decoded.value as typeof value;
    expect(Object.hasOwn(got, 'missing')).toBe(true);
    expect(Buffer.isBuffer(got.buffer)).toBe(true);
    expect(got.huge).toBe(value.huge);
  });

  it('a user codec (JSON) works through the envelope', () => {
    const json: ValueCodec = {
      encode: (value) => new TextEncoder().encode(JSON.stringify(value)),
      decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)),
    };
    const codec = new EntryCodec(json);
    fc.assert(
      fc.property(fc.jsonValue(), times, (value, t) => {
        const entry: Entry = { value, ...t };
        // JSON itself maps -0 to 0: compare with what JSON makes of the value.
        expect(codec.decode(viaStore(codec.encode(entry)))).toStrictEqual({
          ...entry,
          value: JSON.parse(JSON.stringify(value)),
        });
      }),
      { numRuns: 200 },
    );
    // Bad JSON is a CodecError, not a SyntaxError.
    const good = codec.encode({ value: { a: 1 }, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 });
    expect(() => codec.decode(good.subarray(0, good.length - 1))).toThrow(CodecError);
  });
});

describe('EntryCodec on bad bytes', () => {
  it('any truncation either decodes or throws CodecError, never another error', () => {
    const codec = new EntryCodec();
    fc.assert(
      fc.property(entries, fc.nat(), (entry, cut) => {
        const bytes = viaStore(codec.encode(entry));
        const result = decodeOrCodecError(codec, bytes.subarray(0, cut % bytes.length));
        // Cutting into the fixed header can never decode.
        if (cut % bytes.length < 28) expect(result).toBeInstanceOf(CodecError);
      }),
      { numRuns: 500 },
    );
  });

  it('any byte mutation either decodes or throws CodecError, and leaves the codec usable', () => {
    const codec = new EntryCodec();
    fc.assert(
      fc.property(
        entries,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (entry, mutations) => {
          const bytes = Buffer.from(codec.encode(entry));
          for (const [at, byte] of mutations) bytes[at % bytes.length] = byte;
          decodeOrCodecError(codec, bytes);
          // No state leaks from a corrupt decode into the next one.
          const clean = { value: { after: [1n, 'x'] }, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 };
          expect(codec.decode(viaStore(codec.encode(clean)))).toStrictEqual(clean);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('random bytes either decode or throw CodecError', () => {
    const codec = new EntryCodec();
    const header = fc.uint8Array({ minLength: 0, maxLength: 64 });
    fc.assert(
      fc.property(fc.boolean(), header, (valid, rest) => {
        // Half the time start with a valid magic and version, so the value decoder is reached.
        const bytes = valid
          ? Buffer.concat([Buffer.from([0x74, FORMAT_VERSION, 0]), rest])
          : Buffer.from(rest);
        decodeOrCodecError(codec, bytes);
      }),
      { numRuns: 1_000 },
    );
  });

  it('an unknown format version or magic is a CodecError naming the version', () => {
    const codec = new EntryCodec();
    const bytes = Buffer.from(
      codec.encode({ value: 'v', version: V, createdAt: 1, staleAt: 2, expiresAt: 3 }),
    );
    for (const version of [0, FORMAT_VERSION + 1, 255]) {
      const other = Buffer.from(bytes);
      other[1] = version;
      expect(() => codec.decode(other)).toThrow(CodecError);
      expect(() => codec.decode(other)).toThrow(new RegExp(`version ${version}`));
    }
    const badMagic = Buffer.from(bytes);
    badMagic[0] = 0x00;
    expect(() => codec.decode(badMagic)).toThrow(CodecError);
    expect(() => codec.decode(new Uint8Array(0))).toThrow(CodecError);
  });

  it('corrupt timing (NaN, staleAt after expiresAt) is a CodecError', () => {
    const codec = new EntryCodec();
    const bytes = Buffer.from(
      codec.encode({ value: 'v', version: V, createdAt: 1, staleAt: 2, expiresAt: 3 }),
    );
    const nan = Buffer.from(bytes);
    nan.writeDoubleLE(Number.NaN, 11);
    expect(() => codec.decode(nan)).toThrow(CodecError);
    const inverted = Buffer.from(bytes);
    inverted.writeDoubleLE(10, 11);
    expect(() => codec.decode(inverted)).toThrow(CodecError);
  });
});

describe('EntryCodec on hostile bytes', () => {
  const codec = new EntryCodec();
  // An envelope around arbitrary value bytes: the header of a real entry whose value is `null` (0xc0).
  const envelope = (valueBytes: Uint8Array): Buffer => {
    const base = codec.encode({ value: null, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 });
    return Buffer.concat([base.subarray(0, base.length - 1), valueBytes]);
  };
  const polluted = () => ({}) as Record<string, unknown>;

  it('a user value with an own __proto__ key comes back with it renamed __proto_ (documented), polluting nothing', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "kept": 1}');
    const round = new EntryCodec().decode(
      Buffer.from(new EntryCodec().encode({ value, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 })),
    ).value as Record<string, unknown>;
    expect(Object.hasOwn(round, '__proto__')).toBe(false);
    expect(round.__proto_).toEqual({ polluted: true });
    expect(round.kept).toBe(1);
    expect(Object.getPrototypeOf(round)).toBe(Object.prototype);
    expect(polluted().polluted).toBeUndefined();
  });

  it('a raw msgpack map with __proto__ and constructor.prototype keys pollutes nothing', () => {
    const decoded = codec.decode(envelope(prototypePollutingMap())).value;
    expect(polluted().polluted).toBeUndefined();
    expect(polluted().polluted2).toBeUndefined();
    expect(Object.getPrototypeOf(decoded)).toBe(Map.prototype);
  });

  it('a msgpackr record whose fields are __proto__ and constructor pollutes nothing', () => {
    const hostile = JSON.parse(
      '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted2": true}}}',
    );
    const writer = new Packr({
      structuredClone: true,
      useRecords: true,
      sequential: true,
      mapsAsObjects: false,
    });
    const decoded = codec.decode(envelope(writer.pack(hostile))).value as Record<string, unknown>;
    expect(polluted().polluted).toBeUndefined();
    expect(polluted().polluted2).toBeUndefined();
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect((decoded as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('the same hostile payload inside tags is a CodecError or plain strings', () => {
    const good = Buffer.from(
      codec.encode({ value: 1, version: V, createdAt: 1, staleAt: 2, expiresAt: 3, tags: ['a'] }),
    );
    const tagsMap = pack({ __proto__: null, x: 1 });
    const bytes = Buffer.concat([good.subarray(0, 39), Buffer.alloc(4), tagsMap, pack(1)]);
    bytes.writeUInt32LE(tagsMap.length, 39);
    expect(() => codec.decode(bytes)).toThrow(CodecError);
    expect(polluted().x).toBeUndefined();
  });

  // KNOWN BUG, reported to the codec's owner: msgpackr's Error extension (0x65) looks the
  // error class up with `errors[name]` on a plain object, so the name 'valueOf' returns
  // msgpackr's own module-level table of error constructors as the decoded value (and
  // 'constructor' a boxed String). Hostile bytes: d4 65 00 93 a7 'valueOf' a3 'msg' c0.
  // This test asserts the safe behaviour and is marked `fails` until that is fixed.
  it.fails('KNOWN BUG: the Error extension named "valueOf" does not return msgpackr internals', () => {
    const bytes = Buffer.concat([Buffer.from([0xd4, 0x65, 0x00]), pack(['valueOf', 'msg', null])]);
    let value: unknown;
    try {
      value = codec.decode(envelope(bytes)).value;
    } catch (error) {
      expect(error).toBeInstanceOf(CodecError);
      return;
    }
    expect(value).toBeInstanceOf(Error);
  });
});

describe('msgpackCodec', () => {
  it('maps decode as Map, so a hostile map key never lands on an object', () => {
    const codec = msgpackCodec();
    const decoded = codec.decode(Buffer.concat([Buffer.from([0x81]), pack('__proto__'), pack(1)]));
    expect(decoded).toBeInstanceOf(Map);
  });
});

describe('EntryCodec versions and deletions (format 2)', () => {
  const codec = new EntryCodec();

  it('round-trips the version of every entry', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{24}$/), fc.jsonValue(), (version, value) => {
        const entry: Entry = { value, version, createdAt: 1, staleAt: 2, expiresAt: 3 };
        expect(codec.decode(codec.encode(entry)).version).toBe(version);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips a deletion (tombstone) with its version and no value', () => {
    const bytes = codec.encode({
      value: undefined,
      version: V,
      deleted: true,
      createdAt: 1,
      staleAt: 1,
      expiresAt: 9,
    });
    expect(bytes.length).toBe(39);
    expect(codec.decode(bytes)).toEqual({
      value: undefined,
      version: V,
      deleted: true,
      createdAt: 1,
      staleAt: 1,
      expiresAt: 9,
    });
    // A deletion carrying value bytes is corrupt, never a value.
    expect(() => codec.decode(Buffer.concat([Buffer.from(bytes), Buffer.from([0xc0])]))).toThrow(CodecError);
  });

  it('reads an entry written by the format-1 codec (before versions) as the oldest version', () => {
    const v2 = Buffer.from(
      codec.encode({ value: { a: 1 }, version: V, createdAt: 1, staleAt: 2, expiresAt: 3 }),
    );
    // Format 1 is format 2 without the 12 version bytes.
    const v1 = Buffer.concat([v2.subarray(0, 27), v2.subarray(39)]);
    v1[1] = 1;
    expect(codec.decode(v1)).toEqual({
      value: { a: 1 },
      version: ZERO_VERSION,
      createdAt: 1,
      staleAt: 2,
      expiresAt: 3,
    });
    // A format-1 header with the deletion flag never existed: corrupt.
    const flagged = Buffer.from(v1);
    flagged[2] = 2;
    expect(() => codec.decode(flagged)).toThrow(CodecError);
  });
});
