import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import etag from 'etag';
import {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_LOGGER_CONTEXT,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_SOURCE_LOADER,
} from './image-resize.constants';
import { ImageResizeConfigError } from './errors/image-resize.errors';
import { reportFailure } from './errors/failure-report';
import type { SignUrlOptions, UrlSigner } from './signing/url-signer';
import { URL_SIGNER } from './signing/url-signer.provider';
import { ImageResizeMetrics } from './image-resize.metrics';
import { VariantStore } from './cache/variant.store';
import { type OriginCheck, OriginFreshness } from './cache/origin-freshness';
import type { RevalidationPolicy } from './cache/origin-record';
import { ConditionalSourceLoader } from './sources/conditional-source.loader';
import { ResizeQueue } from './processors/resize.queue';
import { FileImageReader } from './sources/file-image.reader';
import { type HeldSource, SourceAdmission } from './sources/source-admission';
import { derivedCacheKey, givenCacheKey, toDescriptor, unnamedSource } from './sources/source-descriptors';
import { assertCacheKey, hashedCacheKey } from './spec/variant.keys';
import { resolveResizeSpec } from './spec/resize-spec.resolver';
import { memoizedNegotiator } from './spec/format.negotiation';
import type { CachedImage, ImageCache, ImageCacheKey } from './cache/image-cache.interface';
import type { ImageProcessor } from './processors/image-processor.interface';
import type { ResolvedImageResizeOptions } from './options/image-resize-options.interface';
import type { ImageSource, ImageSourceDescriptor } from './sources/image-source.interface';
import type { ImageSourceLoader } from './sources/image-source-loader.interface';
import type { ResizeSpec, ResolvedResizeSpec } from './spec/resize-spec.interface';
import type { CacheStatus, ResizedImageResult } from './resized-image.result';

/** What {@link ImageResizeService.health} reports. */
export interface ImageResizeHealth {
  /** The cache's class, e.g. `RedisImageCache` or `MemoryImageCache`. */
  cache: string;
  /** Whether the cache answers (always true for caches that cannot be unreachable). */
  reachable: boolean;
  /** Misses being made right now in this process. */
  inFlight: number;
  /** Resizes waiting for a free slot (`concurrency`): the queue depth. */
  queued: number;
  /** Source bytes being loaded or held for a resize now, out of `maxSourceBytesInFlight`. */
  sourceBytesInFlight: number;
}

/**
 * Resizes images and caches the results. Usable on its own (from a resolver, a job, a custom
 * controller) as well as through `@ResizedImage()`, which is a thin HTTP adapter over it.
 *
 * The pipeline runs one way: spec and source give a cache key; a hit is returned as it is; a miss
 * loads the source (bounded), processes it (sharp), stores it, and returns it. Concurrent misses for
 * the same key in this process share one load and one resize. A hit whose original is due for a
 * check with its origin (`revalidateAfter`) is served as it is while one check runs in the background.
 */
@Injectable()
export class ImageResizeService {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly variants: VariantStore;
  private readonly queue: ResizeQueue;
  private readonly sources: SourceAdmission;
  /** The loader, through which a revalidation's load is conditional. */
  private readonly conditional: ConditionalSourceLoader;
  /** Freshness from the origin: records of originals, their checks. */
  private readonly freshness: OriginFreshness;
  /** Checks `path` sources for derived cache keys exactly as the default loader reads them. */
  private readonly files: FileImageReader;
  private readonly negotiate = memoizedNegotiator();

  /** @internal Nest makes the service; its dependencies are the module's own providers. */
  constructor(
    @Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions,
    @Inject(IMAGE_RESIZE_CACHE) private readonly cache: ImageCache,
    @Inject(IMAGE_PROCESSOR) private readonly processor: ImageProcessor,
    @Inject(IMAGE_SOURCE_LOADER) loader: ImageSourceLoader,
    private readonly metrics: ImageResizeMetrics,
    @Optional() @Inject(URL_SIGNER) private readonly signer: UrlSigner | null = null,
  ) {
    this.variants = new VariantStore(cache, options);
    this.queue = new ResizeQueue(options.concurrency, options.maxQueue);
    this.conditional = new ConditionalSourceLoader(loader);
    this.sources = new SourceAdmission(this.conditional, options);
    this.freshness = new OriginFreshness(cache, options);
    this.files = new FileImageReader(options.sources.fileRoot);
  }

  /**
   * Nest's `onModuleDestroy`: lets the checks of originals under way end (each bounded by
   * `fetchTimeoutMs`) while the cache is still there.
   *
   * @internal
   */
  async onModuleDestroy(): Promise<void> {
    await this.freshness.settled();
  }

  /**
   * Returns the resized image for `source` and `spec`, from the cache when it is there.
   *
   * @param source an http(s) URL, a Buffer, a readable stream, or `{ url | buffer | stream | path, cacheKey? }`
   * @param spec the box, format and cache behaviour; see {@link ResizeSpec}
   * @throws ImageResizeError subclasses that carry the HTTP status to answer with (400, 403, 404, 422, 502, 503, 504)
   */
  async resize(source: ImageSource, spec: ResizeSpec): Promise<ResizedImageResult> {
    return this.resizeResolved(source, this.resolveReported(spec, source));
  }

  /**
   * Checks `spec` against the module's limits and applies the defaults, negotiating `format: 'auto'`
   * from `spec.accept`; a refusal is counted and logged like any failure. `@ResizedImage()` calls it
   * before the handler runs, so that a request for a size the route does not offer costs nothing.
   *
   * @internal the first half of {@link resize}, for the HTTP responder
   */
  resolveSpec(spec: ResizeSpec): ResolvedResizeSpec {
    return this.resolveReported(spec);
  }

  /**
   * {@link resize} for a spec that {@link resolveSpec} already checked.
   *
   * @internal the second half of {@link resize}, for the HTTP responder
   */
  async resizeResolved(source: ImageSource, spec: ResolvedResizeSpec): Promise<ResizedImageResult> {
    const started = Date.now();
    try {
      const result = await this.serve(source, spec);
      this.metrics.emit({
        type: 'served',
        cacheStatus: result.cacheStatus,
        durationMs: Date.now() - started,
      });
      return result;
    } catch (error) {
      this.reportFailure(error, source, spec.cacheKey);
      throw error;
    }
  }

  /** Where the cache is, whether it answers, and how many misses are being made right now. */
  async health(): Promise<ImageResizeHealth> {
    let reachable = true;
    try {
      await this.cache.ping?.();
    } catch {
      reachable = false;
    }
    return {
      cache: this.cache.constructor.name,
      reachable,
      inFlight: this.variants.inFlight,
      queued: this.queue.depth,
      sourceBytesInFlight: this.sources.inFlight,
    };
  }

  /**
   * A signed URL for a `signed: true` route: `path` with `params` (e.g. `{ w: 320, h: 320, format:
   * 'webp' }`) and their HMAC signature, made with the first of the module's `signing.keys`. With
   * `{ expiresIn }` (seconds) or `{ expiresAt }` (a Date), the URL carries a signed `exp` and is
   * refused with 403 from then on; without, it is valid as long as its key is in `signing.keys`.
   *
   * @example `<img src="${images.signUrl('/logos/acme', { w: 320, h: 320 }, { expiresIn: 3600 })}">`
   * @throws ImageResizeConfigError when the module has no `signing` option
   * @throws RangeError or TypeError for an expiry that is not clear
   */
  signUrl(path: string, params: Record<string, string | number | boolean>, options?: SignUrlOptions): string {
    return this.requireSigner().sign(path, params, options);
  }

  /**
   * Whether `query` carries a valid signature of `path` and its other parameters, by any signing
   * key, and has not expired (its `exp`, if any, is still ahead).
   */
  verifySignedUrl(path: string, query: Record<string, unknown>): boolean {
    return this.requireSigner().verify(path, query);
  }

  /**
   * Removes every cached variant (all sizes and formats) of `cacheKey`.
   *
   * @returns how many variants were removed
   * @throws CacheUnavailableError (503) when the Redis cache cannot be reached: the purge is then kept
   *   and made, in order, as soon as Redis answers again (for as long as the process runs), and this
   *   instance stops serving the cacheKey's variants at once.
   */
  async purge(cacheKey: string): Promise<number> {
    return this.variants.purge(cacheKey);
  }

  /** Resolves `spec`, counting and logging a refusal (with the source's cacheKey when there is one). */
  private resolveReported(spec: ResizeSpec, source?: ImageSource): ResolvedResizeSpec {
    try {
      return resolveResizeSpec(spec, this.options, this.negotiate);
    } catch (error) {
      this.reportFailure(error, source, spec?.cacheKey);
      throw error;
    }
  }

  /** A hit as it is; a miss made once (in this process and across instances), or shared while it is made. */
  private async serve(source: ImageSource, spec: ResolvedResizeSpec): Promise<ResizedImageResult> {
    const descriptor = toDescriptor(source);
    let preloaded: HeldSource | undefined;
    let cacheKey = spec.cacheKey ?? descriptor.cacheKey;
    // URLs, and files that a cacheKey names (a derived one changes with the file), are revalidated.
    const policy =
      descriptor.url !== undefined || (descriptor.path !== undefined && cacheKey !== undefined)
        ? this.freshness.policyOf(spec)
        : undefined;
    if (cacheKey !== undefined) {
      assertCacheKey(cacheKey);
    } else if (descriptor.stream !== undefined) {
      // A stream can only be named by its content, so it is read before the lookup.
      preloaded = await this.sources.load(descriptor);
      cacheKey = hashedCacheKey('buf', preloaded.loaded.body);
    } else {
      cacheKey = await derivedCacheKey(descriptor, this.files);
    }
    const ref = this.variants.keyOf(cacheKey, spec);
    const unread = () => SourceAdmission.releaseUnread(descriptor, preloaded);

    // A redraw re-creates and re-caches; a cache that failed the lookup is not written to.
    if (spec.redraw) return this.produce(descriptor, preloaded, spec, ref, 'BYPASS', policy);
    const cached = await this.variants.lookup(ref);
    if (cached && cached !== 'unavailable') {
      unread();
      const ttl = policy
        ? await this.freshness.onHit(
            ref.group,
            policy,
            spec.ttl,
            () => this.originCheck(descriptor, cacheKey),
            cached.expiresAt,
          )
        : spec.ttl;
      return toResult(cached, 'HIT', spec, ref.key, ttl);
    }
    const pending = this.variants.pending<ResizedImageResult>(ref.key);
    if (pending) {
      unread();
      const waitStarted = Date.now();
      const shared = await pending;
      this.metrics.emit({ type: 'waited', waitMs: Date.now() - waitStarted });
      return shared;
    }
    if (cached === 'unavailable') {
      return this.variants.share(ref.key, this.produce(descriptor, preloaded, spec, ref, 'BYPASS', false));
    }
    const waitStarted = Date.now();
    const found = (image: CachedImage) => {
      unread();
      this.metrics.emit({ type: 'waited', waitMs: Date.now() - waitStarted });
      return toResult(image, 'HIT', spec, ref.key, this.freshness.madeTtl(policy, spec.ttl));
    };
    const make = () => this.produce(descriptor, preloaded, spec, ref, 'MISS', policy);
    return this.variants.share(ref.key, this.variants.once(ref, make, found));
  }

  /** How a check of the original of `descriptor` loads it: admitted like any load, conditionally. */
  private originCheck(descriptor: ImageSourceDescriptor, name: string): OriginCheck {
    return {
      name,
      load: (validators) => this.sources.load(this.conditional.conditional(descriptor, validators)),
    };
  }

  /**
   * Loads the source (unless it was), resizes it, stores it — with the record of its original when
   * that is revalidated — and gives its bytes back at the end.
   *
   * @param store `false`: not stored (the cache failed the lookup); otherwise stored, and this is the
   *   revalidation policy of its original (`undefined`: not revalidated)
   */
  private async produce(
    descriptor: ImageSourceDescriptor,
    preloaded: HeldSource | undefined,
    spec: ResolvedResizeSpec,
    ref: ImageCacheKey,
    status: CacheStatus,
    store: RevalidationPolicy | undefined | false,
  ): Promise<ResizedImageResult> {
    const started = Date.now();
    const held = preloaded ?? (await this.sources.load(descriptor));
    try {
      const processed = await this.queue.run(
        () => this.processor.process(held.loaded.body, spec),
        (waitMs) => this.metrics.emit({ type: 'queued', waitMs }),
      );
      const image: CachedImage = { ...processed, etag: etag(processed.body) };
      const ttl =
        store === false
          ? spec.ttl
          : await this.freshness.stored(ref.group, held.loaded, store, spec.ttl, () =>
              this.variants.store(ref, image, spec.ttl),
            );
      const durationMs = Date.now() - started;
      const sourceBytes = held.loaded.body.length;
      this.metrics.emit({
        type: 'resized',
        durationMs,
        sourceBytes,
        outputBytes: image.body.length,
        format: image.format,
      });
      this.logger.debug(
        `${status} ${ref.key}: ${sourceBytes} -> ${image.body.length} bytes in ${durationMs} ms`,
      );
      return toResult(image, status, spec, ref.key, ttl);
    } finally {
      held.release();
    }
  }

  /** Counts a failed call and logs it (see {@link reportFailure}). */
  private reportFailure(
    error: unknown,
    source: ImageSource | undefined,
    specCacheKey: string | undefined,
  ): void {
    reportFailure(
      this.logger,
      this.metrics,
      error,
      specCacheKey ?? givenCacheKey(source) ?? unnamedSource(source),
    );
  }

  private requireSigner(): UrlSigner {
    if (!this.signer) {
      throw new ImageResizeConfigError(
        'signed URLs need the option "signing": { keys: [...] } (each key 32 or more characters)',
      );
    }
    return this.signer;
  }
}

/**
 * The result of the service: the image, how it was obtained, and what HTTP needs to send it.
 *
 * @param ttl seconds it may be kept: the spec's `ttl`, or less when its original is checked sooner
 */
function toResult(
  image: CachedImage,
  cacheStatus: CacheStatus,
  spec: ResolvedResizeSpec,
  key: string,
  ttl: number,
): ResizedImageResult {
  // Field by field: an object spread of a cache's entry costs several times more on every hit.
  const { body, contentType, etag, width, height, format, expiresAt } = image;
  return {
    body,
    contentType,
    etag,
    width,
    height,
    format,
    expiresAt,
    cacheStatus,
    ttl,
    negotiated: spec.negotiated,
    key,
  };
}
