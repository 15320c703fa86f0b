import { isVersion } from '../entry/version.js';
import { TierCacheError } from '../errors.js';
import type { BusHealth, BusMessage, BusOp } from './bus.js';

const OPS: ReadonlySet<string> = new Set<BusOp>(['set', 'delete', 'clear', 'tag']);

/**
 * A decoded wire value as a {@link BusMessage}, or `undefined` if it is not one. Buses
 * use it on whatever they receive: a malformed message is dropped, never thrown.
 */
export function toBusMessage(raw: unknown): BusMessage | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const { origin, op, keys, versions, external, partial } = raw as Record<string, unknown>;
  if (typeof origin !== 'string' || typeof op !== 'string' || !OPS.has(op) || !Array.isArray(keys)) {
    return undefined;
  }
  if (!keys.every((key) => typeof key === 'string')) return undefined;
  if (external !== undefined && external !== null && typeof external !== 'boolean') return undefined;
  if (partial !== undefined && partial !== null && typeof partial !== 'boolean') return undefined;
  const message = {
    origin,
    op: op as BusOp,
    keys: keys as string[],
    ...(external === true ? { external } : {}),
    ...(partial === true ? { partial } : {}),
  };
  if (versions === undefined || versions === null) return message;
  // Versions must be well formed and aligned with the keys: a receiver compares them with
  // what its L1 holds, and a garbled one must not keep a stale copy alive.
  if (!Array.isArray(versions) || versions.length !== keys.length || !versions.every(isVersion)) {
    return undefined;
  }
  return { ...message, versions: versions as string[] };
}

/**
 * Decodes a received payload with `parse` and checks the result with
 * {@link toBusMessage}; `undefined` when `parse` throws or the value is not a message.
 */
export function parseBusMessage(parse: () => unknown): BusMessage | undefined {
  let raw: unknown;
  try {
    raw = parse();
  } catch {
    return undefined;
  }
  return toBusMessage(raw);
}

/**
 * A {@link BusHealth} with only the fields that are known: no `lastMessageAt` before the
 * first message, no `lastError` before the first error.
 */
export function busHealth(
  status: BusHealth['status'],
  lastMessageAt: number | undefined,
  lastError: string | undefined,
): BusHealth {
  const health: { status: BusHealth['status']; lastMessageAt?: number; lastError?: string } = { status };
  if (lastMessageAt !== undefined) health.lastMessageAt = lastMessageAt;
  if (lastError !== undefined) health.lastError = lastError;
  return health;
}

/**
 * Throws when a message about to be sent carries `versions` that are not aligned with
 * its keys (one per key; one for a `clear`): every receiver would drop it whole, so the
 * invalidation would be lost silently. Wires call it before encoding.
 *
 * @throws TierCacheError naming the bus.
 */
export function checkOutgoingVersions(message: BusMessage, bus: string): void {
  const { op, keys, versions } = message;
  if (versions === undefined) return;
  const expected = keys.length;
  if (versions.length !== expected) {
    throw new TierCacheError(
      `${bus}: a ${op} message with ${keys.length} keys carries ${versions.length} versions, expected ${expected}`,
    );
  }
}
