import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { CacheManagerImageCache, type CacheManagerLike } from './cache/cache-manager-image.cache';
import { MemoryImageCache } from './cache/memory-image.cache';
import { createRedisClient, whenReady } from './cache/redis-client.factory';
import { RedisImageCache } from './cache/redis-image.cache';
import { HotImageTier } from './cache/hot-image.tier';
import { ImageResizeConfigError } from './errors/image-resize.errors';
import type { ImageCache } from './cache/image-cache.interface';
import {
  CACHE_MANAGER_TOKEN,
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_RESIZE_REDIS,
  IMAGE_SOURCE_LOADER,
} from './image-resize.constants';
import {
  ConfigurableImageResizeModule,
  IMAGE_RESIZE_MODULE_OPTIONS,
  type ImageResizeModuleRootOptions,
} from './image-resize.module-definition';
import { resolveImageResizeOptions } from './options/image-resize.options';
import { ImageResizeService } from './image-resize.service';
import { ImageResizeMetrics } from './image-resize.metrics';
import { ResizedImageResponder } from './http/resized-image.responder';
import { ResizedImageExplorer } from './decorators/resized-image.explorer';
import type {
  ImageResizeModuleOptions,
  ResolvedImageResizeOptions,
} from './options/image-resize-options.interface';
import { SharpImageProcessor } from './processors/sharp-image.processor';
import { DefaultImageSourceLoader } from './sources/default-image-source.loader';
import type { Cluster, Redis } from 'ioredis';

const providers: Provider[] = [
  {
    provide: IMAGE_RESIZE_OPTIONS,
    useFactory: (options: ImageResizeModuleOptions) => resolveImageResizeOptions(options),
    inject: [IMAGE_RESIZE_MODULE_OPTIONS],
  },
  {
    provide: IMAGE_RESIZE_REDIS,
    useFactory: async (options: ResolvedImageResizeOptions) => {
      if (options.redis === undefined) return null;
      const client = createRedisClient(options.redis);
      await whenReady(client);
      return client;
    },
    inject: [IMAGE_RESIZE_OPTIONS],
  },
  {
    provide: IMAGE_RESIZE_CACHE,
    useFactory: (
      options: ResolvedImageResizeOptions,
      redis: Redis | Cluster | null,
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
      return new RedisImageCache(redis, undefined, hot);
    },
    inject: [IMAGE_RESIZE_OPTIONS, IMAGE_RESIZE_REDIS, { token: CACHE_MANAGER_TOKEN, optional: true }],
  },
  { provide: IMAGE_PROCESSOR, useClass: SharpImageProcessor },
  { provide: IMAGE_SOURCE_LOADER, useClass: DefaultImageSourceLoader },
  ImageResizeService,
  ImageResizeMetrics,
  ResizedImageResponder,
  ResizedImageExplorer,
];

/**
 * Serves resized, cached images. Register it once with `forRoot(options)` or
 * `forRootAsync({ imports, inject, useFactory })` (add `isGlobal: true` to use it from every module),
 * then put `@ResizedImage()` on controller methods or inject {@link ImageResizeService}.
 *
 * Every part is a provider behind a token (`IMAGE_RESIZE_CACHE`, `IMAGE_PROCESSOR`,
 * `IMAGE_SOURCE_LOADER`) and can be replaced through DI.
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [
    ImageResizeService,
    ImageResizeMetrics,
    ResizedImageResponder,
    IMAGE_RESIZE_OPTIONS,
    IMAGE_RESIZE_CACHE,
    IMAGE_PROCESSOR,
    IMAGE_SOURCE_LOADER,
  ],
})
export class ImageResizeModule extends ConfigurableImageResizeModule {
  /** Registers the module with `options` (every field optional; `forRoot()` runs on the defaults). */
  static override forRoot(options: ImageResizeModuleRootOptions = {}): DynamicModule {
    return super.forRoot(options);
  }
}
