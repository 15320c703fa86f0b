import type { ChainableCommander, Cluster } from 'ioredis';
import { InvalidOptionError } from '../errors.js';

/**
 * Redis Cluster's key slots, and the grouping every multi-key operation on a cluster
 * goes through: a command may name keys of one slot only (else CROSSSLOT), and an
 * ioredis pipeline may hold commands for one node only. So keys are grouped by slot,
 * the slots by the node that serves them, and each node gets one pipeline of
 * single-slot commands. Generic over what is grouped (indices of keys, writes,
 * leases), so every Redis feature on a cluster shares it.
 */

/** Slots in a Redis Cluster. */
export const SLOT_COUNT = 16_384;

/** CRC16-CCITT (XMODEM) table, the checksum Redis Cluster hashes keys with. */
const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++)
    crc = ((crc << 8) & 0xffff) ^ (CRC16[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

/**
 * The cluster slot of `key`, as `CLUSTER KEYSLOT` computes it: CRC16 of the key's UTF-8
 * bytes mod 16384, or of its hash tag (the bytes between the first `{` and the first
 * `}` after it, when not empty) so keys sharing a tag share a slot.
 */
export function slotOf(key: string | Uint8Array): number {
  const bytes = typeof key === 'string' ? Buffer.from(key) : key;
  let to = bytes.length;
  let from = 0;
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) {
      from = open + 1;
      to = close;
    }
  }
  return crc16(bytes, from, to) % SLOT_COUNT;
}

/** Whether `client` is an ioredis `Cluster` (duck-typed: another copy of ioredis may have made it). */
export function isCluster(client: unknown): client is Cluster {
  return (
    typeof client === 'object' && client !== null && (client as { isCluster?: unknown }).isCluster === true
  );
}

/**
 * Rejects a `Cluster` given to something that cannot run on one yet, at construction:
 * an ioredis Cluster would accept its commands and fail them later (CROSSSLOT).
 *
 * @throws InvalidOptionError naming `option` when `client` is a Cluster.
 */
export function rejectCluster(client: unknown, factory: string, option = 'client'): void {
  if (!isCluster(client)) return;
  throw new InvalidOptionError(
    option,
    `a single-node ioredis Redis (${factory} does not support Redis Cluster yet)`,
    'an ioredis Cluster',
  );
}

/**
 * `items` grouped for a cluster: one list per node, of single-slot chunks of at most
 * `maxPerChunk` items each, the node being the one the client's slot map names for the
 * slot now (a slot it does not know yet gets a group of its own, which the client
 * routes once connected). Order within a chunk follows `items`.
 */
export function groupByNode<T>(
  cluster: Cluster,
  items: readonly T[],
  keyOf: (item: T) => string | Uint8Array,
  maxPerChunk: number,
): T[][][] {
  const bySlot = new Map<number, T[]>();
  for (const item of items) {
    const slot = slotOf(keyOf(item));
    const group = bySlot.get(slot);
    if (group === undefined) bySlot.set(slot, [item]);
    else group.push(item);
  }
  const byNode = new Map<string, T[][]>();
  for (const [slot, group] of bySlot) {
    const owners = cluster.slots[slot];
    const node = owners === undefined ? `slot:${slot}` : owners.join(';');
    let chunks = byNode.get(node);
    if (chunks === undefined) {
      chunks = [];
      byNode.set(node, chunks);
    }
    for (let i = 0; i < group.length; i += maxPerChunk) chunks.push(group.slice(i, i + maxPerChunk));
  }
  return [...byNode.values()];
}

/**
 * Runs a multi-key operation on a cluster: `items` grouped by {@link groupByNode}, one
 * pipeline per node, all at once, with one command queued per chunk by `queue`.
 * Resolves each chunk with its command's reply; rejects with the first command error.
 *
 * An ioredis pipeline follows a MOVED only when every command in it is read-only, and
 * nothing else refreshes the slot map (ioredis 6 has no periodic refresh by default):
 * after a failover, writes would keep going to the old master. So on a redirection, a
 * cluster-down or a connection error, the slot map is refreshed and the operation runs
 * once more, regrouped (every operation queued here may run twice: reads, UNLINK, and
 * the versioned scripts, which keep the newest version whatever the order).
 * `single`, when given, sends a lone command without a pipeline.
 */
export async function pipelinePerNode<T>(
  cluster: Cluster,
  items: readonly T[],
  keyOf: (item: T) => string | Uint8Array,
  maxPerChunk: number,
  queue: (pipeline: ChainableCommander, chunk: T[]) => void,
  single?: (chunk: T[]) => Promise<unknown>,
): Promise<Array<[chunk: T[], reply: unknown]>> {
  const groups = groupByNode(cluster, items, keyOf, maxPerChunk);
  // One command in all (one key, or keys of one slot): sent on its own, no pipeline
  // (cheaper, and ioredis follows any redirection of a single command).
  if (single !== undefined && groups.length === 1 && groups[0]?.length === 1) {
    const chunk = groups[0][0] as T[];
    return [[chunk, await single(chunk)]];
  }
  try {
    return await runPerNode(cluster, groups, queue);
  } catch (error) {
    if (!isTopologyError(error)) throw error;
    await refreshedSlots(cluster);
    return runPerNode(cluster, groupByNode(cluster, items, keyOf, maxPerChunk), queue);
  }
}

async function runPerNode<T>(
  cluster: Cluster,
  groups: readonly T[][][],
  queue: (pipeline: ChainableCommander, chunk: T[]) => void,
): Promise<Array<[chunk: T[], reply: unknown]>> {
  const runs = groups.map(async (chunks) => {
    const pipeline = cluster.pipeline();
    for (const chunk of chunks) queue(pipeline, chunk);
    const results = await pipeline.exec();
    if (results === null) throw new Error('Redis pipeline was discarded');
    return chunks.map((chunk, i): [T[], unknown] => {
      const [error, reply] = results[i] as [Error | null, unknown];
      if (error) throw error;
      return [chunk, reply];
    });
  });
  return (await Promise.all(runs)).flat();
}

/** A reply the cluster's topology explains (a redirection, a failover), or no reply at all (a connection error). */
function isTopologyError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name !== 'ReplyError') return true;
  return /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|READONLY|LOADING) /.test(error.message);
}

/** How long a caller waits for the cluster's slot map to be fetched again before going on with what it has. */
const SLOTS_WAIT_MS = 1_000;

/** Asks the cluster for its slot map again; settles within {@link SLOTS_WAIT_MS} whatever happens. */
export function refreshedSlots(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, SLOTS_WAIT_MS);
    timer.unref();
    try {
      cluster.refreshSlotsCache(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
