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

/**
 * What tells one version of an original from another, as its origin describes it: the HTTP
 * validators of a URL (`ETag`, `Last-Modified`) and how long its `Cache-Control` lets it be kept, or
 * the size and modification time of a file. Kept with the cache so that the original can be
 * revalidated with a conditional request (see {@link SourceLoadContext.validators}).
 */
export interface SourceValidators {
  /** The `ETag` the origin sent, as sent (quoted, `W/` for a weak one). */
  etag?: string;
  /** The `Last-Modified` the origin sent, as sent (an HTTP date). */
  lastModified?: string;
  /** Seconds of the origin's `Cache-Control: max-age`; 0 for `no-cache` or `no-store`. */
  maxAge?: number;
  /** A file's modification time, in epoch milliseconds. */
  mtimeMs?: number;
  /** A file's size in bytes. */
  size?: number;
}

/** The bytes of an original image as loaded by an {@link ImageSourceLoader}. */
export interface LoadedSource {
  body: Buffer;
  /**
   * The validators of the version loaded, when the loader knows them: the library keeps them with
   * the cacheKey and revalidates with them later. Optional: without them, a revalidation loads the
   * whole original and compares its bytes.
   */
  validators?: SourceValidators;
  /**
   * True when the load was conditional (`context.validators`) and the original still matches those
   * validators: `body` is then empty, and the cached variants stay. Only for a conditional load.
   */
  notModified?: boolean;
}
