import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { loggableMessage } from '../errors/image-resize.errors';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_HOT_CACHE_MAX_AGE_MS, IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { DEFAULT_OPTIONS } from '../options/image-resize.defaults';
import type { CachedImage, ImageCacheKey } from './image-cache.interface';
import { MemoryImageCache, TTL_RESOLUTION_MS } from './memory-image.cache';
import { OutageImageTier } from './outage-image.tier';
import { closeRedisClient } from './redis-client.factory';

/** How a {@link HotImageTier} ages its copies and retries its subscription. */
export interface HotImageTierOptions {
  /**
   * Longest time a copy is kept, whatever its Redis TTL: the bound on staleness when an announcement
   * is lost. Default 60000.
   */
  maxAgeMs?: number;
  /** Milliseconds between attempts to subscribe after one failed. Default 5000. */
  retryMs?: number;
  /**
   * Longest time an image made while Redis was unavailable is kept in the {@link OutageImageTier}
   * (a quarter of `maxBytes`); `0`: no outage tier. Default 30000.
   */
  outageMaxAgeMs?: number;
}

/** The share of the hot tier's `maxBytes` that its outage tier may hold besides. */
const OUTAGE_SHARE = 4;

/**
 * The in-process tier of the Redis cache: the images this process served last, in an LRU bounded by
 * bytes, so that a hit on them costs no Redis round trip. A copy is kept no longer than its Redis
 * entry's TTL, and no longer than `maxAgeMs`.
 *
 * Instances sharing the Redis keep their tiers coherent through pub/sub: every store and every purge
 * is announced on one channel, and every other instance drops what it holds of it. The tier is only
 * used while its subscription is up; it is emptied when the subscription drops and again when it is
 * back, because announcements may have been missed meanwhile. What pub/sub cannot promise — an
 * announcement lost to a failed PUBLISH, or sent while a Redis Cluster moved the subscription to
 * another node — is bounded by `maxAgeMs`.
 *
 * While Redis is unavailable, what this process makes is kept in its {@link OutageImageTier} instead
 * (for `outageMaxAgeMs`), which is emptied as soon as Redis answers again.
 */
export class HotImageTier {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private readonly images: MemoryImageCache;
  private readonly maxAgeMs: number;
  private readonly retryMs: number;
  /**
   * What this process made while Redis was unavailable, kept a short while (absent: `outageMaxAgeMs`
   * is 0). The hot tier is emptied and off during an outage; this one is read only then.
   */
  readonly outage?: OutageImageTier;
  /** Tells this instance's announcements from the others'. */
  private readonly id = randomUUID();
  private subscriber?: Redis | Cluster;
  private subscribed = false;
  private stopped = false;
  private subscribeFailing = false;
  private announceFailing = false;
  /**
   * Counts what may have made a read from Redis stale: invalidations, and the subscription coming and
   * going. A read that overlapped one of them is not kept (see {@link HotImageTier.keep}).
   */
  private generation = 0;

  /**
   * @param maxBytes upper bound on the bytes held
   * @param channel the pub/sub channel of the invalidations (`<keyPrefix>invalidate`)
   */
  constructor(
    maxBytes: number,
    readonly channel: string,
    options: HotImageTierOptions = {},
  ) {
    this.images = new MemoryImageCache(maxBytes);
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_HOT_CACHE_MAX_AGE_MS;
    this.retryMs = options.retryMs ?? 5000;
    const outageMaxAgeMs = options.outageMaxAgeMs ?? DEFAULT_OPTIONS.hotCache.outageMaxAgeMs;
    if (outageMaxAgeMs > 0) {
      this.outage = new OutageImageTier(Math.floor(maxBytes / OUTAGE_SHARE), outageMaxAgeMs);
    }
  }

  /**
   * Subscribes to the invalidations on a connection of its own, made like `client`; empties the outage
   * tier whenever `client` connects again.
   */
  start(client: Redis | Cluster): void {
    if (this.outage) client.on('ready', this.reconnected);
    const subscriber = client.duplicate();
    this.subscriber = subscriber;
    // Outages are logged by the main client's watcher; this connection only follows them.
    subscriber.on('error', () => undefined);
    subscriber.on('close', () => this.unsubscribed());
    subscriber.on('ready', () => this.subscribe(subscriber));
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribed();
    if (this.subscriber) await closeRedisClient(this.subscriber);
  }

  /** Whether the tier is in use (its subscription is up). */
  get active(): boolean {
    return this.subscribed;
  }

  /** Bytes held. */
  get size(): number {
    return this.images.size;
  }

  /** The image under `key`, if this process holds it and the tier is in use. */
  get(key: string): CachedImage | undefined {
    return this.subscribed ? this.images.lookup(key) : undefined;
  }

  /** Redis answered a command: what the outage tier holds is dropped, Redis being the truth again. */
  answered(): void {
    this.outage?.clear();
  }

  /** The current generation: take it before reading from (or writing to) Redis, and pass it on. */
  get mark(): number {
    return this.generation;
  }

  /**
   * Keeps a copy of an image read from Redis, unless something that could have made it stale happened
   * since `mark` was taken, the tier is not in use, or the image has no known expiry. The bytes are
   * copied: those read sit in a reply buffer that may be much larger than they are.
   */
  keep(ref: ImageCacheKey, image: CachedImage, mark: number): void {
    if (mark !== this.generation || !this.subscribed) return;
    const body = Buffer.allocUnsafeSlow(image.body.length);
    image.body.copy(body);
    this.remember(ref, { ...image, body });
  }

  /**
   * This instance stored `image` under `ref` (with `mark` taken before the write): keeps it unless an
   * invalidation came in meanwhile, and tells the others to drop their copy.
   */
  stored(client: Redis | Cluster, ref: ImageCacheKey, image: CachedImage, mark: number): void {
    const undisturbed = mark === this.generation && this.subscribed;
    this.generation += 1;
    this.images.delete(ref.key);
    if (undisturbed) this.remember(ref, image);
    this.announce(client, `k ${ref.key}`);
  }

  /** This instance purged `group`: drops it here and tells the others. */
  purged(client: Redis | Cluster, group: string): void {
    this.drop(group);
    this.announce(client, `g ${group}`);
  }

  /**
   * This instance is purging `group` but Redis has not done it yet (it may be unreachable): drops it
   * here and in the outage tier at once, without telling the others, which {@link purged} does once
   * Redis has purged it. A read from Redis, or a make, that was under way is not kept (see {@link keep}).
   */
  drop(group: string): void {
    this.generation += 1;
    void this.images.purge(group);
    this.outage?.drop(group);
  }

  /** Holds `image` for the shorter of `maxAgeMs` and what is left of its TTL (less the clock's resolution). */
  private remember(ref: ImageCacheKey, image: CachedImage): void {
    if (image.expiresAt === undefined) return;
    const ttlMs = Math.min(this.maxAgeMs, Math.floor(image.expiresAt - Date.now()) - TTL_RESOLUTION_MS);
    if (ttlMs > 0) this.images.keep(ref, image, ttlMs);
  }

  private subscribe(subscriber: Redis | Cluster): void {
    subscriber.subscribe(this.channel).then(
      () => {
        this.generation += 1;
        this.images.clear();
        this.subscribed = true;
        if (this.subscribeFailing) this.logger.log('Hot cache subscribed to its invalidations again');
        this.subscribeFailing = false;
      },
      (error: Error) => {
        this.unsubscribed();
        if (this.stopped || subscriber.status !== 'ready') return; // 'ready' will come again
        if (!this.subscribeFailing) {
          this.logger.warn(
            `Hot cache off: could not subscribe to ${this.channel} (${loggableMessage(error)}); retrying every ${this.retryMs} ms`,
          );
        }
        this.subscribeFailing = true;
        setTimeout(() => {
          if (!this.stopped && subscriber.status === 'ready') this.subscribe(subscriber);
        }, this.retryMs).unref();
      },
    );
  }

  private announce(client: Redis | Cluster, what: string): void {
    client.publish(this.channel, `${this.id} ${what}`).then(
      () => {
        this.announceFailing = false;
      },
      (error: Error) => {
        if (!this.announceFailing) {
          this.logger.warn(
            `Could not tell the other instances (${loggableMessage(error)}): their hot copies may be stale for up to ${this.maxAgeMs} ms`,
          );
        }
        this.announceFailing = true;
      },
    );
  }

  private receive(message: string): void {
    const [sender, kind, name] = message.split(' ', 3);
    if (sender === this.id || name === undefined) return;
    this.generation += 1;
    if (kind === 'k') {
      this.images.delete(name);
      this.outage?.delete(name);
    } else if (kind === 'g') {
      void this.images.purge(name);
      this.outage?.drop(name);
    }
  }

  /** The main connection is back: Redis is the truth again (see {@link OutageImageTier}). */
  private readonly reconnected = () => this.outage?.clear();

  private unsubscribed(): void {
    this.subscribed = false;
    this.generation += 1;
    this.images.clear();
  }
}
