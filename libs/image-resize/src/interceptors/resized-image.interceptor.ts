import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  StreamableFile,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import fresh from 'fresh';
import { from, type Observable, switchMap } from 'rxjs';
import {
  IMAGE_RESIZE_LOGGER_CONTEXT,
  IMAGE_RESIZE_OPTIONS,
  RESIZED_IMAGE_METADATA,
} from '../image-resize.constants';
import { ImageNotFoundError, OverloadedError, ProcessingTimeoutError } from '../errors/image-resize.errors';
import { ImageResizeService } from '../image-resize.service';
import type {
  CacheControlOptions,
  ResolvedImageResizeOptions,
  RedrawRequest,
} from '../interfaces/image-resize-options.interface';
import type { ImageSource } from '../interfaces/image-source.interface';
import type { ResizeSpec } from '../interfaces/resize-spec.interface';
import type { ResizedImageOptions } from '../decorators/resized-image.decorator';
import { specFromRequest } from './request-spec.resolver';
import type { ResizedImageResult } from '../interfaces/resized-image.interface';

/**
 * Turns what a `@ResizedImage()` handler returns into an image response. Applied by the decorator;
 * subclass it and override the protected hooks to change how redraw is decided or headers are set.
 */
@Injectable()
export class ResizedImageInterceptor implements NestInterceptor {
  protected readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);

  constructor(
    protected readonly service: ImageResizeService,
    protected readonly reflector: Reflector,
    @Inject(IMAGE_RESIZE_OPTIONS) protected readonly options: ResolvedImageResizeOptions,
  ) {}

  intercept(
    context: ExecutionContext,
    next: CallHandler<ImageSource | null | undefined>,
  ): Observable<unknown> {
    const options = this.reflector.get<ResizedImageOptions | undefined>(
      RESIZED_IMAGE_METADATA,
      context.getHandler(),
    );
    if (!options || context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    // Checked before the handler runs: a request for a size the route does not offer costs nothing.
    const spec: ResizeSpec = {
      ...this.specFor(options, request),
      accept: request.headers.accept,
      redraw: this.isRedrawAllowed(request),
    };
    const cacheControl = options.cacheControl ?? this.options.cacheControl;
    return next
      .handle()
      .pipe(switchMap((source) => from(this.respond(source, spec, request, response, cacheControl))));
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
    response.setHeader('Expires', new Date(Date.now() + image.ttl * 1000).toUTCString());
    response.setHeader('ETag', image.etag);
    response.setHeader('X-Cache', image.cacheStatus);
    response.setHeader('X-Content-Type-Options', 'nosniff');
    if (image.negotiated) response.vary('Accept');
  }

  private async respond(
    source: ImageSource | null | undefined,
    spec: ResizeSpec,
    request: Request,
    response: Response,
    cacheControl: CacheControlOptions,
  ): Promise<StreamableFile | undefined> {
    if (source === null || source === undefined) throw new ImageNotFoundError();
    let image: ResizedImageResult;
    try {
      image = await this.service.resize(source, spec);
    } catch (error) {
      if (error instanceof ProcessingTimeoutError || error instanceof OverloadedError) {
        response.setHeader('Retry-After', String(error.retryAfterSeconds));
      }
      throw error;
    }
    this.setHeaders(response, image, cacheControl);
    if (fresh(request.headers, { etag: image.etag })) {
      response.status(304);
      return undefined;
    }
    response.setHeader('Content-Length', image.body.length);
    if (request.method === 'HEAD') return undefined;
    return new StreamableFile(image.body, { type: image.contentType, length: image.body.length });
  }
}

/** `public, max-age=<ttl>`, then `s-maxage` and `immutable` where asked for. */
export function cacheControlHeader(ttl: number, extra: CacheControlOptions): string {
  let header = `public, max-age=${ttl}`;
  if (extra.sMaxAge !== undefined) header += `, s-maxage=${extra.sMaxAge}`;
  if (extra.immutable) header += ', immutable';
  return header;
}
