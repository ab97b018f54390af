import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * Base class of the errors the library throws while serving an image. Each carries the HTTP status
 * it maps to and a short message that is safe to show to a client (no addresses, paths or stacks).
 */
export class ImageResizeError extends HttpException {
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, status, options);
    this.name = new.target.name;
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
  constructor(message = 'Image not found', options?: { cause?: unknown }) {
    super(message, HttpStatus.NOT_FOUND, options);
  }
}

/** 403: the source may not be fetched (scheme or host not allowed). */
export class SourceNotAllowedError extends ImageResizeError {
  constructor(message = 'Image source not allowed', options?: { cause?: unknown }) {
    super(message, HttpStatus.FORBIDDEN, options);
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
  constructor(message = 'Source is not a supported image', options?: { cause?: unknown }) {
    super(message, HttpStatus.UNPROCESSABLE_ENTITY, options);
  }
}

/** 422: the source has more bytes or pixels than the module allows. */
export class SourceTooLargeError extends InvalidImageError {
  constructor(message = 'Source image is too large', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** 502: the origin could not be reached or answered with an error. */
export class UpstreamError extends ImageResizeError {
  constructor(message = 'Image source could not be fetched', options?: { cause?: unknown }) {
    super(message, HttpStatus.BAD_GATEWAY, options);
  }
}

/** 504: the origin did not deliver the image in time. */
export class UpstreamTimeoutError extends ImageResizeError {
  constructor(message = 'Image source timed out', options?: { cause?: unknown }) {
    super(message, HttpStatus.GATEWAY_TIMEOUT, options);
  }
}

/** 503: processing the image took longer than `processingTimeoutMs`; the response carries `Retry-After`. */
export class ProcessingTimeoutError extends ImageResizeError {
  /** Seconds after which a retry may succeed. */
  readonly retryAfterSeconds: number;

  constructor(message = 'Image processing timed out', retryAfterSeconds = 5, options?: { cause?: unknown }) {
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

/** Thrown by the Redis cache instead of sending a command while Redis is known to be unavailable. */
export class CacheUnavailableError extends Error {
  constructor() {
    super('Redis cache unavailable');
    this.name = 'CacheUnavailableError';
  }
}
