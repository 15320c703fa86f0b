/**
 * The three regions of W-TinyLFU as intrusive doubly linked lists: the admission window
 * (LRU), and the main region split into probation and protected (segmented LRU, 80%
 * protected, as in the TinyLFU paper and Caffeine). Each list is circular around a
 * sentinel; its `next` is the least recently used node, its `prev` the most recent.
 */
import type { Entry } from '../entry/entry.js';

/** Which region a node is in. */
export const WINDOW = 0;
/** Main region, on trial: the victims come from here. */
export const PROBATION = 1;
/** Main region, hit at least once while on probation. */
export const PROTECTED = 2;

/** One key held by the policy. About 44 bytes on a 64-bit V8 with pointer compression. */
export class PolicyNode {
  /** The key, as lru-cache holds it. */
  key: string;
  /** The entry held (replaced in place when the key is written again). */
  entry: Entry;
  /** {@link hashKey} of the key, kept so a hit never rehashes the string. */
  readonly hash: number;
  /** {@link WINDOW}, {@link PROBATION} or {@link PROTECTED}. */
  segment: number;
  /**
   * Hits since the policy last looked at this node: a hit only counts here (a small
   * integer store, no relink), and the policy folds it into the sketch and the node's
   * place when the node reaches the cold end of its region (a second chance, as CLOCK).
   */
  pending = 0;
  /** The next warmer node (or the sentinel). */
  prev: PolicyNode;
  /** The next colder node (or the sentinel). */
  next: PolicyNode;

  /** A node for `key`, not yet linked into a region. */
  constructor(key: string, entry: Entry, hash: number, segment: number) {
    this.key = key;
    this.entry = entry;
    this.hash = hash;
    this.segment = segment;
    this.prev = this;
    this.next = this;
  }
}

/** A circular list with a sentinel head and a size. */
export class Segment {
  /** The sentinel: `head.next` is the coldest node, `head.prev` the warmest. */
  readonly head: PolicyNode;
  /** Nodes linked. */
  size = 0;

  /** @param id the region this list is ({@link WINDOW}, {@link PROBATION}, {@link PROTECTED}). */
  constructor(readonly id: number) {
    this.head = new PolicyNode('', undefined as unknown as Entry, 0, id);
  }

  /** The least recently used node, or undefined when empty. */
  get lru(): PolicyNode | undefined {
    const first = this.head.next;
    return first === this.head ? undefined : first;
  }

  /** Links `node` as the most recently used. */
  pushMru(node: PolicyNode): void {
    this.#link(node, this.head.prev, this.head);
  }

  /** Links `node` as the least recently used. */
  pushLru(node: PolicyNode): void {
    this.#link(node, this.head, this.head.next);
  }

  /** Links `node` between two neighbours of this segment's ring. */
  #link(node: PolicyNode, prev: PolicyNode, next: PolicyNode): void {
    node.prev = prev;
    node.next = next;
    prev.next = node;
    next.prev = node;
    node.segment = this.id;
    this.size++;
  }

  /** Unlinks `node` (which must be in this segment). */
  remove(node: PolicyNode): void {
    node.prev.next = node.next;
    node.next.prev = node.prev;
    node.prev = node;
    node.next = node;
    this.size--;
  }

  /** Moves `node` (in this segment) to the most recently used end. */
  touch(node: PolicyNode): void {
    const head = this.head;
    if (head.prev === node) return;
    node.prev.next = node.next;
    node.next.prev = node.prev;
    const last = head.prev;
    node.prev = last;
    node.next = head;
    last.next = node;
    head.prev = node;
  }

  /** Forgets every node (they are dropped elsewhere). */
  reset(): void {
    this.head.next = this.head;
    this.head.prev = this.head;
    this.size = 0;
  }
}
