import { MemoryImageCache } from './memory-image.cache';
import type { CachedImage } from './image-cache.interface';

const image = (size: number): CachedImage => ({
  body: Buffer.alloc(size, 1),
  contentType: 'image/png',
  etag: '"x"',
  width: 1,
  height: 1,
  format: 'png',
});
const ref = (key: string, group = 'g') => ({ key, group, lock: `${key}#lock` });

describe('MemoryImageCache', () => {
  it('returns what it stored', async () => {
    const cache = new MemoryImageCache(1024 * 1024);
    const stored = image(100);
    await cache.set(ref('a'), stored, 60);
    expect(await cache.get('a')).toBe(stored);
    expect(await cache.get('b')).toBeUndefined();
  });

  it('stays within its byte bound, evicting the least recently used first', async () => {
    // Each entry counts its bytes, its key and 512 bytes of overhead: three fit, four do not.
    const cache = new MemoryImageCache(5 * 1024);
    await cache.set(ref('a'), image(1000), 60);
    await cache.set(ref('b'), image(1000), 60);
    await cache.set(ref('c'), image(1000), 60);
    await cache.get('a'); // a is now more recent than b
    await cache.set(ref('d'), image(1000), 60);
    expect(cache.size).toBeLessThanOrEqual(5 * 1024);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBeDefined();
    expect(await cache.get('d')).toBeDefined();
  });

  it('does not keep an image larger than the whole cache', async () => {
    const cache = new MemoryImageCache(2048);
    await cache.set(ref('huge'), image(4096), 60);
    expect(await cache.get('huge')).toBeUndefined();
    expect(await cache.purge('g')).toBe(0);
  });

  it('forgets an entry when its TTL is over', async () => {
    const cache = new MemoryImageCache(1024 * 1024);
    await cache.set(ref('short'), image(10), 1);
    expect(await cache.get('short')).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await cache.get('short')).toBeUndefined();
  });

  it('purges exactly the variants of one group and counts only those still there', async () => {
    const cache = new MemoryImageCache(4 * 1024);
    await cache.set(ref('logo_1', 'logo'), image(1000), 60);
    await cache.set(ref('logo_2', 'logo'), image(1000), 60);
    await cache.set(ref('other_1', 'other'), image(500), 60);
    expect(await cache.purge('logo')).toBe(2);
    expect(await cache.get('logo_1')).toBeUndefined();
    expect(await cache.get('other_1')).toBeDefined();
    expect(await cache.purge('logo')).toBe(0);

    await cache.set(ref('logo_1', 'logo'), image(1000), 60);
    await cache.set(ref('big_1', 'big'), image(3000), 60); // evicts logo_1 and other_1
    expect(await cache.get('logo_1')).toBeUndefined();
    expect(await cache.purge('logo')).toBe(0);
  });
});
