import type { Readable } from 'node:stream';

/** Where the original image is, with optional hints. Exactly one of `url`, `buffer`, `stream`, `path`. */
export type ImageSourceDescriptor = (
  | { url: string; buffer?: never; stream?: never; path?: never }
  | { buffer: Buffer; url?: never; stream?: never; path?: never }
  | { stream: Readable; url?: never; buffer?: never; path?: never }
  | { path: string; url?: never; buffer?: never; stream?: never }
) & {
  /** Stable name of the original, used in cache keys (see {@link ResizeSpec.cacheKey}). */
  cacheKey?: string;
};

/**
 * What a `@ResizedImage()` handler returns, or what {@link ImageResizeService.resize} takes:
 * an `http(s)` URL, a Buffer, a readable stream, or an {@link ImageSourceDescriptor}.
 */
export type ImageSource = string | Buffer | Readable | ImageSourceDescriptor;

/** The bytes of an original image as loaded by an {@link ImageSourceLoader}. */
export interface LoadedSource {
  body: Buffer;
}
