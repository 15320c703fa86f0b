import { LRUCache } from 'lru-cache';
import type { Entry } from '../entry/entry.js';
import { maxVersion, type Version } from '../entry/version.js';
import { InvalidOptionError, MAX_KEY_LENGTH } from '../errors.js';
import { generationKey, generationWrite } from './epochs.js';
import type { Stack } from './stack.js';

// Tag generations held in memory per instance; one forgotten is fetched again on demand.
const MAX_KNOWN_TAGS = 100_000;
/** A tag no store holds a generation for: below every version. */
const NONE = '';

/**
 * Tags as generations (how FusionCache and bentocache do it: a marker per tag, checked
 * on read, never a scan of the stores). `deleteByTag(t)` writes `t`'s generation, the
 * version of the call, under a key of its own in every store (beside the clears'
 * epochs); an entry carrying `t` whose version is not above it is absent in every tier.
 *
 * What it costs a read:
 * - an L1 hit: nothing. An invalidation drops the tagged entries from L1 at once (here
 *   and, through the bus, in every instance), and bumps every fence so no read in flight
 *   writes an older one back; L1 only ever holds entries that passed the check.
 * - an L2/L3 hit of an untagged entry: one property check.
 * - an L2/L3 hit of a tagged entry: one in-memory lookup per tag; the first time this
 *   instance meets a tag (or after a bus resync), one `getMany` per store for the
 *   entry's unknown tags, shared by every read waiting for them.
 *
 * Generations move forward by this instance's own `deleteByTag`, by the bus's `tag`
 * messages, and by what the stores say; a bus resync forgets them all (a message may
 * have been missed), so they are fetched again.
 */
export class TagGenerations {
  readonly #stack: Stack;
  readonly #known = new LRUCache<string, Version>({ max: MAX_KNOWN_TAGS });
  readonly #loading = new Map<string, Promise<void>>();

  constructor(stack: Stack) {
    this.#stack = stack;
  }

  /**
   * Settles once the generation of every tag `entries` carry is known, or `undefined`
   * (no await) when it already is: the common case.
   */
  learn(entries: ReadonlyArray<Entry | undefined>): Promise<void> | undefined {
    let missing: Set<string> | undefined;
    for (const entry of entries) {
      const tags = entry?.tags;
      if (tags === undefined) continue;
      for (const tag of tags) {
        if (this.#known.has(tag)) continue;
        missing ??= new Set();
        missing.add(tag);
      }
    }
    return missing === undefined ? undefined : this.#fetch([...missing]);
  }

  /**
   * Whether a `deleteByTag` newer than `entry` covers one of its tags (then the entry
   * reads as absent). A tag whose generation no store could say counts as covering: a
   * reload is better than a value that may have been invalidated.
   */
  covers(entry: Entry): boolean {
    const tags = entry.tags;
    if (tags === undefined) return false;
    for (const tag of tags) {
      const generation = this.#known.get(tag);
      if (generation === undefined || entry.version <= generation) return true;
    }
    return false;
  }

  /** Moves the generation of each tag forward to `version` (a deleteByTag here or on the bus). */
  advance(tags: readonly string[], version: Version): void {
    for (const tag of tags) this.#known.set(tag, maxVersion(this.#known.get(tag), version) as Version);
  }

  /** Forgets every generation (a bus resync: messages may have been missed). */
  forget(): void {
    this.#known.clear();
  }

  /** Writes the generations of `tags` at `version` to every store (versioned: they only move forward). */
  async write(tags: readonly string[], version: Version): Promise<void> {
    const stack = this.#stack;
    const writes = tags.map((tag) => generationWrite(stack, tagKey(stack, tag), version));
    await stack.stores.write(writes, undefined, 'deletes');
  }

  #fetch(tags: string[]): Promise<void> {
    const waits: Promise<void>[] = [];
    const wanted: string[] = [];
    for (const tag of tags) {
      const loading = this.#loading.get(tag);
      if (loading !== undefined) waits.push(loading);
      else wanted.push(tag);
    }
    if (wanted.length > 0) {
      const loading = this.#read(wanted).finally(() => {
        for (const tag of wanted) if (this.#loading.get(tag) === loading) this.#loading.delete(tag);
      });
      for (const tag of wanted) this.#loading.set(tag, loading);
      waits.push(loading);
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** One `getMany` per store for `tags`; the greatest generation any store holds wins. */
  async #read(tags: string[]): Promise<void> {
    const stack = this.#stack;
    const keys = tags.map((tag) => tagKey(stack, tag));
    const found = new Array<Version | undefined>(tags.length).fill(undefined);
    let answered = false;
    for (const { guard, record } of stack.stores.list) {
      let values: Array<Uint8Array | undefined>;
      try {
        values = await guard.read((store) => store.getMany(keys), keys.length);
      } catch (error) {
        stack.recorder.error(error);
        continue;
      }
      answered = true;
      values.forEach((bytes, i) => {
        const generation = stack.decode(bytes, record);
        if (generation === undefined) return;
        stack.versions.observe(generation.version);
        found[i] = maxVersion(found[i], generation.version);
      });
    }
    // No store answered: leave the tags unknown, so their entries read as absent and the
    // next read asks again.
    if (!answered) return;
    tags.forEach((tag, i) => {
      this.#known.set(tag, maxVersion(this.#known.get(tag), found[i] ?? NONE) as Version);
    });
  }
}

function tagKey(stack: Stack, tag: string): string {
  return generationKey(stack, `#tag:${tag}`);
}

/**
 * `tags` as a list of tags: one tag or an array of them, each a non-empty string of at
 * most {@link MAX_KEY_LENGTH} characters.
 * @throws InvalidOptionError naming `argument`.
 */
export function checkTags(tags: unknown, argument: string): readonly string[] {
  const list = typeof tags === 'string' ? [tags] : tags;
  if (
    !Array.isArray(list) ||
    !list.every((tag) => typeof tag === 'string' && tag.length > 0 && tag.length <= MAX_KEY_LENGTH)
  ) {
    throw new InvalidOptionError(
      argument,
      `a tag or an array of tags (non-empty strings of at most ${MAX_KEY_LENGTH} characters)`,
      tags,
    );
  }
  return list as string[];
}

/**
 * Invalidates every entry carrying one of `tags`, in every tier and every instance:
 * the tags' generations move to a new version (written to every store, then published),
 * and L1 entries carrying them are dropped here; reads in flight write nothing back.
 */
export async function deleteTags(stack: Stack, tags: readonly string[]): Promise<void> {
  if (tags.length === 0) return;
  const version = stack.versions.next();
  // A load starting in this millisecond comes after the invalidation (see KnownWrites).
  stack.known.noteClear(version);
  dropTagged(stack, tags, version);
  await stack.tags.write(tags, version);
  // A read between the drop above and the generations landing may have put an old entry back.
  dropTagged(stack, tags, version);
  await stack.publish(
    'tag',
    tags,
    tags.map(() => version),
  );
}

/**
 * A `tag` message from another instance: the tags' generations move forward and L1
 * drops what they cover. A message without versions (from outside tiercache) takes a
 * version of this instance's own.
 */
export function receiveTags(
  stack: Stack,
  tags: readonly string[],
  versions: readonly Version[] | undefined,
  external: boolean,
): void {
  if (versions !== undefined) for (const version of versions) stack.versions.observe(version);
  const fallback = versions === undefined ? stack.versions.next() : undefined;
  tags.forEach((tag, i) => {
    const version = versions?.[i] ?? (fallback as Version);
    stack.known.noteClear(version);
    dropTagged(stack, [tag], version);
  });
  // From outside tiercache (a trigger, a script): no cache wrote the generations yet.
  if (external && fallback !== undefined) stack.lifecycle.background(stack.tags.write(tags, fallback));
}

/** Moves the generations, stops reads in flight from writing back, drops covered L1 entries. */
function dropTagged(stack: Stack, tags: readonly string[], version: Version): void {
  stack.tags.advance(tags, version);
  stack.fences.bumpAll();
  stack.flights.forgetAll();
  stack.throttle.endAll();
  const wanted = new Set(tags);
  stack.l1?.deleteWhere(
    (entry) => entry.version <= version && entry.tags !== undefined && entry.tags.some((t) => wanted.has(t)),
  );
}
