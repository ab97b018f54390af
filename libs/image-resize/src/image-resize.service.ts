import { Readable } from 'node:stream';
import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import etag from 'etag';
import { LRUCache } from 'lru-cache';
import {
  IMAGE_PROCESSOR,
  IMAGE_RESIZE_CACHE,
  IMAGE_RESIZE_LOGGER_CONTEXT,
  IMAGE_RESIZE_OPTIONS,
  IMAGE_SOURCE_LOADER,
} from './image-resize.constants';
import {
  ImageResizeConfigError,
  ImageResizeError,
  loggableMessage,
  SourceNotAllowedError,
} from './errors/image-resize.errors';
import { type SignUrlOptions, UrlSigner } from './signing/url-signer';
import { ImageResizeMetrics } from './image-resize.metrics';
import { ResizeQueue } from './processors/resize.queue';
import { FileImageReader } from './sources/file-image.reader';
import { SourceByteBudget } from './sources/source-byte.budget';
import { deadline, sourceTimeoutError } from './sources/source-deadline';
import { assertCacheKey, groupKey, hashedCacheKey, variantKey } from './spec/variant.keys';
import { isRedisClusterConfig } from './options/image-resize.options';
import { resolveResizeSpec } from './spec/resize-spec.resolver';
import { negotiateImageFormat } from './spec/format.negotiation';
import type { CachedImage, ImageCache, ImageCacheKey } from './cache/image-cache.interface';
import type { ImageProcessor } from './processors/image-processor.interface';
import type { ResolvedImageResizeOptions } from './options/image-resize-options.interface';
import type { ImageSource, ImageSourceDescriptor, LoadedSource } from './sources/image-source.interface';
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

/** A loaded source and its share of the admission budget, held until its resize has ended. */
interface HeldSource {
  loaded: LoadedSource;
  /** Gives its bytes back to the budget; idempotent. */
  release(): void;
}

/** How often an instance waiting for another one's result looks into the cache. */
const LOCK_POLL_MS = 25;
/** The token of a miss made without a lock, because the cache could not lock. */
const NO_LOCK = '';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resizes images and caches the results. Usable on its own (from a resolver, a job, a custom
 * controller) as well as through `@ResizedImage()`, which is a thin HTTP adapter over it.
 *
 * The pipeline runs one way: spec and source give a cache key; a hit is returned as it is; a miss
 * loads the source (bounded), processes it (sharp), stores it, and returns it. Concurrent misses for
 * the same key in this process share one load and one resize.
 */
@Injectable()
export class ImageResizeService {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly inflight = new Map<string, Promise<ResizedImageResult>>();
  /** In a Redis Cluster, every key of one cacheKey is tagged into one hash slot. */
  private readonly hashTags: boolean;
  private writesFailing = false;
  private readonly signer?: UrlSigner;
  private readonly queue: ResizeQueue;
  /** `maxSourceBytesInFlight`: bytes of the sources being loaded or held. */
  private readonly sourceBytes: SourceByteBudget;
  /** Checks `path` sources for derived cache keys exactly as the default loader reads them. */
  private readonly files: FileImageReader;
  /** `Accept` header -> negotiated format; clients send the same few headers over and over. */
  private readonly negotiated = new LRUCache<string, 'avif' | 'webp' | 'none'>({ max: 256 });
  private readonly negotiate = (accept: string | undefined): 'avif' | 'webp' | undefined => {
    if (!accept) return undefined;
    let format = this.negotiated.get(accept);
    if (format === undefined) {
      format = negotiateImageFormat(accept) ?? 'none';
      this.negotiated.set(accept, format);
    }
    return format === 'none' ? undefined : format;
  };

  constructor(
    @Inject(IMAGE_RESIZE_OPTIONS) private readonly options: ResolvedImageResizeOptions,
    @Inject(IMAGE_RESIZE_CACHE) private readonly cache: ImageCache,
    @Inject(IMAGE_PROCESSOR) private readonly processor: ImageProcessor,
    @Inject(IMAGE_SOURCE_LOADER) private readonly loader: ImageSourceLoader,
    private readonly metrics: ImageResizeMetrics,
  ) {
    this.hashTags = isRedisClusterConfig(options.redis);
    this.signer = options.signing && new UrlSigner(options.signing.keys);
    this.queue = new ResizeQueue(options.concurrency, options.maxQueue);
    this.sourceBytes = new SourceByteBudget(options.maxSourceBytesInFlight);
    this.files = new FileImageReader(options.sources.fileRoot);
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
   * from `spec.accept`. `@ResizedImage()` calls it before the handler runs, so that a request for a
   * size the route does not offer costs nothing. A refusal is counted and logged like any failure.
   *
   * @throws InvalidResizeSpecError (400) that says what to fix
   */
  resolveSpec(spec: ResizeSpec): ResolvedResizeSpec {
    return this.resolveReported(spec);
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

  /** {@link resize} for a spec that {@link resolveSpec} already checked. */
  async resizeResolved(source: ImageSource, spec: ResolvedResizeSpec): Promise<ResizedImageResult> {
    const started = Date.now();
    try {
      const result = await this.resizeUnmetered(source, spec);
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
   * Counts a failed call and logs it with its cacheKey and, for a failed fetch, its cause (kind and
   * code); a refused host name goes to debug. No line holds a URL, an address, a port, a credential
   * or a signature: other errors' messages are logged with addresses taken out.
   */
  private reportFailure(
    error: unknown,
    source: ImageSource | undefined,
    specCacheKey: string | undefined,
  ): void {
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const reason = loggableMessage(error);
    this.metrics.emit({ type: 'failed', status, reason });
    const cacheKey =
      specCacheKey ??
      (typeof source === 'object' && source && 'cacheKey' in source ? source.cacheKey : undefined);
    const name = cacheKey ?? unnamedSource(source);
    const cause = error instanceof ImageResizeError && error.logCause ? `; cause: ${error.logCause}` : '';
    const message = `Could not serve image ${name}: ${status} ${reason}${cause}`;
    if (status >= 500) this.logger.error(message);
    else this.logger.warn(message);
    if (error instanceof SourceNotAllowedError && error.refusedHost) {
      this.logger.debug(`Refused the source host "${error.refusedHost}" of ${name}: ${reason}`);
    } else if (error instanceof SourceNotAllowedError && error.refusedAddressLiteral) {
      this.logger.debug(`Refused an IP address literal as the source host of ${name}: ${reason}`);
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
      inFlight: this.inflight.size,
      queued: this.queue.depth,
      sourceBytesInFlight: this.sourceBytes.inFlight,
    };
  }

  private async resizeUnmetered(
    source: ImageSource,
    resolved: ResolvedResizeSpec,
  ): Promise<ResizedImageResult> {
    const descriptor = toDescriptor(source);
    let preloaded: HeldSource | undefined;
    let cacheKey = resolved.cacheKey ?? descriptor.cacheKey;
    if (cacheKey !== undefined) {
      assertCacheKey(cacheKey);
    } else if (descriptor.stream !== undefined) {
      // A stream can only be named by its content, so it is read before the lookup.
      preloaded = await this.loadAdmitted(descriptor);
      cacheKey = hashedCacheKey('buf', preloaded.loaded.body);
    } else {
      cacheKey = await derivedCacheKey(descriptor, this.files);
    }
    const ref = variantKey(this.options.keyPrefix, cacheKey, resolved, this.options.encoders, this.hashTags);

    let status: CacheStatus = 'MISS';
    if (resolved.redraw) {
      status = 'BYPASS';
    } else {
      const cached = await this.lookup(ref);
      if (cached === 'unavailable') {
        status = 'BYPASS';
      } else if (cached) {
        releaseUnread(descriptor, preloaded);
        return toResult(cached, 'HIT', resolved, ref.key);
      }
      const pending = this.inflight.get(ref.key);
      if (pending) {
        releaseUnread(descriptor, preloaded);
        const waitStarted = Date.now();
        const shared = await pending;
        this.metrics.emit({ type: 'waited', waitMs: Date.now() - waitStarted });
        return shared;
      }
    }

    // A redraw re-creates and re-caches; a cache that failed the lookup is not written to.
    const work =
      status === 'MISS'
        ? this.produceOnceAcrossInstances(descriptor, preloaded, resolved, ref)
        : this.produce(descriptor, preloaded, resolved, ref, status, resolved.redraw);
    if (!resolved.redraw) {
      this.inflight.set(ref.key, work);
      const forget = () => this.inflight.delete(ref.key);
      work.then(forget, forget);
    }
    return work;
  }

  /**
   * A signed URL for a `signed: true` route: `path` with `params` (e.g. `{ w: 320, h: 320, format:
   * 'webp' }`) and their HMAC signature, made with the first of the module's `signing.keys`. With
   * `{ expiresIn }` (seconds) or `{ expiresAt }` (a Date), the URL carries a signed `exp` and is
   * refused with 403 from then on; without, it is valid as long as its key is in `signing.keys`.
   *
   * @example `<img src="${images.signUrl('/logos/acme', { w: 320, h: 320 }, { expiresIn: 3600 })}">`
   * @throws ImageResizeConfigError when the module has no `signing` option
   * @throws RangeError or TypeError for an expiry that is not clear (see {@link UrlSigner.sign})
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

  private requireSigner(): UrlSigner {
    if (!this.signer) {
      throw new ImageResizeConfigError(
        'signed URLs need the option "signing": { keys: [...] } (each key 32 or more characters)',
      );
    }
    return this.signer;
  }

  /**
   * Removes every cached variant (all sizes and formats) of `cacheKey`.
   *
   * @returns how many variants were removed
   */
  async purge(cacheKey: string): Promise<number> {
    assertCacheKey(cacheKey);
    return this.cache.purge(groupKey(this.options.keyPrefix, cacheKey, this.hashTags));
  }

  /**
   * A miss in a cache shared by several instances: one instance takes the variant's lock and makes
   * it; the others poll the cache until it appears, and make it themselves only if the lock is
   * released without a result or the wait runs out. A cache without locks (memory) just makes it.
   */
  private async produceOnceAcrossInstances(
    descriptor: ImageSourceDescriptor,
    preloaded: HeldSource | undefined,
    spec: ResolvedResizeSpec,
    ref: ImageCacheKey,
  ): Promise<ResizedImageResult> {
    const { tryLock, unlock } = this.cache;
    if (!tryLock || !unlock) return this.produce(descriptor, preloaded, spec, ref, 'MISS', true);
    // Long enough for a fetch and a resize at their limits; a crashed holder's lock expires by itself.
    const lockMs = this.options.fetchTimeoutMs + this.options.processingTimeoutMs + 1000;
    const deadline = Date.now() + lockMs;
    let token = await this.attemptLock(ref.lock, lockMs);
    while (token === undefined && Date.now() < deadline) {
      await sleep(LOCK_POLL_MS);
      const cached = await this.lookup(ref);
      if (cached && cached !== 'unavailable') {
        releaseUnread(descriptor, preloaded);
        this.metrics.emit({ type: 'waited', waitMs: Date.now() - (deadline - lockMs) });
        return toResult(cached, 'HIT', spec, ref.key);
      }
      token = await this.attemptLock(ref.lock, lockMs);
    }
    try {
      return await this.produce(descriptor, preloaded, spec, ref, 'MISS', true);
    } finally {
      if (token) await unlock.call(this.cache, ref.lock, token).catch(() => undefined);
    }
  }

  /** The lock's token; {@link NO_LOCK} when the cache cannot lock now (the work goes ahead unlocked). */
  private async attemptLock(key: string, ttlMs: number): Promise<string | undefined> {
    try {
      return await this.cache.tryLock!(key, ttlMs);
    } catch {
      return NO_LOCK;
    }
  }

  /** Loads the source (unless it was), resizes it, and gives its bytes back to the budget at the end. */
  private async produce(
    descriptor: ImageSourceDescriptor,
    preloaded: HeldSource | undefined,
    spec: ResolvedResizeSpec,
    ref: ImageCacheKey,
    status: CacheStatus,
    store: boolean,
  ): Promise<ResizedImageResult> {
    const started = Date.now();
    const held = preloaded ?? (await this.loadAdmitted(descriptor));
    try {
      return await this.resizeLoaded(held.loaded, spec, ref, status, store, started);
    } finally {
      held.release();
    }
  }

  /**
   * Loads a source within its deadline (`fetchTimeoutMs`) and the admission budget
   * (`maxSourceBytesInFlight`): the loader reserves bytes before it reads them, and what it returns
   * stays reserved, at its real size, until `release()`. A loader that has not answered at the
   * deadline is told to stop (its signal) and the miss fails with 504 at once, freeing its cacheKey.
   * Buffer sources were in memory before the call: they are not counted.
   */
  private async loadAdmitted(descriptor: ImageSourceDescriptor): Promise<HeldSource> {
    const reservation = this.sourceBytes.open();
    const timeoutMs = this.options.fetchTimeoutMs;
    const limit = deadline(timeoutMs, () => sourceTimeoutError(descriptor, timeoutMs));
    const expired = new Promise<never>((_resolve, reject) =>
      limit.signal.addEventListener('abort', () => reject(limit.signal.reason), { once: true }),
    );
    try {
      const loaded = await Promise.race([
        this.loader.load(descriptor, { signal: limit.signal, reservation }),
        expired,
      ]);
      if (descriptor.buffer === undefined) reservation.settle(loaded.body.length);
      return { loaded, release: () => reservation.release() };
    } catch (error) {
      reservation.release();
      descriptor.stream?.destroy();
      throw error;
    } finally {
      limit.clear();
    }
  }

  private async resizeLoaded(
    loaded: LoadedSource,
    spec: ResolvedResizeSpec,
    ref: ImageCacheKey,
    status: CacheStatus,
    store: boolean,
    started: number,
  ): Promise<ResizedImageResult> {
    const processed = await this.queue.run(
      () => this.processor.process(loaded.body, spec),
      (waitMs) => this.metrics.emit({ type: 'queued', waitMs }),
    );
    const image: CachedImage = { ...processed, etag: etag(processed.body), createdAt: Date.now() };
    if (store) await this.store(ref, image, spec.ttl);
    const durationMs = Date.now() - started;
    this.metrics.emit({
      type: 'resized',
      durationMs,
      sourceBytes: loaded.body.length,
      outputBytes: image.body.length,
      format: image.format,
    });
    this.logger.debug(
      `${status} ${ref.key}: ${loaded.body.length} -> ${image.body.length} bytes in ${durationMs} ms`,
    );
    return toResult(image, status, spec, ref.key);
  }

  /** Caches an image; a cache that refuses it is logged once until it accepts again, never an error. */
  private async store(ref: ImageCacheKey, image: CachedImage, ttl: number): Promise<void> {
    try {
      await this.cache.set(ref, image, ttl);
      if (this.writesFailing) this.logger.log('Cache accepts images again');
      this.writesFailing = false;
    } catch (error) {
      if (!this.writesFailing) {
        this.logger.warn(`Could not cache ${ref.key}, serving it uncached: ${loggableMessage(error)}`);
      }
      this.writesFailing = true;
    }
  }

  private async lookup(ref: ImageCacheKey): Promise<CachedImage | undefined | 'unavailable'> {
    try {
      return await this.cache.get(ref.key, ref);
    } catch (error) {
      this.logger.debug(`Cache lookup of ${ref.key} failed: ${loggableMessage(error)}`);
      return 'unavailable';
    }
  }
}

function toResult(
  image: CachedImage,
  cacheStatus: CacheStatus,
  spec: ResolvedResizeSpec,
  key: string,
): ResizedImageResult {
  return {
    body: image.body,
    contentType: image.contentType,
    etag: image.etag,
    width: image.width,
    height: image.height,
    format: image.format,
    cacheStatus,
    ttl: spec.ttl,
    negotiated: spec.negotiated,
    key,
  };
}

/**
 * A source that the cache made unnecessary: a stream is destroyed, so that it holds no file or
 * socket; a preloaded one gives its bytes back to the budget.
 */
function releaseUnread(source: ImageSourceDescriptor, preloaded: HeldSource | undefined): void {
  if (preloaded) preloaded.release();
  else source.stream?.destroy();
}

/** Normalises the four shapes of {@link ImageSource} into a descriptor. */
function toDescriptor(source: ImageSource): ImageSourceDescriptor {
  if (typeof source === 'string') return { url: source };
  if (Buffer.isBuffer(source)) return { buffer: source };
  if (source instanceof Readable) return { stream: source };
  if (typeof source === 'object' && source !== null) {
    const given =
      Number(source.url !== undefined) +
      Number(source.buffer !== undefined) +
      Number(source.stream !== undefined) +
      Number(source.path !== undefined);
    if (given === 1) return source;
  }
  throw new TypeError(
    'An image source must be a URL string, a Buffer, a Readable, or an object with exactly one of url, buffer, stream, path',
  );
}

/**
 * How a log line names a source that has no cacheKey: a URL by the key derived from it (never the
 * URL itself, which may hold credentials or a signature), anything else by its kind.
 */
function unnamedSource(source: ImageSource | undefined): string {
  if (source === undefined || source === null) return '(before its source was known)';
  let descriptor: ImageSourceDescriptor;
  try {
    descriptor = toDescriptor(source);
  } catch {
    return '(an invalid source)';
  }
  if (descriptor.url !== undefined) {
    return `${hashedCacheKey('url', normalisedUrl(descriptor.url))} (derived from its URL)`;
  }
  if (descriptor.buffer !== undefined) return '(a Buffer source)';
  return descriptor.path !== undefined ? '(a file source)' : '(a stream source)';
}

/** The WHATWG form of a URL (`HTTP://Example.COM:80/a` and `http://example.com/a` are one); the whole of it, query included. */
function normalisedUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url; // refused when it is fetched
  }
}

/**
 * A cacheKey for a source that has none: the URL, the file's identity, or the bytes, hashed. A file
 * is checked as it is read (`sources.fileRoot`, regular files only), so no answer tells more.
 */
async function derivedCacheKey(source: ImageSourceDescriptor, files: FileImageReader): Promise<string> {
  if (source.url !== undefined) return hashedCacheKey('url', normalisedUrl(source.url));
  if (source.buffer !== undefined) return hashedCacheKey('buf', source.buffer);
  const file = await files.identify(source.path as string);
  return hashedCacheKey('file', file.path, String(file.mtimeMs), String(file.size));
}
