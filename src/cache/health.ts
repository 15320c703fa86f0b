import type { Stack } from '../flow/stack.js';
import type { TierHealth } from '../guard/guard.js';
import type { CacheHealth } from './types.js';

/** Health of every tier and the bus: `closed` after `close()`; `down` only if every store is down and there is no L1. */
export function cacheHealth(stack: Stack): CacheHealth {
  const stores: Record<string, TierHealth> = {};
  for (const { guard } of stack.stores.list) stores[guard.store.name] = guard.health();
  const bus = stack.options.bus?.health();
  const storeStates = Object.values(stores).map((s) => s.status);
  const degraded = storeStates.some((s) => s !== 'up') || (bus !== undefined && bus.status !== 'up');
  const down = storeStates.length > 0 && storeStates.every((s) => s === 'down') && stack.l1 === undefined;
  return {
    status: stack.lifecycle.closed ? 'closed' : down ? 'down' : degraded ? 'degraded' : 'up',
    l1: l1Health(stack),
    stores,
    ...(bus !== undefined ? { bus } : {}),
  };
}

/** L1's health: `degraded` while blind (the bus link is down), saying how long it serves an entry. */
function l1Health(stack: Stack): TierHealth {
  const since = stack.l1?.blindSince;
  if (since === undefined || stack.options.l1 === false) return { status: 'up', breaker: 'closed' };
  return {
    status: 'degraded',
    breaker: 'closed',
    lastError:
      `blind since ${new Date(since).toISOString()}: the bus link is down, so each entry is fresh ` +
      `for at most ${stack.options.l1.blindMaxAge} ms after it was last known current`,
  };
}
