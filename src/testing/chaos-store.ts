import type { StoreTier, StoreWrite } from '../stores/store.js';
import { ChaosControls } from './chaos-controls.js';

/** The store operations a {@link ChaosStore} can disturb. */
export type ChaosOp = 'get' | 'getMany' | 'setMany' | 'deleteMany' | 'clear';

const ALL_OPS: readonly ChaosOp[] = ['get', 'getMany', 'setMany', 'deleteMany', 'clear'];

/**
 * A StoreTier wrapper that fails, hangs or holds calls on command, for deterministic
 * guard, breaker and race tests (no randomness, no timers). Commands apply to the chosen
 * operations until changed.
 *
 * - `fail(ops)`: calls reject at once with an Error naming the op;
 * - `hang(ops)`: calls never settle (the guard's timeout must fire);
 * - `hold(op)`: the next call of `op` waits, before reaching the inner store, until the
 *   gate is released (a write "on the wire" that lands later);
 * - `heal()`: back to passing every call through.
 *
 * @example
 * ```ts
 * const l2 = new ChaosStore(new MemoryStore('l2'));
 * l2.fail(['get', 'getMany']); // reads fail, the breaker opens
 * const gate = l2.hold('setMany'); // the next write waits on the wire
 * ```
 */
export class ChaosStore extends ChaosControls<ChaosOp, 'fail' | 'hang'> implements StoreTier {
  /** The wrapped store. */
  readonly inner: StoreTier;
  readonly name: string;
  readonly defaultTimeoutMs?: number;
  /** Calls that reached the wrapper, failing or not. */
  readonly attempts: Array<{ op: ChaosOp; keys: readonly string[] }> = [];

  /**
   * @param inner the store calls go to.
   * @param options `name` (default the inner store's) and `defaultTimeoutMs` (default none).
   */
  constructor(inner: StoreTier, options: { name?: string; defaultTimeoutMs?: number } = {}) {
    super();
    this.inner = inner;
    this.name = options.name ?? inner.name;
    if (options.defaultTimeoutMs !== undefined) this.defaultTimeoutMs = options.defaultTimeoutMs;
  }

  /** Calls of `ops` (default all) reject at once, until {@link heal}. */
  fail(ops: readonly ChaosOp[] = ALL_OPS): void {
    this.switches.set('fail', ops);
  }

  /** Calls of `ops` (default all) never settle, until {@link heal} (calls already hung stay hung). */
  hang(ops: readonly ChaosOp[] = ALL_OPS): void {
    this.switches.set('hang', ops);
  }

  /** Attempts of one kind. */
  attemptsOf(op: ChaosOp): Array<{ op: ChaosOp; keys: readonly string[] }> {
    return this.attempts.filter((a) => a.op === op);
  }

  /** Through the chaos (see the class notes) to the inner store. */
  get(key: string): Promise<Uint8Array | undefined> {
    return this.#run('get', [key], () => this.inner.get(key));
  }

  /** Through the chaos (see the class notes) to the inner store. */
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return this.#run('getMany', keys, () => this.inner.getMany(keys));
  }

  /** Through the chaos (see the class notes) to the inner store. */
  setMany(writes: readonly StoreWrite[]): Promise<void> {
    return this.#run(
      'setMany',
      writes.map((w) => w.key),
      () => this.inner.setMany(writes),
    );
  }

  /** Through the chaos (see the class notes) to the inner store. */
  deleteMany(keys: readonly string[]): Promise<void> {
    return this.#run('deleteMany', keys, () => this.inner.deleteMany(keys));
  }

  /** Through the chaos (see the class notes) to the inner store. */
  clear(prefix: string, upTo?: string): Promise<void> {
    // Passed on only when given: a store of the contract before `upTo` sees the call it knows.
    return this.#run('clear', [prefix], () =>
      upTo === undefined ? this.inner.clear(prefix) : this.inner.clear(prefix, upTo),
    );
  }

  /** Closes the inner store (never disturbed). */
  close(): Promise<void> {
    return this.inner.close();
  }

  async #run<T>(op: ChaosOp, keys: readonly string[], call: () => Promise<T>): Promise<T> {
    this.attempts.push({ op, keys: [...keys] });
    const held = this.holds.next(op);
    if (held !== undefined && held.when === 'before') {
      held.enter();
      await held.released;
    }
    if (this.switches.has('hang', op)) return new Promise<T>(() => {});
    if (this.switches.has('fail', op)) throw new Error(`chaos: ${op} failed on command`);
    const result = await call();
    if (held !== undefined && held.when === 'after') {
      held.enter();
      await held.released;
    }
    return result;
  }
}
