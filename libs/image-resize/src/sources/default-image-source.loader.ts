import { createReadStream } from 'node:fs';
import { Inject, Injectable } from '@nestjs/common';
import { IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import {
  ImageNotFoundError,
  ImageResizeError,
  SourceTooLargeError,
  UpstreamError,
} from '../errors/image-resize.errors';
import type { ResolvedImageResizeOptions } from '../interfaces/image-resize-options.interface';
import type { ImageSourceDescriptor, LoadedSource } from '../interfaces/image-source.interface';
import type { ImageSourceLoader } from '../interfaces/image-source-loader.interface';
import { HttpImageSource } from './http-image.source';
import { readLimited } from './read-limited';
import { SourceAddressPolicy } from './source-address.policy';

/**
 * The default {@link ImageSourceLoader}: URLs through {@link HttpImageSource}, Buffers as they are,
 * streams and files read up to `maxSourceBytes`.
 */
@Injectable()
export class DefaultImageSourceLoader implements ImageSourceLoader {
  private readonly http: HttpImageSource;

  constructor(@Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions) {
    this.http = new HttpImageSource(new SourceAddressPolicy(options.sources));
  }

  async load(source: ImageSourceDescriptor): Promise<LoadedSource> {
    const maxBytes = this.options.maxSourceBytes;
    if (source.url !== undefined) {
      return this.http.fetch(source.url, {
        maxBytes,
        timeoutMs: this.options.fetchTimeoutMs,
        maxRedirects: this.options.sources.maxRedirects,
      });
    }
    if (source.buffer !== undefined) {
      if (source.buffer.length > maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${maxBytes} bytes`);
      }
      return { body: source.buffer, declaredContentType: source.contentType };
    }
    const stream = source.stream ?? createReadStream(source.path as string);
    try {
      return { body: await readLimited(stream, maxBytes), declaredContentType: source.contentType };
    } catch (error) {
      if (error instanceof ImageResizeError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
        throw new ImageNotFoundError('Image file not found', { cause: error });
      }
      throw new UpstreamError(
        source.stream ? 'Image stream failed before its end' : 'Image file could not be read',
        { cause: error },
      );
    }
  }
}
