import type { Readable } from 'node:stream';
import axios, { type AxiosInstance, isAxiosError, isCancel } from 'axios';
import {
  ImageNotFoundError,
  ImageResizeError,
  SourceNotAllowedError,
  SourceTooLargeError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors/image-resize.errors';
import type { LoadedSource } from '../interfaces/image-source.interface';
import { readLimited } from './read-limited';

/** Limits of one fetch. */
export interface HttpFetchLimits {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
}

const ALLOWED_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * Fetches an image over http(s) with axios as a stream: the byte limit is enforced while the body
 * arrives (whatever `Content-Length` says), and the time limit covers the whole fetch, body included.
 * No header of the incoming request (cookies, authorization) is ever forwarded.
 */
export class HttpImageSource {
  private readonly http: AxiosInstance;

  constructor(http?: AxiosInstance) {
    this.http = http ?? axios.create({ adapter: 'http' });
  }

  async fetch(url: string, limits: HttpFetchLimits): Promise<LoadedSource> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SourceNotAllowedError('Image source URL is not valid');
    }
    if (!ALLOWED_PROTOCOLS.has(parsed.protocol)) {
      throw new SourceNotAllowedError('Image source URL must use http or https');
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, limits.timeoutMs);
    let body: Readable | undefined;
    try {
      const response = await this.http.get<Readable>(parsed.href, {
        responseType: 'stream',
        signal: controller.signal,
        maxRedirects: limits.maxRedirects,
        validateStatus: () => true,
        headers: { Accept: 'image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8' },
        decompress: true,
      });
      body = response.data;
      if (response.status === 404 || response.status === 410) {
        throw new ImageNotFoundError('Image source not found');
      }
      if (response.status < 200 || response.status >= 300) {
        throw new UpstreamError(`Image source answered with status ${response.status}`);
      }
      const declaredLength = Number(response.headers['content-length']);
      if (Number.isFinite(declaredLength) && declaredLength > limits.maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${limits.maxBytes} bytes`);
      }
      controller.signal.addEventListener('abort', () => body?.destroy(new Error('aborted')), { once: true });
      const bytes = await readLimited(body, limits.maxBytes);
      const contentType = response.headers['content-type'];
      return { body: bytes, declaredContentType: typeof contentType === 'string' ? contentType : undefined };
    } catch (error) {
      body?.destroy();
      if (timedOut) throw new UpstreamTimeoutError(undefined, { cause: error });
      if (error instanceof ImageResizeError) throw error;
      if (isCancel(error)) throw new UpstreamTimeoutError(undefined, { cause: error });
      if (isAxiosError(error) && error.code === 'ERR_FR_TOO_MANY_REDIRECTS') {
        throw new UpstreamError('Image source redirected too many times', { cause: error });
      }
      throw new UpstreamError(undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
