import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { loggableMessage } from '../errors/image-resize.errors';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_HOT_CACHE_MAX_AGE_MS, IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import { DEFAULT_OPTIONS } from '../options/image-resize.defaults';
import { ClusterSubscription, isCluster } from './cluster-subscription';
import type { CachedImage, ImageCacheKey } from './image-cache.interface';
import { InvalidationMarks } from './invalidation-marks';
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
 * PUBLISHes ARGV[2] on the channel ARGV[1]. KEYS[1] (the key announced, or its group) only routes it:
 * on a Redis Cluster, to the master of its slot, which just took the change announced — not to any
 * master, which may be one that hangs, and loses it.
 */
const ANNOUNCE_SCRIPT = `return redis.call('PUBLISH', ARGV[1], ARGV[2])`;

/** A wait for the release of a lock (see {@link HotImageTier.listen}). */
export interface LockRelease {
  /** Resolves when the release is announced, or when the subscription drops or comes back. */
  released: Promise<void>;
  /** Stops listening. */
  stop(): void;
}

/**
 * The in-process tier of the Redis cache: the images this process served last, in an LRU bounded by
 * bytes, so that a hit on them costs no Redis round trip. A copy is kept no longer than its Redis
 * entry's TTL, and no longer than `maxAgeMs`.
 *
 * Instances sharing the Redis keep their tiers coherent through pub/sub, on one channel: what another
 * instance may hold is announced, and every other instance drops what it holds of it — a store that
 * replaced an entry (a redraw, a revalidation, two instances making one variant), and every purge. A
 * store of a new entry is not announced: no other instance can hold what Redis did not have (their
 * copies live no longer than the Redis entry they were read from). A copy read from Redis is kept
 * unless an announcement for its own key or group came in while it was read (see
 * {@link InvalidationMarks}), so other instances' traffic does not keep the tier from filling.
 *
 * The tier is only used while its subscription is up; it is emptied when the subscription drops and
 * again when it is back, because announcements may have been missed meanwhile. On a Redis Cluster the
 * subscription is a connection to one node that never moves unseen (see {@link ClusterSubscription}):
 * when its node crashes or is failed over away from the cluster, that is a drop too. What pub/sub
 * cannot promise — an announcement lost to a failed PUBLISH, or one a node that hangs failed to relay
 * before the cluster client saw it go — is bounded by `maxAgeMs`.
 *
 * The same subscription wakes the misses this instance waits for: the holder of a variant's lock
 * announces its release when instances wait for it (see {@link listen}).
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
  private subscriber?: Redis | ClusterSubscription;
  private subscribed = false;
  private stopped = false;
  private subscribeFailing = false;
  private announceFailing = false;
  /**
   * What may have made a read from Redis stale: invalidations of its key or group, and the subscription
   * coming and going. A read that overlapped one of them is not kept (see {@link HotImageTier.keep}).
   */
  private readonly marks = new InvalidationMarks();
  /** Who waits for the release of which lock (see {@link listen}). */
  private readonly waiting = new Map<string, Set<() => void>>();

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
   * Subscribes to the invalidations on a connection of its own, made like `client` (on a Cluster, to
   * one of its nodes: see {@link ClusterSubscription}); empties the outage tier whenever `client`
   * connects again.
   */
  start(client: Redis | Cluster): void {
    if (this.outage) client.on('ready', this.reconnected);
    const subscriber = isCluster(client) ? new ClusterSubscription(client) : client.duplicate();
    this.subscriber = subscriber;
    // Outages are logged by the main client's watcher; this connection only follows them.
    subscriber.on('error', () => undefined);
    subscriber.on('close', () => this.unsubscribed());
    subscriber.on('ready', () => this.subscribe(subscriber));
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    if (subscriber instanceof ClusterSubscription) subscriber.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribed();
    const subscriber = this.subscriber;
    if (subscriber instanceof ClusterSubscription) await subscriber.close();
    else if (subscriber) await closeRedisClient(subscriber);
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

  /** The current mark: take it before reading from (or writing to) Redis, and pass it on. */
  get mark(): number {
    return this.marks.now;
  }

  /**
   * Keeps a copy of an image read from Redis, unless something that could have made it stale happened
   * since `mark` was taken (an invalidation of its key or its group, the subscription dropping or coming
   * back), the tier is not in use, or the image has no known expiry. The bytes are copied: those read
   * sit in a reply buffer that may be much larger than they are.
   */
  keep(ref: ImageCacheKey, image: CachedImage, mark: number): void {
    if (!this.subscribed || this.marks.since(mark, ref.key, ref.group)) return;
    const body = Buffer.allocUnsafeSlow(image.body.length);
    image.body.copy(body);
    this.remember(ref, { ...image, body });
  }

  /**
   * This instance stored `image` under `ref` (with `mark` taken before the write): keeps it unless an
   * invalidation of its key or group came in meanwhile. When the store `replaced` an entry, which other
   * instances may hold, they are told to drop their copy; a new entry is not announced.
   */
  stored(
    client: Redis | Cluster,
    ref: ImageCacheKey,
    image: CachedImage,
    mark: number,
    replaced = true,
  ): void {
    const undisturbed = this.subscribed && !this.marks.since(mark, ref.key, ref.group);
    // A read of the key under way here may bring back what this store replaced.
    this.marks.invalidate(ref.key);
    this.images.delete(ref.key);
    if (undisturbed) this.remember(ref, image);
    if (replaced) this.announce(client, 'k', ref.key);
  }

  /** This instance purged `group`: drops it here and tells the others. */
  purged(client: Redis | Cluster, group: string): void {
    this.drop(group);
    this.announce(client, 'g', group);
  }

  /**
   * This instance is purging `group` but Redis has not done it yet (it may be unreachable): drops it
   * here and in the outage tier at once, without telling the others, which {@link purged} does once
   * Redis has purged it. A read from Redis, or a make, that was under way is not kept (see {@link keep}).
   */
  drop(group: string): void {
    this.marks.invalidate(group);
    void this.images.purge(group);
    this.outage?.drop(group);
  }

  /**
   * Listens for the release of the lock `lock`, which another instance holds while it makes a variant
   * that this one waits for: `released` resolves when the holder announces it (see {@link release}), or
   * when the subscription drops or comes back (an announcement may have been missed). Listen before
   * telling Redis that this instance waits, so that a release announced at once is not missed.
   */
  listen(lock: string): LockRelease {
    let wake!: () => void;
    const released = new Promise<void>((resolve) => (wake = resolve));
    let waiters = this.waiting.get(lock);
    if (!waiters) this.waiting.set(lock, (waiters = new Set()));
    const listening = waiters;
    listening.add(wake);
    const stop = () => {
      listening.delete(wake);
      if (listening.size === 0 && this.waiting.get(lock) === listening) this.waiting.delete(lock);
    };
    return { released, stop };
  }

  /** The channel and the message that announce the release of `lock` to the instances waiting for it. */
  release(lock: string): [channel: string, message: string] {
    return [this.channel, `${this.id} w ${lock}`];
  }

  /** Holds `image` for the shorter of `maxAgeMs` and what is left of its TTL (less the clock's resolution). */
  private remember(ref: ImageCacheKey, image: CachedImage): void {
    if (image.expiresAt === undefined) return;
    const ttlMs = Math.min(this.maxAgeMs, Math.floor(image.expiresAt - Date.now()) - TTL_RESOLUTION_MS);
    if (ttlMs > 0) this.images.keep(ref, image, ttlMs);
  }

  private subscribe(subscriber: Redis | ClusterSubscription): void {
    subscriber.subscribe(this.channel).then(
      () => {
        this.marks.invalidateAll();
        this.images.clear();
        this.subscribed = true;
        this.wakeAll();
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

  /** Tells the other instances to drop what they hold of `name` (a key: `k`, a group: `g`). */
  private announce(client: Redis | Cluster, kind: 'k' | 'g', name: string): void {
    client.eval(ANNOUNCE_SCRIPT, 1, name, this.channel, `${this.id} ${kind} ${name}`).then(
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
    if (name === undefined) return;
    if (kind === 'w') {
      for (const wake of this.waiting.get(name) ?? []) wake();
      return;
    }
    if (sender === this.id) return;
    if (kind === 'k') {
      this.marks.invalidate(name);
      this.images.delete(name);
      this.outage?.delete(name);
    } else if (kind === 'g') {
      this.marks.invalidate(name);
      void this.images.purge(name);
      this.outage?.drop(name);
    }
  }

  /** Wakes every wait for a release: one may have been missed. */
  private wakeAll(): void {
    for (const waiters of this.waiting.values()) for (const wake of waiters) wake();
  }

  /** The main connection is back: Redis is the truth again (see {@link OutageImageTier}). */
  private readonly reconnected = () => this.outage?.clear();

  private unsubscribed(): void {
    this.subscribed = false;
    this.marks.invalidateAll();
    this.images.clear();
    this.wakeAll();
  }
}
