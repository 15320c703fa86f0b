import type { Redis } from 'ioredis';

/** What the heartbeat reads of, and reports to, the bus that owns it. */
export interface HeartbeatLink {
  /** Whether the link is subscribed and counted up (`up`), lost (`down`), or not yet subscribed. */
  status(): 'up' | 'down' | 'connecting';
  /** Whether the bus was closed: a closed bus is never PINGed nor reported on. */
  closed(): boolean;
  /** A PING went unanswered past its deadline on the current connection. */
  dead(reason: string): void;
  /** A PING was answered on the connection the link was found dead on: it is back. */
  alive(): void;
  /**
   * A PING sent at `sentAt` (ms since the epoch) was answered on the current connection:
   * every message published before the server saw it was delivered.
   */
  heard(sentAt: number): void;
}

/**
 * PINGs the bus's subscriber connection every `intervalMs` and declares the link dead
 * when a PING goes unanswered for `timeoutMs`: a hung server or a silent partition
 * never errors the socket, so only an unanswered PING reveals it.
 *
 * It also numbers the subscriber's connections: a PONG proves only its own connection
 * alive, so a reply (or a subscription) from an older connection is ignored.
 */
export class SubscriberHeartbeat {
  readonly #subscriber: Redis;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #link: HeartbeatLink;
  /** Bumped on every `ready` of the subscriber. */
  #connection = 0;
  #timer: NodeJS.Timeout | undefined;
  #pingInFlight = false;
  #deadline: NodeJS.Timeout | undefined;

  constructor(subscriber: Redis, intervalMs: number, timeoutMs: number, link: HeartbeatLink) {
    this.#subscriber = subscriber;
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#link = link;
  }

  /** Starts PINGing, unless `intervalMs` is 0 (heartbeat off). The timer keeps no process alive. */
  start(): void {
    if (this.#intervalMs <= 0) return;
    this.#timer = setInterval(() => this.#ping(), this.#intervalMs);
    this.#timer.unref();
  }

  /** The subscriber is ready on a new connection: returns that connection's number. */
  newConnection(): number {
    this.#pingInFlight = false;
    return ++this.#connection;
  }

  /** Whether `connection` (from {@link newConnection}) is still the subscriber's connection. */
  isCurrent(connection: number): boolean {
    return connection === this.#connection;
  }

  /** Stops PINGing and drops a pending deadline; for `close()`. */
  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#deadline);
  }

  #ping(): void {
    const subscriber = this.#subscriber;
    if (this.#link.closed() || this.#pingInFlight || subscriber.status !== 'ready') return;
    // Only a subscribed connection can vouch for the link: before that, `ready` decides.
    if (this.#link.status() === 'connecting') return;
    const connection = this.#connection;
    const sentAt = Date.now();
    this.#pingInFlight = true;
    const timeoutMs = this.#timeoutMs;
    this.#deadline = setTimeout(() => {
      // Checked after the poll phase: a PONG already in the socket buffer when an
      // event-loop stall made this timer late is read first, not taken for a dead link.
      setImmediate(() => {
        if (this.#pingInFlight && connection === this.#connection) {
          this.#link.dead(`no PONG on the subscriber connection within ${timeoutMs} ms`);
        }
      });
    }, timeoutMs);
    this.#deadline.unref();
    subscriber.ping().then(
      () => {
        if (connection !== this.#connection) return;
        clearTimeout(this.#deadline);
        this.#pingInFlight = false;
        this.#link.heard(sentAt);
        // Same connection, so the subscription survived: the server was only slow or paused.
        if (this.#link.status() === 'down' && !this.#link.closed()) this.#link.alive();
      },
      () => {
        if (connection !== this.#connection) return;
        clearTimeout(this.#deadline);
        this.#pingInFlight = false;
      },
    );
  }
}
