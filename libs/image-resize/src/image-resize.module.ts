import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { imageCacheProvider, redisConnectionProvider } from './cache/image-cache.providers';
import {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
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
import { ResizedImageRoutes } from './page/resized-image.routes';
import type { ImageResizeModuleOptions } from './options/image-resize-options.interface';
import { SharpImageProcessor } from './processors/sharp-image.processor';
import { urlSignerProvider } from './signing/url-signer.provider';
import { DefaultImageSourceLoader } from './sources/default-image-source.loader';

const providers: Provider[] = [
  {
    provide: IMAGE_RESIZE_OPTIONS,
    useFactory: (options: ImageResizeModuleOptions) => resolveImageResizeOptions(options),
    inject: [IMAGE_RESIZE_MODULE_OPTIONS],
  },
  redisConnectionProvider,
  imageCacheProvider,
  urlSignerProvider,
  { provide: IMAGE_PROCESSOR, useClass: SharpImageProcessor },
  { provide: IMAGE_SOURCE_LOADER, useClass: DefaultImageSourceLoader },
  ImageResizeService,
  ImageResizeMetrics,
  ResizedImageResponder,
  ResizedImageExplorer,
  ResizedImageRoutes,
];

/**
 * Serves resized, cached images. Register it once with `forRoot(options)` or
 * `forRootAsync({ imports, inject, useFactory })` (add `isGlobal: true` to use it from every module),
 * then put `@ResizedImage()` on controller methods or inject {@link ImageResizeService}.
 *
 * Every stage is a provider behind a token (`IMAGE_RESIZE_CACHE`, `IMAGE_PROCESSOR`,
 * `IMAGE_SOURCE_LOADER`); replace one with the extras `cache`, `processor` and `sourceLoader` of
 * `forRoot` / `forRootAsync` (a class, or `{ useExisting: token }`).
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
