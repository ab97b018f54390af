/** Output formats the processor can encode. */
export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'avif';

/**
 * How the image is fitted into the `width` x `height` box.
 *
 * - `inside` (default): fits inside the box, keeps the aspect ratio, never enlarges.
 * - `cover`: fills the box exactly, cropping what overflows (centred).
 * - `contain`: fits inside the box and pads it to exactly the box (transparent, or white for JPEG).
 * - `fill`: stretches to exactly the box, ignoring the aspect ratio.
 */
export type FitMode = 'inside' | 'cover' | 'contain' | 'fill';

/** What to produce: the box, the format and the cache behaviour of one resized image. */
export interface ResizeSpec {
  /** Width of the box in pixels (1 to `maxOutputWidth`). */
  width: number;
  /** Height of the box in pixels (1 to `maxOutputHeight`). */
  height: number;
  /** Output format. Default `'png'`. */
  format?: OutputFormat;
  /** How the image is fitted into the box. Default `'inside'`. */
  fit?: FitMode;
  /** Encoder quality 1-100 for JPEG, WebP and AVIF (ignored for PNG). Default: the encoder's. */
  quality?: number;
  /** Seconds the result is cached and may be cached by clients. Default: the module's `ttl`. */
  ttl?: number;
  /**
   * Stable name of the original image, e.g. `logo_small_acme`. Every variant (size, format) of it is
   * cached under this name and {@link ImageResizeService.purge} removes them together. Overrides the
   * source's own `cacheKey`. Default: a hash of the URL, file or bytes.
   */
  cacheKey?: string;
  /** Skip the cache lookup and re-create (and re-cache) the image. The result says `BYPASS`. */
  redraw?: boolean;
}

/** A {@link ResizeSpec} with every default applied; what the processor and the cache see. */
export interface ResolvedResizeSpec {
  width: number;
  height: number;
  format: OutputFormat;
  fit: FitMode;
  quality?: number;
  ttl: number;
  redraw: boolean;
}
