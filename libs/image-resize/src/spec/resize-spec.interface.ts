/** Output formats the processor can encode. */
export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'avif';

/**
 * How the image is fitted into the `width` x `height` box.
 *
 * - `inside` (default): fits inside the box, keeps the aspect ratio, never enlarges.
 * - `cover`: fills the box exactly, cropping what overflows (see `position`).
 * - `contain`: fits inside the box and pads it to exactly the box with `background`.
 * - `fill`: stretches to exactly the box, ignoring the aspect ratio.
 * - `outside`: covers the box, keeping the aspect ratio, without cropping (one side may exceed it).
 */
export type FitMode = 'inside' | 'cover' | 'contain' | 'fill' | 'outside';

/**
 * Which part of the image `cover` keeps: a side or corner, `'centre'`, or a smart crop —
 * `'attention'` (the most salient region) or `'entropy'` (the busiest region).
 */
export type CropPosition =
  | 'centre'
  | 'top'
  | 'right'
  | 'bottom'
  | 'left'
  | 'right top'
  | 'right bottom'
  | 'left bottom'
  | 'left top'
  | 'attention'
  | 'entropy';

/** What to produce: the box, the format and the cache behaviour of one resized image. */
export interface ResizeSpec {
  /** Width of the box in CSS pixels (1 to `maxOutputWidth`, after `dpr`). */
  width: number;
  /** Height of the box in CSS pixels (1 to `maxOutputHeight`, after `dpr`). */
  height: number;
  /**
   * Output format, or `'auto'`: AVIF, then WebP, as the request's `Accept` lists them explicitly
   * (q-values honoured), otherwise `fallback`. Default `'png'`.
   */
  format?: OutputFormat | 'auto';
  /** With `format: 'auto'`, the format for clients that accept neither AVIF nor WebP. Default: PNG when the image has transparency, JPEG otherwise. */
  fallback?: OutputFormat;
  /** With `format: 'auto'`, the request's `Accept` header (`@ResizedImage()` passes it; other callers may). */
  accept?: string;
  /** How the image is fitted into the box. Default `'inside'`. */
  fit?: FitMode;
  /** Which part `cover` keeps. Default `'centre'`. */
  position?: CropPosition;
  /** Colour for `contain` padding and for flattening transparency into JPEG, e.g. `'#ffffff'`. Default: transparent, white for JPEG. */
  background?: string;
  /** Never make the image larger than the original. Default true for `inside`, false otherwise. */
  withoutEnlargement?: boolean;
  /** Device pixel ratio 1-3: the box is multiplied by it. Default 1. */
  dpr?: number;
  /** Encoder quality 1-100 for JPEG, WebP and AVIF (ignored for PNG). Default: JPEG 80, WebP 80, AVIF 50. */
  quality?: number;
  /** PNG with a palette (quantised, up to 256 colours): much smaller for flat logos. Default false. */
  palette?: boolean;
  /**
   * Keep the frames of an animated original (GIF, WebP) when the output format can hold them
   * (WebP); other formats get the first frame. Default false: the first frame. Bounded by
   * `maxAnimationFrames`.
   */
  animated?: boolean;
  /** Seconds the result is cached and may be cached by clients. Default: the module's `ttl`. */
  ttl?: number;
  /**
   * Seconds after which the original (a URL, or a `path` with a cacheKey) is due for a check with
   * its origin: a request past it is served from the cache at once while one conditional request
   * (`If-None-Match` / `If-Modified-Since`; a file's size and mtime) asks whether it changed. Clients
   * may keep the result no longer than until then. `false`: never checked. Default: the module's
   * `revalidateAfter` (86400).
   */
  revalidateAfter?: number | false;
  /**
   * Whether an origin's `Cache-Control: max-age` longer than `revalidateAfter` puts the check off:
   * `'ignore'` or `'longer-wins'`. Default: the module's `originMaxAge` (`'ignore'`).
   */
  originMaxAge?: 'ignore' | 'longer-wins';
  /**
   * Stable name of the original image, e.g. `logo_small_acme`. Every variant (size, format) of it is
   * cached under this name and {@link ImageResizeService.purge} removes them together. Overrides the
   * source's own `cacheKey`. Default: a hash of the URL, file or bytes.
   */
  cacheKey?: string;
  /** Skip the cache lookup and re-create (and re-cache) the image. The result says `BYPASS`. */
  redraw?: boolean;
  /**
   * The placeholder of the original instead of an image (see `ImageResizeService.placeholder`); the
   * box and format are then the placeholder's own.
   *
   * @internal
   */
  placeholder?: boolean;
}

/** A {@link ResizeSpec} with every default applied; what the processor and the cache see. */
export interface ResolvedResizeSpec {
  /** Output width of the box in pixels (`width` x `dpr`). */
  width: number;
  /** Output height of the box in pixels (`height` x `dpr`). */
  height: number;
  /** The format to encode (unless `alphaFallback`). */
  format: OutputFormat;
  /**
   * Negotiation found neither AVIF nor WebP and no `fallback` was given: encode PNG when the image
   * has transparency and JPEG otherwise (`format` is then ignored).
   */
  alphaFallback: boolean;
  /** Whether the format depended on the request's `Accept` (responses then carry `Vary: Accept`). */
  negotiated: boolean;
  fit: FitMode;
  position: CropPosition;
  background?: string;
  withoutEnlargement: boolean;
  /** Encoder quality (JPEG, WebP, AVIF): the spec's, else the module's `encoders`. */
  quality?: number;
  palette: boolean;
  /** AVIF encoder effort 0-9 (module option `encoders.avif.effort`). */
  effort: number;
  /** Keep every frame (only when `format` is WebP). */
  animated: boolean;
  ttl: number;
  redraw: boolean;
  /** The spec's `cacheKey`, if it names one (it then overrides the source's). */
  cacheKey?: string;
  /** The spec's `revalidateAfter`, if it sets one (else the module's applies). */
  revalidateAfter?: number | false;
  /** The spec's `originMaxAge`, if it sets one (else the module's applies). */
  originMaxAge?: 'ignore' | 'longer-wins';
  /**
   * The placeholder of the original rather than an image: made by the processor's `placeholder`, kept
   * under the cacheKey's placeholder key, its body a JSON `ImagePlaceholder`.
   *
   * @internal
   */
  placeholder?: true;
}
