/**
 * Bélády's OPT (MIN): on a miss with a full cache, evict the entry whose next use is
 * farthest in the future. No online policy can hit more often on the same trace and
 * size, so it is the ceiling the LRU figures are read against.
 *
 * O(n log n): next-use indices come from one backward pass, and the cache is a max-heap
 * keyed by next use with lazy deletion (a heap slot is live only while it still equals
 * the key's current next use).
 */

/**
 * For each request `i`, the index of the next request of the same key, or `ids.length`
 * when the key is never requested again. One backward pass.
 */
export function nextUses(ids: Int32Array, distinct: number): Int32Array {
  const n = ids.length;
  const next = new Int32Array(n);
  const upcoming = new Int32Array(distinct).fill(n);
  for (let i = n - 1; i >= 0; i--) {
    const id = ids[i] as number;
    next[i] = upcoming[id] as number;
    upcoming[id] = i;
  }
  return next;
}

/**
 * Hits of OPT with `size` entries over requests `ids` (dense ids below `distinct`).
 * Pass `next` from {@link nextUses} to share it between sizes.
 */
export function optHits(
  ids: Int32Array,
  distinct: number,
  size: number,
  next = nextUses(ids, distinct),
): number {
  const n = ids.length;
  if (size <= 0 || n === 0) return 0;
  // One heap slot packs (nextUse, id) into a double as nextUse * distinct + id: ordering
  // by the packed value orders by next use. Exact while the product stays below 2^53.
  if ((n + 1) * distinct > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`trace too large for OPT packing: ${n} requests x ${distinct} keys`);
  }
  // current[id]: the key's next use while cached, -1 while not.
  const current = new Float64Array(distinct).fill(-1);
  // Every request pushes at most one slot, so n + 1 slots never overflow.
  const heap = new Float64Array(n + 1);
  let heapSize = 0;
  let cached = 0;
  let hits = 0;

  const push = (value: number): void => {
    let i = heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as number;
      if (p >= value) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = value;
  };
  const pop = (): number => {
    const top = heap[0] as number;
    const last = heap[--heapSize] as number;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heapSize) break;
      const right = left + 1;
      const child = right < heapSize && (heap[right] as number) > (heap[left] as number) ? right : left;
      if ((heap[child] as number) <= last) break;
      heap[i] = heap[child] as number;
      i = child;
    }
    heap[i] = last;
    return top;
  };

  for (let i = 0; i < n; i++) {
    const id = ids[i] as number;
    const nu = next[i] as number;
    if ((current[id] as number) >= 0) {
      hits++;
    } else {
      if (cached === size) {
        for (;;) {
          const slot = pop();
          const victim = slot % distinct;
          if (current[victim] === (slot - victim) / distinct) {
            current[victim] = -1;
            cached--;
            break;
          }
        }
      }
      cached++;
    }
    current[id] = nu;
    push(nu * distinct + id);
  }
  return hits;
}
