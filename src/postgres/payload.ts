import { createHash } from 'node:crypto';
import { type BusMessage, busChannel } from '../bus/bus.js';
import { parseBusMessage } from '../bus/message.js';
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
 * each: JSON text `{"origin","op","keys"}`, the keys shared out in order.
 *
 * JSON rather than base64 msgpack: payloads are text anyway, and a plain JSON shape lets
 * a database trigger invalidate too (`pg_notify(channel, json_build_object(...)::text)`).
 *
 * @throws InvalidKeyError when one key alone does not fit in a payload (never for keys
 *   within the core's 1024-character limit).
 */
export function encodePayloads(message: BusMessage): string[] {
  const head = `{"origin":${JSON.stringify(message.origin)},"op":${JSON.stringify(message.op)},"keys":[`;
  const tail = ']}';
  const fixed = Buffer.byteLength(head) + tail.length;
  const payloads: string[] = [];
  let keys: string[] = [];
  let size = fixed;
  for (const key of message.keys) {
    const json = JSON.stringify(key);
    const bytes = Buffer.byteLength(json);
    if (fixed + bytes > MAX_NOTIFY_PAYLOAD_BYTES) {
      throw new InvalidKeyError(
        key,
        `its bus message would be ${fixed + bytes} bytes, over the Postgres NOTIFY limit of ${MAX_NOTIFY_PAYLOAD_BYTES}`,
      );
    }
    const added = bytes + (keys.length > 0 ? 1 : 0);
    if (size + added > MAX_NOTIFY_PAYLOAD_BYTES) {
      payloads.push(`${head}${keys.join(',')}${tail}`);
      keys = [];
      size = fixed;
    }
    size += bytes + (keys.length > 0 ? 1 : 0);
    keys.push(json);
  }
  // A message with no keys still travels (a `clear` carries its prefix, but be lenient).
  if (keys.length > 0 || payloads.length === 0) payloads.push(`${head}${keys.join(',')}${tail}`);
  return payloads;
}

/** Parses one payload; `undefined` for anything that is not a well-formed message. */
export function decodePayload(payload: string): BusMessage | undefined {
  return parseBusMessage(() => JSON.parse(payload));
}
