/**
 * The frequency sketch behind W-TinyLFU admission: a count-min sketch of 4-bit counters
 * with periodic halving (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
 * Admission Policy", ACM ToS 2017; the layout follows Caffeine's `FrequencySketch`).
 *
 * Why these numbers:
 * - 4-bit counters (max 15): admission only compares a candidate with a victim, and the
 *   paper shows that counting beyond a small cap (it uses the sample size / cache size,
 *   10) changes almost no decision; 4 bits hold two counters per byte.
 * - 16 counters per cache entry (the entry count rounded up to a power of two): Caffeine's
 *   sizing, one 64-bit word per entry, which keeps over-counting from collisions rare.
 * - depth 4: each key updates and reads 4 counters; the estimate is their minimum.
 * - halving after 10 × max counted accesses: the paper's "reset" with sample size
 *   W = 10 × cache size (also Caffeine's), so old popularity fades.
 *
 * Memory: `8 × nextPowerOfTwo(max)` bytes (at least 32): 128 KiB for `max` 10,000,
 * 8 MiB for 1,000,000.
 */

/** Largest counter value: 4 bits. */
export const MAX_COUNT = 15;
// Counters live 8 to a 32-bit word: word = index >>> 3, nibble = index & 7.
const HALVE_MASK = 0x77777777;
const LOW_BITS = 0x11111111;
/** Caffeine caps its table so the index math stays in range; 2^24 words = 64 MiB. */
const MAX_WORDS = 1 << 24;
/** The largest `max` the table is fully sized for (two words, 16 counters, per entry). */
export const MAX_SKETCH_ENTRIES = MAX_WORDS / 2;

/**
 * A 30-bit hash of a key (a V8 small integer, so storing it in an object never boxes).
 * Murmur-style multiply per UTF-16 unit and the murmur3 finalizer; the sketch derives its
 * four counter indices from it.
 */
export function hashKey(key: string): number {
  let h = 0x2f1b3c4d;
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h ^= key.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 2;
}

/** Raises counter `at` unless it is saturated; 1 if raised, else 0. */
function bump(table: Int32Array, at: number): number {
  const shift = (at & 7) << 2;
  const word = table[at >>> 3] as number;
  if (((word >>> shift) & 15) === MAX_COUNT) return 0;
  table[at >>> 3] = word + (1 << shift);
  return 1;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Estimates how often each key was accessed recently, in a fixed amount of memory. */
export class FrequencySketch {
  readonly #table: Int32Array;
  readonly #mask: number;
  /** Counted accesses (those that raised at least one counter) since the last halving. */
  #additions = 0;
  /** Accesses between halvings. */
  readonly sampleSize: number;

  /** Whether {@link increment} halves on its own when the sample is full (else the owner calls {@link halve}). */
  readonly #autoHalve: boolean;

  /**
   * @param max the cache's entry bound: sizes the table and the halving period.
   * @param sampleSize accesses between halvings; default `10 × max` (TinyLFU's W).
   * @param autoHalve halve on the increment that fills the sample (default); false when the owner counts the sample.
   */
  constructor(max: number, sampleSize = 10 * max, autoHalve = true) {
    this.#autoHalve = autoHalve;
    let words = 8;
    while (words < 2 * max && words < MAX_WORDS) words *= 2;
    // Int32Array, not Uint32Array: words stay small integers for V8, never doubles.
    this.#table = new Int32Array(words);
    this.#mask = words * 8 - 1;
    this.sampleSize = Math.max(1, sampleSize);
  }

  /** Bytes held by the counters. */
  get bytes(): number {
    return this.#table.byteLength;
  }

  /** Accesses counted since the last halving. */
  get additions(): number {
    return this.#additions;
  }

  /** Counts one access of the key with hash `hash` (from {@link hashKey}); halves every counter when the sample is full. */
  increment(hash: number): void {
    const table = this.#table;
    const mask = this.#mask;
    // Double hashing: the step is odd, so the 4 indices are distinct in a power-of-two table.
    const step = (Math.imul(hash, 0x9e3779b1) >>> 7) | 1;
    // Unrolled: this runs on every L1 hit. `|` and not `||`: every counter is raised.
    const added =
      bump(table, hash & mask) |
      bump(table, (hash + step) & mask) |
      bump(table, (hash + 2 * step) & mask) |
      bump(table, (hash + 3 * step) & mask);
    if (added !== 0 && ++this.#additions >= this.sampleSize && this.#autoHalve) this.halve();
  }

  /** The estimated recent accesses of the key with hash `hash`, 0 to {@link MAX_COUNT}: never fewer than counted since the last halving (up to 15). */
  frequency(hash: number): number {
    const table = this.#table;
    const mask = this.#mask;
    const step = (Math.imul(hash, 0x9e3779b1) >>> 7) | 1;
    let min = MAX_COUNT;
    for (let i = 0, index = hash; i < 4; i++, index += step) {
      const at = index & mask;
      const count = ((table[at >>> 3] as number) >>> ((at & 7) << 2)) & 15;
      if (count < min) min = count;
    }
    return min;
  }

  /**
   * Halves every counter (TinyLFU's reset: popularity ages by half each sample). The
   * additions left are halved too, less the quarter of the odd counters whose lost half
   * the truncation dropped (as Caffeine does), so the next halving comes on time.
   */
  halve(): void {
    const table = this.#table;
    let odd = 0;
    for (let i = 0; i < table.length; i++) {
      const word = table[i] as number;
      odd += popcount(word & LOW_BITS);
      table[i] = (word >>> 1) & HALVE_MASK;
    }
    this.#additions = Math.max(0, (this.#additions - (odd >>> 2)) >>> 1);
  }
}
