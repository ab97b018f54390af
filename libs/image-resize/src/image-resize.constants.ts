import { DEFAULT_OPTIONS } from './options/image-resize.defaults';

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

/*
 * The defaults of the module's options are one table, DEFAULT_OPTIONS in options/image-resize.defaults.ts.
 * The two entries below are taken from it for the files that import them by these names
 * (spec/variant.keys.ts, cache/hot-image.tier.ts).
 */

/** Default `hotCache.maxAgeMs` (from {@link DEFAULT_OPTIONS}). */
export const DEFAULT_HOT_CACHE_MAX_AGE_MS = DEFAULT_OPTIONS.hotCache.maxAgeMs;
/** Default encoder settings, module option `encoders` (from {@link DEFAULT_OPTIONS}). */
export const DEFAULT_ENCODERS = DEFAULT_OPTIONS.encoders;

/**
 * Milliseconds after which a Redis command fails and the request goes on without the cache (the
 * `commandTimeout` of the client that the `redis` option creates, unless it sets its own).
 */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1000;
