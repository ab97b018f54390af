import type { ImageSourceDescriptor, LoadedSource, SourceValidators } from './image-source.interface';

/**
 * The share of the admission budget (`maxSourceBytesInFlight`) that one source holds. A loader grows
 * it before it holds more bytes of the source, ideally before reading them (from a `Content-Length`
 * or a file's size), so that a source that does not fit is refused before its body is read.
 */
export interface SourceBytesReservation {
  /** Bytes reserved so far. */
  readonly bytes: number;
  /**
   * Grows the reservation to at least `total` bytes.
   *
   * @throws OverloadedError (503 with `Retry-After`) when the budget cannot take them: stop reading
   */
  ensure(total: number): void;
}

/** What the service gives a loader along with the source. */
export interface SourceLoadContext {
  /**
   * Aborted at the load's deadline (`fetchTimeoutMs`): stop reading, release the stream, socket or
   * file, and reject. The service answers 504 at the deadline whether or not the loader does.
   */
  signal?: AbortSignal;
  /**
   * The source's share of the admission budget; grow it before holding bytes. A loader that ignores
   * it has its result counted when it returns (and refused with 503 then, if it does not fit).
   */
  reservation?: SourceBytesReservation;
  /**
   * Set when the library revalidates an original it has cached: the validators of that copy (as
   * the loader returned them in {@link LoadedSource.validators}). A loader may then ask its origin
   * conditionally (`If-None-Match`, `If-Modified-Since`, a file's size and mtime) and answer
   * `{ body: Buffer.alloc(0), notModified: true }` when the original still matches them. A loader
   * that ignores them loads the original as usual: the library then compares the bytes.
   */
  validators?: SourceValidators;
}

/**
 * Loads the bytes of an original image, within the module's byte and time limits. Must throw the
 * library's errors (`ImageNotFoundError`, `SourceTooLargeError`, `UpstreamError`, ...) so that the
 * HTTP layer can map them to statuses.
 */
export interface ImageSourceLoader {
  load(source: ImageSourceDescriptor, context?: SourceLoadContext): Promise<LoadedSource>;
}
