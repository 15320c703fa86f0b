import { type Version, VersionClock } from '../entry/version.js';

const clock = new VersionClock({ now: Date.now });

/**
 * A new version, greater than every one this function returned before in this process:
 * for tests that write to a store directly (a store keeps only the newest version of a
 * key, so a later write in a test needs a greater version).
 */
export function nextVersion(): Version {
  return clock.next();
}
