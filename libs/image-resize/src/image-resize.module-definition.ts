import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ImageResizeModuleOptions } from './options/image-resize-options.interface';

/** Extra options of `forRoot`/`forRootAsync` that change the module graph rather than the behaviour. */
export interface ImageResizeModuleExtras {
  /** Register the module globally, so that every module can use the service and the decorator. Default false. */
  isGlobal?: boolean;
}

/**
 * The module's `forRoot`/`forRootAsync`, built with `ConfigurableModuleBuilder`. `isGlobal` is an
 * extra: it changes the module graph, so it lives outside the options factory.
 */
export const {
  ConfigurableModuleClass: ConfigurableImageResizeModule,
  MODULE_OPTIONS_TOKEN: IMAGE_RESIZE_MODULE_OPTIONS,
  OPTIONS_TYPE: IMAGE_RESIZE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: IMAGE_RESIZE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ImageResizeModuleOptions>({ moduleName: 'ImageResize' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createImageResizeOptions')
  .setExtras<ImageResizeModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** What `ImageResizeModule.forRootAsync()` takes: `imports`, `inject`, `useFactory | useClass | useExisting`, `isGlobal`. */
export type ImageResizeModuleAsyncOptions = typeof IMAGE_RESIZE_ASYNC_OPTIONS_TYPE;
/** What `ImageResizeModule.forRoot()` takes: the options plus `isGlobal`. */
export type ImageResizeModuleRootOptions = typeof IMAGE_RESIZE_OPTIONS_TYPE;
