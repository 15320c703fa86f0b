import { createHash } from 'node:crypto';
import { type BusMessage, busChannel } from '../bus/bus.js';
import { checkOutgoingVersions, parseBusMessage } from '../bus/message.js';
import { InvalidKeyError } from '../errors.js';

/**
 * Longest NOTIFY payload the bus sends, in bytes. Postgres refuses payloads of 8000
 * bytes or more (in its default build); the margin is for safety, not for headers.
 */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7900;

// Postgres identifiers (and so channel names) hold at most NAMEDATALEN - 1 bytes: LISTEN
// would silently truncate a longer name while pg_notify() rejects it.
const MAX_CHANNEL_BYTES = 63;

/**
 * The Postgres channel for a namespace: {@link busChannel}, or, when that is longer than
 * a Postgres identifier, `tiercache:v1:#` and a hash of the namespace.
 */
export function postgresChannel(namespace: string): string {
  const channel = busChannel(namespace);
  if (Buffer.byteLength(channel) <= MAX_CHANNEL_BYTES) return channel;
  return busChannel(`#${createHash('sha256').update(namespace).digest('hex').slice(0, 40)}`);
}

/**
 * Splits a message into NOTIFY payloads of at most {@link MAX_NOTIFY_PAYLOAD_BYTES} bytes
 * each: JSON text `{"origin","op","keys","versions"}`, the keys shared out in order.
 * `versions` is there only when the message has it: a chunk carries the versions of its
 * own keys (so each chunk is a valid message on its own, aligned; a `clear`'s keys are
 * the prefixes it cleared). `"external":true` marks a message from outside tiercache, `"partial":true` a write
 * that missed a store.
 *
 * JSON rather than base64 msgpack: payloads are text anyway, and a plain JSON shape lets
 * a database trigger invalidate too (`pg_notify(channel, json_build_object(...)::text)`,
 * without `versions`).
 *
 * @throws InvalidKeyError when one key alone does not fit in a payload (never for keys
 *   within the core's 1024-character limit).
 * @throws TierCacheError when `versions` is not aligned with `keys`.
 */
export function encodePayloads(message: BusMessage): string[] {
  checkOutgoingVersions(message, 'postgresBus');
  const shape = payloadShape(message);
  const payloads: string[] = [];
  let start = 0;
  let size = shape.fixed;
  message.keys.forEach((key, i) => {
    const bytes = Buffer.byteLength(JSON.stringify(key)) + shape.perKey(i);
    if (shape.fixed + bytes > MAX_NOTIFY_PAYLOAD_BYTES) {
      throw new InvalidKeyError(
        key,
        `its bus message would be ${shape.fixed + bytes} bytes, over the Postgres NOTIFY limit of ${MAX_NOTIFY_PAYLOAD_BYTES}`,
      );
    }
    // One comma more in each array this chunk fills (keys, and versions when per key).
    const separators = i > start ? shape.arrays : 0;
    if (size + bytes + separators > MAX_NOTIFY_PAYLOAD_BYTES) {
      payloads.push(shape.render(start, i));
      start = i;
      size = shape.fixed + bytes;
    } else {
      size += bytes + separators;
    }
  });
  // A message with no keys still travels (a `clear` carries its prefix, but be lenient).
  if (start < message.keys.length || payloads.length === 0)
    payloads.push(shape.render(start, message.keys.length));
  return payloads;
}

/** How a message's payloads are laid out: their fixed bytes, the bytes each key adds, and how to render a chunk. */
interface PayloadShape {
  /** Bytes of a payload with no keys. */
  readonly fixed: number;
  /** Bytes the `i`-th key adds besides its own JSON: its version's JSON when versions go per key. */
  perKey(i: number): number;
  /** Arrays that grow with each key, so commas per key after the first: 1 or 2. */
  readonly arrays: number;
  /** The payload of the keys `[from, to)`. */
  render(from: number, to: number): string;
}

function payloadShape({ origin, op, keys, versions, external, partial }: BusMessage): PayloadShape {
  const flag = (external === true ? '"external":true,' : '') + (partial === true ? '"partial":true,' : '');
  const head = `{"origin":${JSON.stringify(origin)},"op":${JSON.stringify(op)},${flag}"keys":[`;
  const json = (items: readonly string[], from: number, to: number) =>
    items
      .slice(from, to)
      .map((item) => JSON.stringify(item))
      .join(',');
  if (versions === undefined) {
    const tail = ']}';
    return {
      fixed: Buffer.byteLength(head) + tail.length,
      perKey: () => 0,
      arrays: 1,
      render: (from, to) => `${head}${json(keys, from, to)}${tail}`,
    };
  }
  const middle = '],"versions":[';
  return {
    fixed: Buffer.byteLength(head) + middle.length + 2,
    perKey: (i) => Buffer.byteLength(JSON.stringify(versions[i])),
    arrays: 2,
    render: (from, to) => `${head}${json(keys, from, to)}${middle}${json(versions, from, to)}]}`,
  };
}

/** Parses one payload; `undefined` for anything that is not a well-formed message. */
export function decodePayload(payload: string): BusMessage | undefined {
  return parseBusMessage(() => JSON.parse(payload));
}
