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
