import type { BreakerState } from '../guard/breaker.js';
import { errorCode } from '../stores/failure.js';
import type { BusEventKind } from './events.js';

/**
 * A logger as pino's: `debug/info/warn/error(object, message)`. Fastify's `app.log`,
 * a NestJS Logger adapter and `console` fit too.
 */
export interface CacheLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** Failures of other sources (a background refresh, a codec error) are logged at most this often, per source and code. */
const OTHER_EVERY_MS = 60_000;

/**
 * How skipped failures reach a person, once per change, never once per call: the
 * first failure of a store or of the bus is logged (as a warning), then nothing more
 * until it recovers (logged as info); breaker changes, resyncs and the bus link going
 * down or up are logged as they happen. Other failures (a refresh nobody awaits, a value
 * that cannot be decoded, an event handler that throws) at most once a minute per kind.
 *
 * With no logger and no `onError`, the same first failures go to `process.emitWarning`,
 * so that no failure is silent.
 */
export class FailureLog {
  readonly #logger: CacheLogger | undefined;
  readonly #warn: boolean;
  readonly #namespace: string;
  /** Stores (by name) and `bus` failing now: their first failure was logged. */
  readonly #failing = new Set<string>();
  readonly #lastOther = new Map<string, number>();

  constructor(namespace: string, logger: CacheLogger | undefined, hasOnError: boolean) {
    this.#namespace = namespace;
    this.#logger = logger;
    this.#warn = logger === undefined && !hasOnError;
  }

  /** Whether anything is logged or warned at all (else the recorder skips calling in). */
  get active(): boolean {
    return this.#logger !== undefined || this.#warn;
  }

  /** A failure from `source` (a store's name, `bus`, `loader`, `handler`, `cache`). */
  failed(source: string, error: Error, perChange: boolean): void {
    if (perChange) {
      if (this.#failing.has(source)) return;
      this.#failing.add(source);
    } else {
      const kind = `${source}:${errorCode(error) ?? error.name}`;
      const now = Date.now();
      const last = this.#lastOther.get(kind);
      if (last !== undefined && now - last < OTHER_EVERY_MS) return;
      this.#lastOther.set(kind, now);
    }
    const cause = (error as { cause?: unknown }).cause;
    const code = errorCode(cause);
    const message = `tiercache ${this.#namespace}: ${perChange ? `${source} failing` : `${source} failure`}: ${error.message}${code !== undefined && !error.message.includes(code) ? ` (${code})` : ''}`;
    if (this.#logger !== undefined) {
      const object = { err: error, source, namespace: this.#namespace, code: code ?? errorCode(error) };
      this.#logger.warn(object, message);
    } else if (this.#warn) {
      process.emitWarning(message, { type: 'TierCacheWarning', code: code ?? errorCode(error) });
    }
  }

  /** `source` answered again after failing: logged once, and its next failure is logged again. */
  recovered(source: string): void {
    if (!this.#failing.delete(source)) return;
    this.#logger?.info(
      { source, namespace: this.#namespace },
      `tiercache ${this.#namespace}: ${source} recovered`,
    );
  }

  /** A breaker changed state: `open` is a warning, the rest info. */
  breaker(store: string, state: BreakerState, previous: BreakerState): void {
    const logger = this.#logger;
    if (logger === undefined) return;
    const object = { store, state, previous, namespace: this.#namespace };
    const message = `tiercache ${this.#namespace}: breaker of ${store} ${previous} -> ${state}`;
    if (state === 'open') logger.warn(object, message);
    else logger.info(object, message);
  }

  /** A resync or a change of the bus link (blind mode begins while it is down). */
  bus(kind: BusEventKind): void {
    const logger = this.#logger;
    if (logger === undefined) return;
    const object = { bus: kind, namespace: this.#namespace };
    const ns = this.#namespace;
    if (kind === 'linkDown') {
      logger.warn(
        object,
        `tiercache ${ns}: bus link down: blind mode (L1 serves entries only within blindMaxAge) until it is back`,
      );
    } else if (kind === 'linkUp') {
      this.#failing.delete('bus');
      logger.info(object, `tiercache ${ns}: bus link up, L1 in use again`);
    } else if (kind === 'resync') {
      logger.info(object, `tiercache ${ns}: bus resync, L1 dropped (messages may have been missed)`);
    }
  }
}
