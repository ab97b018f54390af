import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { RESIZED_IMAGE_METADATA } from '../image-resize.constants';
import { ResizedImageInterceptor } from '../interceptors/resized-image.interceptor';
import type { ResizeSpec } from '../interfaces/resize-spec.interface';

/**
 * The spec of `@ResizedImage()`: a {@link ResizeSpec} without what each request supplies (`redraw`
 * comes from `?redraw` where allowed, `accept` from the request's header).
 */
export type ResizedImageOptions = Omit<ResizeSpec, 'redraw' | 'accept'>;

/**
 * Serves the image that the decorated controller method points to, resized to `spec` and cached.
 *
 * The method returns an {@link ImageSource} (a URL, a Buffer, a stream, or `{ url | buffer | stream
 * | path, cacheKey? }`), or a Promise of one; `null`/`undefined` answers 404. The response carries
 * `Content-Type`, `Content-Length`, `Cache-Control: public, max-age=<ttl>`, `Expires`, a strong
 * `ETag`, `X-Cache` and `X-Content-Type-Options: nosniff`, answers `If-None-Match` with 304, and
 * honours `?redraw` only where the module's `allowRedraw` permits it.
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
  return applyDecorators(SetMetadata(RESIZED_IMAGE_METADATA, spec), UseInterceptors(ResizedImageInterceptor));
}
