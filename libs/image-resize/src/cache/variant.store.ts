import { Logger } from '@nestjs/common';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { loggableMessage } from '../errors/image-resize.errors';
import { isRedisClusterConfig } from '../options/image-resize.options';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { assertCacheKey, groupKey, variantKey } from '../spec/variant.keys';
import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';

/** How often an instance waiting for another one's result looks into the cache. */
const LOCK_POLL_MS = 25;
/** The token of a miss made without a lock, because the cache could not lock. */
const NO_LOCK = '';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What {@link VariantStore.lookup} finds: the image, nothing, or a cache that did not answer. */
export type VariantLookup = CachedImage | undefined | 'unavailable';

/**
 * The variants of a cache, as the pipeline sees them: keys, lookups that never throw, stores that
 * log a failing cache once instead of failing the request, purges, and misses made once — once in
 * this process (concurrent misses for one key share one promise) and once across the instances
 * that share the cache (one takes the variant's lock, the others wait for its result).
 */
export class VariantStore {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** In a Redis Cluster, every key of one cacheKey is tagged into one hash slot. */
  private readonly hashTags: boolean;
  private writesFailing = false;

  constructor(
    private readonly cache: ImageCache,
    private readonly options: ResolvedImageResizeOptions,
  ) {
    this.hashTags = isRedisClusterConfig(options.redis);
  }

  /** Misses being made right now in this process. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** The keys of the variant `spec` of `cacheKey`. */
  keyOf(cacheKey: string, spec: ResolvedResizeSpec): ImageCacheKey {
    return variantKey(this.options.keyPrefix, cacheKey, spec, this.options.encoders, this.hashTags);
  }

  /** The cached variant; `'unavailable'` when the cache failed to answer (logged at debug). */
  async lookup(ref: ImageCacheKey): Promise<VariantLookup> {
    try {
      return await this.cache.get(ref.key, ref);
    } catch (error) {
      this.logger.debug(`Cache lookup of ${ref.key} failed: ${loggableMessage(error)}`);
      return 'unavailable';
    }
  }

  /** Caches an image; a cache that refuses it is logged once until it accepts again, never an error. */
  async store(ref: ImageCacheKey, image: CachedImage, ttl: number): Promise<void> {
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

  /** Removes every cached variant of `cacheKey`; resolves to how many were removed. */
  purge(cacheKey: string): Promise<number> {
    assertCacheKey(cacheKey);
    return this.cache.purge(groupKey(this.options.keyPrefix, cacheKey, this.hashTags));
  }

  /** The miss of `key` being made in this process right now, if any. */
  pending<T>(key: string): Promise<T> | undefined {
    return this.inflight.get(key) as Promise<T> | undefined;
  }

  /** Makes `work` the miss of `key` until it settles, for {@link pending} to share. */
  share<T>(key: string, work: Promise<T>): Promise<T> {
    this.inflight.set(key, work);
    const forget = () => this.inflight.delete(key);
    work.then(forget, forget);
    return work;
  }

  /**
   * Runs `make` once across the instances sharing the cache: this one takes the variant's lock and
   * makes it, or waits (polling the cache) while another one does and returns `found(image)` when
   * its result appears. It makes the variant itself if the lock is released without a result or
   * the wait runs out. A cache without locks (memory) just makes it.
   */
  async once<T>(ref: ImageCacheKey, make: () => Promise<T>, found: (image: CachedImage) => T): Promise<T> {
    const { tryLock, unlock } = this.cache;
    if (!tryLock || !unlock) return make();
    // Long enough for a fetch and a resize at their limits; a crashed holder's lock expires by itself.
    const lockMs = this.options.fetchTimeoutMs + this.options.processingTimeoutMs + 1000;
    const deadline = Date.now() + lockMs;
    let token = await this.attemptLock(ref.lock, lockMs);
    while (token === undefined && Date.now() < deadline) {
      await sleep(LOCK_POLL_MS);
      const cached = await this.lookup(ref);
      if (cached && cached !== 'unavailable') return found(cached);
      token = await this.attemptLock(ref.lock, lockMs);
    }
    try {
      return await make();
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
}
