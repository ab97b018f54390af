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
import { type OutageImageTier, outageTierOf } from './cache/outage-image.tier';
import { type OriginCheck, OriginFreshness } from './cache/origin-freshness';
import type { RevalidationPolicy } from './cache/origin-record';
import { ConditionalSourceLoader } from './sources/conditional-source.loader';
import { holdSlotLike, ResizeQueue } from './processors/resize.queue';
import { FileImageReader } from './sources/file-image.reader';
import { type HeldSource, SourceAdmission } from './sources/source-admission';
import { derivedCacheKey, givenCacheKey, toDescriptor, unnamedSource } from './sources/source-descriptors';
import { assertCacheKey, hashedCacheKey } from './spec/variant.keys';
import { resolveResizeSpec } from './spec/resize-spec.resolver';
import { memoizedNegotiator } from './spec/format.negotiation';
import type { CachedImage, CacheProblemKind, ImageCache, ImageCacheKey } from './cache/image-cache.interface';
import type { ImageProcessor, ProcessedImage } from './processors/image-processor.interface';
import type { Placeholder as ImagePlaceholder } from './page/placeholder.work';
import { ResizedImageRoutes, type ResizedImageRoute } from './page/resized-image.routes';
import { type RouteParamValue, routePath } from './page/route-path';
import { imageAttributes } from './page/image-attributes';
import { type ImgAttributes, type ImgAttributesOptions, placeholderStyle } from './page/img-attributes';
import type { ResolvedImageResizeOptions } from './options/image-resize-options.interface';
import type { ImageSource, ImageSourceDescriptor } from './sources/image-source.interface';
import type { ImageSourceLoader } from './sources/image-source-loader.interface';
import type { ResizeSpec, ResolvedResizeSpec } from './spec/resize-spec.interface';
import type { CacheStatus, ResizedImageResult } from './resized-image.result';
import { MemoryImageCache } from './cache/memory-image.cache';
import { RedisImageCache } from './cache/redis-image.cache';
import { CacheManagerImageCache } from './cache/cache-manager-image.cache';
import {
  type CacheTier,
  type LookupTrace,
  type OpenTrace,
  type PipelineTracing,
  type TraceSpan,
  tracing,
} from './tracing/image-resize.tracing';

/** What {@link ImageResizeService.health} reports. */
export interface ImageResizeHealth {
  /**
   * Whether this instance should take requests: false from the moment the application starts shutting
   * down. A cache that is down does not make it false: images are then served without the cache
   * (see {@link ImageResizeHealth.cacheUp}, and the health indicator's `requireCache`).
   */
  ready: boolean;
  /** True once the application has begun to shut down (`app.close()`, or a signal with shutdown hooks). */
  stopping: boolean;
  /** The cache's class, e.g. `RedisImageCache` or `MemoryImageCache`. */
  cache: string;
  /** Whether the cache answers (always true for caches that cannot be unreachable). */
  cacheUp: boolean;
  /**
   * Why the cache is not usable, while that lasts: `auth` (password or user), `tls`, `permission`
   * (an ACL), `network`, or `unknown`, with a message naming what failed (never an address or a secret).
   */
  cacheProblem?: { kind: CacheProblemKind; message: string };
  /** With Redis's hot tier: whether it serves now (it is off while its subscription is down). */
  hotTier?: boolean;
  /** With Redis: whether the circuit breaker keeps commands from being sent now. */
  breakerOpen?: boolean;
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
  /** Set when the application begins to shut down: readiness is false from then on. */
  private stopping = false;
  /** The tier a hit of the cache comes from unless the cache names another (for traces). */
  private readonly cacheTier: CacheTier;
  /** The Redis cache's outage tier, if the cache has one: what answers while Redis does not. */
  private readonly outage: OutageImageTier | undefined;

  /** @internal Nest makes the service; its dependencies are the module's own providers. */
  constructor(
    @Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions,
    @Inject(IMAGE_RESIZE_CACHE) private readonly cache: ImageCache,
    @Inject(IMAGE_PROCESSOR) private readonly processor: ImageProcessor,
    @Inject(IMAGE_SOURCE_LOADER) loader: ImageSourceLoader,
    private readonly metrics: ImageResizeMetrics,
    @Optional() @Inject(URL_SIGNER) private readonly signer: UrlSigner | null = null,
    @Optional() @Inject(ResizedImageRoutes) private readonly routes: ResizedImageRoutes | null = null,
  ) {
    this.variants = new VariantStore(cache, options);
    this.queue = new ResizeQueue(options.concurrency, options.maxQueue);
    this.conditional = new ConditionalSourceLoader(loader);
    this.sources = new SourceAdmission(this.conditional, options, (source, loaded) =>
      metrics.emit({
        type: 'fetched',
        source,
        bytes: loaded.body.length,
        notModified: loaded.notModified === true,
      }),
    );
    this.freshness = new OriginFreshness(cache, options);
    this.files = new FileImageReader(options.sources.fileRoot);
    this.cacheTier = cacheTierOf(cache);
    this.outage = outageTierOf(cache);
  }

  /**
   * Nest's `onModuleDestroy`: lets the checks of originals under way end (each bounded by
   * `fetchTimeoutMs`) while the cache is still there.
   *
   * @internal
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    await this.freshness.settled();
  }

  /**
   * Nest's `beforeApplicationShutdown`, before the HTTP server, the image workers and the Redis
   * connection close: waits until the misses this process is making (those that requests arriving
   * meanwhile start too) are made and stored, for at most `shutdownDrainMs`. Past it, logs how many are
   * left and releases their locks, so that other instances make those images rather than wait.
   *
   * @internal
   */
  async beforeApplicationShutdown(): Promise<void> {
    const left = await this.variants.drained(Date.now() + this.options.shutdownDrainMs);
    if (left === 0) return;
    await this.variants.releaseLocks();
    this.logger.warn(
      `Shutting down with ${left} ${left === 1 ? 'miss' : 'misses'} still being made after shutdownDrainMs (${this.options.shutdownDrainMs} ms): they may fail and not be cached`,
    );
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

  /**
   * Whether this instance is ready (it is not once shutdown has begun), whether its cache answers
   * (one round trip: a `PING` for Redis) and why not, and how much work is under way. Never throws.
   * For probes, the `nestjs-image-resize/terminus` indicator wraps it.
   */
  async health(): Promise<ImageResizeHealth> {
    let cacheUp = true;
    try {
      await this.cache.ping?.();
    } catch {
      cacheUp = false;
    }
    const state = this.cache.state?.();
    const health: ImageResizeHealth = {
      ready: !this.stopping,
      stopping: this.stopping,
      cache: this.cache.constructor.name,
      cacheUp,
      inFlight: this.variants.inFlight,
      queued: this.queue.depth,
      sourceBytesInFlight: this.sources.inFlight,
    };
    if (state?.problem) health.cacheProblem = { ...state.problem };
    if (state?.hotTier !== undefined) health.hotTier = state.hotTier;
    if (state?.breakerOpen !== undefined) health.breakerOpen = state.breakerOpen;
    return health;
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
   * The placeholder of an original: a tiny preview as a `data:` URL (a 16 px WebP, a few hundred
   * bytes: blur it when shown), its dominant colour, and the original's width and height. Made from the
   * same single-flighted load as the variants, on first request only, and cached with them under the
   * source's cacheKey: `purge()` removes it with them, and it is revalidated with them.
   *
   * @param source the original, as for {@link resize}
   * @param options its `cacheKey` (else the source's own, else derived as for {@link resize}) and `ttl`
   * @throws the errors of {@link resize}
   */
  async placeholder(
    source: ImageSource,
    options: Pick<ResizeSpec, 'cacheKey' | 'ttl'> = {},
  ): Promise<ImagePlaceholder> {
    const result = await this.resize(source, {
      ...options,
      width: PLACEHOLDER_BOX,
      height: PLACEHOLDER_BOX,
      format: 'webp',
      placeholder: true,
    });
    return parsePlaceholder(result.body);
  }

  /**
   * The attributes of an `<img>` for a `@ResizedImage()` route: `src`, a `srcset` of the other sizes
   * the route offers of the same picture (by width, `320w`, when `sizes` is given or the route has
   * `widths`; else by density, `2x`, for a fixed box), `sizes`, and `width` / `height` — the size the
   * image will be shown at, so that the page reserves its box and does not move when it arrives.
   *
   * Every URL is one the route accepts (each is read back through the route's own rules and the
   * module's limits), signed on a `signed: true` route. With `source` (what the route's handler returns
   * for these `params`), `width` and `height` come from the original's own size, and the placeholder
   * comes along: both from the cache (made once, on first request: see {@link placeholder}).
   *
   * Values are not HTML-escaped: write them with {@link renderImgAttributes}, or escape them yourself.
   *
   * @example
   * ```ts
   * const logo = await images.imgAttributes([AssetsController, 'logo'], { slug }, {
   *   source: { url: asset.logoUrl, cacheKey: `logo_${slug}` },
   *   choose: { width: 128, height: 128 },
   * });
   * return `<img ${renderImgAttributes(logo)} alt="">`;
   * ```
   * @param route the route's path pattern (`'/assets/:slug/logo'`, global prefix included) or `[Controller, 'method']`
   * @param params the route's path parameters, e.g. `{ slug: 'acme' }` (percent-encoded here)
   * @throws ImageResizeConfigError for a route that is not a `@ResizedImage()` route of the application
   * @throws ImageAttributesError when the choice is not one the route offers, or a parameter is missing
   * @throws the errors of {@link resize} when `source` cannot be loaded or read
   */
  async imgAttributes(
    route: ResizedImageRoute,
    params: Readonly<Record<string, RouteParamValue>>,
    options: ImgAttributesOptions = {},
  ): Promise<ImgAttributes> {
    if (!this.routes) {
      throw new ImageResizeConfigError('imgAttributes() needs the service made by ImageResizeModule');
    }
    const entry = this.routes.find(route);
    const { source, expiresIn, placeholder: wanted, ...choice } = options;
    const original =
      source !== undefined
        ? await this.placeholder(
            source,
            pickDefined({ cacheKey: entry.options.cacheKey, ttl: entry.options.ttl }),
          )
        : undefined;
    const path = routePath(entry.pattern, params);
    const attributes: ImgAttributes = imageAttributes(entry.options, path, {
      ...choice,
      limits: this.options,
      ...(original ? { intrinsic: { width: original.width, height: original.height } } : {}),
      ...(entry.options.signed
        ? {
            signer: (url, query) =>
              this.signUrl(url, query, expiresIn === undefined ? undefined : { expiresIn }),
          }
        : {}),
    });
    if (original && wanted !== false) {
      attributes.placeholder = original;
      attributes.style = placeholderStyle(original);
    }
    return attributes;
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
    // With tracing, the lookup's span stays open until what answered is known (the outage tier, below).
    const traced: LookupTrace | undefined = tracing?.lookup();
    const cached = traced
      ? await traced.run(() => this.variants.lookup(ref))
      : await this.variants.lookup(ref);
    if (cached && cached !== 'unavailable') {
      traced?.end(this.cacheTier);
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
      traced?.end('none', cached === 'unavailable');
      unread();
      const waitStarted = Date.now();
      const wait = tracing?.wait('same_instance');
      const shared = await (wait ? traceWait(wait, pending) : pending);
      this.metrics.emit({ type: 'waited', waitMs: Date.now() - waitStarted });
      return shared;
    }
    if (cached === 'unavailable') {
      // Redis did not answer (or a purge of the group is kept): what this instance made lately, while
      // it was so, is answered again for as long as its outage tier keeps it (see OutageImageTier).
      const outage = this.outage;
      const copy = outage?.get(ref.key);
      traced?.end(copy ? 'outage' : 'none', true);
      if (copy) {
        unread();
        return toResult(copy.image, 'BYPASS', spec, ref.key, copy.ttl);
      }
      const uncached: Uncached = {
        uncached: true,
        ttl: this.freshness.madeTtl(policy, spec.ttl),
        outage: outage && { tier: outage, mark: outage.mark },
      };
      return this.variants.share(ref.key, this.produce(descriptor, preloaded, spec, ref, 'BYPASS', uncached));
    }
    traced?.end('none');
    const waitStarted = Date.now();
    // With tracing, a wait for another instance's make is a span of its own, from the moment its lock is
    // found taken until the image appears (found) or this instance makes it after all (made).
    let wait: OpenTrace | undefined;
    const found = (image: CachedImage) => {
      wait?.end('found');
      unread();
      this.metrics.emit({ type: 'waited', waitMs: Date.now() - waitStarted });
      return toResult(image, 'HIT', spec, ref.key, this.freshness.madeTtl(policy, spec.ttl));
    };
    const make = () => {
      wait?.end('made');
      return this.produce(descriptor, preloaded, spec, ref, 'MISS', policy);
    };
    const tracer = tracing;
    if (!tracer) return this.variants.share(ref.key, this.variants.once(ref, make, found));
    const made = this.variants.once(ref, make, found, () => void (wait = tracer.wait('other_instance')));
    made.catch(() => wait?.end('failed'));
    return this.variants.share(ref.key, made);
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
   * @param store an {@link Uncached}: not stored (the cache failed the lookup); otherwise stored, and
   *   this is the revalidation policy of its original (`undefined`: not revalidated)
   */
  private async produce(
    descriptor: ImageSourceDescriptor,
    preloaded: HeldSource | undefined,
    spec: ResolvedResizeSpec,
    ref: ImageCacheKey,
    status: CacheStatus,
    store: RevalidationPolicy | undefined | Uncached,
  ): Promise<ResizedImageResult> {
    const started = Date.now();
    const held = preloaded ?? (await this.sources.load(descriptor));
    try {
      let queuedMs = 0;
      const processed = await this.queue.run(
        () =>
          tracing
            ? this.tracedProcess(tracing, held.loaded.body, spec, queuedMs)
            : this.process(held.loaded.body, spec),
        (waitMs) => {
          queuedMs = waitMs;
          this.metrics.emit({ type: 'queued', waitMs });
        },
      );
      const image: CachedImage = { ...processed, etag: etag(processed.body) };
      let ttl: number;
      if (store !== undefined && 'uncached' in store) {
        ttl = store.ttl;
        store.outage?.tier.keep(ref, image, ttl, store.outage.mark);
      } else {
        const stored = () =>
          this.freshness.stored(ref.group, held.loaded, store, spec.ttl, () =>
            this.variants.store(ref, image, spec.ttl),
          );
        ttl = tracing
          ? await tracing.inSpan('image_resize.store', (span) => {
              span.setAttribute('image_resize.output.bytes', image.body.length);
              span.setAttribute('image_resize.ttl', spec.ttl);
              return stored();
            })
          : await stored();
      }
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

  /** Decodes and resizes `input` (or makes its placeholder), in the queue's slot. */
  private process(input: Buffer, spec: ResolvedResizeSpec): Promise<ProcessedImage> {
    return spec.placeholder ? this.makePlaceholder(input) : this.processor.process(input, spec);
  }

  /**
   * {@link process} in a span `image_resize.resize`: the bytes in, the image out (bytes, format, width,
   * height), and how long it waited for its slot. The slot is held as long as the processor holds it.
   */
  private tracedProcess(
    tracer: PipelineTracing,
    input: Buffer,
    spec: ResolvedResizeSpec,
    queuedMs: number,
  ): Promise<ProcessedImage> {
    let result: Promise<ProcessedImage> | undefined;
    const traced = tracer.inSpan('image_resize.resize', (span) => {
      traceResize(span, input, spec, queuedMs);
      result = this.process(input, spec);
      return result.then((image) => traceOutput(span, image));
    });
    return result ? holdSlotLike(traced, result) : traced;
  }

  /** The placeholder of `input`, as the cache keeps it: its JSON, with the original's size. */
  private async makePlaceholder(input: Buffer): Promise<ProcessedImage> {
    if (!this.processor.placeholder) {
      throw new ImageResizeConfigError(
        `placeholders need an image processor with a placeholder() method; ${this.processor.constructor.name} has none`,
      );
    }
    const { dataUrl, color, width, height, bytes } = await this.processor.placeholder(input);
    const placeholder: ImagePlaceholder = { dataUrl, color, width, height, bytes };
    return {
      body: Buffer.from(JSON.stringify(placeholder)),
      contentType: 'application/json',
      width,
      height,
      format: 'webp',
    };
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

/** How {@link ImageResizeService} answers a miss made while the cache failed its lookup: not stored. */
interface Uncached {
  uncached: true;
  /** Seconds clients may keep it: as long as a miss made now (`ttl`, or `revalidateAfter` if sooner). */
  ttl: number;
  /** The outage tier that keeps it meanwhile, and its mark taken before the make (see {@link OutageImageTier.keep}). */
  outage?: { tier: OutageImageTier; mark: number };
}

/** The tier a hit of `cache` comes from, when the cache does not say (for traces). */
function cacheTierOf(cache: ImageCache): CacheTier {
  if (!tracing) return 'none';
  if (cache instanceof RedisImageCache) return 'redis';
  if (cache instanceof MemoryImageCache) return 'memory';
  if (cache instanceof CacheManagerImageCache) return 'cache-manager';
  return 'custom';
}

/** `work`, with `wait` ended when it settles: `found` (another request made it) or `failed`. */
function traceWait<T>(wait: OpenTrace, work: Promise<T>): Promise<T> {
  work.then(
    () => wait.end('found'),
    () => wait.end('failed'),
  );
  return work;
}

/** The attributes of a resize's span known when it starts. */
function traceResize(span: TraceSpan, input: Buffer, spec: ResolvedResizeSpec, queuedMs: number): void {
  span.setAttribute('image_resize.source.bytes', input.length);
  span.setAttribute('image_resize.queue.wait_ms', queuedMs);
  if (spec.placeholder) span.setAttribute('image_resize.placeholder', true);
}

/** The attributes of the image a resize made; returns `image`. */
function traceOutput(span: TraceSpan, image: ProcessedImage): ProcessedImage {
  span.setAttribute('image_resize.output.bytes', image.body.length);
  span.setAttribute('image_resize.output.format', image.format);
  span.setAttribute('image_resize.output.width', image.width);
  span.setAttribute('image_resize.output.height', image.height);
  return image;
}

/** `values` without its undefined entries. */
function pickDefined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** The box a placeholder's spec names (its key does not: the placeholder has its own). */
const PLACEHOLDER_BOX = 16;

/** The placeholder a cache kept, as JSON. */
export function parsePlaceholder(body: Buffer): ImagePlaceholder {
  return JSON.parse(body.toString('utf8')) as ImagePlaceholder;
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
