import { InvalidResizeSpecError } from '../errors/image-resize.errors';
import { negotiateImageFormat } from './format.negotiation';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
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

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new InvalidResizeSpecError(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function box(name: string, value: unknown, dpr: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || Math.round(value * dpr) > max) {
    throw new InvalidResizeSpecError(
      `${name} must be an integer from 1 to ${max}${dpr === 1 ? '' : ` once multiplied by dpr ${dpr}`}`,
    );
  }
  return Math.round(value * dpr);
}

/**
 * Checks a {@link ResizeSpec} and applies its defaults, negotiating `format: 'auto'` against the
 * spec's `accept`. Throws a 400 {@link InvalidResizeSpecError} that says what to fix.
 *
 * @param negotiate how `Accept` is read (default {@link negotiateImageFormat}; the service passes a
 *   memoised one, since a client sends the same header with every image)
 */
export function resolveResizeSpec(
  spec: ResizeSpec,
  options: Pick<ResolvedImageResizeOptions, 'maxOutputWidth' | 'maxOutputHeight' | 'ttl' | 'encoders'>,
  negotiate: (accept: string | undefined) => 'avif' | 'webp' | undefined = negotiateImageFormat,
): ResolvedResizeSpec {
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidResizeSpecError('A resize spec { width, height } is required');
  }
  const dpr = spec.dpr ?? 1;
  if (typeof dpr !== 'number' || !(dpr >= 1 && dpr <= 3)) {
    throw new InvalidResizeSpecError('dpr must be a number from 1 to 3');
  }
  const width = box('width', spec.width, dpr, options.maxOutputWidth);
  const height = box('height', spec.height, dpr, options.maxOutputHeight);

  const requested = spec.format ?? 'png';
  if (requested !== 'auto' && !FORMATS.includes(requested)) {
    throw new InvalidResizeSpecError(`format must be one of ${FORMATS.join(', ')} or auto`);
  }
  const fallback = spec.fallback === undefined ? undefined : oneOf('fallback', spec.fallback, FORMATS, 'png');
  const negotiated = requested === 'auto';
  const format = negotiated ? (negotiate(spec.accept) ?? fallback ?? 'png') : requested;
  const alphaFallback = negotiated && format === 'png' && fallback === undefined;

  const fit = oneOf('fit', spec.fit, FITS, 'inside');
  const position = oneOf('position', spec.position, POSITIONS, 'centre');
  if (
    spec.background !== undefined &&
    (typeof spec.background !== 'string' || !HEX_COLOUR.test(spec.background))
  ) {
    throw new InvalidResizeSpecError('background must be a hex colour such as #ffffff or #00000000');
  }
  if (spec.withoutEnlargement !== undefined && typeof spec.withoutEnlargement !== 'boolean') {
    throw new InvalidResizeSpecError('withoutEnlargement must be a boolean');
  }
  if (
    spec.quality !== undefined &&
    !(Number.isInteger(spec.quality) && spec.quality >= 1 && spec.quality <= 100)
  ) {
    throw new InvalidResizeSpecError('quality must be an integer from 1 to 100');
  }
  if (spec.palette !== undefined && typeof spec.palette !== 'boolean') {
    throw new InvalidResizeSpecError('palette must be a boolean');
  }
  if (spec.animated !== undefined && typeof spec.animated !== 'boolean') {
    throw new InvalidResizeSpecError('animated must be a boolean');
  }
  const ttl = spec.ttl ?? options.ttl;
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new InvalidResizeSpecError('ttl must be a positive integer number of seconds');
  }
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
  };
}
