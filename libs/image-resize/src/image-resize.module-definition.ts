import { ConfigurableModuleBuilder, type InjectionToken, type Provider, type Type } from '@nestjs/common';
import type { ImageCache } from './cache/image-cache.interface';
import { ImageResizeConfigError } from './errors/image-resize.errors';
import { IMAGE_PROCESSOR, IMAGE_RESIZE_CACHE, IMAGE_SOURCE_LOADER } from './image-resize.constants';
import type { ImageResizeModuleOptions } from './options/image-resize-options.interface';
import type { ImageProcessor } from './processors/image-processor.interface';
import type { ImageSourceLoader } from './sources/image-source-loader.interface';

/**
 * A replacement for one stage of the pipeline: a class, which the module instantiates with DI (it
 * may inject `IMAGE_RESIZE_OPTIONS` and anything global), or `{ useExisting: token }`, a provider
 * the application already has (global, or in the `imports` of `forRootAsync`).
 */
export type ImageResizeExtension<T> = Type<T> | { useExisting: InjectionToken<T> };

/**
 * What `forRoot` and `forRootAsync` take beside the options: settings that shape the module's
 * providers, so they are known when the module is built (not made by an options factory).
 */
export interface ImageResizeModuleExtras {
  /** Register the module globally, so that every module can use the service and the decorator. Default false. */
  isGlobal?: boolean;
  /**
   * Your own {@link ImageCache} instead of the built-in ones (memory, `redis`, `useCacheManager`).
   *
   * @example `ImageResizeModule.forRoot({ cache: DynamoImageCache })`
   */
  cache?: ImageResizeExtension<ImageCache>;
  /** Your own {@link ImageProcessor} instead of the sharp one (for example, one that calls a service). */
  processor?: ImageResizeExtension<ImageProcessor>;
  /** Your own {@link ImageSourceLoader} instead of the default one (for example, to read from S3). */
  sourceLoader?: ImageResizeExtension<ImageSourceLoader>;
}

/** The token each extension replaces. */
const EXTENSION_TOKENS = {
  cache: IMAGE_RESIZE_CACHE,
  processor: IMAGE_PROCESSOR,
  sourceLoader: IMAGE_SOURCE_LOADER,
} as const;

/** The providers that replace the built-in stages named in `extras`. */
function extensionProviders(extras: ImageResizeModuleExtras): Provider[] {
  return (Object.keys(EXTENSION_TOKENS) as Array<keyof typeof EXTENSION_TOKENS>).flatMap(
    (name): Provider[] => {
      const given: unknown = extras[name];
      if (given === undefined) return [];
      const provide = EXTENSION_TOKENS[name];
      if (typeof given === 'function') return [{ provide, useClass: given as Type<unknown> }];
      const existing = (given as { useExisting?: unknown } | null)?.useExisting;
      if (typeof given === 'object' && given !== null && existing !== undefined && existing !== null) {
        return [{ provide, useExisting: existing as InjectionToken }];
      }
      throw new ImageResizeConfigError(
        `option "${name}" must be a class or { useExisting: <provider token> }, not ${typeof given === 'object' || typeof given === 'string' ? JSON.stringify(given) : String(given)}`,
      );
    },
  );
}

/**
 * The module's `forRoot`/`forRootAsync`, built with `ConfigurableModuleBuilder`. The extras change
 * the module graph (global registration, replaced stages), so they live outside the options factory.
 */
export const {
  ConfigurableModuleClass: ConfigurableImageResizeModule,
  MODULE_OPTIONS_TOKEN: IMAGE_RESIZE_MODULE_OPTIONS,
  OPTIONS_TYPE: IMAGE_RESIZE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: IMAGE_RESIZE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ImageResizeModuleOptions>({ moduleName: 'ImageResize' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createImageResizeOptions')
  // Every extra is named here, so that the builder keeps it out of the options object.
  .setExtras<ImageResizeModuleExtras>(
    { isGlobal: false, cache: undefined, processor: undefined, sourceLoader: undefined },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers: [...(definition.providers ?? []), ...extensionProviders(extras)],
    }),
  )
  .build();

/** What `ImageResizeModule.forRootAsync()` takes: `imports`, `inject`, `useFactory | useClass | useExisting`, and the extras. */
export type ImageResizeModuleAsyncOptions = typeof IMAGE_RESIZE_ASYNC_OPTIONS_TYPE;
/** What `ImageResizeModule.forRoot()` takes: the options plus the extras (`isGlobal`, `cache`, `processor`, `sourceLoader`). */
export type ImageResizeModuleRootOptions = typeof IMAGE_RESIZE_OPTIONS_TYPE;
