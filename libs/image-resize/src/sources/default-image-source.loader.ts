import { createReadStream } from 'node:fs';
import { Inject, Injectable } from '@nestjs/common';
import { IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import { ImageNotFoundError, SourceTooLargeError, UpstreamError } from '../errors/image-resize.errors';
import type { ResolvedImageResizeOptions } from '../interfaces/image-resize-options.interface';
import type { ImageSourceDescriptor, LoadedSource } from '../interfaces/image-source.interface';
import type { ImageSourceLoader } from '../interfaces/image-source-loader.interface';
import { HttpImageSource } from './http-image.source';
import { readLimited } from './read-limited';

/**
 * The default {@link ImageSourceLoader}: URLs through {@link HttpImageSource}, Buffers as they are,
 * streams and files read up to `maxSourceBytes`.
 */
@Injectable()
export class DefaultImageSourceLoader implements ImageSourceLoader {
  private readonly http = new HttpImageSource();

  constructor(@Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions) {}

  async load(source: ImageSourceDescriptor): Promise<LoadedSource> {
    const maxBytes = this.options.maxSourceBytes;
    if (source.url !== undefined) {
      return this.http.fetch(source.url, {
        maxBytes,
        timeoutMs: this.options.fetchTimeoutMs,
        maxRedirects: this.options.maxRedirects,
      });
    }
    if (source.buffer !== undefined) {
      if (source.buffer.length > maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${maxBytes} bytes`);
      }
      return { body: source.buffer, declaredContentType: source.contentType };
    }
    if (source.stream !== undefined) {
      return { body: await readLimited(source.stream, maxBytes), declaredContentType: source.contentType };
    }
    try {
      return {
        body: await readLimited(createReadStream(source.path), maxBytes),
        declaredContentType: source.contentType,
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        throw new ImageNotFoundError('Image file not found', { cause: error });
      }
      if (error instanceof SourceTooLargeError) throw error;
      throw new UpstreamError('Image file could not be read', { cause: error });
    }
  }
}
