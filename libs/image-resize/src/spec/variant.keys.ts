import { createHash } from 'node:crypto';
import type { ImageCacheKey } from '../cache/image-cache.interface';
import { DEFAULT_ENCODERS } from '../image-resize.constants';
import type { ResolvedEncoderOptions } from '../options/image-resize-options.interface';
import type { OutputFormat, ResolvedResizeSpec } from './resize-spec.interface';
import { InvalidResizeSpecError } from '../errors/image-resize.errors';

/**
 * Characters a cacheKey may contain: none of them can appear in the suffix of a group key, and
 * {@link DERIVED_KEY_SEPARATOR} is not one of them.
 */
const CACHE_KEY_PATTERN = /^[\w.:/@+-]{1,200}$/;

/**
 * Separates the kind of a derived cacheKey from its hash. It is outside the cacheKey alphabet, so no
 * cacheKey given by an application (or by a caller through it) can name a derived key; and it is
 * none of the characters the key layout gives a meaning to (`_`, `#`, `{`, `}`, a space).
 */
const DERIVED_KEY_SEPARATOR = '~';

/** Checks a cacheKey given by the application; throws a 400 {@link InvalidResizeSpecError} otherwise. */
export function assertCacheKey(cacheKey: string): string {
  if (typeof cacheKey !== 'string' || !CACHE_KEY_PATTERN.test(cacheKey)) {
    throw new InvalidResizeSpecError(
      'cacheKey must be 1-200 characters of letters, digits and _ . : / @ + -',
    );
  }
  return cacheKey;
}

/**
 * A cacheKey derived from content or a locator: `<kind>~<sha256 prefix>`, which
 * {@link assertCacheKey} refuses, so that a derived key and a given one never collide.
 */
export function hashedCacheKey(kind: 'url' | 'buf' | 'file', ...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return `${kind}${DERIVED_KEY_SEPARATOR}${hash.digest('hex').slice(0, 40)}`;
}

/**
 * The encoder settings a variant is made with: what the processor hands its child (`imageJob`) and
 * what {@link variantKey} names, computed once here so that no setting reaches the encoder without
 * reaching the key. Where the spec says nothing, the module's `encoders` apply.
 */
export interface VariantEncoderSettings {
  /** The formats the output may take: the spec's, or PNG and JPEG for the alpha fallback. */
  formats: readonly OutputFormat[];
  /** Quality per lossy format: the spec's own, else the module's. */
  quality: Record<LossyFormat, number>;
  /** AVIF effort 0-9. */
  effort: number;
  /** PNG quantised to a palette. */
  palette: boolean;
  /** WebP keeps every frame. */
  animated: boolean;
}

type LossyFormat = 'jpeg' | 'webp' | 'avif';
const LOSSY_FORMATS: readonly LossyFormat[] = ['jpeg', 'webp', 'avif'];

/** The {@link VariantEncoderSettings} of `spec` under the module's `encoders`. */
export function encoderSettings(
  spec: ResolvedResizeSpec,
  encoders: ResolvedEncoderOptions,
): VariantEncoderSettings {
  return {
    formats: spec.alphaFallback ? ['png', 'jpeg'] : [spec.format],
    quality: {
      jpeg: spec.quality ?? encoders.jpeg.quality,
      webp: spec.quality ?? encoders.webp.quality,
      avif: spec.quality ?? encoders.avif.quality,
    },
    effort: spec.effort,
    palette: spec.palette,
    animated: spec.animated,
  };
}

/**
 * The keys of one variant: `<prefix><cacheKey>_<w>_<h>_<format>`, followed by every other field
 * that changes the bytes, each only when it differs from its default: `_<fit>`, `_p-<position>`,
 * `_bg<hex>`, `_up` / `_noup` (enlargement), `_q<quality>`, `_e<effort>`, `_pal`, `_anim`. The
 * encoder settings are the {@link encoderSettings} of the formats the output may take: a negotiated
 * format that fell back to PNG-or-JPEG-by-transparency is written `fallback`, and its key names the
 * settings of both (JPEG's quality, PNG's palette). The group key of the cacheKey ends in
 * `#variants` and the lock of a variant in `#lock`, which no variant key can contain.
 *
 * With `hashTag` (Redis Cluster) the cacheKey is written `{cacheKey}`, so that every key of one
 * cacheKey lands in one hash slot and the group's operations stay on one node.
 *
 * @param encoders the module's encoder settings: what the processor uses where the spec says nothing
 */
export function variantKey(
  prefix: string,
  cacheKey: string,
  spec: ResolvedResizeSpec,
  encoders: ResolvedEncoderOptions,
  hashTag = false,
): ImageCacheKey {
  const format = spec.alphaFallback ? 'fallback' : spec.format;
  let key = `${prefix}${tagged(cacheKey, hashTag)}_${spec.width}_${spec.height}_${format}`;
  if (spec.fit !== 'inside') key += `_${spec.fit}`;
  if (spec.position !== 'centre') key += `_p-${spec.position.replace(' ', '-')}`;
  if (spec.background !== undefined) key += `_bg${spec.background.slice(1)}`;
  if (spec.withoutEnlargement !== (spec.fit === 'inside')) key += spec.withoutEnlargement ? '_noup' : '_up';
  // Encoder settings at their built-in defaults stay out of the key: a route that says quality 80
  // for JPEG shares the entry of one that says nothing, and changing a module default makes new
  // keys. Only the settings of a format the output may take count (PNG has no quality; a fallback
  // may be PNG or JPEG, so both of theirs count).
  const settings = encoderSettings(spec, encoders);
  const mayBe = (output: OutputFormat) => settings.formats.includes(output);
  for (const lossy of LOSSY_FORMATS) {
    const quality = settings.quality[lossy];
    if (mayBe(lossy) && quality !== DEFAULT_ENCODERS[lossy].quality) key += `_q${quality}`;
  }
  if (mayBe('avif') && settings.effort !== DEFAULT_ENCODERS.avif.effort) key += `_e${settings.effort}`;
  if (mayBe('png') && settings.palette) key += '_pal';
  if (mayBe('webp') && settings.animated) key += '_anim';
  return { key, group: groupKey(prefix, cacheKey, hashTag), lock: `${key}#lock` };
}

/**
 * The keys of the placeholder of a cacheKey: in its group (a purge removes it with the variants), named
 * with the placeholder's settings so that new settings make a new entry.
 */
export function placeholderKey(prefix: string, cacheKey: string, hashTag = false): ImageCacheKey {
  const key = `${prefix}${tagged(cacheKey, hashTag)}#placeholder-webp16`;
  return { key, group: groupKey(prefix, cacheKey, hashTag), lock: `${key}#lock` };
}

/** The key of the set that lists every cached variant of a cacheKey. */
export function groupKey(prefix: string, cacheKey: string, hashTag = false): string {
  return `${prefix}${tagged(cacheKey, hashTag)}#variants`;
}

function tagged(cacheKey: string, hashTag: boolean): string {
  return hashTag ? `{${cacheKey}}` : cacheKey;
}
