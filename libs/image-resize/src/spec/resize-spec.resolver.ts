import { negotiateImageFormat } from './format.negotiation';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import { integerRange, is, specChecks as check, withDefault } from '../options/validation';
import type {
  CropPosition,
  FitMode,
  OutputFormat,
  ResizeSpec,
  ResolvedResizeSpec,
} from './resize-spec.interface';

const FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp', 'avif'];
const FITS: readonly FitMode[] = ['inside', 'cover', 'contain', 'fill', 'outside'];
const POSITIONS: readonly CropPosition[] = [
  'centre',
  'top',
  'right',
  'bottom',
  'left',
  'right top',
  'right bottom',
  'left bottom',
  'left top',
  'attention',
  'entropy',
];
const HEX_COLOUR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const ORIGIN_MAX_AGE = ['ignore', 'longer-wins'] as const;
/** What `revalidateAfter` may be, as its refusal says. */
const REVALIDATE_AFTER = `false or ${integerRange(1)} (seconds)`;

/** A side of the box, in output pixels: `value` x `dpr`, which must be from 1 to `max`. */
function box(name: string, value: unknown, dpr: number, max: number): number {
  check.assert(
    is.integer(value) && value >= 1 && Math.round(value * dpr) <= max,
    name,
    `${integerRange(1, max)}${dpr === 1 ? '' : ` once multiplied by dpr ${dpr}`}`,
    value,
  );
  return Math.round((value as number) * dpr);
}

const optionalBoolean = (name: string, value: unknown) =>
  withDefault(value, undefined, (given) => check.boolean(name, given));

/**
 * Checks a {@link ResizeSpec} and applies its defaults, negotiating `format: 'auto'` against the
 * spec's `accept`. Throws a 400 `InvalidResizeSpecError` that says what to fix.
 *
 * @param negotiate how `Accept` is read (default {@link negotiateImageFormat}; the service passes a
 *   memoised one, since a client sends the same header with every image)
 */
export function resolveResizeSpec(
  spec: ResizeSpec,
  options: Pick<ResolvedImageResizeOptions, 'maxOutputWidth' | 'maxOutputHeight' | 'ttl' | 'encoders'>,
  negotiate: (accept: string | undefined) => 'avif' | 'webp' | undefined = negotiateImageFormat,
): ResolvedResizeSpec {
  check.object('', spec, { expected: 'an object { width, height, ... }' });
  const dpr = check.number('dpr', spec.dpr ?? 1, 1, 3);
  const width = box('width', spec.width, dpr, options.maxOutputWidth);
  const height = box('height', spec.height, dpr, options.maxOutputHeight);

  const requested = check.oneOf('format', spec.format ?? 'png', [...FORMATS, 'auto'] as const);
  const fallback = withDefault(spec.fallback, undefined, (given) => check.oneOf('fallback', given, FORMATS));
  const negotiated = requested === 'auto';
  const format = negotiated ? (negotiate(spec.accept) ?? fallback ?? 'png') : requested;
  const alphaFallback = negotiated && format === 'png' && fallback === undefined;

  const fit = withDefault(spec.fit, 'inside', (given) => check.oneOf('fit', given, FITS));
  const position = withDefault(spec.position, 'centre', (given) => check.oneOf('position', given, POSITIONS));
  withDefault(spec.background, undefined, (given) =>
    check.matching('background', given, HEX_COLOUR, 'a hex colour such as #ffffff or #00000000'),
  );
  optionalBoolean('withoutEnlargement', spec.withoutEnlargement);
  withDefault(spec.quality, undefined, (given) => check.quality('quality', given));
  optionalBoolean('palette', spec.palette);
  optionalBoolean('animated', spec.animated);
  const ttl = check.integer('ttl', spec.ttl ?? options.ttl, 1);
  const revalidateAfter = withDefault(spec.revalidateAfter, undefined, (given) => {
    check.assert(
      given === false || (is.integer(given) && given >= 1),
      'revalidateAfter',
      REVALIDATE_AFTER,
      given,
    );
    return given as number | false;
  });
  const originMaxAge = withDefault(spec.originMaxAge, undefined, (given) =>
    check.oneOf('originMaxAge', given, ORIGIN_MAX_AGE),
  );
  return {
    width,
    height,
    format,
    alphaFallback,
    negotiated,
    fit,
    position,
    background: spec.background?.toLowerCase(),
    withoutEnlargement: spec.withoutEnlargement ?? fit === 'inside',
    // The module's encoder settings, unless the spec says otherwise; PNG has no quality, and a
    // fallback's format (PNG or JPEG) is only known once the image is read.
    quality:
      format === 'png' && !alphaFallback
        ? undefined
        : (spec.quality ??
          (alphaFallback || format === 'png' ? undefined : options.encoders[format].quality)),
    // Only PNG has a palette; elsewhere the flag would change nothing but the key.
    palette: format === 'png' ? (spec.palette ?? options.encoders.png.palette) : false,
    effort: options.encoders.avif.effort,
    // Only WebP output holds frames; for the others the flag would change nothing but the key.
    animated: spec.animated === true && format === 'webp',
    ttl,
    redraw: spec.redraw === true,
    cacheKey: spec.cacheKey,
    // Only when the spec sets them: the service applies the module's otherwise.
    ...(revalidateAfter === undefined ? {} : { revalidateAfter }),
    ...(originMaxAge === undefined ? {} : { originMaxAge }),
    ...(spec.placeholder === true ? { placeholder: true as const } : {}),
  };
}
