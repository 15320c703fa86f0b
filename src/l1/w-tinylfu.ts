/**
 * W-TinyLFU admission in front of lru-cache (Einziger, Friedman, Manes, "TinyLFU: A Highly
 * Efficient Cache Admission Policy", ACM ToS 2017; Caffeine's adaptive window).
 *
 * A new key enters a small LRU admission window. The window's overflow goes to the main
 * region, a segmented LRU (probation, then protected after a hit there), but only by
 * winning against probation's least recently used entry: the one the frequency sketch
 * says was asked for more often in the recent past stays, the other is evicted. The
 * window absorbs bursts (a key asked twice in quick succession is kept, whatever its
 * history); the main region keeps what is asked for again and again; and a hill climber
 * moves the boundary between them towards whichever side would have hit more.
 *
 * lru-cache stays the storage: it holds every entry (in a node that carries the policy's
 * links) and is bounded at `max + 1` as a backstop, so the policy decides admission and
 * victims. With `maxSize`, lru-cache still evicts by size, in its own LRU order, and the
 * policy forgets what it evicts.
 *
 * Memory on top of plain lru-cache: the sketch, `8 × nextPowerOfTwo(max)` bytes (see
 * {@link FrequencySketch}); one {@link PolicyNode} per entry, about 44 bytes; and the
 * climber's two ghosts of hashes (1.5 × max slots of 4 bytes, and a Map entry of about 35
 * bytes per hash held). Measured at `max` 100,000: 237 bytes per entry in all (sketch
 * included), against 100 for plain lru-cache.
 */
import { LRUCache } from 'lru-cache';
import type { Entry } from '../entry/entry.js';
import { FrequencySketch, hashKey, MAX_COUNT } from './frequency-sketch.js';
import { HillClimber } from './hill-climber.js';
import { PolicyNode, PROBATION, PROTECTED, Segment, WINDOW } from './segments.js';

/** Caffeine's `PERCENT_MAIN`: the window starts at 1% of the cache. */
const INITIAL_MAIN = 0.99;
/** The protected share of the main region (the TinyLFU paper's SLRU, Caffeine's `PERCENT_MAIN_PROTECTED`). */
const PROTECTED_SHARE = 0.8;
/**
 * Caffeine's `ADMIT_HASHDOS_THRESHOLD`: a candidate this popular that loses is still
 * admitted 1 time in 128, so keys crafted to collide with a victim cannot lock it in.
 */
const ADMIT_RANDOMLY_FROM = 6;

/**
 * Passed to lru-cache's `peek`, which would otherwise make a default options object per
 * call. Not frozen: lru-cache writes its (undefined) `status` into it.
 */
const PEEK_OPTIONS: LRUCache.PeekOptions<string, PolicyNode, unknown> = {};

/** What {@link MemoryTier} needs from the map that holds its entries: lru-cache itself, or the policy. */
export interface EntryStore {
  /** The entry for `key`, counted as a use. */
  get(key: string): Entry | undefined;
  /** The entry for `key`, without counting a use. */
  peek(key: string): Entry | undefined;
  /** Holds `entry` for `key` (the policy may turn a new key away). */
  set(key: string, entry: Entry): unknown;
  /** Drops `key`. */
  delete(key: string): unknown;
  /** Drops everything. */
  clear(): void;
  /** The keys held. */
  keys(): Iterable<string>;
}

/** Construction options of {@link WTinyLfuStore}. */
export interface WTinyLfuOptions {
  /** Most entries held. */
  readonly max: number;
  /** Most total size, as measured by `sizeCalculation` (lru-cache enforces it). */
  readonly maxSize?: number | undefined;
  /** The size of one entry, for `maxSize`. */
  readonly sizeCalculation?: ((entry: Entry, key: string) => number) | undefined;
}

/** A snapshot of the regions, for tests and the bench. */
export interface WTinyLfuShape {
  /** Entries in the admission window. */
  readonly window: number;
  /** Entries on probation in the main region. */
  readonly probation: number;
  /** Entries protected in the main region. */
  readonly protected: number;
  /** The window's bound now (the climber moves it). */
  readonly windowMax: number;
  /** Protected's bound now: 80% of what the window leaves. */
  readonly protectedMax: number;
  /** Bytes of the frequency sketch's counters. */
  readonly sketchBytes: number;
}

/** The W-TinyLFU policy over an lru-cache: an {@link EntryStore} that admits and evicts. */
export class WTinyLfuStore implements EntryStore {
  readonly #lru: LRUCache<string, PolicyNode>;
  readonly #sized: boolean;
  readonly #max: number;
  readonly #sketch: FrequencySketch;
  readonly #climber: HillClimber;
  readonly #window = new Segment(WINDOW);
  readonly #probation = new Segment(PROBATION);
  readonly #protected = new Segment(PROTECTED);
  readonly #segments: readonly Segment[] = [this.#window, this.#probation, this.#protected];
  readonly #onEvict: () => void;
  #windowMax: number;
  #protectedMax = 0;
  /** Accesses (hits and new keys) since the sketch last aged. */
  #accesses = 0;
  /** Accesses between agings: the sketch's sample, kept here for the hit path. */
  readonly #sample: number;
  /** xorshift32 state for the 1-in-128 admission; a fixed seed keeps runs reproducible. */
  #random = 0x2545f491;

  /** @param onEvict called for every entry the policy (or lru-cache's size bound) evicts or turns away. */
  constructor(options: WTinyLfuOptions, onEvict: () => void) {
    const { max, maxSize, sizeCalculation } = options;
    this.#max = max;
    this.#onEvict = onEvict;
    this.#sized = maxSize !== undefined && sizeCalculation !== undefined;
    this.#windowMax = Math.max(1, max - Math.floor(max * INITIAL_MAIN));
    this.#resizeProtected();
    // The policy counts the sample and ages the sketch itself (it must fold pending hits first).
    this.#sketch = new FrequencySketch(max, 10 * max, false);
    this.#sample = this.#sketch.sampleSize;
    this.#climber = new HillClimber(max);
    this.#lru = new LRUCache<string, PolicyNode>({
      // One over the bound: a new key is stored before the policy picks the victim.
      max: max + 1,
      // Only lru-cache's own size bound evicts behind the policy's back; without one, no
      // dispose hook at all (it would run, for nothing, on every delete the policy makes).
      ...(this.#sized
        ? {
            maxSize,
            sizeCalculation: (node, key) => sizeCalculation!(node.entry, key),
            dispose: (node, _key, reason) => {
              if (reason === 'evict') {
                this.#unlink(node);
                onEvict();
              }
            },
          }
        : {}),
    });
  }

  /** Entries held. */
  get size(): number {
    return this.#window.size + this.#probation.size + this.#protected.size;
  }

  /** The regions' sizes and bounds now. */
  shape(): WTinyLfuShape {
    return {
      window: this.#window.size,
      probation: this.#probation.size,
      protected: this.#protected.size,
      windowMax: this.#windowMax,
      protectedMax: this.#protectedMax,
      sketchBytes: this.#sketch.bytes,
    };
  }

  /**
   * The hot path: one lookup and two integer increments; no relink, no hashing, no
   * allocation. The hit is folded into the sketch and the node's place later, when the
   * node reaches the cold end of its region or the sketch ages.
   */
  get(key: string): Entry | undefined {
    const node = this.#sized ? this.#lru.get(key) : this.#lru.peek(key, PEEK_OPTIONS);
    if (node === undefined) return undefined;
    node.pending++;
    if (++this.#accesses >= this.#sample) this.#age();
    return node.entry;
  }

  /** The entry for `key`, without counting a use. */
  peek(key: string): Entry | undefined {
    return this.#lru.peek(key)?.entry;
  }

  /**
   * Holds `entry`. A key already held takes the new entry in place. A new key counts as a
   * miss and enters the window; whatever the window pushes out must then win its place in
   * the main region, so the key turned away may be an older one or, later, this one.
   */
  set(key: string, entry: Entry): void {
    const held = this.#lru.peek(key);
    if (held !== undefined) {
      held.entry = entry;
      if (this.#sized) {
        // Re-measured; an entry now over maxSize is dropped by lru-cache (its own rule).
        this.#lru.set(key, held);
        if (this.#lru.peek(key) !== held) this.#unlink(held);
      }
      return;
    }
    const node = new PolicyNode(key, entry, hashKey(key), WINDOW);
    this.#lru.set(key, node);
    // lru-cache refuses an entry larger than maxSize: then it is simply not held.
    if (this.#sized && this.#lru.peek(key) !== node) return;
    this.#sketch.increment(node.hash);
    if (++this.#accesses >= this.#sample) this.#age();
    const move = this.#climber.onMiss(node.hash);
    if (move > 0) this.#growWindow(move);
    else if (move < 0) this.#shrinkWindow(-move);
    this.#window.pushMru(node);
    this.#evict();
  }

  /** Drops `key`; the sketch keeps its count (it was asked for, whatever happened since). */
  delete(key: string): boolean {
    const node = this.#lru.peek(key);
    if (node === undefined) return false;
    this.#fold(node);
    this.#unlink(node);
    return this.#lru.delete(key);
  }

  /** Drops every entry. The sketch keeps its counts: what was popular before a clear still is. */
  clear(): void {
    this.#lru.clear();
    for (const segment of this.#segments) segment.reset();
    this.#climber.clear();
  }

  /** The keys held. */
  keys(): Iterable<string> {
    return this.#lru.keys();
  }

  /**
   * Checks the invariants (for tests): every listed node is held by lru-cache under its
   * key, the lists and lru-cache agree on the count, and no region is over its bound.
   * Returns the first violation, or undefined.
   */
  audit(): string | undefined {
    let listed = 0;
    for (const segment of this.#segments) {
      let count = 0;
      for (let node = segment.head.next; node !== segment.head; node = node.next) {
        if (node.segment !== segment.id) return `${node.key} listed in ${segment.id}, marked ${node.segment}`;
        if (this.#lru.peek(node.key) !== node) return `${node.key} listed but not held`;
        count++;
      }
      if (count !== segment.size) return `segment ${segment.id}: ${count} listed, size ${segment.size}`;
      listed += count;
    }
    if (listed !== this.#lru.size) return `${listed} listed, ${this.#lru.size} held`;
    if (listed > this.#max) return `${listed} held, max ${this.#max}`;
    if (this.#window.size > this.#windowMax) return 'window over its bound';
    if (this.#protected.size > this.#protectedMax) return 'protected over its bound';
    return undefined;
  }

  /** Folds the node's pending hits into the sketch (at most 15: the counters saturate there). */
  #fold(node: PolicyNode): void {
    const hits = Math.min(node.pending, MAX_COUNT);
    for (let i = 0; i < hits; i++) this.#sketch.increment(node.hash);
    node.pending = 0;
  }

  /**
   * TinyLFU's reset: pending hits first, so every access is counted before the halving.
   * The access count is halved too, as Caffeine halves its sample count, so after the
   * first the sketch ages every 5 × max accesses (web12 at 688 entries: 62.6% this way,
   * 61.9% when the count restarts from 0; the other goal rows move by 0.4 point or less).
   */
  #age(): void {
    for (const segment of this.#segments) {
      for (let node = segment.head.next; node !== segment.head; node = node.next) this.#fold(node);
    }
    this.#sketch.halve();
    this.#accesses >>>= 1;
  }

  /**
   * The cold end of `segment`, after second chances: a node hit since the policy last saw
   * it has its hits folded in and goes back to the warm end (or, on probation, up to
   * protected), as a relink on every hit would have placed it.
   */
  #coldest(segment: Segment): PolicyNode | undefined {
    for (;;) {
      const node = segment.lru;
      if (node === undefined || node.pending === 0) return node;
      this.#fold(node);
      if (segment === this.#probation) this.#promote(node);
      else segment.touch(node);
    }
  }

  /** A hit on probation earns a place in protected, whose coldest entry drops back to probation. */
  #promote(node: PolicyNode): void {
    this.#probation.remove(node);
    this.#protected.pushMru(node);
    this.#demoteOverflow();
  }

  #demoteOverflow(): void {
    while (this.#protected.size > this.#protectedMax) {
      const demoted = this.#coldest(this.#protected)!;
      this.#protected.remove(demoted);
      this.#probation.pushMru(demoted);
    }
  }

  /** Moves the window's overflow to probation, each mover against probation's coldest entry. */
  #evict(): void {
    while (this.#window.size > this.#windowMax) {
      const candidate = this.#coldest(this.#window)!;
      this.#window.remove(candidate);
      this.#probation.pushMru(candidate);
      if (this.size > this.#max) this.#duel(candidate);
    }
    // The main region can be over its share just after the window grew into it.
    while (this.size > this.#max) {
      const victim = (this.#probation.lru ?? this.#protected.lru)!;
      this.#climber.evicted(victim.hash);
      this.#drop(victim);
    }
  }

  /** TinyLFU's admission: the candidate replaces the victim only if it was asked for more often. */
  #duel(candidate: PolicyNode): void {
    let victim = this.#coldest(this.#probation)!;
    if (victim === candidate) victim = this.#protected.lru ?? candidate;
    if (victim !== candidate && this.#admit(candidate, victim)) {
      this.#climber.evicted(victim.hash);
      this.#drop(victim);
    } else {
      this.#climber.rejected(candidate.hash);
      this.#drop(candidate);
    }
  }

  #admit(candidate: PolicyNode, victim: PolicyNode): boolean {
    this.#fold(victim);
    const candidateFrequency = this.#sketch.frequency(candidate.hash);
    const victimFrequency = this.#sketch.frequency(victim.hash);
    if (candidateFrequency > victimFrequency) return true;
    if (candidateFrequency < ADMIT_RANDOMLY_FROM) return false;
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x;
    return (x & 127) === 0;
  }

  #drop(node: PolicyNode): void {
    this.#fold(node);
    this.#unlink(node);
    this.#lru.delete(node.key);
    this.#onEvict();
  }

  #unlink(node: PolicyNode): void {
    (this.#segments[node.segment] as Segment).remove(node);
  }

  #resizeProtected(): void {
    this.#protectedMax = Math.floor((this.#max - this.#windowMax) * PROTECTED_SHARE);
  }

  /** The window takes `amount` places from the main region; the coldest main entries move into it. */
  #growWindow(amount: number): void {
    const steps = Math.min(amount, this.#max - 1 - this.#windowMax);
    for (let i = 0; i < steps; i++) {
      this.#windowMax++;
      this.#resizeProtected();
      this.#demoteOverflow();
      const moved = this.#probation.lru ?? this.#protected.lru;
      if (moved === undefined) continue;
      this.#unlink(moved);
      this.#window.pushMru(moved);
    }
  }

  /** The main region takes `amount` places from the window (which keeps at least one); the window's oldest go to probation. */
  #shrinkWindow(amount: number): void {
    const steps = Math.min(amount, this.#windowMax - 1);
    for (let i = 0; i < steps; i++) {
      this.#windowMax--;
      this.#resizeProtected();
      if (this.#window.size <= this.#windowMax) continue;
      const moved = this.#window.lru!;
      this.#window.remove(moved);
      this.#probation.pushLru(moved);
    }
  }
}
