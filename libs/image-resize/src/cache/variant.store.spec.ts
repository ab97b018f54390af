import { tinyCachedImage } from '../../../../test/support/fixtures';
import { resolveImageResizeOptions } from '../options/image-resize.options';
import type { ImageCacheKey } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';
import { VariantStore } from './variant.store';

/** A memory cache with the locks of a shared one, as the Redis cache has them. */
class LockingCache extends MemoryImageCache {
  readonly locks = new Map<string, string>();
  async tryLock(key: string): Promise<string | undefined> {
    if (this.locks.has(key)) return undefined;
    this.locks.set(key, 'token');
    return 'token';
  }
  async unlock(key: string, token: string): Promise<void> {
    if (this.locks.get(key) === token) this.locks.delete(key);
  }
}

const ref: ImageCacheKey = { key: 'k', group: 'g', lock: 'k#lock' };

describe('VariantStore.once', () => {
  it('serves what another instance stored between the lookup and the lock, instead of making it again', async () => {
    const cache = new LockingCache(1024 * 1024);
    const store = new VariantStore(cache, resolveImageResizeOptions({}));
    // The caller's lookup missed; then another instance stored the variant and released its lock.
    await cache.set(ref, tinyCachedImage(), 60);
    const make = jest.fn(async () => 'made');
    const outcome = await store.once(ref, make, () => 'found');
    expect(outcome).toBe('found');
    expect(make).not.toHaveBeenCalled();
    expect(cache.locks.size).toBe(0);
  });

  it('makes a variant that is not there, holding the lock meanwhile', async () => {
    const cache = new LockingCache(1024 * 1024);
    const store = new VariantStore(cache, resolveImageResizeOptions({}));
    const outcome = await store.once(
      ref,
      async () => {
        expect(cache.locks.has(ref.lock)).toBe(true);
        return 'made';
      },
      () => 'found',
    );
    expect(outcome).toBe('made');
    expect(cache.locks.size).toBe(0);
  });
});
