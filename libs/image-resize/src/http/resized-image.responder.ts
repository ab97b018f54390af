import {
  type ArgumentMetadata,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type PipeTransform,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import fresh from 'fresh';
import { IMAGE_RESIZE_LOGGER_CONTEXT, IMAGE_RESIZE_OPTIONS } from '../image-resize.constants';
import { ImageNotFoundError, OverloadedError, ProcessingTimeoutError } from '../errors/image-resize.errors';
import { ImageResizeService } from '../image-resize.service';
import type {
  CacheControlOptions,
  RedrawRequest,
  ResolvedImageResizeOptions,
} from '../interfaces/image-resize-options.interface';
import type { ImageSource } from '../interfaces/image-source.interface';
import type { ResizeSpec, ResolvedResizeSpec } from '../interfaces/resize-spec.interface';
import type { ResizedImageResult } from '../interfaces/resized-image.interface';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { specFromRequest } from './request-spec.resolver';

/** Resolved specs kept per route; past this many (Accept headers are the clients'), the memo starts over. */
const MAX_SPECS_PER_ROUTE = 256;

/**
 * One request to a `@ResizedImage()` route, read before its handler ran. The decorated method answers
 * with {@link ResizedImageCall.send}, given what the handler returned.
 */
export class ResizedImageCall {
  constructor(
    private readonly responder: ResizedImageResponder,
    /** The spec of this request, checked and with every default applied. */
    readonly spec: ResolvedResizeSpec,
    readonly request: Request,
    readonly response: Response,
    /** The route's `Cache-Control` extras, else the module's. */
    readonly cacheControl: CacheControlOptions,
  ) {}

  /** Answers the request with the image of `source`; `null`/`undefined` is a 404. */
  send(source: ImageSource | null | undefined): Promise<void> {
    return this.responder.respond(this, source);
  }
}

/**
 * The HTTP side of `@ResizedImage()`. Before the handler runs it reads the request (size, format,
 * redraw) and refuses sizes the route does not offer; afterwards it asks {@link ImageResizeService}
 * for the image and writes the response itself: status, headers and bytes in one `end()`, with no
 * stream, serialisation or hashing on a cache hit.
 *
 * The decorator binds it to each call as the pipe of an extra handler parameter, so it is resolved
 * in the module of the controller, which must import `ImageResizeModule`. Subclass it and override
 * the protected hooks to change how sizes are read, redraw is decided or headers are set.
 */
@Injectable()
export class ResizedImageResponder implements PipeTransform<ExecutionContext, ResizedImageCall> {
  protected readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  /** Resolved specs per route, by what decides them (see {@link resolvedSpec}). */
  private readonly specs = new WeakMap<ResizedImageOptions, Map<string, ResolvedResizeSpec>>();
  /** `Expires` changes once a second; it is formatted once a second per TTL. */
  private readonly expires = new Map<number, { second: number; value: string }>();

  constructor(
    protected readonly service: ImageResizeService,
    @Inject(IMAGE_RESIZE_OPTIONS) protected readonly options: ResolvedImageResizeOptions,
  ) {}

  /** Reads one request to the route whose options are `metadata.data`. */
  transform(context: ExecutionContext, metadata: ArgumentMetadata): ResizedImageCall {
    const route = metadata.data as ResizedImageOptions;
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const query = (request.query ?? {}) as Record<string, unknown>;
    const redraw = query.redraw !== undefined && this.isRedrawAllowed(request);
    return new ResizedImageCall(
      this,
      this.resolvedSpec(route, request, query, redraw),
      request,
      http.getResponse<Response>(),
      route.cacheControl ?? this.options.cacheControl,
    );
  }

  /** Serves `source` for `call`: 200 with the image, 304 when the client's copy is current, errors thrown. */
  async respond(call: ResizedImageCall, source: ImageSource | null | undefined): Promise<void> {
    const { request, response } = call;
    if (source === null || source === undefined) throw new ImageNotFoundError();
    let image: ResizedImageResult;
    try {
      image = await this.service.resizeResolved(source, call.spec);
    } catch (error) {
      if (error instanceof ProcessingTimeoutError || error instanceof OverloadedError) {
        response.setHeader('Retry-After', String(error.retryAfterSeconds));
      }
      throw error;
    }
    this.setHeaders(response, image, call.cacheControl);
    if (fresh(request.headers, { etag: image.etag })) {
      response.removeHeader('Content-Type');
      response.statusCode = 304;
      response.end();
      return;
    }
    response.setHeader('Content-Length', image.body.length);
    response.statusCode = 200;
    response.end(request.method === 'HEAD' ? undefined : image.body);
  }

  /**
   * The resolved spec of one request. What decides it — the route, `?preset`, `?w`, redraw and, for
   * `format: 'auto'`, the `Accept` header — repeats from request to request, so the result is kept per
   * route (unless the route is signed, or a subclass reads the spec from elsewhere).
   */
  private resolvedSpec(
    route: ResizedImageOptions,
    request: Request,
    query: Record<string, unknown>,
    redraw: boolean,
  ): ResolvedResizeSpec {
    const resolve = () =>
      this.service.resolveSpec({ ...this.specFor(route, request), accept: request.headers.accept, redraw });
    if (route.signed || this.specFor !== ResizedImageResponder.prototype.specFor) return resolve();
    let specs = this.specs.get(route);
    if (!specs) {
      specs = new Map();
      this.specs.set(route, specs);
    }
    const preset = route.presets ? query.preset : undefined;
    const w = route.widths ? query.w : undefined;
    const accept = route.format === 'auto' || route.presets ? (request.headers.accept ?? '') : '';
    if (typeof preset === 'object' || typeof w === 'object') return resolve(); // repeated: specFor refuses it
    const key = `${redraw ? 1 : 0}|${preset ?? ''}|${w ?? ''}|${accept}`;
    let spec = specs.get(key);
    if (!spec) {
      spec = Object.freeze(resolve());
      // Bounded: presets and widths are the route's own, but Accept headers are the clients'.
      if (specs.size >= MAX_SPECS_PER_ROUTE) specs.clear();
      specs.set(key, spec);
    }
    return spec;
  }

  /** The spec of this request: the route's, a preset, an allowlisted width, or signed query values. */
  protected specFor(options: ResizedImageOptions, request: Request): Omit<ResizeSpec, 'redraw' | 'accept'> {
    const query = (request.query ?? {}) as Record<string, unknown>;
    return specFromRequest(options, query, () =>
      this.service.verifySignedUrl(request.originalUrl.split('?')[0], query),
    );
  }

  /** Whether this request's `?redraw` may bypass the cache. */
  protected isRedrawAllowed(request: Request): boolean {
    const query = request.query as Record<string, unknown> | undefined;
    if (!query || query.redraw === undefined) return false;
    const allow = this.options.allowRedraw;
    const allowed = typeof allow === 'function' ? allow(request as unknown as RedrawRequest) === true : allow;
    if (!allowed) this.logger.debug(`Ignored ?redraw on ${request.path}: not allowed by allowRedraw`);
    return allowed;
  }

  /** Sets the caching and content headers of a resized image. */
  protected setHeaders(
    response: Response,
    image: ResizedImageResult,
    cacheControl: CacheControlOptions,
  ): void {
    response.setHeader('Content-Type', image.contentType);
    response.setHeader('Cache-Control', cacheControlHeader(image.ttl, cacheControl));
    response.setHeader('Expires', this.expiresHeader(image.ttl));
    response.setHeader('ETag', image.etag);
    response.setHeader('X-Cache', image.cacheStatus);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    if (image.negotiated) response.vary('Accept');
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

/** `public, max-age=<ttl>`, then `s-maxage` and `immutable` where asked for. */
export function cacheControlHeader(ttl: number, extra: CacheControlOptions): string {
  let header = `public, max-age=${ttl}`;
  if (extra.sMaxAge !== undefined) header += `, s-maxage=${extra.sMaxAge}`;
  if (extra.immutable) header += ', immutable';
  return header;
}
