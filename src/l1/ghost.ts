/**
 * A bounded first-in-first-out set of key hashes: the keys a region recently pushed
 * out, kept without their values (ARC's ghost lists: Megiddo and Modha, "ARC: A
 * Self-Tuning, Low Overhead Replacement Cache", FAST 2003). A miss on a key found here
 * says the region that pushed it out was too small.
 *
 * Memory: 4 bytes per slot in the ring, plus a Map entry per distinct hash held (about 35
 * bytes on V8); `capacity` is the cache's `max`.
 */
export class Ghost {
  readonly #ring: Int32Array;
  /** hash → how many ring slots still name it. */
  readonly #held = new Map<number, number>();
  #next = 0;
  #filled = 0;

  /** @param capacity the most hashes remembered (the oldest is forgotten first). */
  constructor(capacity: number) {
    this.#ring = new Int32Array(Math.max(1, capacity));
  }

  /** Distinct hashes held. */
  get size(): number {
    return this.#held.size;
  }

  /** Remembers `hash`, forgetting the oldest one when full. */
  add(hash: number): void {
    const ring = this.#ring;
    if (this.#filled === ring.length) this.#release(ring[this.#next] as number);
    else this.#filled++;
    ring[this.#next] = hash;
    this.#next = this.#next + 1 === ring.length ? 0 : this.#next + 1;
    this.#held.set(hash, (this.#held.get(hash) ?? 0) + 1);
  }

  /** Whether `hash` is held; if so it is forgotten (one ghost hit per push-out). */
  take(hash: number): boolean {
    return this.#held.delete(hash);
  }

  /** Forgets everything. */
  clear(): void {
    this.#held.clear();
    this.#next = 0;
    this.#filled = 0;
  }

  #release(hash: number): void {
    const count = this.#held.get(hash);
    if (count === undefined) return;
    if (count <= 1) this.#held.delete(hash);
    else this.#held.set(hash, count - 1);
  }
}
