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
import { checkRedisAtBoot } from './redis-access.check';
import { closeRedisClient, createRedisClient } from './redis-client.factory';
import { RedisImageCache } from './redis-image.cache';

/** The module's Redis connection (option `redis`); it closes itself when the application shuts down. */
export class RedisConnection implements OnApplicationShutdown {
  /** What must end before the connection closes (see {@link closesAfter}). */
  private readonly users: Array<() => Promise<void>> = [];

  constructor(readonly client: Redis | Cluster) {}

  /**
   * Has `stop` run before the connection closes: Nest runs every `onApplicationShutdown` of the module
   * at once, and a user of the connection (the cache: its kept purges, its hot tier) needs it until it
   * has stopped.
   */
  closesAfter(stop: () => Promise<void>): void {
    this.users.push(stop);
  }

  /** After the HTTP server has drained, so that the last requests can still use the cache; then its users stop. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.users.map((stop) => stop()));
    await closeRedisClient(this.client);
  }
}

/**
 * `IMAGE_RESIZE_REDIS`: a {@link RedisConnection} when the option `redis` is set, else `null`. Boot
 * waits for the first connection and checks what Redis allows (see `checkRedisAtBoot`): a problem is
 * logged once with its kind; with `requireCache`, it stops the boot (the client is closed first).
 */
export const redisConnectionProvider: Provider = {
  provide: IMAGE_RESIZE_REDIS,
  useFactory: async (options: ResolvedImageResizeOptions): Promise<RedisConnection | null> => {
    if (options.redis === undefined) return null;
    const client = createRedisClient(options.redis);
    try {
      await checkRedisAtBoot(client, {
        keyPrefix: options.keyPrefix,
        // The hot tier's invalidations: checked only when the tier is on.
        channel: options.hotCache ? `${options.keyPrefix}invalidate` : undefined,
        requireCache: options.requireCache,
      });
    } catch (error) {
      await closeRedisClient(client);
      throw error;
    }
    return new RedisConnection(client);
  },
  inject: [IMAGE_RESIZE_OPTIONS],
};

/**
 * `IMAGE_RESIZE_CACHE`, the built-in backends: the app's own cache store with `useCacheManager`,
 * Redis (with its hot tier, and the outage tier within it) with `redis`, else the bounded in-memory
 * cache. The module's `cache` option replaces this provider with the app's own {@link ImageCache}.
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
          outageMaxAgeMs: options.hotCache.outageMaxAgeMs,
        })
      : undefined;
    const cache = new RedisImageCache(redis.client, undefined, hot);
    redis.closesAfter(() => cache.onApplicationShutdown());
    return cache;
  },
  inject: [IMAGE_RESIZE_OPTIONS, IMAGE_RESIZE_REDIS, { token: CACHE_MANAGER_TOKEN, optional: true }],
};
