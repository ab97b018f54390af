import { randomUUID } from 'node:crypto';
import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { CacheUnavailableError, loggableMessage } from '../errors/image-resize.errors';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';
import { decodeCachedImage, encodeCachedImage } from './cached-image.codec';
import type { HotImageTier } from './hot-image.tier';

/**
 * Deletes every key listed in the set KEYS[1], then the set; returns how many listed keys existed.
 * Atomic, so a variant stored during a purge is either purged or indexed anew. In a cluster the
 * variants share the set's hash slot (`{cacheKey}` hash tags), so the script stays on one node.
 */
const PURGE_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
local removed = 0
for _, key in ipairs(members) do
  removed = removed + redis.call('DEL', key)
end
redis.call('DEL', KEYS[1])
return removed
`;

/** Deletes the lock KEYS[1] only if it still holds this instance's token ARGV[1]. */
const UNLOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** How the circuit breaker reacts to failing commands. */
export interface RedisBreakerOptions {
  /** Consecutive failed commands that open the circuit. Default 3. */
  failures: number;
  /** Milliseconds the circuit stays open before one command is tried again. Default 5000. */
  openMs: number;
}

/**
 * Redis cache of resized images. Images are stored as raw bytes with a small binary header (see
 * `cached-image.codec.ts`), read with `GETBUFFER`, and every key has a TTL. The variants of one
 * cacheKey are listed in a set (the group), so a purge deletes exactly them: no `KEYS`, `SCAN` or
 * `FLUSHDB`, and other applications' keys in the same database are never touched.
 *
 * While the connection is down, or after repeated failed commands (a circuit breaker), commands are
 * not sent at all: calls fail at once with {@link CacheUnavailableError}, and the service serves
 * images without the cache. Each change of state is logged once.
 *
 * With a {@link HotImageTier}, the images this process served last are answered from its memory,
 * without a round trip to Redis; stores and purges are announced to the other instances.
 */
export class RedisImageCache implements ImageCache, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);
  private consecutiveFailures = 0;
  private openUntil = 0;

  /**
   * @param client the ioredis client (a `Redis` or a `Cluster`); its owner closes it.
   * @param breaker when repeated failures stop the cache from sending commands for a while.
   * @param hot the in-process tier in front of Redis, if any; started and stopped with the module.
   */
  constructor(
    readonly client: Redis | Cluster,
    private readonly breaker: RedisBreakerOptions = { failures: 3, openMs: 5000 },
    readonly hot?: HotImageTier,
  ) {}

  onModuleInit(): void {
    this.hot?.start(this.client);
  }

  async get(key: string, ref?: ImageCacheKey): Promise<CachedImage | undefined> {
    const hot = this.hot;
    if (!hot) return decodeCachedImage(await this.guard(() => this.client.getBuffer(key)));
    const held = hot.get(key);
    if (held) return held;
    const mark = hot.mark;
    const image = decodeCachedImage(await this.guard(() => this.client.getBuffer(key)));
    if (image && ref) hot.keep(ref, image, mark);
    return image;
  }

  async set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds * 1000;
    const stored: CachedImage = { ...image, expiresAt: Date.now() + ttlMs };
    const mark = this.hot?.mark ?? 0;
    const data = encodeCachedImage(stored);
    // The group lists the variant and lives at least as long as its longest-lived variant.
    const results = await this.guard(() =>
      this.client
        .multi()
        .set(ref.key, data, 'PX', ttlMs)
        .sadd(ref.group, ref.key)
        .pexpire(ref.group, ttlMs, 'NX')
        .pexpire(ref.group, ttlMs, 'GT')
        .exec(),
    );
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
    this.hot?.stored(this.client, ref, stored, mark);
  }

  async purge(group: string): Promise<number> {
    const removed = Number(await this.guard(() => this.client.eval(PURGE_SCRIPT, 1, group)));
    this.hot?.purged(this.client, group);
    return removed;
  }

  /** Takes the lock `key` for `ttlMs` if nobody holds it; resolves to the token that unlocks it. */
  async tryLock(key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const taken = await this.guard(() => this.client.set(key, token, 'PX', ttlMs, 'NX'));
    return taken === 'OK' ? token : undefined;
  }

  /** Releases the lock `key` if it still holds `token`. */
  async unlock(key: string, token: string): Promise<void> {
    await this.guard(() => this.client.eval(UNLOCK_SCRIPT, 1, key, token));
  }

  async ping(): Promise<void> {
    await this.guard(() => this.client.ping());
  }

  async onModuleDestroy(): Promise<void> {
    await this.hot?.stop();
  }

  /** Runs one command unless Redis is known to be unavailable, and keeps the breaker's count. */
  private async guard<T>(command: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready' || Date.now() < this.openUntil) throw new CacheUnavailableError();
    try {
      const result = await command();
      if (this.consecutiveFailures >= this.breaker.failures) {
        this.logger.log('Redis answers again, caching resumed');
      }
      this.consecutiveFailures = 0;
      return result;
    } catch (error) {
      this.consecutiveFailures += 1;
      if (this.consecutiveFailures >= this.breaker.failures) {
        this.openUntil = Date.now() + this.breaker.openMs;
        if (this.consecutiveFailures === this.breaker.failures) {
          this.logger.warn(
            `Redis failed ${this.consecutiveFailures} commands in a row (${loggableMessage(error)}); serving images without the cache`,
          );
        }
      }
      throw error;
    }
  }
}
