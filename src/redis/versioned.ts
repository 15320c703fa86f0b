import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { isVersion, VERSION_LENGTH } from '../entry/version.js';
import { TierCacheError } from '../errors.js';
import { asBuffer } from '../stores/bytes.js';
import type { LeaseRelease } from '../stores/lease.js';
import type { StoreWrite } from '../stores/store.js';

/**
 * How the Redis store keeps a key's version: in the value itself, framed as
 * `<24 version bytes><value bytes>`. One GET still reads a key, the script reads the
 * held version with `GETRANGE key 0 23` (never the whole value), and a read hands back
 * `subarray(24)` of the reply (no copy). A value written before versions existed
 * starts with the entry codec's magic byte `t` (0x74), which is not a hex digit: it is
 * read as is, and the script takes it as older than any version.
 */
export const FRAME_BYTES = VERSION_LENGTH;

/**
 * The Lua both scripts share: `held(key)`, the version a key holds (`nil` when it holds
 * none: absent, expired, shorter than a frame, a value from before versions, another
 * type), and `newer(a, b)`, whether version `a` is greater than version `b`.
 *
 * Versions are compared as numbers, never as strings: Redis calls
 * `setlocale(LC_COLLATE, "")`, so Lua's `<` on strings goes through strcoll and follows
 * the server's locale, not byte order. Three chunks of 8 hex digits are each exact in a
 * Lua number (a double), compared most significant first. The hex check uses an explicit
 * `[0-9a-f]` class, which Lua matches by byte value, not through the locale.
 */
const VERSION_LUA = `
local function held(key)
  local head = redis.pcall('GETRANGE', key, 0, 23)
  if type(head) ~= 'string' or #head ~= 24 or not string.find(head, '^[0-9a-f]+$') then
    return nil
  end
  return head
end
local function newer(a, b)
  for i = 1, 17, 8 do
    local x = tonumber(string.sub(a, i, i + 7), 16)
    local y = tonumber(string.sub(b, i, i + 7), 16)
    if x ~= y then return x > y end
  end
  return false
end
`;

/**
 * The conditional write, as a Lua function `set_if_newer(n)` over the first `n` keys;
 * run atomically by Redis for up to `KEYS_PER_COMMAND` keys.
 *
 * KEYS: the keys. ARGV[1]: the writer's clock (ms), which decides, as before versions,
 * that a write already past its expiry deletes instead of setting; then for the i-th
 * key ARGV[3i-1] its version, ARGV[3i] its expiry (ms, for PXAT), ARGV[3i+1] its value.
 *
 * A write lands when the key is absent (never written, or expired: Redis has dropped
 * it), holds no version (a value from before versions, another type), or holds an older
 * version; otherwise it is dropped. Keys are handled in order, so a key repeated in one
 * call keeps the greatest version. Deletes use UNLINK, never DEL (the store's promise).
 * Versions are compared by {@link VERSION_LUA}. Returns how many landed.
 */
const SET_IF_NEWER_LUA = `${VERSION_LUA}
local function set_if_newer(n)
  local now = tonumber(ARGV[1])
  local applied = 0
  for i = 1, n do
    local version = ARGV[3 * i - 1]
    local current = held(KEYS[i])
    if current == nil or newer(version, current) then
      if tonumber(ARGV[3 * i]) <= now then
        redis.call('UNLINK', KEYS[i])
      else
        redis.call('SET', KEYS[i], version .. ARGV[3 * i + 1], 'PXAT', ARGV[3 * i])
      end
      applied = applied + 1
    end
  end
  return applied
end
`;

/** The conditional write of every key given. */
const SET_IF_NEWER = `${SET_IF_NEWER_LUA}
return set_if_newer(#KEYS)
`;

/**
 * The conditional write of a load, with the release of the load's lease: the keys but
 * the last as {@link SET_IF_NEWER}, the last key the lease, which is set to
 * ARGV[3n+3] for ARGV[3n+4] ms if it still holds the token ARGV[3n+2] (n the keys
 * written). One key of each, on one server (never a cluster: two slots).
 */
const SET_AND_RELEASE = `${SET_IF_NEWER_LUA}
local n = #KEYS - 1
local applied = set_if_newer(n)
local at = 3 * n + 2
if redis.call('GET', KEYS[n + 1]) == ARGV[at] then
  redis.call('SET', KEYS[n + 1], ARGV[at + 1], 'PX', ARGV[at + 2])
end
return applied
`;

/**
 * The conditional delete of `clear(prefix, upTo)`, run atomically by Redis for a batch
 * of the keys a SCAN returned. KEYS: the keys. ARGV[1]: `upTo`, a version.
 *
 * A key is unlinked when it holds no version (a value from before versions, another
 * type: oldest) or a version not greater than `upTo`; a key written after the clear at
 * a greater version (a value or a tombstone) is kept. Resolves how many were unlinked.
 */
const CLEAR_UP_TO = `${VERSION_LUA}
local upTo = ARGV[1]
local deleted = 0
for i = 1, #KEYS do
  local current = held(KEYS[i])
  if current == nil or not newer(current, upTo) then
    deleted = deleted + redis.call('UNLINK', KEYS[i])
  end
end
return deleted
`;

/** The names the scripts are defined under on the client (ioredis `defineCommand`). */
const COMMAND = 'tiercacheSetIfNewer';
const RELEASE_COMMAND = 'tiercacheSetAndRelease';
const CLEAR_COMMAND = 'tiercacheClearUpTo';

type ScriptArg = string | number | Buffer;
type ScriptCall = (...args: ScriptArg[]) => Promise<number>;

/** The conditional write on one client: a call of its own, or queued on a pipeline. */
export interface SetIfNewer {
  /** Runs the script once for `writes` (at most `KEYS_PER_COMMAND`); resolves how many landed. */
  call(writes: readonly StoreWrite[], prefix: string, now: number): Promise<number>;
  /** Queues one script call for `writes` on `pipeline`. */
  queue(pipeline: ChainableCommander, writes: readonly StoreWrite[], prefix: string, now: number): void;
  /**
   * Runs the write with the release of a lease (see `LeaseStore.writeAndRelease`), on a
   * single Redis only; resolves how many landed.
   */
  callAndRelease(
    writes: readonly StoreWrite[],
    prefix: string,
    now: number,
    release: LeaseRelease,
  ): Promise<number>;
}

/**
 * Defines the conditional write on `client` (idempotent) and returns a caller for it.
 * ioredis then sends EVAL once per connection and EVALSHA after, and falls back to EVAL
 * on NOSCRIPT (a `SCRIPT FLUSH`, a failover), in pipelines too.
 */
export function defineSetIfNewer(client: Redis | Cluster): SetIfNewer {
  const commands = define(client, COMMAND, SET_IF_NEWER);
  define(client, RELEASE_COMMAND, SET_AND_RELEASE);
  return {
    callAndRelease: (writes, prefix, now, { key, token, next, nextMs }) => {
      const args = scriptArgs(writes, prefix, now);
      // The lease key joins the keys (after them), its arguments the end.
      args[0] = writes.length + 1;
      args.splice(writes.length + 1, 0, prefix + key);
      args.push(token, next, Math.max(1, Math.ceil(nextMs)));
      return (commands[RELEASE_COMMAND] as ScriptCall).apply(client, args);
    },
    call: (writes, prefix, now) =>
      (commands[COMMAND] as ScriptCall).apply(client, scriptArgs(writes, prefix, now)),
    queue: (pipeline, writes, prefix, now) => {
      const queued = pipeline as unknown as Record<string, ScriptCall>;
      (queued[COMMAND] as ScriptCall).apply(pipeline, scriptArgs(writes, prefix, now));
    },
  };
}

/** The conditional delete on one client: unlinks those of `keys` holding no version or one `<= upTo`. */
export type ClearUpTo = (keys: ReadonlyArray<string | Buffer>, upTo: string) => Promise<number>;

/**
 * Defines the conditional delete of `clear(prefix, upTo)` on `client` (idempotent) and
 * returns a caller for it: one script call for the keys given (at most `KEYS_PER_COMMAND`),
 * `upTo` a well-formed version (checked by the caller: Lua would not compare another).
 */
export function defineClearUpTo(client: Redis | Cluster): ClearUpTo {
  const commands = define(client, CLEAR_COMMAND, CLEAR_UP_TO);
  return (keys, upTo) => (commands[CLEAR_COMMAND] as ScriptCall).call(client, keys.length, ...keys, upTo);
}

/** Queues one conditional delete of `keys` (one slot on a cluster) on `pipeline`; see {@link defineClearUpTo}. */
export function queueClearUpTo(
  pipeline: ChainableCommander,
  keys: ReadonlyArray<string | Buffer>,
  upTo: string,
): void {
  const queued = pipeline as unknown as Record<string, ScriptCall>;
  (queued[CLEAR_COMMAND] as ScriptCall).call(pipeline, keys.length, ...keys, upTo);
}

/** Defines `lua` on `client` as `name` unless it is already there; the client's commands. */
function define(client: Redis | Cluster, name: string, lua: string): Record<string, ScriptCall | undefined> {
  const commands = client as unknown as Record<string, ScriptCall | undefined>;
  if (typeof commands[name] !== 'function') client.defineCommand(name, { lua });
  return commands;
}

/** `numKeys, keys..., now, (version, expiresAt, value)...`: the script's arguments. */
function scriptArgs(writes: readonly StoreWrite[], prefix: string, now: number): ScriptArg[] {
  const n = writes.length;
  const args: ScriptArg[] = new Array(2 + 4 * n);
  args[0] = n;
  args[n + 1] = now;
  for (let i = 0; i < n; i++) {
    const write = writes[i] as StoreWrite;
    // The version becomes the first bytes of the stored value: a malformed one would
    // corrupt the frame, so it is refused here rather than written.
    if (!isVersion(write.version)) {
      throw new TierCacheError(
        `redisStore.setMany: the write of ${JSON.stringify(write.key)} has version ` +
          `${JSON.stringify(write.version)}, not 24 lowercase hex characters`,
      );
    }
    args[1 + i] = prefix + write.key;
    args[n + 2 + 3 * i] = write.version;
    args[n + 3 + 3 * i] = Math.ceil(write.expiresAt);
    args[n + 4 + 3 * i] = asBuffer(write.value);
  }
  return args;
}

/**
 * The value bytes of a stored reply: the reply past its version frame, or the reply as
 * is when it has none (written before versions: it starts with `t`, not a hex digit).
 * A view, not a copy.
 */
export function unframe(stored: Buffer): Buffer {
  return stored.length >= FRAME_BYTES && isHexDigit(stored[0] as number)
    ? stored.subarray(FRAME_BYTES)
    : stored;
}

/** The value bytes of a GET reply ({@link unframe}), or `undefined` for a miss (`null`). */
export function unframeReply(stored: Buffer | null): Buffer | undefined {
  return stored === null ? undefined : unframe(stored);
}

function isHexDigit(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66);
}
