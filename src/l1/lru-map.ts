/**
 * The plain L1's map: least recently used eviction, bounded by a count and optionally by
 * a total size. Built on lru-cache's model (a `Map` from key to slot, the recency list
 * as links in typed arrays, no object per entry) and cut to what L1 uses, because L1's
 * `getLocal` must cost at most 1.2x a bare lru-cache `get`: lru-cache's `get` spends
 * most of that budget on what L1 does not use (per-call options, its own TTL and status,
 * background fetches). Here a hit is one `Map` lookup and, unless the key is already
 * the most recent, four link writes.
 *
 * Slots are numbered from 0 and reused: a deleted key's slot goes on a free list, and
 * once `max` slots are in use a new key takes the least recently used key's slot. The
 * arrays grow by doubling as keys come, so a large `max` costs nothing until it fills.
 */

/** No slot: the end of the recency list. */
const NONE = -1;
/** Slots allocated at first; doubled as needed, up to `max`. */
const INITIAL_CAPACITY = 64;

/** What {@link LruMap} is built with. */
export interface LruMapOptions<V> {
  /** Most keys held: past it, the least recently used key is evicted. */
  readonly max: number;
  /** Most total size, as measured by `sizeOf` (given together). */
  readonly maxSize?: number | undefined;
  /** The size of one value, a positive integer, for `maxSize`. */
  readonly sizeOf?: ((value: V, key: string) => number) | undefined;
  /** Called for each key evicted to make room (not for deletes or replaced values). */
  readonly onEvict?: (() => void) | undefined;
}

/** An LRU map of string keys; see the module comment. */
export class LruMap<V> {
  readonly #max: number;
  readonly #maxSize: number;
  readonly #sizeOf: ((value: V, key: string) => number) | undefined;
  readonly #onEvict: (() => void) | undefined;
  readonly #slots = new Map<string, number>();
  #keys: (string | undefined)[] = [];
  #values: (V | undefined)[] = [];
  /** Towards the more recent end; NONE at the most recent. */
  #next: Int32Array;
  /** Towards the less recent end; NONE at the least recent. */
  #prev: Int32Array;
  /** Each slot's size, when sized. */
  #sizes: Float64Array | undefined;
  /** The least recently used slot (evicted first), or NONE. */
  #head = NONE;
  /** The most recently used slot, or NONE. */
  #tail = NONE;
  /** Slots ever handed out: slots at or past it have never held a key. */
  #used = 0;
  /** Slots freed by deletes, reused before new ones. */
  #free: number[] = [];
  #totalSize = 0;

  constructor(options: LruMapOptions<V>) {
    this.#max = options.max;
    this.#maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
    this.#sizeOf = options.sizeOf;
    this.#onEvict = options.onEvict;
    const capacity = Math.min(options.max, INITIAL_CAPACITY);
    this.#next = new Int32Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#sizes = this.#sizeOf === undefined ? undefined : new Float64Array(capacity);
  }

  /** The number of keys held. */
  get size(): number {
    return this.#slots.size;
  }

  /** The sum of the sizes of the values held (0 when not sized). */
  get totalSize(): number {
    return this.#totalSize;
  }

  /** The value held for `key`, which becomes the most recently used. The hot path. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (slot !== this.#tail) this.#toTail(slot);
    return this.#values[slot];
  }

  /** The value held for `key`, leaving the order as it is. */
  peek(key: string): V | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#values[slot];
  }

  /**
   * Holds `value` for `key` as the most recently used, evicting the least recently used
   * keys past `max` or `maxSize`. A value larger than `maxSize` on its own is not held
   * (and drops what `key` held).
   */
  set(key: string, value: V): void {
    const size = this.#sizeOf === undefined ? 0 : this.#sizeOf(value, key);
    let slot = this.#slots.get(key);
    if (size > this.#maxSize) {
      if (slot !== undefined) this.#remove(key, slot);
      return;
    }
    if (slot === undefined) {
      slot = this.#take();
      this.#keys[slot] = key;
      this.#slots.set(key, slot);
      this.#link(slot);
    } else {
      if (slot !== this.#tail) this.#toTail(slot);
      this.#totalSize -= this.#sizes === undefined ? 0 : (this.#sizes[slot] as number);
    }
    this.#values[slot] = value;
    if (this.#sizes !== undefined) {
      this.#sizes[slot] = size;
      this.#totalSize += size;
      // The new value is the most recent, and fits alone: it is never its own victim.
      while (this.#totalSize > this.#maxSize) this.#evict();
    }
  }

  /** Drops `key`; whether it was held. */
  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(key, slot);
    return true;
  }

  /** Drops every key (none counted as evicted). */
  clear(): void {
    this.#slots.clear();
    this.#keys = [];
    this.#values = [];
    this.#head = NONE;
    this.#tail = NONE;
    this.#used = 0;
    this.#free = [];
    this.#totalSize = 0;
  }

  /** The keys held, in no particular order. */
  keys(): IterableIterator<string> {
    return this.#slots.keys();
  }

  /** A free slot: a freed one, a new one, or (at `max`) the least recently used key's. */
  #take(): number {
    const freed = this.#free.pop();
    if (freed !== undefined) return freed;
    if (this.#used < this.#max) {
      if (this.#used === this.#next.length) this.#grow();
      return this.#used++;
    }
    const slot = this.#head;
    this.#evict();
    // #evict freed it: take it back off the list.
    this.#free.pop();
    return slot;
  }

  #grow(): void {
    const capacity = Math.min(this.#max, this.#next.length * 2);
    const next = new Int32Array(capacity);
    next.set(this.#next);
    this.#next = next;
    const prev = new Int32Array(capacity);
    prev.set(this.#prev);
    this.#prev = prev;
    if (this.#sizes !== undefined) {
      const sizes = new Float64Array(capacity);
      sizes.set(this.#sizes);
      this.#sizes = sizes;
    }
  }

  /** Evicts the least recently used key. */
  #evict(): void {
    const slot = this.#head;
    this.#remove(this.#keys[slot] as string, slot);
    this.#onEvict?.();
  }

  #remove(key: string, slot: number): void {
    this.#slots.delete(key);
    this.#unlink(slot);
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    if (this.#sizes !== undefined) this.#totalSize -= this.#sizes[slot] as number;
    this.#free.push(slot);
  }

  /** Appends `slot` at the most recent end. */
  #link(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot] as number;
    const next = this.#next[slot] as number;
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tail = prev;
    else this.#prev[next] = prev;
  }

  /**
   * Moves a held `slot` that is not the most recent to the most recent end: #unlink and
   * #link in one, with their checks for an end of the list that cannot apply here. It is
   * the hit path; written as the two calls, the getLocal row read 1.32–1.53x against
   * 1.27–1.29x (`npm run bench -- --only latency`, runs alternating).
   */
  #toTail(slot: number): void {
    const prev = this.#prev[slot] as number;
    const next = this.#next[slot] as number;
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    this.#prev[next] = prev;
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    this.#next[this.#tail] = slot;
    this.#tail = slot;
  }
}
