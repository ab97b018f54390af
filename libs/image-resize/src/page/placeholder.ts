import sharp from 'sharp';
import { InvalidImageError, SourceTooLargeError } from '../errors/image-resize.errors';
import {
  type Placeholder,
  type PlaceholderLimits,
  type PlaceholderSettings,
  placeholderOf,
} from './placeholder.work';

export type { Placeholder, PlaceholderLimits, PlaceholderSettings } from './placeholder.work';

/*
 * The choice, measured on the example app's logos (transparent 1200x1200 and 96x96 PNGs, an 800x500
 * JPEG) and a 3.1 MP photo, shown at 256 px in Chromium (test-output/placeholders/):
 * - WebP: a third to half the bytes of PNG at the same size, under half of JPEG's (whose headers alone
 *   are ~300 bytes), and AVIF's headers are larger still; it keeps the alpha channel, so a logo's
 *   placeholder is the logo's shape on the page's own background. Every current browser reads it.
 * - 16 px on the long side: at 8 to 12 px a logo becomes a blot of its colours; 20 px adds 30 to 50%
 *   of bytes for detail the blur takes away again.
 * - quality 60 with sharp YUV conversion (smartSubsample): at q20 the colours shift (cobalt's blue
 *   darkens), without sharp YUV basalt's orange turns brown; q60 costs 10 to 20 bytes more than q50.
 * - no blur baked in: a 16 px image upscaled by the browser shows its pixels whatever was blurred
 *   before, so the blur is the browser's: CSS `filter: blur()` of about 1/25 of the displayed size
 *   (10px at 256 px), or the SVG of {@link blurredPlaceholderSvg}, whose blur scales with the image.
 * The data URLs are 180 to 440 bytes (650 to 800 as SVG), under the 1 KB aimed at; 10 to 35 ms each.
 * The colour is the dominant one over opaque pixels: sharp's `stats().dominant` counts transparent
 * pixels (a transparent logo comes out black), and the mean mixes a logo's colours into one that is
 * in none of them (navy and orange make brown).
 */

/**
 * The placeholder of an image: a tiny blurred-to-be preview as a `data:` URL, its dominant colour and
 * the image's own width and height; made in this process (see {@link placeholderOf} to make it in a
 * child of the pool, with the bytes the variants are made from).
 *
 * @throws InvalidImageError for an input that is not an accepted image or cannot be decoded
 * @throws SourceTooLargeError for one beyond `limits`
 */
export async function makePlaceholder(
  input: Buffer,
  limits: PlaceholderLimits,
  settings?: PlaceholderSettings,
): Promise<Placeholder> {
  try {
    return await placeholderOf(sharp, input, limits, settings);
  } catch (error) {
    const failure = error as { kind?: string; message: string; detail?: string };
    const cause = failure.detail === undefined ? undefined : { cause: new Error(failure.detail) };
    if (failure.kind === 'too-large') throw new SourceTooLargeError(failure.message, cause);
    if (failure.kind === 'invalid' || failure.kind === 'undecodable') {
      throw new InvalidImageError(failure.message, cause);
    }
    throw error;
  }
}

/**
 * The placeholder as an SVG `data:` URL that blurs it itself: usable where no CSS filter applies, such
 * as the `background-image` of the `<img>` that loads the image (it shows until the image covers it).
 * The blur is `blur` pixels of the placeholder (0.6 of its 16 looks like CSS `blur(10px)` at 256 px),
 * so it scales with the displayed size. An opaque placeholder stays opaque to its edges (a CSS blur
 * fades them); a transparent one keeps its transparency. The URL holds no `"`: put it in a
 * double-quoted attribute, or in `url("...")`.
 */
export function blurredPlaceholderSvg(
  placeholder: Pick<Placeholder, 'dataUrl' | 'width' | 'height'>,
  blur = 0.6,
): string {
  const match = /^data:image\/(webp|png|jpeg|avif);base64,([A-Za-z0-9+/]+=*)$/.exec(placeholder.dataUrl);
  if (!match) throw new TypeError('blurredPlaceholderSvg takes the data: URL of a placeholder');
  const { width, height } = placeholder;
  if (!(width >= 1 && height >= 1) || !(blur >= 0)) {
    throw new RangeError('blurredPlaceholderSvg needs a width, a height and a blur >= 0');
  }
  // The placeholder's own proportions, 16 units on the long side, so that the blur is in its pixels.
  const scale = 16 / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale * 100) / 100);
  const h = Math.max(1, Math.round(height * scale * 100) / 100);
  // Blurring mixes the edges with the transparent outside; an opaque image gets its opacity back.
  const opaque =
    match[1] === 'jpeg' || (match[1] === 'webp' && !webpHasAlpha(Buffer.from(match[2], 'base64')));
  const restore = opaque
    ? `<feComponentTransfer><feFuncA type='discrete' tableValues='1 1'/></feComponentTransfer>`
    : '';
  const svg =
    `<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 ${w} ${h}'>` +
    `<filter id='b' x='0' y='0' width='1' height='1' color-interpolation-filters='sRGB'>` +
    `<feGaussianBlur stdDeviation='${blur}'/>${restore}</filter>` +
    `<image width='100%' height='100%' preserveAspectRatio='none' filter='url(#b)' href='${placeholder.dataUrl}'/></svg>`;
  // Only what a URL may not hold is escaped: '<', '>', '#', '%' and spaces; and "'", which HTML would
  // otherwise escape in an attribute (five bytes each).
  return `data:image/svg+xml,${svg.replace(/[<>#% ']/g, (char) => (char === "'" ? '%27' : encodeURIComponent(char)))}`;
}

/** Whether a WebP has an alpha channel: the flag of its extended header (a simple WebP has none). */
function webpHasAlpha(webp: Buffer): boolean {
  return webp.toString('latin1', 12, 16) === 'VP8X' && (webp[20] & 0x10) !== 0;
}
