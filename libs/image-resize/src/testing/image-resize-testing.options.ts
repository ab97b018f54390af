import type { ImageResizeModuleOptions } from '../options/image-resize-options.interface';

/** An original for a URL: its bytes, or the path of a file that holds them (read on every load). */
export type ImageFixture = Buffer | string;

/**
 * The originals that URL sources answer with instead of the network: an object from URL to
 * {@link ImageFixture}, or a function of the parsed URL that returns one (`undefined` for none).
 * A URL without a fixture answers as an origin's 404 would (`ImageNotFoundError`).
 */
export type ImageFixtures = Record<string, ImageFixture> | ((url: URL) => ImageFixture | undefined);

/**
 * Options of `ImageResizeTestingModule.forRoot()`: the fixtures, `isGlobal`, and every option of
 * `ImageResizeModule.forRoot()` but the cache backends (`redis`, `useCacheManager`, `hotCache`):
 * images are always kept in memory.
 *
 * Fixture URLs pass the checks that real fetches pass first (scheme, `sources.allowedHosts`, literal
 * private addresses: `http://127.0.0.1/...` needs `sources.allowPrivateNetworks`), and are held to
 * `maxSourceBytes`.
 */
export interface ImageResizeTestingOptions extends Omit<
  ImageResizeModuleOptions,
  'redis' | 'useCacheManager' | 'hotCache'
> {
  /** The originals of URL sources. Absent: every URL answers 404. */
  fixtures?: ImageFixtures;
  /** Register the module globally, as `ImageResizeModule`'s `isGlobal` does. Default false. */
  isGlobal?: boolean;
}
