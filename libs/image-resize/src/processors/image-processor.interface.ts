import type { OutputFormat, ResolvedResizeSpec } from '../spec/resize-spec.interface';
import type { Placeholder } from '../page/placeholder.work';

/** The result of an {@link ImageProcessor}. */
export interface ProcessedImage {
  /** The encoded image. */
  body: Buffer;
  /** e.g. `image/png`. */
  contentType: string;
  width: number;
  height: number;
  format: OutputFormat;
}

/**
 * Decodes an original image, checks it, resizes and encodes it. Knows nothing of HTTP or caches.
 * Must throw an {@link InvalidImageError} for input that is not an accepted, valid image.
 */
export interface ImageProcessor {
  process(input: Buffer, spec: ResolvedResizeSpec): Promise<ProcessedImage>;
  /**
   * Optional: the placeholder of an original (a tiny preview as a `data:` URL, its dominant colour, its
   * width and height), checked and decoded like {@link process} does. Without it, asking for a
   * placeholder is a configuration error.
   */
  placeholder?(input: Buffer): Promise<Placeholder>;
}
