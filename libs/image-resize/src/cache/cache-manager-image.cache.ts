import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';
import { decodeCachedImage, encodeCachedImage } from './cached-image.codec';
import { type OriginRecord, originKeys, originRecordOf } from './origin-record';

/**
 * The part of a cache-manager (v6+) `Cache`, as `@nestjs/cache-manager` injects it under
 * `CACHE_MANAGER`, that this cache needs. TTLs are in milliseconds.
 */
export interface CacheManagerLike {
  get<T>(key: string): Promise<T | undefined | null>;
  mget<T>(keys: string[]): Promise<Array<T | undefined | null>>;
  set<T>(key: string, value: T, ttl?: number): Promise<T>;
  mdel(keys: string[]): Promise<boolean>;
}

/** The record of an original (see {@link OriginRecord}), and when it expires. */
interface OriginEntry {
  record: OriginRecord;
  expiresAt: number;
}

/** The list of variants of one cacheKey, and when the longest-lived of them expires. */
interface GroupEntry {
  keys: string[];
  expiresAt: number;
}

/**
 * Keeps images in the application's own cache-manager cache (`CacheModule` of `@nestjs/cache-manager`,
 * any Keyv store), for `useCacheManager: true`. Each entry is the image in the binary layout of
 * `cached-image.codec.ts`; how a store encodes a Buffer is its own business (Keyv's default
 * serializer writes base64, about 1.33x the bytes). The group of a cacheKey is a list kept in the
 * same cache; it is updated read-modify-write, so with several instances writing the same cacheKey
 * at once a purge may miss a variant, which then lives until its TTL. The record of a cacheKey's
 * original (for revalidation) is an entry of its own next to the group, `<prefix><cacheKey>#origin`.
 */
export class CacheManagerImageCache implements ImageCache {
  constructor(private readonly cache: CacheManagerLike) {}

  async get(key: string): Promise<CachedImage | undefined> {
    const value = await this.cache.get<Buffer | Uint8Array>(key);
    return value ? decodeCachedImage(Buffer.from(value)) : undefined;
  }

  async set(ref: ImageCacheKey, image: CachedImage, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds * 1000;
    await this.cache.set(ref.key, encodeCachedImage(image), ttlMs);
    const now = Date.now();
    const group = (await this.cache.get<GroupEntry>(ref.group)) ?? { keys: [], expiresAt: 0 };
    const keys = group.keys.includes(ref.key) ? group.keys : [...group.keys, ref.key];
    const expiresAt = Math.max(group.expiresAt, now + ttlMs);
    await this.cache.set<GroupEntry>(ref.group, { keys, expiresAt }, expiresAt - now);
  }

  async purge(group: string): Promise<number> {
    const entry = await this.cache.get<GroupEntry>(group);
    if (!entry || entry.keys.length === 0) return 0;
    const present = (await this.cache.mget(entry.keys)).filter(
      (value) => value !== undefined && value !== null,
    );
    await this.cache.mdel([...entry.keys, group]);
    return present.length;
  }

  async getOrigin(group: string): Promise<OriginRecord | undefined> {
    const entry = await this.cache.get<OriginEntry>(originKeys(group).record);
    return originRecordOf(entry?.record);
  }

  /** Keeps the record for `ttlSeconds`, or until the end of its current life if that is later. */
  async setOrigin(group: string, record: OriginRecord, ttlSeconds: number): Promise<void> {
    const key = originKeys(group).record;
    const now = Date.now();
    const previous = await this.cache.get<OriginEntry>(key);
    const expiresAt = Math.max(previous?.expiresAt ?? 0, now + ttlSeconds * 1000);
    await this.cache.set<OriginEntry>(key, { record, expiresAt }, expiresAt - now);
  }
}
