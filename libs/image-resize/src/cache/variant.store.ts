import { Logger } from '@nestjs/common';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { loggableMessage } from '../errors/image-resize.errors';
import { isRedisClusterConfig } from '../options/image-resize.options';
import type { ResolvedImageResizeOptions } from '../options/image-resize-options.interface';
import type { ResolvedResizeSpec } from '../spec/resize-spec.interface';
import { assertCacheKey, groupKey, placeholderKey, variantKey } from '../spec/variant.keys';
import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';

/**
 * How often an instance waiting for another one's result looks into the cache, when the cache cannot
 * tell it when the result is there (see {@link ImageCache.waitForUnlock}).
 */
const LOCK_POLL_MS = 25;
/**
 * How long a variant's lock lives unless its holder renews it, which it does every third of that while
 * it makes the variant: what an instance that crashes holding the lock costs the others at most. At 5 s
 * a holder may miss a renewal (a long GC pause, a command timing out at 1 s, a reconnection) and still
 * keep its lock, while a crashed holder keeps the others waiting no longer than a slow origin would.
 */
export const LOCK_TTL_MS = 5000;
/** The token of a miss made without a lock, because the cache could not lock. */
const NO_LOCK = '';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What {@link VariantStore.lookup} finds: the image, nothing, or a cache that did not answer. */
export type VariantLookup = CachedImage | undefined | 'unavailable';

/** A lock this process holds while it makes a variant, and its renewal. */
interface HeldLock {
  key: string;
  token: string;
  /** The next renewal. */
  timer?: NodeJS.Timeout;
  released: boolean;
}

/**
 * The variants of a cache, as the pipeline sees them: keys, lookups that never throw, stores that
 * log a failing cache once instead of failing the request, purges, and misses made once — once in
 * this process (concurrent misses for one key share one promise) and once across the instances
 * that share the cache (one takes the variant's lock, the others wait for its result).
 */
export class VariantStore {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** The locks this process holds now, renewed until their work ends. */
  private readonly held = new Set<HeldLock>();
  /** In a Redis Cluster, every key of one cacheKey is tagged into one hash slot. */
  private readonly hashTags: boolean;
  private writesFailing = false;

  /**
   * @param lockTtlMs how long a lock lives unless renewed (every third of it); tests shorten it
   */
  constructor(
    private readonly cache: ImageCache,
    private readonly options: ResolvedImageResizeOptions,
    private readonly lockTtlMs = LOCK_TTL_MS,
  ) {
    this.hashTags = isRedisClusterConfig(options.redis);
  }

  /** Misses being made right now in this process. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** The keys of the variant `spec` of `cacheKey`. */
  keyOf(cacheKey: string, spec: ResolvedResizeSpec): ImageCacheKey {
    if (spec.placeholder) return placeholderKey(this.options.keyPrefix, cacheKey, this.hashTags);
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
   * Waits until no miss is being made in this process, or until `deadline` (epoch milliseconds), and
   * resolves to how many are still being made then. Misses that start meanwhile are waited for too.
   */
  async drained(deadline: number): Promise<number> {
    while (this.inflight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
      await Promise.race([Promise.allSettled([...this.inflight.values()]), timeUp]);
      clearTimeout(timer);
    }
    return this.inflight.size;
  }

  /**
   * Releases every lock this process holds (at shutdown, for the misses it gives up waiting for), so
   * that the other instances make those variants instead of waiting for them; resolves to how many.
   */
  async releaseLocks(): Promise<number> {
    const locks = [...this.held];
    await Promise.all(locks.map((lock) => this.release(lock)));
    return locks.length;
  }

  /**
   * Runs `make` once across the instances sharing the cache: this one takes the variant's lock and
   * makes it, or waits while another one does and returns `found(image)` when its result appears —
   * woken by the cache when the holder releases the lock where it can (see
   * {@link ImageCache.waitForUnlock}), else polling it. It makes the variant itself if the lock is
   * released or lapses without a result, or the wait runs out. A cache without locks (memory) just
   * makes it.
   *
   * The lock is short ({@link LOCK_TTL_MS}) and renewed while `make` runs, where the cache can renew
   * locks: a holder that crashed costs the others that long. Without `renewLock`, it is taken for the
   * whole wait.
   *
   * @param onWait told when this instance starts to wait for another one (the service traces the wait)
   */
  async once<T>(
    ref: ImageCacheKey,
    make: () => Promise<T>,
    found: (image: CachedImage) => T,
    onWait?: () => void,
  ): Promise<T> {
    const { tryLock, unlock } = this.cache;
    if (!tryLock || !unlock) return make();
    // A waiter waits, while the holder keeps its lock, as long as a fetch and a resize at their limits take.
    const waitMs = this.options.fetchTimeoutMs + this.options.processingTimeoutMs + 1000;
    const lockMs = this.cache.renewLock ? this.lockTtlMs : waitMs;
    const deadline = Date.now() + waitMs;
    let token = await this.attemptLock(ref.lock, lockMs);
    if (token === undefined) onWait?.();
    while (token === undefined && Date.now() < deadline) {
      await this.waitForRelease(ref.lock, deadline);
      const cached = await this.lookup(ref);
      if (cached && cached !== 'unavailable') return found(cached);
      token = await this.attemptLock(ref.lock, lockMs);
    }
    const held = token ? this.hold(ref.lock, token) : undefined;
    try {
      if (held) {
        // Another instance may have stored it and let go of its lock after the caller's lookup missed.
        const cached = await this.lookup(ref);
        if (cached && cached !== 'unavailable') return found(cached);
      }
      return await make();
    } finally {
      if (held) await this.release(held);
    }
  }

  /**
   * Notes the lock `key` as held and renews it every third of its TTL until it is released. A renewal
   * that fails (the cache did not answer) is tried again at the next turn; a lock found lost (it lapsed,
   * or another instance took it) is no longer renewed, and its work goes on: at worst the variant is
   * made twice.
   */
  private hold(key: string, token: string): HeldLock {
    const lock: HeldLock = { key, token, released: false };
    this.held.add(lock);
    const { renewLock } = this.cache;
    if (!renewLock) return lock;
    const every = Math.max(1, Math.floor(this.lockTtlMs / 3));
    const schedule = () => {
      lock.timer = setTimeout(() => void renew(), every);
      lock.timer.unref();
    };
    const renew = async () => {
      let kept: boolean;
      try {
        kept = await renewLock.call(this.cache, key, token, this.lockTtlMs);
      } catch (error) {
        if (lock.released) return;
        this.logger.debug(`Could not renew lock ${key}: ${loggableMessage(error)}`);
        return schedule();
      }
      if (lock.released) return;
      if (kept) schedule();
      else this.logger.debug(`Lock ${key} lapsed while its variant was being made; making it anyway`);
    };
    schedule();
    return lock;
  }

  /** Stops renewing `lock` and releases it, once; a cache that does not answer leaves it to lapse. */
  private async release(lock: HeldLock): Promise<void> {
    if (lock.released) return;
    lock.released = true;
    clearTimeout(lock.timer);
    this.held.delete(lock);
    await this.cache.unlock!(lock.key, lock.token).catch(() => undefined);
  }

  /**
   * Waits until the lock `key` may have been released, as the cache tells (at most until `deadline`),
   * or {@link LOCK_POLL_MS} when it cannot.
   */
  private async waitForRelease(key: string, deadline: number): Promise<void> {
    const told = await this.cache.waitForUnlock?.(key, Math.max(1, deadline - Date.now())).catch(() => false);
    if (!told) await sleep(LOCK_POLL_MS);
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
