import type { ProcessedImage } from '../processors/image-processor.interface';
import type { OriginRecord } from './origin-record';

export type { OriginRecord } from './origin-record';

/** One cached variant: the processed image plus the little that the HTTP response needs. */
export interface CachedImage extends ProcessedImage {
  /** Strong ETag of `body` (quoted), computed once when the image was made. */
  etag: string;
  /** Epoch milliseconds when the cache drops it, where the cache says (the Redis cache does). */
  expiresAt?: number;
}

/** The keys of one variant: its own key, and the key of the group of all variants of one cacheKey. */
export interface ImageCacheKey {
  /** Key of this variant, e.g. `image_resize_logo_small_acme_256_256_png`. */
  key: string;
  /** Key of the index of every variant of the same cacheKey; what {@link ImageCache.purge} takes. */
  group: string;
  /** Key of the lock that instances sharing the cache take while one of them makes this variant. */
  lock: string;
}

/** Why a cache is not usable, by what would fix it. */
export type CacheProblemKind = 'auth' | 'tls' | 'permission' | 'network' | 'unknown';

/** What a cache says of itself, for health checks and gauges (see {@link ImageCache.state}). */
export interface ImageCacheState {
  /** Whether the cache answers commands now. */
  up: boolean;
  /** The last problem seen, while it lasts: its kind and a message without addresses or secrets. */
  problem?: { kind: CacheProblemKind; message: string };
  /** Whether an in-process tier in front of the cache is serving now (absent: the cache has none). */
  hotTier?: boolean;
  /** Whether a circuit breaker keeps commands from being sent now (absent: the cache has none). */
  breakerOpen?: boolean;
}

/**
 * Storage for resized images. The library ships a Redis and an in-memory implementation; provide
 * your own under the `IMAGE_RESIZE_CACHE` token to keep images elsewhere.
 *
 * Implementations must be binary-safe, give every entry a TTL, never store partial entries, and
 * remove only keys they created (no `FLUSHDB`, no `KEYS`).
 */
export interface ImageCache {
  /**
   * The cached variant, or `undefined` when absent or expired.
   *
   * @param ref all keys of the variant (its group too), for caches that index what they read
   */
  get(key: string, ref?: ImageCacheKey): Promise<CachedImage | undefined>;
  /** Stores a variant for `ttlSeconds` and records it in its group. */
  set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void>;
  /** Removes every variant recorded in `group`; resolves to how many were removed. */
  purge(group: string): Promise<number>;
  /**
   * Optional, for caches shared by several instances: takes a short lock on `key` if nobody holds
   * it and resolves to a token, or to `undefined` when another instance holds it. The lock must
   * expire by itself after `ttlMs`.
   */
  tryLock?(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases a lock taken with {@link ImageCache.tryLock}, if it still holds `token`. */
  unlock?(key: string, token: string): Promise<void>;
  /**
   * Optional, with {@link ImageCache.tryLock}: makes the lock `key` expire `ttlMs` from now if it still
   * holds `token`; resolves to whether it did (`false`: the lock expired, or another instance holds it).
   * With it, locks are taken short and renewed while their work runs, so that an instance that crashes
   * holding one keeps the others waiting a few seconds; without it, a lock is taken for as long as the
   * work may take.
   */
  renewLock?(key: string, token: string, ttlMs: number): Promise<boolean>;
  /**
   * Optional, with {@link ImageCache.tryLock}: waits while another instance holds the lock `key`, until
   * it is released (its holder stored the result, or gave up) or lapses, or `maxMs` pass at most, as
   * far as the cache can be told; resolves to `true` then (the caller looks for the result, and tries
   * the lock again). Resolves to `false` at once when the cache cannot be told now: the caller polls
   * instead. A cache shared by several instances that can tell its waiters (the Redis cache does, over
   * its hot tier's pub/sub) spares them polling: a release that nobody waits for costs nothing extra.
   */
  waitForUnlock?(key: string, maxMs: number): Promise<boolean>;
  /** Optional: rejects when the backend does not answer (for health checks). */
  ping?(): Promise<void>;
  /** Optional: the cache's state as it last saw it, without a round trip (for health checks and gauges). */
  state?(): ImageCacheState;
  /**
   * Optional, with {@link ImageCache.setOrigin}: the record of the original of `group` (its
   * validators, when it was last loaded or checked), or `undefined`. A cache without the pair does
   * not revalidate originals (option `revalidateAfter`); a cache shared by several instances must
   * share the records too, so that the fleet checks each original once.
   */
  getOrigin?(group: string): Promise<OriginRecord | undefined>;
  /**
   * Optional: keeps `record` for `group` (replacing the one there) for at least `ttlSeconds` — never
   * shortening a longer life the record already has, since it must outlive the group's variants.
   * What a purge of the group does to it is the cache's choice: a record without variants is unused.
   */
  setOrigin?(group: string, record: OriginRecord, ttlSeconds: number): Promise<void>;
}
