import { Packr } from 'msgpackr';
import type { BusMessage } from '../bus/bus.js';
import { checkOutgoingVersions, parseBusMessage } from '../bus/message.js';

// Plain maps and arrays on the wire: any tiercache version (and any msgpack library)
// reads a message without shared record definitions.
const wire = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * The message these bytes hold, or `undefined` when they are not one. Builds a fresh
 * object from checked fields, so nothing of a hostile payload (`__proto__` keys, extra
 * fields, odd types) reaches the listener.
 */
export function decodeBusMessage(bytes: Uint8Array): BusMessage | undefined {
  return parseBusMessage(() => wire.unpack(bytes));
}

/**
 * What every message from `origin` starts with after its map header: the `origin` key
 * and its value, as {@link encodeBusMessage} writes them first.
 */
export function originPrefix(origin: string): Buffer {
  return Buffer.concat([wire.pack('origin'), wire.pack(origin)]);
}

/**
 * Whether `bytes` is a message {@link encodeBusMessage} wrote for the origin of `prefix`
 * ({@link originPrefix}): a sender's own messages come back to it on every publish, and
 * are dropped without being decoded.
 */
export function fromOrigin(bytes: Buffer, prefix: Buffer): boolean {
  // A map of the message's 3 to 6 fields (msgpackr writes a map16 header; a fixmap is
  // read too), then the origin.
  const first = bytes[0] as number;
  const at =
    first >= 0x83 && first <= 0x86
      ? 1
      : first === 0xde && bytes[1] === 0 && (bytes[2] as number) >= 3 && (bytes[2] as number) <= 6
        ? 3
        : -1;
  return (
    at > 0 &&
    prefix.length > 0 &&
    bytes.length > at + prefix.length &&
    bytes.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0
  );
}

/** What {@link readBusMessage} returns for a message of this instance's own. */
export const OWN_MESSAGE: unique symbol = Symbol('tiercache.ownMessage');

/**
 * A message received: {@link OWN_MESSAGE} when this instance sent it (every publish
 * comes back to its sender; told by its first bytes, see {@link fromOrigin}, without
 * decoding it), `undefined` when the bytes are not a message.
 */
export function readBusMessage(
  bytes: Buffer,
  ownPrefix: Buffer,
  ownId: string,
): BusMessage | typeof OWN_MESSAGE | undefined {
  if (fromOrigin(bytes, ownPrefix)) return OWN_MESSAGE;
  const message = decodeBusMessage(bytes);
  return message !== undefined && message.origin === ownId ? OWN_MESSAGE : message;
}

/**
 * A message as bytes, as {@link decodeBusMessage} reads them: `{origin, op, keys}`, and
 * `versions`, `external` and `partial` when the message has them (a receiver of an older release ignores the
 * extra field; a message without it still reads).
 *
 * @throws TierCacheError when `versions` is not aligned with `keys`.
 */
export function encodeBusMessage(message: BusMessage): Buffer {
  checkOutgoingVersions(message, 'redisBus');
  const { origin, op, keys, versions, external, partial } = message;
  return wire.pack({
    origin,
    op,
    keys,
    ...(versions !== undefined ? { versions } : {}),
    ...(external === true ? { external } : {}),
    ...(partial === true ? { partial } : {}),
  });
}
