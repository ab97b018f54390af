import { HotImageTier } from './hot-image.tier';
import type { CachedImage } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';
import { OutageImageTier, outageTierOf } from './outage-image.tier';

const image = (size = 100): CachedImage => ({
  body: Buffer.alloc(size, 1),
  contentType: 'image/png',
  etag: '"x"',
  width: 1,
  height: 1,
  format: 'png',
});
const ref = (key: string, group = 'g#variants') => ({ key, group, lock: `${key}#lock` });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OutageImageTier', () => {
  it('keeps a copy for maxAgeMs and says how many whole seconds it has left', () => {
    const tier = new OutageImageTier(1024 * 1024, 30_000);
    const made = image();
    tier.keep(ref('a'), made, 2_592_000, tier.mark);
    const copy = tier.get('a')!;
    expect(copy.image.body).toBe(made.body);
    expect(copy.image.etag).toBe(made.etag);
    expect(copy.ttl).toBeGreaterThan(0);
    expect(copy.ttl).toBeLessThanOrEqual(30);
    // Its expiry is the tier's, not the image's own.
    expect(copy.image.expiresAt! - Date.now()).toBeLessThanOrEqual(30_000);
    expect(tier.get('b')).toBeUndefined();
  });

  it('keeps a copy no longer than its own ttl, and not at all with a ttl of 0', () => {
    const tier = new OutageImageTier(1024 * 1024, 30_000);
    tier.keep(ref('brief'), image(), 1, tier.mark);
    expect(tier.get('brief')!.ttl).toBeLessThanOrEqual(1);
    tier.keep(ref('never'), image(), 0, tier.mark);
    expect(tier.get('never')).toBeUndefined();
  });

  it('drops a copy after maxAgeMs', async () => {
    const tier = new OutageImageTier(1024 * 1024, 100);
    tier.keep(ref('a'), image(), 60, tier.mark);
    expect(tier.get('a')).toBeDefined();
    await sleep(250);
    expect(tier.get('a')).toBeUndefined();
  });

  it('drops the copies of one group, and only those', () => {
    const tier = new OutageImageTier(1024 * 1024, 30_000);
    tier.keep(ref('a1', 'a#variants'), image(), 60, tier.mark);
    tier.keep(ref('a2', 'a#variants'), image(), 60, tier.mark);
    tier.keep(ref('b1', 'b#variants'), image(), 60, tier.mark);
    tier.drop('a#variants');
    expect(tier.get('a1')).toBeUndefined();
    expect(tier.get('a2')).toBeUndefined();
    expect(tier.get('b1')).toBeDefined();
    tier.delete('b1');
    expect(tier.get('b1')).toBeUndefined();
  });

  it('does not keep what was made while something was dropped (a purge, Redis answering)', () => {
    const tier = new OutageImageTier(1024 * 1024, 30_000);
    for (const change of [
      () => tier.drop('other#variants'),
      () => tier.delete('other'),
      () => tier.clear(),
    ]) {
      const mark = tier.mark;
      change();
      tier.keep(ref('a'), image(), 60, mark);
      expect(tier.get('a')).toBeUndefined();
    }
    tier.keep(ref('a'), image(), 60, tier.mark);
    expect(tier.get('a')).toBeDefined();
  });

  it('empties when Redis answers again', () => {
    const tier = new OutageImageTier(1024 * 1024, 30_000);
    tier.keep(ref('a'), image(), 60, tier.mark);
    tier.keep(ref('b', 'b#variants'), image(), 60, tier.mark);
    tier.clear();
    expect(tier.size).toBe(0);
    expect(tier.get('a')).toBeUndefined();
  });

  it('stays within its byte bound, least recently used first', () => {
    // Each entry counts its bytes, its key and 512 bytes of overhead: three fit, four do not.
    const tier = new OutageImageTier(5 * 1024, 30_000);
    for (const key of ['a', 'b', 'c']) tier.keep(ref(key), image(1000), 60, tier.mark);
    tier.get('a');
    tier.keep(ref('d'), image(1000), 60, tier.mark);
    expect(tier.size).toBeLessThanOrEqual(5 * 1024);
    expect(tier.get('b')).toBeUndefined();
    expect(tier.get('a')).toBeDefined();
    expect(tier.get('d')).toBeDefined();
  });
});

describe('the outage tier of a hot tier', () => {
  it('holds a quarter of the hot tier bytes, for outageMaxAgeMs (30 s by default)', () => {
    const hot = new HotImageTier(16 * 1024, 'ot_invalidate');
    const outage = hot.outage!;
    expect(outage.maxAgeMs).toBe(30_000);
    // 4 KiB: two images of 1000 bytes (with their overhead) fit, three do not.
    for (const key of ['a', 'b', 'c']) outage.keep(ref(key), image(1000), 60, outage.mark);
    expect(outage.size).toBeLessThanOrEqual(4 * 1024);
    expect(outage.get('a')).toBeUndefined();
    expect(outage.get('c')).toBeDefined();
  });

  it('is absent with outageMaxAgeMs: 0', () => {
    expect(new HotImageTier(16 * 1024, 'ot_invalidate', { outageMaxAgeMs: 0 }).outage).toBeUndefined();
  });

  it('drops a group the hot tier drops (a purge)', () => {
    const hot = new HotImageTier(16 * 1024, 'ot_invalidate', { outageMaxAgeMs: 5000 });
    const outage = hot.outage!;
    outage.keep(ref('a'), image(), 60, outage.mark);
    hot.drop('g#variants');
    expect(outage.get('a')).toBeUndefined();
  });

  it('empties when Redis answers', () => {
    const hot = new HotImageTier(16 * 1024, 'ot_invalidate');
    const outage = hot.outage!;
    outage.keep(ref('a'), image(), 60, outage.mark);
    hot.answered();
    expect(outage.get('a')).toBeUndefined();
  });

  it('is found through the cache that has the hot tier, and only there', () => {
    const hot = new HotImageTier(16 * 1024, 'ot_invalidate');
    expect(outageTierOf({ hot } as never)).toBe(hot.outage);
    expect(outageTierOf(new MemoryImageCache(1024))).toBeUndefined();
    const off = new HotImageTier(16 * 1024, 'ot_invalidate', { outageMaxAgeMs: 0 });
    expect(outageTierOf({ hot: off } as never)).toBeUndefined();
  });
});
