import { InvalidSignatureError } from '../errors/image-resize.errors';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { integerRange, oneOfList, queryChecks as check } from '../options/validation';
import type { ResizeSpec } from '../spec/resize-spec.interface';
import type { QueryValues } from '../signing/url-signer';

function single(query: QueryValues, name: string): string | undefined {
  const value = query[name];
  return value === undefined ? undefined : check.string(name, value, 'a single value');
}

/** 1 to 5 digits, not all zeros: what a size or a quality may be in a query. */
const QUERY_INTEGER = /^(?!0+$)\d{1,5}$/;

function integer(query: QueryValues, name: string): number | undefined {
  const value = single(query, name);
  return value === undefined
    ? undefined
    : Number(check.matching(name, value, QUERY_INTEGER, integerRange(1, 99999)));
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
  const { presets, widths, signed, cacheControl, placeholder, ...route } = options;
  if (signed && !verify()) throw new InvalidSignatureError('Missing, invalid or expired signature');
  if (placeholder && query.placeholder !== undefined) {
    // The placeholder's box and format are its own; the cache entry and its lifetime are the route's.
    return {
      cacheKey: route.cacheKey,
      ttl: route.ttl,
      width: 16,
      height: 16,
      format: 'webp',
      placeholder: true,
    };
  }
  if (signed) {
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
    spec = { ...spec, ...presets[check.oneOf('preset', preset, Object.keys(presets))] };
  }
  const width = widths ? integer(query, 'w') : undefined;
  if (width !== undefined && widths) {
    check.oneOf('w', width, widths);
    spec = {
      ...spec,
      width,
      height: Math.max(1, Math.round(((spec.height ?? width) * width) / (spec.width ?? width))),
    };
  }
  if (spec.width === undefined || spec.height === undefined) {
    // A route without a size of its own has presets (the decorator makes sure): one is required,
    // and it must have a size.
    throw preset === undefined
      ? check.invalid('preset', oneOfList(Object.keys(presets ?? {})), preset)
      : check.invalid('preset', 'a preset with a width and height', preset);
  }
  return { ...spec, width: spec.width, height: spec.height };
}
