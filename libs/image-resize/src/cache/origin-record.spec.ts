import { CacheManagerImageCache, type CacheManagerLike } from './cache-manager-image.cache';
import type { CachedImage } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';
import {
  backoffSeconds,
  checkIntervalMs,
  conditionalValidators,
  isDue,
  nextCheckAt,
  type OriginRecord,
  originKeys,
  parseOriginRecord,
  type RevalidationPolicy,
  secondsUntilCheck,
  serializeOriginRecord,
} from './origin-record';

const DAY = 86_400;
const ignore: RevalidationPolicy = { revalidateAfter: DAY, originMaxAge: 'ignore' };
const longer: RevalidationPolicy = { revalidateAfter: DAY, originMaxAge: 'longer-wins' };
const T = Date.UTC(2024, 0, 1);

describe('the due logic of an origin record', () => {
  it('is due revalidateAfter seconds after the last load or check, and not before', () => {
    const record: OriginRecord = { checkedAt: T, etag: '"a"' };
    expect(nextCheckAt(record, ignore)).toBe(T + DAY * 1000);
    expect(isDue(record, ignore, T + DAY * 1000 - 1)).toBe(false);
    expect(isDue(record, ignore, T + DAY * 1000)).toBe(true);
  });

  it('is due at once without a record (variants cached before, or a record lost)', () => {
    expect(isDue(undefined, ignore, T)).toBe(true);
    expect(secondsUntilCheck(undefined, ignore, T)).toBe(0);
  });

  it("lets a longer origin max-age put the check off only with 'longer-wins'", () => {
    const record: OriginRecord = { checkedAt: T, maxAge: 7 * DAY };
    expect(checkIntervalMs(record, ignore)).toBe(DAY * 1000);
    expect(checkIntervalMs(record, longer)).toBe(7 * DAY * 1000);
    // A shorter one (or no-cache, 0) never brings it forward.
    expect(checkIntervalMs({ checkedAt: T, maxAge: 0 }, longer)).toBe(DAY * 1000);
    expect(checkIntervalMs({ checkedAt: T, maxAge: 60 }, longer)).toBe(DAY * 1000);
  });

  it('waits for the back-off after a failed check, even past the interval', () => {
    const record: OriginRecord = { checkedAt: T, failures: 1, retryAt: T + DAY * 1000 + 60_000 };
    expect(isDue(record, ignore, T + DAY * 1000 + 59_999)).toBe(false);
    expect(isDue(record, ignore, T + DAY * 1000 + 60_000)).toBe(true);
    // A first check that failed without a record: checkedAt 0, the back-off alone decides.
    expect(nextCheckAt({ checkedAt: 0, failures: 1, retryAt: T + 5000 }, ignore)).toBe(T + 5000);
  });

  it('counts whole seconds left, rounded down, never below 0', () => {
    const record: OriginRecord = { checkedAt: T };
    expect(secondsUntilCheck(record, ignore, T)).toBe(DAY);
    expect(secondsUntilCheck(record, ignore, T + 1)).toBe(DAY - 1);
    expect(secondsUntilCheck(record, ignore, T + 999)).toBe(DAY - 1);
    expect(secondsUntilCheck(record, ignore, T + DAY * 1000 - 999)).toBe(0);
    expect(secondsUntilCheck(record, ignore, T + 2 * DAY * 1000)).toBe(0);
  });

  it('backs off 60 s, doubling with each failure, at most an hour and never past revalidateAfter', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffSeconds(n, DAY))).toEqual([
      60, 120, 240, 480, 960, 1920, 3600, 3600, 3600,
    ]);
    expect(backoffSeconds(1, 5)).toBe(5);
    expect(backoffSeconds(3, 300)).toBe(240);
    expect(backoffSeconds(4, 300)).toBe(300);
  });

  it('revalidates conditionally only with validators that say something', () => {
    expect(conditionalValidators(undefined)).toBeUndefined();
    expect(conditionalValidators({ checkedAt: T, hash: 'ab', maxAge: 60 })).toBeUndefined();
    expect(conditionalValidators({ checkedAt: T, etag: '"a"', lastModified: 'x', hash: 'ab' })).toEqual({
      etag: '"a"',
      lastModified: 'x',
    });
    // A file needs both its size and its mtime.
    expect(conditionalValidators({ checkedAt: T, mtimeMs: 5 })).toBeUndefined();
    expect(conditionalValidators({ checkedAt: T, mtimeMs: 5, size: 9 })).toEqual({ mtimeMs: 5, size: 9 });
  });

  it('reads back what it wrote, and nothing that is not a record', () => {
    const record: OriginRecord = { checkedAt: T, etag: '"a"', hash: 'ff', failures: undefined, maxAge: 60 };
    const text = serializeOriginRecord(record);
    expect(text).not.toContain('failures');
    expect(parseOriginRecord(text)).toEqual({ checkedAt: T, etag: '"a"', hash: 'ff', maxAge: 60 });
    for (const bad of [null, '', 'nope', '[]', '{}', '{"checkedAt":"1"}', '{"checkedAt":null}']) {
      expect(parseOriginRecord(bad)).toBeUndefined();
    }
    expect(parseOriginRecord('{"checkedAt":1,"etag":5,"size":"9","extra":true}')).toEqual({ checkedAt: 1 });
  });

  it('keys a record and its lock next to the group, in its hash slot', () => {
    expect(originKeys('image_resize_logo_acme#variants')).toEqual({
      record: 'image_resize_logo_acme#origin',
      lock: 'image_resize_logo_acme#origin#lock',
    });
    expect(originKeys('p_{logo}#variants').record).toBe('p_{logo}#origin');
  });
});

const image: CachedImage = {
  body: Buffer.alloc(10, 1),
  contentType: 'image/png',
  etag: '"x"',
  width: 1,
  height: 1,
  format: 'png',
};
const ref = (key: string, group = 'g#variants') => ({ key, group, lock: `${key}#lock` });

describe('origin records in the memory cache', () => {
  it('keeps a record while its group has variants, and drops it with the group', async () => {
    const cache = new MemoryImageCache(1024 * 1024);
    await cache.setOrigin('g#variants', { checkedAt: T }, 60);
    expect(await cache.getOrigin('g#variants')).toBeUndefined(); // no variant: nothing to revalidate

    await cache.set(ref('a'), image, 60);
    await cache.setOrigin('g#variants', { checkedAt: T, etag: '"1"' }, 60);
    expect(await cache.getOrigin('g#variants')).toEqual({ checkedAt: T, etag: '"1"' });
    expect(await cache.purge('g#variants')).toBe(1);
    expect(await cache.getOrigin('g#variants')).toBeUndefined();

    await cache.set(ref('b'), image, 60);
    await cache.setOrigin('g#variants', { checkedAt: T }, 60);
    cache.delete('b'); // the group's last variant
    expect(await cache.getOrigin('g#variants')).toBeUndefined();
  });
});

describe('origin records in a cache-manager cache', () => {
  function fakeStore() {
    const entries = new Map<string, { value: unknown; ttl?: number }>();
    const store: CacheManagerLike = {
      get: async <T>(key: string) => entries.get(key)?.value as T | undefined,
      mget: async <T>(keys: string[]) => keys.map((key) => entries.get(key)?.value as T | undefined),
      set: async <T>(key: string, value: T, ttl?: number) => {
        entries.set(key, { value, ttl });
        return value;
      },
      mdel: async (keys: string[]) => keys.every((key) => entries.delete(key)),
    };
    return { store, entries };
  }

  it('keeps the record next to the group, never shortening its life', async () => {
    const { store, entries } = fakeStore();
    const cache = new CacheManagerImageCache(store);
    expect(await cache.getOrigin('p_logo#variants')).toBeUndefined();
    await cache.setOrigin('p_logo#variants', { checkedAt: T, etag: '"1"' }, 3600);
    expect(await cache.getOrigin('p_logo#variants')).toEqual({ checkedAt: T, etag: '"1"' });
    const first = entries.get('p_logo#origin')?.ttl as number;
    expect(first).toBeGreaterThan(3_590_000);
    await cache.setOrigin('p_logo#variants', { checkedAt: T + 1 }, 60);
    expect(await cache.getOrigin('p_logo#variants')).toEqual({ checkedAt: T + 1 });
    expect(entries.get('p_logo#origin')?.ttl).toBeGreaterThan(3_500_000);
  });
});
