import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { CachedImage, ImageCacheKey } from '../interfaces/image-cache.interface';
import { MemoryImageCache, TTL_RESOLUTION_MS } from './memory-image.cache';

/**
 * The in-process tier of the Redis cache: the images this process served last, in an LRU bounded by
 * bytes, so that a hit on them costs no Redis round trip. A copy never outlives its Redis entry.
 *
 * Instances sharing the Redis keep their tiers coherent through pub/sub: every store and every purge
 * is announced on one channel, and every other instance drops what it holds of it. The tier is only
 * used while its subscription is up; when the subscription drops, the tier is emptied, because
 * announcements may have been missed meanwhile.
 */
export class HotImageTier {
  private readonly images: MemoryImageCache;
  /** Tells this instance's announcements from the others'. */
  private readonly id = randomUUID();
  private subscriber?: Redis | Cluster;
  private subscribed = false;
  /**
   * Counts invalidations. A read from Redis that overlapped one may have fetched what it removed, so
   * it is not kept (see {@link HotImageTier.keep}).
   */
  private generation = 0;

  /**
   * @param maxBytes upper bound on the bytes held
   * @param channel the pub/sub channel of the invalidations (`<keyPrefix>invalidate`)
   */
  constructor(
    maxBytes: number,
    readonly channel: string,
  ) {
    this.images = new MemoryImageCache(maxBytes);
  }

  /** Subscribes to the invalidations on a connection of its own, made like `client`. */
  start(client: Redis | Cluster): void {
    const subscriber = client.duplicate();
    this.subscriber = subscriber;
    // Outages are logged by the main client's watcher; this connection only follows them.
    subscriber.on('error', () => undefined);
    subscriber.on('close', () => this.unsubscribed());
    subscriber.on('ready', () => {
      subscriber.subscribe(this.channel).then(
        () => {
          this.images.clear();
          this.subscribed = true;
        },
        () => this.unsubscribed(),
      );
    });
    subscriber.on('message', (_channel: string, message: string) => this.receive(message));
  }

  async stop(): Promise<void> {
    this.unsubscribed();
    try {
      await this.subscriber?.quit();
    } catch {
      this.subscriber?.disconnect();
    }
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

  /** The current generation; pass it to {@link keep} for an image read from Redis after this call. */
  get mark(): number {
    return this.generation;
  }

  /**
   * Keeps an image read from Redis, unless an invalidation came in since `mark` was taken, the tier
   * is not in use, or the image has no known expiry.
   */
  keep(ref: ImageCacheKey, image: CachedImage, mark: number): void {
    if (!this.subscribed || mark !== this.generation || image.expiresAt === undefined) return;
    // Shortened by the clock's resolution, so that the copy never outlives the Redis entry.
    const ttlMs = Math.floor(image.expiresAt - Date.now()) - TTL_RESOLUTION_MS;
    if (ttlMs > 0) this.images.keep(ref, image, ttlMs);
  }

  /** This instance stored `image` under `ref`: keeps it, and tells the others to drop their copy. */
  stored(client: Redis | Cluster, ref: ImageCacheKey, image: CachedImage): void {
    this.generation += 1;
    this.images.delete(ref.key);
    this.keep(ref, image, this.generation);
    this.announce(client, `k ${ref.key}`);
  }

  /** This instance purged `group`: drops it here and tells the others. */
  purged(client: Redis | Cluster, group: string): void {
    this.generation += 1;
    void this.images.purge(group);
    this.announce(client, `g ${group}`);
  }

  private announce(client: Redis | Cluster, what: string): void {
    // A lost announcement costs another instance a stale copy until its subscription drops or the
    // copy expires; nothing here can do better than Redis itself, so failures are not errors.
    client.publish(this.channel, `${this.id} ${what}`).catch(() => undefined);
  }

  private receive(message: string): void {
    const [sender, kind, name] = message.split(' ', 3);
    if (sender === this.id || name === undefined) return;
    this.generation += 1;
    if (kind === 'k') this.images.delete(name);
    else if (kind === 'g') void this.images.purge(name);
  }

  private unsubscribed(): void {
    this.subscribed = false;
    this.generation += 1;
    this.images.clear();
  }
}
