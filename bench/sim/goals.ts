/**
 * The hit-ratio goals of issue 24 (L1 admission), checked on every full replay: W-TinyLFU
 * never more than 1 point below LRU at any trace and size, and close to OPT at the named
 * sizes where frequency or loops matter.
 */

/** W-TinyLFU may trail LRU by at most this many points anywhere. */
export const MAX_POINTS_BELOW_LRU = 1;

/** A named goal row: a trace at an exact cache size (a full, unsampled replay). */
export interface NamedGoal {
  readonly trace: string;
  readonly entries: number;
  /** The least W-TinyLFU hit ratio (0..1); absent: only the LRU bound applies. */
  readonly atLeast?: number;
}

/** The rows the issue names (sizes as the full bench computes them: a fraction of distinct keys). */
export const NAMED_GOALS: readonly NamedGoal[] = [
  { trace: 'sprite', entries: 1_415 },
  { trace: 'oltp', entries: 37_376 },
  { trace: 'glimpse', entries: 506, atLeast: 0.32 },
  { trace: 'loop', entries: 202, atLeast: 0.18 },
  { trace: 'web12', entries: 688, atLeast: 0.62 },
];

/** The verdict on one replayed row: the goal text and whether it holds. */
export interface GoalCheck {
  /** `≥ 32.0%` for a named floor, `≥ LRU − 1` otherwise. */
  readonly goal: string;
  readonly named: boolean;
  readonly met: boolean;
}

/** Checks one row (hit ratios 0..1). Named floors apply only to full replays. */
export function checkGoal(
  trace: string,
  entries: number,
  sampled: boolean,
  lru: number,
  admission: number,
): GoalCheck {
  const aboveLru = (admission - lru) * 100 >= -MAX_POINTS_BELOW_LRU - 1e-9;
  const named = sampled ? undefined : NAMED_GOALS.find((g) => g.trace === trace && g.entries === entries);
  if (named?.atLeast !== undefined) {
    return {
      goal: `≥ ${(named.atLeast * 100).toFixed(0)}%`,
      named: true,
      met: aboveLru && admission >= named.atLeast,
    };
  }
  return { goal: `≥ LRU − ${MAX_POINTS_BELOW_LRU}`, named: named !== undefined, met: aboveLru };
}
