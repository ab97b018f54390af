import { Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { IMAGE_RESIZE_LOGGER_CONTEXT } from '../image-resize.constants';
import type { CachedImage, ImageCache, ImageCacheKey } from '../interfaces/image-cache.interface';
import { decodeCachedImage, encodeCachedImage } from './cached-image.codec';

/**
 * Deletes every key listed in the set KEYS[1], then the set; returns how many listed keys existed.
 * Atomic, so a variant stored during a purge is either purged or indexed anew.
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

/**
 * Redis cache of resized images. Images are stored as raw bytes with a small binary header (see
 * `cached-image.codec.ts`), read with `GETBUFFER`, and every key has a TTL. The variants of one
 * cacheKey are listed in a set (the group), so a purge deletes exactly them: no `KEYS`, `SCAN` or
 * `FLUSHDB`, and other applications' keys in the same database are never touched.
 */
export class RedisImageCache implements ImageCache, OnModuleDestroy {
  private readonly logger = new Logger(IMAGE_RESIZE_LOGGER_CONTEXT);

  /** @param client the ioredis client (a `Redis` or a `Cluster`); closed when the module is destroyed. */
  constructor(readonly client: Redis | Cluster) {}

  async get(key: string): Promise<CachedImage | undefined> {
    return decodeCachedImage(await this.client.getBuffer(key));
  }

  async set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds * 1000;
    const data = encodeCachedImage(image);
    if (this.isCluster) {
      // The variant and its group live in different slots: no MULTI across them.
      await this.client.set(ref.key, data, 'PX', ttlMs);
      await this.indexCommands(this.client.pipeline(), ref, ttlMs).exec();
      return;
    }
    const results = await this.indexCommands(
      this.client.multi().set(ref.key, data, 'PX', ttlMs),
      ref,
      ttlMs,
    ).exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async purge(group: string): Promise<number> {
    if (this.isCluster) {
      const members = await this.client.smembers(group);
      let removed = 0;
      for (const key of members) removed += await this.client.del(key);
      await this.client.del(group);
      return removed;
    }
    return Number(await this.client.eval(PURGE_SCRIPT, 1, group));
  }

  async onModuleDestroy(): Promise<void> {
    try {
      await this.client.quit();
    } catch (error) {
      this.logger.debug(`Redis connection closed with: ${(error as Error).message}`);
      this.client.disconnect();
    }
  }

  private get isCluster(): boolean {
    return 'isCluster' in this.client && this.client.isCluster === true;
  }

  /** The group set lists the variant, and lives at least as long as its longest-lived variant. */
  private indexCommands(
    chain: ReturnType<Redis['multi']> | ReturnType<Redis['pipeline']>,
    ref: ImageCacheKey,
    ttlMs: number,
  ) {
    return chain.sadd(ref.group, ref.key).pexpire(ref.group, ttlMs, 'NX').pexpire(ref.group, ttlMs, 'GT');
  }
}
