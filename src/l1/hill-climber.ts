/**
 * The hill climber that sizes W-TinyLFU's admission window. It climbs the same hill as
 * Caffeine's (`BoundedLocalCache.climb`; Einziger, Eytan, Friedman, Manes, "Adaptive
 * Software Cache Management", Middleware 2018): the hit rate as a function of the window's
 * share of the cache. It reads the slope differently.
 *
 * Caffeine compares the hit rate of one sample period (10 × max requests) with the last
 * and keeps or reverses direction. Replayed on the bench's traces that was too slow and
 * too noisy: a trace of 10 to 100 cache lengths gives it a handful of samples, and a
 * loop longer than the period makes every sample's hit rate swing with the loop's phase
 * (W-TinyLFU with that climber stayed 1.2 to 4.6 points below LRU on sprite, oltp,
 * scarab-recs and orm-busy; see bench/README.md).
 *
 * Here each miss is evidence of the slope, as in ARC's ghost lists (Megiddo and Modha,
 * FAST 2003): a miss on a key the window recently pushed out and admission turned away
 * would have been a hit with a larger window, so the window grows; a miss on a key the
 * main region recently evicted for a newcomer would have been a hit with a larger main
 * region, so the window shrinks. Each step is ARC's: one entry, or the ratio of the two
 * ghosts' sizes when the other side has more evidence. Loops longer than the cache leave
 * no such evidence, so the window stays small where frequency wins, and recency-skewed
 * traffic grows it towards plain LRU.
 *
 * The ghost of turned-away keys holds `max / 2` hashes, the ghost of evicted ones `max`:
 * the smaller first ghost asks for a recency win within half a cache length before it
 * grows the window (measured while hits still relinked eagerly: glimpse at 506 entries
 * 31.9% with `max`, 34.0% with `max / 2`; web12 at 688 62.5% and 63.4%; loop and the
 * LRU-bound rows unchanged).
 */
import { Ghost } from './ghost.js';

/** Hashes of turned-away window keys remembered, as a share of `max` (see above). */
const REJECTED_SHARE = 0.5;

/** Records what the two regions push out, and says how to move the window on each miss. */
export class HillClimber {
  readonly #rejected: Ghost;
  readonly #evicted: Ghost;

  /** @param max the cache's entry bound. */
  constructor(max: number) {
    this.#rejected = new Ghost(Math.max(1, Math.round(max * REJECTED_SHARE)));
    this.#evicted = new Ghost(max);
  }

  /** A key leaving the window was turned away by admission. */
  rejected(hash: number): void {
    this.#rejected.add(hash);
  }

  /** A main-region key was evicted (for a newcomer, or to make room). */
  evicted(hash: number): void {
    this.#evicted.add(hash);
  }

  /**
   * A miss on the key with hash `hash`: the move of the window, in entries (positive:
   * grow it, negative: shrink it, 0: no evidence).
   */
  onMiss(hash: number): number {
    if (this.#rejected.take(hash))
      return Math.max(1, Math.round(this.#evicted.size / Math.max(1, this.#rejected.size)));
    if (this.#evicted.take(hash))
      return -Math.max(1, Math.round(this.#rejected.size / Math.max(1, this.#evicted.size)));
    return 0;
  }

  /** Forgets all evidence (the cache was emptied). */
  clear(): void {
    this.#rejected.clear();
    this.#evicted.clear();
  }
}
