import type { OutputFormat } from './spec/resize-spec.interface';

/** How a result was obtained: from the cache, freshly made and cached, or made without the cache. */
export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** A resized image as returned by {@link ImageResizeService.resize}. */
export interface ResizedImageResult {
  /** The encoded image. */
  body: Buffer;
  /** e.g. `image/png`. */
  contentType: string;
  /** Strong ETag of `body` (quoted), computed once when the image was made. */
  etag: string;
  width: number;
  height: number;
  format: OutputFormat;
  cacheStatus: CacheStatus;
  /** Seconds this result may be cached (the spec's `ttl` or the module's). */
  ttl: number;
  /** Whether the format was negotiated from `Accept`: HTTP responses then carry `Vary: Accept`. */
  negotiated: boolean;
  /** The full cache key of this variant. */
  key: string;
}
