import type { CachedImage } from './cache/image-cache.interface';

/** How a result was obtained: from the cache, freshly made and cached, or made without the cache. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** A resized image as returned by {@link ImageResizeService.resize}: the cached variant, and how to send it. */
export interface ResizedImageResult extends CachedImage {
  cacheStatus: CacheStatus;
  /** Seconds this result may be cached (the spec's `ttl` or the module's). */
  ttl: number;
  /** Whether the format was negotiated from `Accept`: HTTP responses then carry `Vary: Accept`. */
  negotiated: boolean;
  /** The full cache key of this variant. */
  key: string;
}
