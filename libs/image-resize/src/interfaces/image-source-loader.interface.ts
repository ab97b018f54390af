import type { ImageSourceDescriptor, LoadedSource } from './image-source.interface';

/**
 * Loads the bytes of an original image, within the module's byte and time limits. Must throw the
 * library's errors (`ImageNotFoundError`, `SourceTooLargeError`, `UpstreamError`, ...) so that the
 * HTTP layer can map them to statuses.
 */
export interface ImageSourceLoader {
  load(source: ImageSourceDescriptor): Promise<LoadedSource>;
}
