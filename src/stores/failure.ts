import { StoreUnavailableError } from '../errors.js';
import type { StoreTier } from './store.js';

/** A socket or server error's code (`ECONNREFUSED`, `28P01`, ...), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The error a failed call of `store` is reported as: a {@link StoreUnavailableError}
 * naming the store and its endpoint, whose `cause` is the error that says why with a
 * code. A client's own "not connected" error (ioredis' "Stream isn't writeable") has
 * none: the cause is then the connection error the client last reported, which does.
 */
export function storeFailure(store: StoreTier, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const reason = (error as Error | undefined)?.message ?? String(error);
  const cause = errorCode(error) === undefined ? (connectionError(store) ?? error) : error;
  return new StoreUnavailableError(store.name, reason, { cause, endpoint: store.endpoint });
}

/** A call of `store` that timed out: its cause is the client's connection error, else an `ETIMEDOUT`. */
export function storeTimeout(store: StoreTier, ms: number): StoreUnavailableError {
  const reason = `timed out after ${ms} ms`;
  const cause =
    connectionError(store) ??
    Object.assign(new Error(`${store.name}: no reply within ${ms} ms`), { code: 'ETIMEDOUT' });
  return new StoreUnavailableError(store.name, reason, { cause, endpoint: store.endpoint });
}

/** A call `store`'s guard turned away (`reason`), caused by the failure that got it there, if known. */
export function storeRefusal(store: StoreTier, reason: string, cause: unknown): StoreUnavailableError {
  return new StoreUnavailableError(store.name, reason, { cause, endpoint: store.endpoint });
}

function connectionError(store: StoreTier): Error | undefined {
  try {
    return store.connectionError?.();
  } catch {
    return undefined;
  }
}
