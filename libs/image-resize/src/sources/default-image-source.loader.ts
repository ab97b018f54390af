import { Inject, Injectable } from '@nestjs/common';
import { IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import { ImageResizeError, SourceTooLargeError, UpstreamError } from '../errors/image-resize.errors';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ImageSourceDescriptor, LoadedSource } from './image-source.interface';
import type { ImageSourceLoader, SourceLoadContext } from './image-source-loader.interface';
import { FileImageReader } from './file-image.reader';
import { HttpImageFetcher } from './http-image.fetcher';
import { readLimited } from './read-limited';
import { deadline, sourceTimeoutError } from './source-deadline';
import { SourceAddressPolicy } from './source-address.policy';

/**
 * The default {@link ImageSourceLoader}: URLs through {@link HttpImageFetcher}, Buffers as they are,
 * streams and files read up to `maxSourceBytes` within `fetchTimeoutMs` (a stream that does not end
 * in time is destroyed), files through {@link FileImageReader} (regular files only, within
 * `sources.fileRoot`). Bytes are reserved in the context's admission budget before they are held.
 * URLs and files come with their validators, and are loaded conditionally when the context has some
 * (a 304, or a file of the same size and mtime, answers `notModified`).
 */
@Injectable()
export class DefaultImageSourceLoader implements ImageSourceLoader {
  private readonly http: HttpImageFetcher;
  private readonly files: FileImageReader;

  constructor(@Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions) {
    this.http = new HttpImageFetcher(new SourceAddressPolicy(options.sources));
    this.files = new FileImageReader(options.sources.fileRoot);
  }

  async load(source: ImageSourceDescriptor, context: SourceLoadContext = {}): Promise<LoadedSource> {
    const maxBytes = this.options.maxSourceBytes;
    const timeoutMs = this.options.fetchTimeoutMs;
    const { reservation } = context;
    if (source.url !== undefined) {
      return this.http.fetch(source.url, {
        maxBytes,
        timeoutMs,
        maxRedirects: this.options.sources.maxRedirects,
        signal: context.signal,
        reservation,
        validators: context.validators,
      });
    }
    if (source.buffer !== undefined) {
      if (source.buffer.length > maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${maxBytes} bytes`);
      }
      return { body: source.buffer };
    }
    const timer = deadline(timeoutMs, () => sourceTimeoutError(source, timeoutMs), context.signal);
    const { signal } = timer;
    try {
      if (source.stream !== undefined) {
        return { body: await readLimited(source.stream, maxBytes, { reservation, signal }) };
      }
      const { validators } = context;
      return await this.files.load(source.path as string, { maxBytes, reservation, signal, validators });
    } catch (error) {
      source.stream?.destroy();
      if (error instanceof ImageResizeError) throw error;
      if (signal.aborted) throw sourceTimeoutError(source, timeoutMs);
      throw new UpstreamError('Image stream failed before its end', { cause: error });
    } finally {
      timer.clear();
    }
  }
}
