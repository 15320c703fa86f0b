import type { Cluster, Redis } from 'ioredis';
import type { LeaseHeld, LeaseStore } from '../stores/lease.js';

/**
 * Takes the lease: KEYS[1] the lease key; ARGV[1] the token, ARGV[2] its life (ms),
 * ARGV[3] a value it may replace (`''`: none). Returns `nil` when taken, else
 * `{ held, pttl }`. One key per call, so a cluster keeps it within one slot.
 */
const ACQUIRE = `
local held = redis.call('GET', KEYS[1])
if held == false or (ARGV[3] ~= '' and held == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return nil
end
return { held, redis.call('PTTL', KEYS[1]) }
`;

/** Extends the lease when it holds ARGV[1] (the token) by ARGV[2] ms; 1 if it did. */
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/**
 * Compare-and-delete: when the lease holds ARGV[1] (the token), replaces it with ARGV[2]
 * for ARGV[3] ms, or unlinks it when ARGV[2] is `''`. 1 if it held the token.
 */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('UNLINK', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`;

const COMMANDS = {
  tiercacheLeaseAcquire: ACQUIRE,
  tiercacheLeaseExtend: EXTEND,
  tiercacheLeaseRelease: RELEASE,
} as const;

type Command = (key: string, ...args: Array<string | number>) => Promise<unknown>;

/**
 * Leases on `client` (see {@link LeaseStore}): a plain `SET NX PX` of a token when the
 * key is free, else `SET PX` in a Lua script that first reads the key (it tells who
 * holds it, and replaces a landed marker by compare-and-set); `PEXPIRE` and
 * compare-and-delete by token, each a script on one key. Keys get `prefix` in front,
 * as the store's own keys do. The scripts are defined on the client as the commands
 * `tiercacheLeaseAcquire`, `tiercacheLeaseExtend` and `tiercacheLeaseRelease`.
 */
export function redisLeases(client: Redis | Cluster, prefix: string, coalesce?: () => void): LeaseStore {
  const commands = client as unknown as Record<string, Command | undefined>;
  for (const [name, lua] of Object.entries(COMMANDS)) {
    if (typeof commands[name] !== 'function') client.defineCommand(name, { numberOfKeys: 1, lua });
  }
  const run = (name: keyof typeof COMMANDS, key: string, ...args: Array<string | number>) => {
    coalesce?.();
    return (commands[name] as Command).call(client, prefix + key, ...args);
  };
  return {
    async acquire(key, token, ttlMs, over = '') {
      const ms = Math.ceil(ttlMs);
      // The common case, a key nobody holds: a plain SET NX (no script to run). Held (by a
      // load elsewhere, or a landed marker): the script says by whom and for how long.
      if (over === '') {
        coalesce?.();
        if ((await client.set(prefix + key, token, 'PX', ms, 'NX')) === 'OK') return undefined;
      }
      const reply = (await run('tiercacheLeaseAcquire', key, token, ms, over)) as [string, number] | null;
      if (reply === null) return undefined;
      return { holder: String(reply[0]), ttlMs: Math.max(0, Number(reply[1])) } satisfies LeaseHeld;
    },
    async extend(key, token, ttlMs) {
      return (await run('tiercacheLeaseExtend', key, token, Math.ceil(ttlMs))) === 1;
    },
    async release(key, token, then = '', thenMs = 1) {
      return (await run('tiercacheLeaseRelease', key, token, then, Math.max(1, Math.ceil(thenMs)))) === 1;
    },
  };
}
