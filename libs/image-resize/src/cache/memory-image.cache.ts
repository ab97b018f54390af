import { LRUCache } from 'lru-cache';
import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';
import type { OriginRecord } from './origin-record';

/**
 * How stale the cache's clock may be, in ms: an entry may outlive its TTL by this much. The clock is
 * read at most once per period, which keeps the cost of the expiry check off the hit path.
 */
export const TTL_RESOLUTION_MS = 50;

/** Bytes counted for an entry besides its body: key, metadata and bookkeeping. */
const ENTRY_OVERHEAD_BYTES = 512;

interface MemoryEntry {
  image: CachedImage;
  group: string;
}

/**
 * In-process cache of resized images, bounded by bytes (least recently used entries go first) and
 * by each entry's TTL. Used when the module has no `redis` option.
 *
 * The record of an original (for revalidation) lives as long as its group has a variant here: it is
 * dropped with the group's last variant, by a purge, and is not kept for a group without variants.
 */
export class MemoryImageCache implements ImageCache {
  private readonly groups = new Map<string, Set<string>>();
  private readonly origins = new Map<string, OriginRecord>();
  private readonly entries: LRUCache<string, MemoryEntry>;

  /** @param maxBytes upper bound on the bytes held; an image larger than this is not cached. */
  constructor(maxBytes: number) {
    this.entries = new LRUCache<string, MemoryEntry>({
      maxSize: maxBytes,
      sizeCalculation: (entry, key) => entry.image.body.length + key.length + ENTRY_OVERHEAD_BYTES,
      ttlAutopurge: false,
      ttlResolution: TTL_RESOLUTION_MS,
      dispose: (entry, key) => this.forget(entry.group, key),
    });
  }

  async get(key: string): Promise<CachedImage | undefined> {
    return this.lookup(key);
  }

  /** {@link get} without the Promise, for callers that are synchronous. */
  lookup(key: string): CachedImage | undefined {
    return this.entries.get(key)?.image;
  }

  async set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    this.keep(ref, image, ttlSeconds * 1000);
  }

  /** {@link set} without the Promise, with the lifetime in milliseconds. */
  keep(ref: ImageCacheKey, image: CachedImage, ttlMs: number): void {
    const stored = this.entries.set(ref.key, { image, group: ref.group }, { ttl: ttlMs });
    if (!stored.has(ref.key)) return; // larger than the whole cache: not kept
    let members = this.groups.get(ref.group);
    if (!members) {
      members = new Set();
      this.groups.set(ref.group, members);
    }
    members.add(ref.key);
  }

  async purge(group: string): Promise<number> {
    const members = [...(this.groups.get(group) ?? [])];
    let removed = 0;
    for (const key of members) {
      if (this.entries.has(key)) removed += 1;
      this.entries.delete(key);
    }
    this.groups.delete(group);
    this.origins.delete(group);
    return removed;
  }

  async getOrigin(group: string): Promise<OriginRecord | undefined> {
    return this.origins.get(group);
  }

  /** Keeps `record` while `group` has variants here (its lifetime is theirs: `ttlSeconds` is not needed). */
  async setOrigin(group: string, record: OriginRecord, _ttlSeconds: number): Promise<void> {
    if (this.groups.has(group)) this.origins.set(group, { ...record });
  }

  /** Removes one variant. */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Removes everything. */
  clear(): void {
    this.entries.clear();
    this.groups.clear();
    this.origins.clear();
  }

  /** Bytes currently held, as counted against `maxBytes`. */
  get size(): number {
    return this.entries.calculatedSize;
  }

  private forget(group: string, key: string): void {
    const members = this.groups.get(group);
    if (!members) return;
    members.delete(key);
    if (members.size === 0) {
      this.groups.delete(group);
      this.origins.delete(group);
    }
  }
}
