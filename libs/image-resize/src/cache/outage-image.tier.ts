import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';

/** A copy held by the {@link OutageImageTier}, with the whole seconds it has left there. */
export interface OutageCopy {
  /** The image as it was made; its `expiresAt` is when the outage tier drops it. */
  image: CachedImage;
  /** Seconds left before the tier drops it: the most a client may keep it (`max-age`). */
  ttl: number;
}

/**
 * What this instance made while Redis was unavailable, kept a short while (`hotCache.outageMaxAgeMs`)
 * so that an outage does not turn every request into an origin fetch and a resize. An LRU bounded by
 * bytes, part of the Redis cache's hot tier.
 *
 * It only ever holds images made since Redis last answered, and is only read when Redis did not answer
 * the lookup: it is emptied whenever Redis answers again (a reconnection, a read or a write that
 * succeeds), since other instances may have purged meanwhile. A purge drops its group here at once.
 * An image made while one of these happened (a load from the origin started before a purge) is not
 * kept: see {@link mark}.
 */
export class OutageImageTier {
  private readonly images: MemoryImageCache;
  /** Counts the drops: a make that overlapped one is not kept (see {@link keep}). */
  private generation = 0;

  /**
   * @param maxBytes upper bound on the bytes held
   * @param maxAgeMs longest a copy is kept (never longer than its own `ttl`)
   */
  constructor(
    maxBytes: number,
    readonly maxAgeMs: number,
  ) {
    this.images = new MemoryImageCache(maxBytes);
  }

  /** Bytes held. */
  get size(): number {
    return this.images.size;
  }

  /** The current generation: take it before making an image that may be kept here, and pass it on. */
  get mark(): number {
    return this.generation;
  }

  /** The copy of `key`, if there is one. */
  get(key: string): OutageCopy | undefined {
    const image = this.images.lookup(key);
    if (!image) return undefined;
    const ttl = Math.max(0, Math.floor((image.expiresAt! - Date.now()) / 1000));
    return { image, ttl };
  }

  /**
   * Keeps `image`, made with `mark` taken before, for `maxAgeMs` but no longer than `ttlSeconds` (what
   * its answer said clients may keep it) — unless something was dropped since `mark` was taken.
   */
  keep(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number, mark: number): void {
    if (mark !== this.generation) return;
    const ttlMs = Math.min(this.maxAgeMs, ttlSeconds * 1000);
    if (ttlMs <= 0) return;
    this.images.keep(ref, { ...image, expiresAt: Date.now() + ttlMs }, ttlMs);
  }

  /** Drops the copies of `group` (it is being purged). */
  drop(group: string): void {
    this.generation += 1;
    void this.images.purge(group);
  }

  /** Drops the copy of `key` (another instance re-made it). */
  delete(key: string): void {
    this.generation += 1;
    this.images.delete(key);
  }

  /** Drops every copy: Redis answers, and is the truth again. */
  clear(): void {
    this.generation += 1;
    if (this.images.size > 0) this.images.clear();
  }
}

/** The outage tier of `cache`, if it has one (the Redis cache with its hot tier). */
export function outageTierOf(cache: ImageCache): OutageImageTier | undefined {
  const outage = (cache as { hot?: { outage?: unknown } }).hot?.outage;
  return outage instanceof OutageImageTier ? outage : undefined;
}
