import { HttpException, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import fresh from 'fresh';
import { IMAGE_RESIZE_LOGGER_CONTEXT, IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import {
  ImageNotFoundError,
  loggableMessage,
  OverloadedError,
  ProcessingTimeoutError,
  redactAddresses,
} from '../errors/image-resize.errors';
import { ImageResizeService } from '../image-resize.service';
import { ImageResizeMetrics } from '../image-resize.metrics';
import type {
  CacheControlOptions,
  RedrawRequest,
  ResolvedImageResizeOptions,
} from '../options/image-resize-options.interface';
import type { ImageSource } from '../sources/image-source.interface';
import type { ResizeSpec, ResolvedResizeSpec } from '../spec/resize-spec.interface';
import type { ResizedImageResult } from '../resized-image.result';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { specFromRequest } from './request-spec.resolver';
import { EXPIRY_PARAM } from '../signing/url-signer';
import type { ImageExchange } from './image-exchange';

/** Resolved specs kept per route; past this many (Accept headers are the clients'), the memo starts over. */
const MAX_SPECS_PER_ROUTE = 256;

/**
 * What the responder reads of the platform's response: the headers already on it. Express's response
 * and Fastify's reply both have it, and by the time the responder writes, Nest has applied the
 * route's `@Header()`s there (Fastify keeps them in the reply until it sends, not on `reply.raw`).
 */
export interface ResponseHeaders {
  getHeader(name: string): unknown;
}

/**
 * One request to a `@ResizedImage()` route, read before its handler ran. The decorated method answers
 * with {@link ResizedImageCall.send}, given what the handler returned.
 */
export class ResizedImageCall {
  constructor(
    private readonly responder: ResizedImageResponder,
    /** The spec of this request, checked and with every default applied. */
    readonly spec: ResolvedResizeSpec,
    /** The request and its response. */
    readonly exchange: ImageExchange,
    /** The route's `cacheControl`, else the module's. */
    readonly cacheControl: CacheControlOptions,
    /** When the request's signed URL expires (unix seconds), if it does: no cache may keep it longer. */
    readonly expiresAt?: number,
    /** The platform's response, to see the headers the route set on it (`@Header()`). */
    private readonly response?: ResponseHeaders,
  ) {}

  /** Answers the request with the image of `source`; `null`/`undefined` is a 404. */
  send(source: ImageSource | null | undefined): Promise<void> {
    return this.responder.respond(this, source);
  }

  /**
   * Whether the response already carries a `Cache-Control` — the route's own `@Header('Cache-Control',
   * ...)`, which Nest applies before the handler runs, or one that a middleware or interceptor set.
   */
  hasOwnCacheControl(): boolean {
    const own = this.response?.getHeader('cache-control');
    return own !== undefined && own !== null && own !== '';
  }
}

/**
 * The HTTP side of `@ResizedImage()`. Before the handler runs it reads the request (size, format,
 * redraw) and refuses sizes the route does not offer; afterwards it asks {@link ImageResizeService}
 * for the image and writes the response itself: status, headers and bytes in one write, with no
 * stream, serialisation or hashing on a cache hit. It serves Express and Fastify alike (see
 * {@link ImageExchange}).
 *
 * The decorator injects it into the controller, from the `ImageResizeModule` that the controller's
 * module imports. Subclass it and override the protected hooks to change how sizes are read, redraw
 * is decided or headers are set.
 */
@Injectable()
export class ResizedImageResponder {
  protected readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  /** Resolved specs per route, by what decides them (see {@link resolvedSpec}). */
  private readonly specs = new WeakMap<ResizedImageOptions, Map<string, ResolvedResizeSpec>>();
  /** `Expires` changes once a second; it is formatted once a second per TTL. */
  private readonly expires = new Map<number, { second: number; value: string }>();

  constructor(
    protected readonly service: ImageResizeService,
    @Inject(IMAGE_RESIZE_OPTIONS) protected readonly options: ResolvedImageResizeOptions,
    /** Where refusals made here (a size the route does not offer, a null source) are counted. */
    @Optional() protected readonly metrics?: ImageResizeMetrics,
  ) {}

  /**
   * Reads one request to the route with options `route`, before its handler runs. `response` is the
   * platform's response, whose headers (the route's `@Header()`s) are read when the image is written.
   */
  prepare(route: ResizedImageOptions, exchange: ImageExchange, response?: ResponseHeaders): ResizedImageCall {
    const redraw = exchange.query.redraw !== undefined && this.isRedrawAllowed(exchange);
    // Read only once the spec (and so the signature, which covers `exp`) has been checked.
    const spec = this.resolvedSpec(route, exchange, redraw);
    const exp = route.signed ? exchange.query[EXPIRY_PARAM] : undefined;
    return new ResizedImageCall(
      this,
      spec,
      exchange,
      route.cacheControl ?? this.options.cacheControl,
      typeof exp === 'string' ? Number(exp) : undefined,
      typeof response?.getHeader === 'function' ? response : undefined,
    );
  }

  /** Serves `source` for `call`: 200 with the image, 304 when the client's copy is current, errors thrown. */
  async respond(call: ResizedImageCall, source: ImageSource | null | undefined): Promise<void> {
    const { exchange } = call;
    if (source === null || source === undefined) {
      const error = new ImageNotFoundError();
      this.reportRefusal(error, exchange, `No image for`, `the handler returned ${source}`);
      throw error;
    }
    let image: ResizedImageResult;
    try {
      image = await this.service.resizeResolved(source, call.spec);
    } catch (error) {
      if (error instanceof ProcessingTimeoutError || error instanceof OverloadedError) {
        exchange.header('Retry-After', String(error.retryAfterSeconds));
      }
      throw error;
    }
    if (call.expiresAt !== undefined) {
      // A signed URL that expires is kept by clients and CDNs no longer than it is valid.
      const left = Math.max(0, call.expiresAt - Math.floor(Date.now() / 1000));
      if (left < image.ttl) image = { ...image, ttl: left };
    }
    // A Cache-Control the route set itself (`@Header()`) is the route's word: it is kept, not replaced.
    this.setHeaders(exchange, image, call.hasOwnCacheControl() ? null : call.cacheControl);
    if (fresh(exchange.headers, { etag: image.etag })) {
      exchange.removeHeader('Content-Type');
      exchange.send(304);
      return;
    }
    exchange.header('Content-Length', image.body.length);
    exchange.send(200, image.body);
  }

  /**
   * The resolved spec of one request. What decides it — the route, `?preset`, `?w`, redraw and, for
   * `format: 'auto'`, the `Accept` header — repeats from request to request, so the result is kept per
   * route (unless the route is signed, or a subclass reads the spec from elsewhere).
   */
  private resolvedSpec(
    route: ResizedImageOptions,
    exchange: ImageExchange,
    redraw: boolean,
  ): ResolvedResizeSpec {
    const { query, headers } = exchange;
    // The service counts the refusals of resolveSpec; those of specFor are counted here.
    const resolve = () =>
      this.service.resolveSpec({ ...this.requestedSpec(route, exchange), accept: headers.accept, redraw });
    if (route.signed || this.specFor !== ResizedImageResponder.prototype.specFor) return resolve();
    let specs = this.specs.get(route);
    if (!specs) {
      specs = new Map();
      this.specs.set(route, specs);
    }
    const preset = route.presets ? query.preset : undefined;
    const w = route.widths ? query.w : undefined;
    const accept = route.format === 'auto' || route.presets ? (headers.accept ?? '') : '';
    if (typeof preset === 'object' || typeof w === 'object') return resolve(); // repeated: specFor refuses it
    const placeholder = route.placeholder && query.placeholder !== undefined ? 1 : 0;
    const key = `${redraw ? 1 : 0}|${placeholder}|${preset ?? ''}|${w ?? ''}|${accept}`;
    let spec = specs.get(key);
    if (!spec) {
      spec = Object.freeze(resolve());
      // Bounded: presets and widths are the route's own, but Accept headers are the clients'.
      if (specs.size >= MAX_SPECS_PER_ROUTE) specs.clear();
      specs.set(key, spec);
    }
    return spec;
  }

  /** {@link specFor}, counting and logging (at debug: it is the client's mistake) what it refuses. */
  private requestedSpec(
    route: ResizedImageOptions,
    exchange: ImageExchange,
  ): Omit<ResizeSpec, 'redraw' | 'accept'> {
    try {
      return this.specFor(route, exchange);
    } catch (error) {
      this.reportRefusal(error, exchange, 'Refused');
      throw error;
    }
  }

  /** Counts a request refused before the service was asked, and logs it at debug: `<what> GET /path: 400 <reason>`. */
  private reportRefusal(error: unknown, exchange: ImageExchange, what: string, detail?: string): void {
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const reason = loggableMessage(error);
    this.metrics?.emit({ type: 'failed', status, reason });
    const method = (exchange.request as { method?: unknown }).method;
    const route = `${typeof method === 'string' ? `${method} ` : ''}${redactAddresses(exchange.path)}`;
    this.logger.debug(`${what} ${route}: ${status} ${detail ?? reason}`);
  }

  /** The spec of this request: the route's, a preset, an allowlisted width, or signed query values. */
  protected specFor(
    options: ResizedImageOptions,
    exchange: ImageExchange,
  ): Omit<ResizeSpec, 'redraw' | 'accept'> {
    return specFromRequest(options, exchange.query, () =>
      this.service.verifySignedUrl(exchange.path, exchange.query),
    );
  }

  /** Whether this request's `?redraw` may bypass the cache (`allowRedraw` sees the platform's request). */
  protected isRedrawAllowed(exchange: ImageExchange): boolean {
    if (exchange.query.redraw === undefined) return false;
    const allow = this.options.allowRedraw;
    const allowed =
      typeof allow === 'function' ? allow(exchange.request as unknown as RedrawRequest) === true : allow;
    if (!allowed) this.logger.debug(`Ignored ?redraw on ${exchange.path}: not allowed by allowRedraw`);
    return allowed;
  }

  /**
   * Sets the caching and content headers of a resized image. `cacheControl` is `null` when the
   * response already carries the route's own `Cache-Control`: then neither it nor an `Expires` (which
   * could contradict it) is written.
   */
  protected setHeaders(
    exchange: ImageExchange,
    image: ResizedImageResult,
    cacheControl: CacheControlOptions | null,
  ): void {
    exchange.header('Content-Type', image.contentType);
    if (cacheControl) {
      exchange.header('Cache-Control', cacheControlHeader(image.ttl, cacheControl));
      exchange.header('Expires', this.expiresHeader(image.ttl));
    }
    exchange.header('ETag', image.etag);
    exchange.header('X-Cache', image.cacheStatus);
    exchange.header('X-Content-Type-Options', 'nosniff');
    if (image.negotiated) exchange.vary('Accept');
  }

  /** The `Expires` date of a response made now that may be kept `ttl` seconds. */
  protected expiresHeader(ttl: number): string {
    const second = Math.floor(Date.now() / 1000);
    let cached = this.expires.get(ttl);
    if (cached?.second !== second) {
      cached = { second, value: new Date((second + ttl) * 1000).toUTCString() };
      if (this.expires.size > 64) this.expires.clear();
      this.expires.set(ttl, cached);
    }
    return cached.value;
  }
}

/**
 * `private, max-age=<ttl>` for a private image (checked at boot to come without `sMaxAge` and
 * `immutable`; never sent with them here either); else `public, max-age=<ttl>`, then `s-maxage` and
 * `immutable` where asked for.
 */
export function cacheControlHeader(ttl: number, extra: CacheControlOptions): string {
  if (extra.private) return `private, max-age=${ttl}`;
  let header = `public, max-age=${ttl}`;
  if (extra.sMaxAge !== undefined) header += `, s-maxage=${extra.sMaxAge}`;
  if (extra.immutable) header += ', immutable';
  return header;
}
