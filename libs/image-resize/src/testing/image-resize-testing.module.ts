import { existsSync } from 'node:fs';
import { type DynamicModule, Module, type Provider, type Type } from '@nestjs/common';
import { MemoryImageCache } from '../cache/memory-image.cache';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_RESIZE_REDIS,
  IMAGE_SOURCE_LOADER,
} from '../image-resize.constants';
import { moduleImports } from '../decorators/nest-internals';
import { ImageResizeModule } from '../image-resize.module';
import { IMAGE_RESIZE_MODULE_OPTIONS } from '../image-resize.module-definition';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { SharpImageProcessor } from '../processors/sharp-image.processor';
import { DefaultImageSourceLoader } from '../sources/default-image-source.loader';
import { FixtureImageSourceLoader, type FixtureLookup } from './fixture-image-source.loader';
import type { ImageFixture, ImageFixtures, ImageResizeTestingOptions } from './image-resize-testing.options';
import { ImageResizeRecorder } from './image-resize.recorder';
import { RecordingImageProcessor } from './recording-image.processor';

/** Options that pick a cache backend: the testing module always keeps images in memory. */
const BACKEND_OPTIONS = ['redis', 'useCacheManager', 'hotCache'];

/**
 * `ImageResizeModule` for tests: the same service, decorator support, options and exports, with
 * - the in-memory cache, whatever the app uses in production (no Redis, no cache-manager);
 * - URL sources answered from `fixtures` instead of the network (an unknown URL answers 404, as an
 *   origin would); Buffers, streams and files loaded as `ImageResizeModule` loads them;
 * - an {@link ImageResizeRecorder} that lists every image actually resized.
 *
 * Import it instead of `ImageResizeModule.forRoot()`, or swap the app's registration for it:
 * `overrideModule(findImageResizeModule(AppModule)).useModule(ImageResizeTestingModule.forRoot(...))`.
 */
@Module({})
export class ImageResizeTestingModule {
  /**
   * The module, with `fixtures` for URL sources and any option of `ImageResizeModule.forRoot()` but
   * the cache backends.
   *
   * @throws ImageResizeConfigError when a fixture's URL is not a URL or its file does not exist, or an
   *   option picks a cache backend (`redis`, `useCacheManager`, `hotCache`)
   */
  static forRoot(options: ImageResizeTestingOptions = {}): DynamicModule {
    const { fixtures, isGlobal = false, ...moduleOptions } = options;
    const backend = BACKEND_OPTIONS.find(
      (name) => (moduleOptions as Record<string, unknown>)[name] !== undefined,
    );
    if (backend) {
      throw new ImageResizeConfigError(
        `ImageResizeTestingModule keeps images in memory: remove the option "${backend}"`,
      );
    }
    const lookup = fixtureLookup(fixtures);
    // Providers given here replace ImageResizeModule's own of the same token; the rest are its own.
    const providers: Provider[] = [
      { provide: IMAGE_RESIZE_MODULE_OPTIONS, useValue: moduleOptions },
      { provide: IMAGE_RESIZE_REDIS, useValue: null },
      {
        provide: IMAGE_RESIZE_CACHE,
        useFactory: (resolved: ResolvedImageResizeOptions) => new MemoryImageCache(resolved.memory.maxBytes),
        inject: [IMAGE_RESIZE_OPTIONS],
      },
      {
        provide: FixtureImageSourceLoader,
        useFactory: (resolved: ResolvedImageResizeOptions) =>
          new FixtureImageSourceLoader(lookup, resolved, new DefaultImageSourceLoader(resolved)),
        inject: [IMAGE_RESIZE_OPTIONS],
      },
      { provide: IMAGE_SOURCE_LOADER, useExisting: FixtureImageSourceLoader },
      ImageResizeRecorder,
      {
        provide: IMAGE_PROCESSOR,
        useFactory: (
          resolved: ResolvedImageResizeOptions,
          loader: FixtureImageSourceLoader,
          recorder: ImageResizeRecorder,
        ) => new RecordingImageProcessor(new SharpImageProcessor(resolved), loader, recorder),
        inject: [IMAGE_RESIZE_OPTIONS, FixtureImageSourceLoader, ImageResizeRecorder],
      },
    ];
    // A registration of ImageResizeModule itself, so that a module re-exporting ImageResizeModule
    // still finds it where the app's registration was.
    return { module: ImageResizeModule, global: isGlobal, providers, exports: [ImageResizeRecorder] };
  }
}

/**
 * The registration of `ImageResizeModule` (what its `forRoot()` or `forRootAsync()` returned) among
 * the imports of `root` and of the modules it imports, for `overrideModule()` of `@nestjs/testing`,
 * which replaces a module by identity: `overrideModule(ImageResizeModule)` does not match a
 * `forRoot()`/`forRootAsync()` registration.
 *
 * @example
 * ```ts
 * Test.createTestingModule({ imports: [AppModule] })
 *   .overrideModule(findImageResizeModule(AppModule))
 *   .useModule(ImageResizeTestingModule.forRoot({ fixtures }))
 * ```
 * @throws Error when `root` registers `ImageResizeModule` nowhere, or more than once (override each
 *   registration by hand then); registrations behind a Promise are not looked into
 */
export function findImageResizeModule(root: Type<unknown> | DynamicModule): Type<unknown> | DynamicModule {
  const found = new Set<Type<unknown> | DynamicModule>();
  const seen = new Set<unknown>();
  const visit = (entry: unknown): void => {
    const module = resolveForwardRef(entry);
    if (!module || seen.has(module) || module instanceof Promise) return;
    seen.add(module);
    const dynamic = isDynamicModule(module) ? module : undefined;
    const type = dynamic ? dynamic.module : (module as Type<unknown>);
    if (type === ImageResizeModule) {
      found.add(module as Type<unknown> | DynamicModule);
      return;
    }
    const imports = [...moduleImports(type), ...(dynamic?.imports ?? [])];
    imports.forEach(visit);
  };
  visit(root);
  const name = (isDynamicModule(root) ? root.module : root).name;
  if (found.size !== 1) {
    throw new Error(
      found.size === 0
        ? `findImageResizeModule: ${name} does not import ImageResizeModule`
        : `findImageResizeModule: ${name} registers ImageResizeModule ${found.size} times; override each registration with overrideModule()`,
    );
  }
  return [...found][0];
}

function fixtureLookup(fixtures: ImageFixtures | undefined): FixtureLookup {
  if (typeof fixtures === 'function') return fixtures;
  const byUrl = new Map<string, ImageFixture>();
  for (const [url, fixture] of Object.entries(fixtures ?? {})) {
    let href: string;
    try {
      href = new URL(url).href;
    } catch {
      throw new ImageResizeConfigError(`fixture "${url}" is not an absolute URL`);
    }
    if (typeof fixture === 'string' && !existsSync(fixture)) {
      throw new ImageResizeConfigError(`the fixture file of ${url} does not exist: ${fixture}`);
    }
    if (typeof fixture !== 'string' && !Buffer.isBuffer(fixture)) {
      throw new ImageResizeConfigError(`the fixture of ${url} must be a Buffer or a file path`);
    }
    byUrl.set(href, fixture);
  }
  // Keys and requested URLs compare in their WHATWG form, as the library's cache keys do.
  return (url) => byUrl.get(url.href);
}

function isDynamicModule(module: unknown): module is DynamicModule {
  return typeof module === 'object' && module !== null && 'module' in module;
}

function resolveForwardRef(entry: unknown): unknown {
  const ref = entry as { forwardRef?: () => unknown } | undefined;
  return typeof ref?.forwardRef === 'function' ? ref.forwardRef() : entry;
}
