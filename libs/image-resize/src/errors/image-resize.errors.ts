import { HttpException, HttpStatus } from '@nestjs/common';
import ipaddr from 'ipaddr.js';

/** Options of the library's errors: the underlying error, and what the logs may say of it. */
export interface ImageResizeErrorOptions {
  cause?: unknown;
  /** See {@link ImageResizeError.logCause}. */
  logCause?: string;
}

/**
 * Base class of the errors the library throws while serving an image. Each carries the HTTP status
 * it maps to and a short message that is safe to show to a client (no addresses, paths or stacks).
 */
export class ImageResizeError extends HttpException {
  /**
   * Why it failed, for the logs only (never sent to the client): the kind of failure and its code,
   * e.g. `connection refused (ECONNREFUSED)`. Never an address, a port, a URL or a credential.
   */
  readonly logCause?: string;

  constructor(message: string, status: number, options?: ImageResizeErrorOptions) {
    super(message, status, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options?.logCause !== undefined) this.logCause = options.logCause;
  }
}

/** 400: the resize spec or the request's parameters are invalid. */
export class InvalidResizeSpecError extends ImageResizeError {
  constructor(message: string) {
    super(message, HttpStatus.BAD_REQUEST);
  }
}

/** 404: the handler returned no source, or the origin answered 404/410, or the file does not exist. */
export class ImageNotFoundError extends ImageResizeError {
  constructor(message = 'Image not found', options?: ImageResizeErrorOptions) {
    super(message, HttpStatus.NOT_FOUND, options);
  }
}

/** 403: the source may not be fetched (scheme or host not allowed). */
export class SourceNotAllowedError extends ImageResizeError {
  /**
   * The host name that was refused, for debug logs; absent when the host is an IP address (logs
   * never hold addresses) or the URL had no host.
   */
  readonly refusedHost?: string;
  /** Whether the refused host was an IP address literal (which logs never repeat). */
  readonly refusedAddressLiteral: boolean = false;

  constructor(
    message = 'Image source not allowed',
    options?: ImageResizeErrorOptions & { refusedHost?: string },
  ) {
    super(message, HttpStatus.FORBIDDEN, options);
    const host = options?.refusedHost;
    if (host && ipaddr.isValid(host.replace(/^\[|\]$/g, ''))) this.refusedAddressLiteral = true;
    else if (host) this.refusedHost = host;
  }
}

/** 403: a route that takes its sizes from the request was called without a valid signature. */
export class InvalidSignatureError extends ImageResizeError {
  constructor(message = 'Missing or invalid signature') {
    super(message, HttpStatus.FORBIDDEN);
  }
}

/** 422: the source is not an accepted image, is corrupt, or exceeds a limit. */
export class InvalidImageError extends ImageResizeError {
  constructor(message = 'Source is not a supported image', options?: ImageResizeErrorOptions) {
    super(message, HttpStatus.UNPROCESSABLE_ENTITY, options);
  }
}

/** 422: the source has more bytes or pixels than the module allows. */
export class SourceTooLargeError extends InvalidImageError {
  constructor(message = 'Source image is too large', options?: ImageResizeErrorOptions) {
    super(message, options);
  }
}

/** 502: the origin could not be reached or answered with an error. */
export class UpstreamError extends ImageResizeError {
  constructor(message = 'Image source could not be fetched', options?: ImageResizeErrorOptions) {
    super(message, HttpStatus.BAD_GATEWAY, options);
  }
}

/** 504: the origin did not deliver the image in time. */
export class UpstreamTimeoutError extends ImageResizeError {
  constructor(message = 'Image source timed out', options?: ImageResizeErrorOptions) {
    super(message, HttpStatus.GATEWAY_TIMEOUT, options);
  }
}

/** 503: processing the image took longer than `processingTimeoutMs`; the response carries `Retry-After`. */
export class ProcessingTimeoutError extends ImageResizeError {
  /** Seconds after which a retry may succeed. */
  readonly retryAfterSeconds: number;

  constructor(
    message = 'Image processing timed out',
    retryAfterSeconds = 5,
    options?: ImageResizeErrorOptions,
  ) {
    super(message, HttpStatus.SERVICE_UNAVAILABLE, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** 503: every resize slot is busy and the queue is full (`concurrency`, `maxQueue`); the response carries `Retry-After`. */
export class OverloadedError extends ImageResizeError {
  /** Seconds after which a retry may succeed. */
  readonly retryAfterSeconds: number;

  constructor(message = 'Too many images being resized, retry shortly', retryAfterSeconds = 1) {
    super(message, HttpStatus.SERVICE_UNAVAILABLE);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Thrown at boot when the module's options are invalid; the message names the option to fix. */
export class ImageResizeConfigError extends Error {
  constructor(message: string) {
    super(`ImageResizeModule: ${message}`);
    this.name = 'ImageResizeConfigError';
  }
}

/**
 * 503: the cache cannot be reached. Thrown by the Redis cache instead of sending a command while Redis
 * is known to be unavailable (an image is then served uncached), and by a purge that could not be made
 * now: the Redis cache keeps that purge and replays it once Redis answers.
 */
export class CacheUnavailableError extends ImageResizeError {
  constructor(message = 'Redis cache unavailable', options?: ImageResizeErrorOptions) {
    super(message, HttpStatus.SERVICE_UNAVAILABLE, options);
  }
}

/** Node's and OpenSSL's error codes, as a reader of the logs would name them. */
const ERROR_KINDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'DNS: no such host',
  EAI_AGAIN: 'DNS: lookup failed, try again',
  EAI_FAIL: 'DNS: lookup failed',
  ENODATA: 'DNS: no address for the host',
  ERR_FR_TOO_MANY_REDIRECTS: 'too many redirects',
  ERR_FR_MAX_BODY_LENGTH_EXCEEDED: 'body too large',
};

function isTlsCode(code: string): boolean {
  return code === 'EPROTO' || /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code);
}

/** An error-like object; not `instanceof Error`, which fails for errors made in another realm (Node's own, under jest). */
interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
}

const isErrorLike = (value: unknown): value is ErrorLike => typeof value === 'object' && value !== null;

/** The first `code` in an error and its causes (axios, follow-redirects and ioredis wrap the socket's error). */
function findCode(error: unknown): { code: string; message: string } | undefined {
  for (let current = error, depth = 0; isErrorLike(current) && depth < 6; depth++) {
    const { code, message } = current;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,60}$/.test(code)) {
      return { code, message: typeof message === 'string' ? message : '' };
    }
    current = current.cause ?? (Array.isArray(current.errors) ? current.errors[0] : undefined);
  }
  return undefined;
}

/**
 * What the logs say of an error they may not quote (a socket's message holds the address and port:
 * `connect ECONNREFUSED 10.0.0.5:6379`): its kind and code, e.g. `connection refused (ECONNREFUSED)`,
 * `TLS handshake failed: wrong version number (EPROTO)`, `ReplyError NOAUTH`. Without a code, the
 * error's name and its message with addresses and ports taken out.
 */
export function describeErrorCause(error: unknown): string {
  const found = findCode(error);
  if (found) {
    const { code } = found;
    if (ERROR_KINDS[code]) return `${ERROR_KINDS[code]} (${code})`;
    if (isTlsCode(code)) {
      // OpenSSL's reason is the last words of `...:SSL routines:<function>:<reason>:<file>:<line>:`.
      const reason = /SSL routines:[^:]*:([a-z][a-z ]{2,60}):/.exec(found.message)?.[1];
      return code === 'EPROTO' || reason
        ? `TLS handshake failed${reason ? `: ${reason}` : ''} (${code})`
        : `TLS certificate refused (${code})`;
    }
    if (code.startsWith('HPE_')) return `invalid HTTP response (${code})`;
    return code;
  }
  if (!isErrorLike(error)) return 'unknown error';
  const name = typeof error.name === 'string' && /^\w{1,60}$/.test(error.name) ? error.name : 'Error';
  const message = typeof error.message === 'string' ? error.message : '';
  // Redis replies start with their own code: NOAUTH, WRONGPASS, READONLY, OOM, LOADING...
  const reply = /^([A-Z][A-Z_]{2,20})\b/.exec(message)?.[1];
  if (reply) return `${name} ${reply}`;
  const text = redactAddresses(message).slice(0, 200);
  return text ? `${name}: ${text}` : name;
}

const IPV4_WITH_PORT = /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g;
const BRACKETED_WITH_PORT = /\[[0-9a-f:.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi;
const BARE_IPV6 = /(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f.]{0,15}(?![\w:])/gi;
const HOST_WITH_PORT = /\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*:\d{1,5}\b/gi;

/**
 * `text` with IP addresses, `host:port` pairs and ports replaced by `<address>`, for logging the
 * message of an error that is not the library's own (a custom loader's, a cache's).
 */
export function redactAddresses(text: string): string {
  return text
    .replace(BRACKETED_WITH_PORT, '<address>')
    .replace(IPV4_WITH_PORT, '<address>')
    .replace(BARE_IPV6, (match) => (ipaddr.isValid(match) ? '<address>' : match))
    .replace(HOST_WITH_PORT, '<address>');
}

/** What a log line may say of `error`: the library's own message as it is, any other with addresses taken out. */
export function loggableMessage(error: unknown): string {
  if (error instanceof ImageResizeError || error instanceof ImageResizeConfigError) return error.message;
  if (isErrorLike(error) && typeof error.message === 'string') return redactAddresses(error.message);
  return redactAddresses(String(error));
}
