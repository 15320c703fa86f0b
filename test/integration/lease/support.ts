import { Redis } from 'ioredis';
import { uniqueNamespace } from '../../support/services.js';

/** Unlinks every key that starts with `prefix` (SCAN, never KEYS): a test's own namespace. */
export async function unlinkPrefix(client: Redis, prefix: string): Promise<void> {
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * What a lease test file opens on the shared Redis, and its cleanup for `afterAll`: an
 * admin client, the caches it made (closed), the namespaces it used (unlinked).
 */
export function leaseTestRig(url: string) {
  const admin = new Redis(url);
  const closing: Array<{ close(): Promise<void> }> = [];
  const namespaces: string[] = [];
  return {
    admin,
    /** Keeps `cache` to close at the end; returns it. */
    keep<C extends { close(): Promise<void> }>(cache: C): C {
      closing.push(cache);
      return cache;
    },
    /** A unique namespace, unlinked at the end. */
    namespace(label: string): string {
      const made = uniqueNamespace(label);
      namespaces.push(made);
      return made;
    },
    async cleanup(): Promise<void> {
      await Promise.allSettled(closing.map((cache) => cache.close()));
      for (const namespace of namespaces) await unlinkPrefix(admin, namespace);
      await admin.quit();
    },
  };
}
