import { addExtension, Packr, RESERVE_START_SPACE } from 'msgpackr';
import { CodecError, InvalidOptionError } from '../errors.js';
import { checkFactoryOptions, functionOption, integerOption } from '../options/validators.js';
import type { Entry } from './entry.js';
import { checkStorable } from './storable.js';
import { ZERO_VERSION } from './version.js';

/**
 * Turns values into bytes and back for the shared tiers. The default is msgpackr;
 * pass your own (for example JSON, or a schema-aware codec) through the `codec` option.
 * `decode` may throw on bytes it cannot read: the read is then a miss, counted as a
 * codec error, never an error in the caller.
 */
export interface ValueCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/**
 * A class the default codec stores and reads back as itself, through msgpackr's
 * extensions: `write` turns an instance into data msgpackr can store (plain objects,
 * arrays, strings, numbers, Dates, ...), `read` turns that data back into an instance.
 */
export interface CodecExtension<T = unknown> {
  /** The class (any constructor, whatever its parameters). */
  readonly Class: new (
    ...args: never[]
  ) => T;
  /** The extension's type byte, 1 to 100, unique among your extensions (and every process reading them). */
  readonly type: number;
  write(instance: T): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: what `write` returned, decoded.
  read(data: any): T;
}

/** Options of {@link msgpackCodec}. */
export interface MsgpackCodecOptions {
  /**
   * Classes stored and read back as themselves. Registered with msgpackr for the whole
   * process (msgpackr's extensions are global): every process that reads the values
   * must register the same ones.
   */
  readonly extensions?: readonly CodecExtension[];
}

/**
 * The default value codec: msgpackr with structured-clone types and self-describing
 * records, so any process decodes any message without shared state. Round-trips
 * Date, Map, Set, RegExp, Error, BigInt (any size), Buffer, ArrayBuffer and typed
 * arrays, nested objects and arrays (cycles too), and fields set to `undefined` (a
 * Buffer comes back as a Buffer when the stored bytes are a Buffer, as every Node store
 * returns them). Not preserved: `-0` (reads as `0`) and null-prototype objects (read as
 * plain objects). Hostile bytes cannot pollute prototypes: msgpackr renames a
 * `__proto__` key to `__proto_`, and maps decode to `Map`.
 *
 * A value that would not read back as itself is refused before anything is written (a
 * `CodecError` naming the key and the path within the value): a function, a symbol, an
 * instance of a class other than those above and your `extensions`.
 *
 * @throws InvalidOptionError for an ill-formed `extensions` entry.
 * @example
 * ```ts
 * const codec = msgpackCodec({
 *   extensions: [{ Class: Money, type: 1, write: (m) => [m.amount, m.currency], read: ([a, c]) => new Money(a, c) }],
 * });
 * ```
 */
export function msgpackCodec(options: MsgpackCodecOptions = {}): ValueCodec {
  checkFactoryOptions(options, 'msgpackCodec', 'an object { extensions? }', ['extensions']);
  const classes = registerExtensions(options.extensions);
  const packr = new Packr({
    structuredClone: true,
    // Records, but never `sequential`: with it a Packr writes a shape's field list only
    // the first time and later values as a bare record number only the writing process
    // can read - another instance would decode them wrongly or not at all. Without it
    // every message carries its own record definitions.
    useRecords: true,
    mapsAsObjects: false,
    int64AsType: 'bigint',
    useBigIntExtension: true,
    moreTypes: true,
  });
  const codec: ValueCodec & HeaderRoom = {
    encode: (value) => {
      checkStorable(value, classes);
      return packr.pack(value);
    },
    decode: (bytes) => packr.unpack(bytes),
    [ENCODE_AFTER]: (value, room) => {
      checkStorable(value, classes);
      return packr.pack(value, RESERVE_START_SPACE | room);
    },
  };
  return codec;
}

/**
 * The default codec's encode leaving `room` bytes (at most 255) free before the value,
 * so the entry's header is written in place rather than the value copied behind it.
 */
const ENCODE_AFTER = Symbol('tiercache.encodeAfter');
interface HeaderRoom {
  [ENCODE_AFTER](value: unknown, room: number): Uint8Array;
}

function registerExtensions(
  extensions: readonly CodecExtension[] | undefined,
): ReadonlySet<abstract new (...args: never[]) => unknown> {
  const classes = new Set<abstract new (...args: never[]) => unknown>();
  if (extensions === undefined) return classes;
  if (!Array.isArray(extensions)) throw new InvalidOptionError('extensions', 'an array', extensions);
  extensions.forEach((extension, i) => {
    const name = `extensions[${i}]`;
    checkFactoryOptions(extension, name, 'an object { Class, type, write, read }', [
      'Class',
      'type',
      'write',
      'read',
    ]);
    if (typeof extension.Class !== 'function')
      throw new InvalidOptionError(`${name}.Class`, 'a class', extension.Class);
    integerOption(extension.type, `${name}.type`, 1, undefined, 'an integer from 1 to 100');
    if (extension.type > 100)
      throw new InvalidOptionError(`${name}.type`, 'an integer from 1 to 100', extension.type);
    functionOption(extension.write, `${name}.write`);
    functionOption(extension.read, `${name}.read`);
    if (extension.write === undefined || extension.read === undefined) {
      throw new InvalidOptionError(`${name}.write`, 'both write and read functions', undefined);
    }
    addExtension({
      Class: extension.Class,
      type: extension.type,
      write: extension.write,
      read: extension.read,
    });
    classes.add(extension.Class);
  });
  return classes;
}

// Layout of an encoded entry (format 2), numbers little-endian:
//   0      u8   magic 0x74 ('t')
//   1      u8   format version (2)
//   2      u8   flags: bit 0 = tags present, bit 1 = a deletion (tombstone: no value)
//   3..10  f64  createdAt
//   11..18 f64  staleAt
//   19..26 f64  expiresAt
//   27..38 12 bytes: the version (its 24 hex characters as bytes)
//   39..   [if tags: u32 byte length, then the tags as a msgpack array]  value bytes
// Format 1 (before versions) is format 2 without the version bytes; it still decodes,
// as the oldest version there is.
const MAGIC = 0x74;
/** The envelope format this version writes; format 1 is read too, other versions read as a miss. */
export const FORMAT_VERSION = 2;
const HEADER_V1 = 27;
const HEADER = 39;
const FLAG_TAGS = 1;
const FLAG_DELETED = 2;

const tagsPackr = new Packr({ useRecords: false });

/**
 * Encodes and decodes the {@link Entry} envelope around a {@link ValueCodec}: the
 * timing and the version live in a fixed binary header, so a store never parses the
 * value to learn whether it is fresh, and a user codec only sees values.
 */
export class EntryCodec {
  readonly #values: ValueCodec;
  /** The default codec's encode with room for the header (see {@link HeaderRoom}). */
  readonly #room: HeaderRoom[typeof ENCODE_AFTER] | undefined;

  constructor(values: ValueCodec = msgpackCodec()) {
    this.#values = values;
    this.#room = (values as Partial<HeaderRoom>)[ENCODE_AFTER];
  }

  /**
   * The entry as bytes, ready for every store.
   * @throws CodecError when the value codec cannot encode the value (a symbol, an object
   *   nested too deep, ...), naming the problem.
   */
  encode(entry: Entry): Uint8Array {
    // The default codec leaves room for the header before the value: no copy of the value.
    const inPlace = entry.deleted !== true && entry.tags === undefined && this.#room !== undefined;
    const value = entry.deleted === true ? EMPTY : this.#encodeValue(entry.value, inPlace ? HEADER : 0);
    const tags = entry.tags !== undefined ? tagsPackr.pack(entry.tags) : undefined;
    const extra = tags !== undefined ? 4 + tags.length : 0;
    const out = inPlace ? value : new Uint8Array(HEADER + extra + value.length);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    out[0] = MAGIC;
    out[1] = FORMAT_VERSION;
    out[2] = (tags !== undefined ? FLAG_TAGS : 0) | (entry.deleted === true ? FLAG_DELETED : 0);
    view.setFloat64(3, entry.createdAt, true);
    view.setFloat64(11, entry.staleAt, true);
    view.setFloat64(19, entry.expiresAt, true);
    out.set(Buffer.from(entry.version, 'hex'), 27);
    if (tags !== undefined) {
      view.setUint32(HEADER, tags.length, true);
      out.set(tags, HEADER + 4);
    }
    if (!inPlace) out.set(value, HEADER + extra);
    return out;
  }

  /**
   * The entry these bytes hold (a tombstone has `deleted: true` and no value).
   * @throws CodecError when the bytes are truncated, corrupt or of an unknown format version.
   */
  decode(bytes: Uint8Array): Entry {
    const format = bytes[1];
    const header = format === FORMAT_VERSION ? HEADER : HEADER_V1;
    if (bytes.length < header || bytes[0] !== MAGIC) {
      throw new CodecError(`Not a tiercache entry (${bytes.length} bytes)`);
    }
    if (format !== FORMAT_VERSION && format !== 1) {
      throw new CodecError(
        `Unknown entry format version ${format} (this version reads 1 and ${FORMAT_VERSION})`,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const createdAt = view.getFloat64(3, true);
    const staleAt = view.getFloat64(11, true);
    const expiresAt = view.getFloat64(19, true);
    if (
      !Number.isFinite(createdAt) ||
      !Number.isFinite(staleAt) ||
      !Number.isFinite(expiresAt) ||
      staleAt > expiresAt
    ) {
      throw new CodecError('Corrupt entry header: timestamps out of order or not finite');
    }
    const version =
      format === 1 ? ZERO_VERSION : Buffer.from(bytes.buffer, bytes.byteOffset + 27, 12).toString('hex');
    const flags = bytes[2] as number;
    if ((flags & ~(FLAG_TAGS | FLAG_DELETED)) !== 0 || (format === 1 && (flags & FLAG_DELETED) !== 0)) {
      throw new CodecError(`Corrupt entry header: unknown flags ${flags}`);
    }
    if ((flags & FLAG_DELETED) !== 0) {
      if (bytes.length !== header) throw new CodecError('Corrupt entry: a deletion with a value');
      return { value: undefined, version, deleted: true, createdAt, staleAt, expiresAt };
    }
    if (bytes.length < header + 1) throw new CodecError(`Not a tiercache entry (${bytes.length} bytes)`);
    let offset = header;
    let tags: readonly string[] | undefined;
    if ((flags & FLAG_TAGS) !== 0) {
      const length = bytes.length >= header + 4 ? view.getUint32(header, true) : Number.NaN;
      if (!(header + 4 + length < bytes.length))
        throw new CodecError('Truncated entry: tags overrun the bytes');
      tags = this.#decodePart(() =>
        tagsPackr.unpack(bytes.subarray(header + 4, header + 4 + length)),
      ) as string[];
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
        throw new CodecError('Corrupt entry: tags are not an array of strings');
      }
      offset = header + 4 + length;
    }
    const value = this.#decodePart(() => this.#values.decode(bytes.subarray(offset)));
    const entry: Entry = { value, version, createdAt, staleAt, expiresAt };
    if (tags !== undefined) (entry as { tags?: readonly string[] }).tags = tags;
    return entry;
  }

  /** The value's bytes; with `room`, behind that many bytes left for the header (default codec only). */
  #encodeValue(value: unknown, room: number): Uint8Array {
    try {
      return room > 0
        ? (this.#room as HeaderRoom[typeof ENCODE_AFTER])(value, room)
        : this.#values.encode(value);
    } catch (error) {
      throw new CodecError(`Cannot encode the value: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
    }
  }

  #decodePart(decode: () => unknown): unknown {
    try {
      return decode();
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError(`Corrupt entry value: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
    }
  }
}

const EMPTY = new Uint8Array(0);
