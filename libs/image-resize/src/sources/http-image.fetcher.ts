import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import axios, { type AxiosInstance, isAxiosError, isCancel } from 'axios';
import {
  describeErrorCause,
  ImageNotFoundError,
  ImageResizeError,
  SourceNotAllowedError,
  SourceTooLargeError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors/image-resize.errors';
import type { LoadedSource, SourceValidators } from './image-source.interface';
import type { SourceBytesReservation } from './image-source-loader.interface';
import { readLimited } from './read-limited';
import { deadline } from './source-deadline';
import { SOURCE_REFUSED_CODE, SourceAddressPolicy } from './source-address.policy';
import { fetchStatus } from '../tracing/image-resize.tracing';

/** Limits of one fetch. */
export interface HttpFetchLimits {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  /** Aborts the fetch (a deadline of the caller's): it rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The admission budget's share of this source: grown to the `Content-Length` before the body is
   * read (a refusal is a 503 and the body is never read), and with the bytes as they arrive.
   */
  reservation?: SourceBytesReservation;
  /**
   * The validators of a copy the caller holds: sent as `If-None-Match` / `If-Modified-Since`, and a
   * 304 then answers `{ notModified: true }` with an empty body.
   */
  validators?: SourceValidators;
}

/** What the fetcher accepts, as a browser would (the origin may negotiate). */
const ACCEPT = 'image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8';

/**
 * Fetches an image over http(s) with axios as a stream: the byte limit is enforced while the body
 * arrives (whatever `Content-Length` says), and the time limit covers the whole fetch, body included.
 * With a reservation, a declared `Content-Length` is reserved before the body is read.
 * Every hop — the first request and each redirect — passes the {@link SourceAddressPolicy}, on its
 * URL and on the address it connects to. No header of the incoming request (cookies, authorization)
 * is ever forwarded, and no proxy from the environment is used.
 *
 * What it loads carries the response's validators (`ETag`, `Last-Modified`, `Cache-Control`
 * max-age); given validators, the request is conditional and a 304 answers `notModified`.
 */
export class HttpImageFetcher {
  private readonly http: AxiosInstance;

  /** @param policy which hosts and addresses may be fetched; by default public addresses only. */
  constructor(private readonly policy = new SourceAddressPolicy({ allowPrivateNetworks: false })) {
    this.http = axios.create({
      adapter: 'http',
      proxy: false,
      httpAgent: new HttpAgent({ lookup: policy.lookup }),
      httpsAgent: new HttpsAgent({ lookup: policy.lookup }),
    });
  }

  async fetch(url: string, limits: HttpFetchLimits): Promise<LoadedSource> {
    const parsed = this.policy.parseUrl(url);
    const timeout = `no complete response within ${limits.timeoutMs} ms (fetchTimeoutMs)`;
    const timer = deadline(
      limits.timeoutMs,
      () => new UpstreamTimeoutError(undefined, { logCause: timeout }),
      limits.signal,
    );
    const { signal } = timer;
    let body: Readable | undefined;
    try {
      const response = await this.http.get<Readable>(parsed.href, {
        responseType: 'stream',
        signal,
        maxRedirects: limits.maxRedirects,
        beforeRedirect: (options: { href?: string }) => this.policy.checkUrl(new URL(options.href ?? '')),
        validateStatus: () => true,
        headers: conditionalHeaders(limits.validators),
        decompress: true,
      });
      body = response.data;
      fetchStatus(response.status);
      const validators = responseValidators(response.headers as Record<string, unknown>);
      if (response.status === 304 && conditional(limits.validators)) {
        body.destroy();
        return { body: Buffer.alloc(0), notModified: true, validators };
      }
      if (response.status === 404 || response.status === 410) {
        throw new ImageNotFoundError('Image source not found');
      }
      if (response.status < 200 || response.status >= 300) {
        throw new UpstreamError(`Image source answered with status ${response.status}`);
      }
      const declaredLength = Number(response.headers['content-length']);
      const declared =
        Number.isSafeInteger(declaredLength) && declaredLength >= 0 ? declaredLength : undefined;
      if (declared !== undefined && declared > limits.maxBytes) {
        throw new SourceTooLargeError(`Source image is larger than ${limits.maxBytes} bytes`);
      }
      // Admitted before the body is read: what does not fit is refused with its body unread.
      if (declared !== undefined) limits.reservation?.ensure(declared);
      const bytes = await readLimited(body, limits.maxBytes, {
        reservation: limits.reservation,
        expectedBytes: declared,
        signal,
      });
      return { body: bytes, validators };
    } catch (error) {
      body?.destroy();
      if (signal.aborted) {
        const reason: unknown = signal.reason;
        if (reason instanceof ImageResizeError) throw reason;
        throw new UpstreamTimeoutError(undefined, { cause: error, logCause: timeout });
      }
      if (error instanceof ImageResizeError) throw error;
      const refusal = policyRefusal(error);
      if (refusal) {
        throw new SourceNotAllowedError(refusal.message, {
          cause: error,
          refusedHost: (refusal as SourceNotAllowedError).refusedHost,
        });
      }
      if (isCancel(error)) throw new UpstreamTimeoutError(undefined, { cause: error, logCause: timeout });
      if (isAxiosError(error) && error.code === 'ERR_FR_TOO_MANY_REDIRECTS') {
        throw new UpstreamError('Image source redirected too many times', { cause: error });
      }
      // The socket's own message names the address and port: the logs get its kind and code only.
      throw new UpstreamError(undefined, { cause: error, logCause: describeErrorCause(error) });
    } finally {
      timer.clear();
    }
  }
}

/** Whether `validators` make a request conditional. */
function conditional(validators: SourceValidators | undefined): boolean {
  return validators?.etag !== undefined || validators?.lastModified !== undefined;
}

/** The request's headers: `Accept`, and the conditional ones for the validators given. */
function conditionalHeaders(validators: SourceValidators | undefined): Record<string, string> {
  const headers: Record<string, string> = { Accept: ACCEPT };
  if (validators?.etag !== undefined) headers['If-None-Match'] = validators.etag;
  if (validators?.lastModified !== undefined) headers['If-Modified-Since'] = validators.lastModified;
  return headers;
}

/** Longest `ETag` / `Last-Modified` kept: anything longer is not a validator this library sends back. */
const MAX_VALIDATOR_LENGTH = 256;

/** The validators of a response: its `ETag`, `Last-Modified` and `Cache-Control` max-age, if it has them. */
export function responseValidators(headers: Record<string, unknown>): SourceValidators {
  const validators: SourceValidators = {};
  const etag = headerValue(headers.etag);
  if (etag !== undefined) validators.etag = etag;
  const lastModified = headerValue(headers['last-modified']);
  if (lastModified !== undefined && !Number.isNaN(Date.parse(lastModified))) {
    validators.lastModified = lastModified;
  }
  const maxAge = cacheControlMaxAge(headerValue(headers['cache-control'], 1024));
  if (maxAge !== undefined) validators.maxAge = maxAge;
  return validators;
}

/** A single header's value, trimmed, when it is a short printable string. */
function headerValue(value: unknown, maxLength = MAX_VALIDATOR_LENGTH): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  return trimmed !== '' && trimmed.length <= maxLength && /^[\x20-\x7e]+$/.test(trimmed)
    ? trimmed
    : undefined;
}

/**
 * Seconds a `Cache-Control` lets a response be kept: its `max-age`, 0 for `no-cache` or `no-store`,
 * `undefined` when it says neither.
 */
export function cacheControlMaxAge(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  let maxAge: number | undefined;
  for (const directive of header.toLowerCase().split(',')) {
    const [name, value] = directive.trim().split('=', 2);
    if (name === 'no-cache' || name === 'no-store') return 0;
    if (name === 'max-age' && value !== undefined) {
      const seconds = Number(value.replace(/^"|"$/g, ''));
      if (Number.isSafeInteger(seconds) && seconds >= 0) maxAge = seconds;
    }
  }
  return maxAge;
}

/**
 * The policy's refusal behind an error, if any: axios and follow-redirects wrap it (a refused
 * redirect arrives as a redirection failure whose cause is the refusal).
 */
function policyRefusal(error: unknown): Error | undefined {
  let coded: Error | undefined;
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    // The refusal itself, if it is in the chain, carries the refused host; a wrapper only its code.
    if (current instanceof SourceNotAllowedError) return current;
    if ((current as { code?: string }).code === SOURCE_REFUSED_CODE) coded ??= current;
    current = (current as { cause?: unknown }).cause;
  }
  return coded;
}
