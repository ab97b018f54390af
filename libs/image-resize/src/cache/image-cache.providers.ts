import type { OnApplicationShutdown, Provider } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import {
  CACHE_MANAGER_TOKEN,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_RESIZE_REDIS,
} from '../image-resize.constants';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { CacheManagerImageCache, type CacheManagerLike } from './cache-manager-image.cache';
import { HotImageTier } from './hot-image.tier';
import type { ImageCache } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';
import { closeRedisClient, createRedisClient, whenReady } from './redis-client.factory';
import { RedisImageCache } from './redis-image.cache';

/** The module's Redis connection (option `redis`); it closes itself when the application shuts down. */
export class RedisConnection implements OnApplicationShutdown {
  constructor(readonly client: Redis | Cluster) {}

  /** After the HTTP server has stopped taking requests, so that the last ones can still use the cache. */
  async onApplicationShutdown(): Promise<void> {
    await closeRedisClient(this.client);
  }
}

/** `IMAGE_RESIZE_REDIS`: a {@link RedisConnection} when the option `redis` is set, else `null`. */
export const redisConnectionProvider: Provider = {
  provide: IMAGE_RESIZE_REDIS,
  useFactory: async (options: ResolvedImageResizeOptions): Promise<RedisConnection | null> => {
    if (options.redis === undefined) return null;
    const client = createRedisClient(options.redis);
    await whenReady(client);
    return new RedisConnection(client);
  },
  inject: [IMAGE_RESIZE_OPTIONS],
};

/**
 * `IMAGE_RESIZE_CACHE`, the built-in backends: the app's own cache store with `useCacheManager`,
 * Redis (with its hot tier) with `redis`, else the bounded in-memory cache. The module's `cache`
 * option replaces this provider with the app's own {@link ImageCache}.
 */
export const imageCacheProvider: Provider = {
  provide: IMAGE_RESIZE_CACHE,
  useFactory: (
    options: ResolvedImageResizeOptions,
    redis: RedisConnection | null,
    cacheManager: CacheManagerLike | undefined,
  ): ImageCache => {
    if (options.useCacheManager) {
      if (!cacheManager) {
        throw new ImageResizeConfigError(
          'option "useCacheManager" needs a CACHE_MANAGER: register CacheModule from @nestjs/cache-manager with isGlobal: true, or add it to the imports of forRootAsync',
        );
      }
      return new CacheManagerImageCache(cacheManager);
    }
    if (!redis) return new MemoryImageCache(options.memory.maxBytes);
    const hot = options.hotCache
      ? new HotImageTier(options.hotCache.maxBytes, `${options.keyPrefix}invalidate`, {
          maxAgeMs: options.hotCache.maxAgeMs,
        })
      : undefined;
    return new RedisImageCache(redis.client, undefined, hot);
  },
  inject: [IMAGE_RESIZE_OPTIONS, IMAGE_RESIZE_REDIS, { token: CACHE_MANAGER_TOKEN, optional: true }],
};
