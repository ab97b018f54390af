import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ImageResizeConfigError } from '../errors/image-resize.errors';
import { RESIZED_IMAGE_METADATA } from '../image-resize.constants';
import { ResizedImageInterceptor } from '../interceptors/resized-image.interceptor';
import type { ResizeSpec } from '../interfaces/resize-spec.interface';
import type { CacheControlOptions } from '../interfaces/image-resize-options.interface';
import { checkCacheControl } from '../image-resize.options';

/** What a preset may set: anything of a spec that a route fixes, but the cache name. */
export type ResizePreset = Partial<Omit<ResizeSpec, 'redraw' | 'accept' | 'cacheKey'>>;

/**
 * The spec of `@ResizedImage()`: a {@link ResizeSpec} without what each request supplies (`redraw`
 * comes from `?redraw` where allowed, `accept` from the request's header), plus the ways a request
 * may choose its size — always among values the route lists, or with a signed URL.
 */
export interface ResizedImageOptions extends Omit<ResizeSpec, 'redraw' | 'accept' | 'width' | 'height'> {
  /** Width of the box; may be left to `presets` or to signed query parameters. */
  width?: number;
  /** Height of the box; may be left to `presets` or to signed query parameters. */
  height?: number;
  /**
   * Named variants the request picks with `?preset=<name>`, e.g. `{ small: { width: 64, height: 64 },
   * large: { width: 512, height: 512, format: 'webp' } }`. Any other name gives 400; without `?preset`
   * the route's own `width`/`height` apply (400 when it has none).
   */
  presets?: Record<string, ResizePreset>;
  /**
   * Widths the request may pick with `?w=<width>`; the height follows the route's aspect ratio.
   * Any other width gives 400.
   */
  widths?: number[];
  /**
   * Take `w`, `h`, `format`, `q`, `fit` and `dpr` freely from the query, which must then be signed
   * (module option `signing`; build URLs with `ImageResizeService.signUrl`). A missing or bad
   * signature gives 403.
   */
  signed?: boolean;
  /** This route's `Cache-Control` extras; replaces the module's `cacheControl`. */
  cacheControl?: CacheControlOptions;
}

const PRESET_NAME = /^[\w-]{1,40}$/;

function checkOptions(spec: ResizedImageOptions): void {
  checkCacheControl('@ResizedImage() cacheControl', spec.cacheControl);
  const hasBox = spec.width !== undefined && spec.height !== undefined;
  if (!hasBox && !spec.presets && !spec.signed) {
    throw new ImageResizeConfigError('@ResizedImage() needs width and height, presets, or signed: true');
  }
  if (spec.presets) {
    const names = Object.keys(spec.presets);
    if (names.length === 0 || names.some((name) => !PRESET_NAME.test(name))) {
      throw new ImageResizeConfigError(
        '@ResizedImage() presets must be a non-empty object whose names are letters, digits, "_" or "-"',
      );
    }
  }
  if (spec.widths) {
    if (!hasBox)
      throw new ImageResizeConfigError('@ResizedImage() widths need the route\u2019s width and height');
    if (spec.widths.length === 0 || spec.widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new ImageResizeConfigError(
        '@ResizedImage() widths must be a non-empty list of positive integers',
      );
    }
  }
}

/**
 * Serves the image that the decorated controller method points to, resized to `spec` and cached.
 *
 * The method returns an {@link ImageSource} (a URL, a Buffer, a stream, or `{ url | buffer | stream
 * | path, cacheKey? }`), or a Promise of one; `null`/`undefined` answers 404. The response carries
 * `Content-Type`, `Content-Length`, `Cache-Control: public, max-age=<ttl>`, `Expires`, a strong
 * `ETag`, `X-Cache`, `X-Content-Type-Options: nosniff` and, for `format: 'auto'`, `Vary: Accept`;
 * it answers `If-None-Match` with 304 and honours `?redraw` only where `allowRedraw` permits it.
 *
 * @throws ImageResizeConfigError at start-up when the spec cannot work (no size, bad presets or widths)
 *
 * @example
 * ```ts
 * @Get(':slug/logo_small.png')
 * @ResizedImage({ width: 256, height: 256, format: 'png' })
 * logo(@Param('slug') slug: string) {
 *   return { url: this.assets.logoUrl(slug), cacheKey: `logo_small_${slug}` };
 * }
 * ```
 */
export function ResizedImage(spec: ResizedImageOptions): MethodDecorator {
  checkOptions(spec);
  return applyDecorators(SetMetadata(RESIZED_IMAGE_METADATA, spec), UseInterceptors(ResizedImageInterceptor));
}
