import { InvalidResizeSpecError, InvalidSignatureError } from '../errors/image-resize.errors';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import type { ResizeSpec } from '../spec/resize-spec.interface';
import type { QueryValues } from '../signing/url-signer';

function single(query: QueryValues, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidResizeSpecError(`?${name} must be given once`);
  return value;
}

function integer(query: QueryValues, name: string): number | undefined {
  const value = single(query, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value)) throw new InvalidResizeSpecError(`?${name} must be a positive integer`);
  return Number(value);
}

/**
 * The spec of one request to a `@ResizedImage()` route: the route's own, a preset it names, a width
 * from its allowlist, or — on a `signed` route with a valid signature — sizes from the query. The
 * service checks the result against the module's limits.
 *
 * @param verify whether the request's signature is valid and unexpired (only asked on `signed`
 *   routes); the expiry (`exp`) is checked there and is no part of the spec
 */
export function specFromRequest(
  options: ResizedImageOptions,
  query: QueryValues,
  verify: () => boolean,
): Omit<ResizeSpec, 'redraw' | 'accept'> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- not part of the resize spec
  const { presets, widths, signed, cacheControl, ...route } = options;
  if (signed) {
    if (!verify()) throw new InvalidSignatureError('Missing, invalid or expired signature');
    const dpr = single(query, 'dpr');
    return {
      ...route,
      width: integer(query, 'w') ?? route.width ?? 0,
      height: integer(query, 'h') ?? route.height ?? 0,
      format: (single(query, 'format') as ResizeSpec['format']) ?? route.format,
      quality: integer(query, 'q') ?? route.quality,
      fit: (single(query, 'fit') as ResizeSpec['fit']) ?? route.fit,
      dpr: dpr === undefined ? route.dpr : Number(dpr),
    };
  }
  let spec = { ...route };
  const preset = single(query, 'preset');
  if (presets && preset !== undefined) {
    if (!Object.prototype.hasOwnProperty.call(presets, preset)) {
      throw new InvalidResizeSpecError(`?preset must be one of ${Object.keys(presets).join(', ')}`);
    }
    spec = { ...spec, ...presets[preset] };
  }
  const width = widths ? integer(query, 'w') : undefined;
  if (width !== undefined && widths) {
    if (!widths.includes(width)) throw new InvalidResizeSpecError(`?w must be one of ${widths.join(', ')}`);
    spec = {
      ...spec,
      width,
      height: Math.max(1, Math.round(((spec.height ?? width) * width) / (spec.width ?? width))),
    };
  }
  if (spec.width === undefined || spec.height === undefined) {
    throw new InvalidResizeSpecError(`?preset is required: one of ${Object.keys(presets ?? {}).join(', ')}`);
  }
  return { ...spec, width: spec.width, height: spec.height };
}
