/** Injection token of the resolved {@link ResolvedImageResizeOptions} (defaults applied, validated). */
export const IMAGE_RESIZE_OPTIONS = Symbol('IMAGE_RESIZE_OPTIONS');

/** Injection token of the {@link ImageCache} that keeps resized images. Replace it with `useClass`/`useExisting`. */
export const IMAGE_RESIZE_CACHE = Symbol('IMAGE_RESIZE_CACHE');

/** Injection token of the {@link ImageProcessor} that decodes, resizes and encodes images (sharp by default). */
export const IMAGE_PROCESSOR = Symbol('IMAGE_PROCESSOR');

/** Injection token of the {@link ImageSourceLoader} that turns an {@link ImageSource} into bytes. */
export const IMAGE_SOURCE_LOADER = Symbol('IMAGE_SOURCE_LOADER');

/**
 * Injection token of the ioredis client (a `Redis` or a `Cluster`) that the Redis-backed cache uses,
 * or `null` when the module runs on the in-memory cache.
 */
export const IMAGE_RESIZE_REDIS = Symbol('IMAGE_RESIZE_REDIS');

/**
 * The token under which `CacheModule` of `@nestjs/cache-manager` provides its cache (its
 * `CACHE_MANAGER`, a plain string), written out so that the library does not load that package
 * unless `useCacheManager` is set.
 */
export const CACHE_MANAGER_TOKEN = 'CACHE_MANAGER';

/** Metadata key under which `@ResizedImage()` stores its spec on a route handler. */
export const RESIZED_IMAGE_METADATA = 'nestjs-image-resize:spec';

/** Logger context of the library. */
export const IMAGE_RESIZE_LOGGER_CONTEXT = 'ImageResize';

/** Default `ttl`: 30 days, as in the original recipe. */
export const DEFAULT_TTL_SECONDS = 30 * 24 * 3600;
/** Default `keyPrefix`. */
export const DEFAULT_KEY_PREFIX = 'image_resize_';
/** Default `memory.maxBytes`: 64 MiB. */
export const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;
/** Default `hotCache.maxBytes` (with `redis`): 16 MiB. */
export const DEFAULT_HOT_CACHE_MAX_BYTES = 16 * 1024 * 1024;
/** Default `hotCache.maxAgeMs`: a hot copy is read from Redis again after a minute at the latest. */
export const DEFAULT_HOT_CACHE_MAX_AGE_MS = 60_000;
/** Default `maxSourceBytes`: 20 MiB. */
export const DEFAULT_MAX_SOURCE_BYTES = 20 * 1024 * 1024;
/** Default `fetchTimeoutMs`: 10 s for the whole fetch. */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
/** Default `sources.maxRedirects`. */
export const DEFAULT_MAX_REDIRECTS = 3;
/** Default `maxInputPixels`: 40 megapixels. */
export const DEFAULT_MAX_INPUT_PIXELS = 40_000_000;
/** Default `maxSourceBytesInFlight`: 64 MiB of sources downloaded or held at once. */
export const DEFAULT_MAX_SOURCE_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/** Default `maxDecodedBytes`: a 40 MP image at 8-bit RGBA. */
export const DEFAULT_MAX_DECODED_BYTES = 160_000_000;
/** Default `maxJpegScans`: far above what cameras and encoders write (about 10 for a progressive JPEG). */
export const DEFAULT_MAX_JPEG_SCANS = 100;
/** Default `maxAnimationFrames`. */
export const DEFAULT_MAX_ANIMATION_FRAMES = 1000;
/** Default `processingTimeoutMs`: 10 s. */
export const DEFAULT_PROCESSING_TIMEOUT_MS = 10_000;
/** Default `maxQueue`: resizes that may wait for a slot before requests get 503. */
export const DEFAULT_MAX_QUEUE = 100;
/** Default `maxOutputWidth` and `maxOutputHeight`. */
export const DEFAULT_MAX_OUTPUT_DIMENSION = 4096;
/**
 * Default encoder settings (module option `encoders`): JPEG q80 with mozjpeg, WebP q80, AVIF q50 at
 * effort 3, PNG lossless without a palette. The README's "Encoder defaults" says why.
 */
export const DEFAULT_ENCODERS = {
  jpeg: { quality: 80 },
  webp: { quality: 80 },
  avif: { quality: 50, effort: 3 },
  png: { palette: false },
} as const;

/** Milliseconds after which a Redis command fails and the request goes on without the cache. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1000;
