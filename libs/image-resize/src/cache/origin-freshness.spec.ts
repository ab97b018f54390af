import { createHash, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { ImageNotFoundError, UpstreamError } from '../errors/image-resize.errors';
import type { LoadedSource, SourceValidators } from '../sources/image-source.interface';
import type { CachedImage, ImageCache, ImageCacheKey } from './image-cache.interface';
import { MemoryImageCache } from './memory-image.cache';
import { type HeldOriginal, type OriginCheck, OriginFreshness } from './origin-freshness';
import type { OriginRecord, RevalidationPolicy } from './origin-record';

const GROUP = 'p_logo#variants';
const policy: RevalidationPolicy = { revalidateAfter: 3600, originMaxAge: 'ignore' };
const options = {
  revalidateAfter: 3600 as number | false,
  originMaxAge: 'ignore' as const,
  fetchTimeoutMs: 1000,
};
const ORIGINAL = Buffer.from('the original');
const sha = (body: Buffer) => createHash('sha256').update(body).digest('hex');
const image: CachedImage = {
  body: Buffer.alloc(10, 1),
  contentType: 'image/png',
  etag: '"x"',
  width: 1,
  height: 1,
  format: 'png',
};
const ref = (key: string): ImageCacheKey => ({ key, group: GROUP, lock: `${key}#lock` });
const HOUR_AGO = () => Date.now() - 3601 * 1000;

/** A memory cache with the locks of a shared one, as two instances on one Redis see it. */
class SharedCache extends MemoryImageCache implements ImageCache {
  readonly locks = new Map<string, string>();
  async tryLock(key: string): Promise<string | undefined> {
    if (this.locks.has(key)) return undefined;
    const token = randomUUID();
    this.locks.set(key, token);
    return token;
  }
  async unlock(key: string, token: string): Promise<void> {
    if (this.locks.get(key) === token) this.locks.delete(key);
  }
}

/** A check whose loads are counted, answered by `answer` (a loaded source, or an error to throw). */
function checkOf(answer: (validators: SourceValidators | undefined) => LoadedSource | Error) {
  const calls: Array<SourceValidators | undefined> = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let gated = false;
  const check: OriginCheck = {
    name: 'logo',
    load: async (validators): Promise<HeldOriginal> => {
      calls.push(validators);
      if (gated) await gate;
      const result = answer(validators);
      if (result instanceof Error) throw result;
      return { loaded: result, release: () => undefined };
    },
  };
  return {
    check,
    calls,
    /** Holds every load until `open()`. */
    hold: () => (gated = true),
    open: () => release(),
  };
}

async function cacheWith(record: OriginRecord, cache = new SharedCache(1024 * 1024)) {
  for (const key of ['a', 'b', 'c']) await cache.set(ref(key), image, 3600);
  await cache.setOrigin(GROUP, record, 3600);
  return cache;
}

describe('OriginFreshness', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('does not check an original that is not due, and gives the seconds left as the ttl', async () => {
    const cache = await cacheWith({ checkedAt: Date.now() - 600_000, etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    const { check, calls } = checkOf(() => new Error('not asked'));
    const ttl = await freshness.onHit(GROUP, policy, 86_400, () => check);
    expect(ttl).toBeGreaterThanOrEqual(2999);
    expect(ttl).toBeLessThanOrEqual(3000);
    expect(await freshness.onHit(GROUP, policy, 60, () => check)).toBe(60); // the spec's ttl when shorter
    await freshness.settled();
    expect(calls).toEqual([]);
  });

  it('answers a due hit at once (ttl 0) and makes one conditional check for all variants', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    const { check, calls, hold, open } = checkOf(() => ({
      body: Buffer.alloc(0),
      notModified: true,
      validators: { maxAge: 60 },
    }));
    hold();
    const ttls = await Promise.all(
      Array.from({ length: 9 }, () => freshness.onHit(GROUP, policy, 86_400, () => check)),
    );
    expect(ttls).toEqual(Array(9).fill(0));
    expect(freshness.inFlight).toBe(1);
    open();
    await freshness.settled();
    expect(calls).toEqual([{ etag: '"1"' }]);
    const record = (await cache.getOrigin(GROUP))!;
    expect(record).toMatchObject({ etag: '"1"', maxAge: 60, hash: sha(ORIGINAL) });
    expect(Date.now() - record.checkedAt).toBeLessThan(5000);
    // Every variant stays, fresh again.
    expect(await Promise.all(['a', 'b', 'c'].map((key) => cache.get(key)))).toEqual([image, image, image]);
    expect(await freshness.onHit(GROUP, policy, 86_400, () => check)).toBeGreaterThan(3590);
  });

  it('makes one check for two instances sharing the cache', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const instances = [new OriginFreshness(cache, options), new OriginFreshness(cache, options)];
    const { check, calls, hold, open } = checkOf(() => ({ body: Buffer.alloc(0), notModified: true }));
    hold();
    await Promise.all(instances.map((freshness) => freshness.onHit(GROUP, policy, 86_400, () => check)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    open();
    await Promise.all(instances.map((freshness) => freshness.settled()));
    // The second instance found the lock taken; past it, the record it reads again is fresh.
    await Promise.all(instances.map((freshness) => freshness.onHit(GROUP, policy, 86_400, () => check)));
    await Promise.all(instances.map((freshness) => freshness.settled()));
    expect(calls).toHaveLength(1);
    expect(cache.locks.size).toBe(0);
  });

  it('keeps the variants when a 200 brings the same bytes, with its new validators', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    const { check } = checkOf(() => ({ body: ORIGINAL, validators: { etag: '"2"' } }));
    await freshness.onHit(GROUP, policy, 86_400, () => check);
    await freshness.settled();
    expect(await cache.get('a')).toBe(image);
    expect(await cache.getOrigin(GROUP)).toMatchObject({ etag: '"2"', hash: sha(ORIGINAL) });
  });

  it('purges the group when the original changed, and records the new version', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const purge = jest.spyOn(cache, 'purge');
    const freshness = new OriginFreshness(cache, options);
    const { check } = checkOf(() => ({ body: Buffer.from('another'), validators: { etag: '"2"' } }));
    await freshness.onHit(GROUP, policy, 86_400, () => check);
    await freshness.settled();
    expect(purge).toHaveBeenCalledWith(GROUP);
    expect(await cache.get('a')).toBeUndefined();
    // The next miss stores the new version's variant and record; no purge, same version.
    purge.mockClear();
    const ttl = await freshness.stored(
      GROUP,
      { body: Buffer.from('another'), validators: { etag: '"2"' } },
      policy,
      86_400,
      () => cache.set(ref('a'), image, 86_400),
    );
    expect(ttl).toBe(3600);
    expect(purge).not.toHaveBeenCalled();
    expect(await cache.getOrigin(GROUP)).toMatchObject({ etag: '"2"', hash: sha(Buffer.from('another')) });
  });

  it('purges the group when the origin answers 404', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    const { check } = checkOf(() => new ImageNotFoundError('Image source not found'));
    await freshness.onHit(GROUP, policy, 86_400, () => check);
    await freshness.settled();
    expect(await Promise.all(['a', 'b', 'c'].map((key) => cache.get(key)))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('serves stale on a failure, backs off, logs once, and never throws into the request', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO(), etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    const { check, calls } = checkOf(() => new UpstreamError('Image source answered with status 503'));
    expect(await freshness.onHit(GROUP, policy, 86_400, () => check)).toBe(0);
    await freshness.settled();
    const record = (await cache.getOrigin(GROUP))!;
    expect(record.failures).toBe(1);
    expect(record.retryAt! - Date.now()).toBeGreaterThan(55_000); // 60 s
    // Within the back-off: no load, and clients may keep the variant until the next attempt.
    const ttl = await freshness.onHit(GROUP, policy, 86_400, () => check);
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
    await freshness.settled();
    expect(calls).toHaveLength(1);
    expect(await cache.get('a')).toBe(image);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(
      /^Could not revalidate image logo with its origin, serving its cached variants: 502 Image source answered with status 503; next check in 60 s$/,
    );
  });

  it('does not check when the cache cannot say, and still answers', async () => {
    const cache = await cacheWith({ checkedAt: HOUR_AGO() });
    cache.getOrigin = () => Promise.reject(new Error('down'));
    const freshness = new OriginFreshness(cache, options);
    const { check, calls } = checkOf(() => new Error('not asked'));
    expect(await freshness.onHit(GROUP, policy, 120, () => check)).toBe(120);
    await freshness.settled();
    expect(calls).toEqual([]);
  });

  it('purges variants of another version when a miss loads a changed original', async () => {
    const cache = await cacheWith({ checkedAt: Date.now(), etag: '"1"', hash: sha(ORIGINAL) });
    const freshness = new OriginFreshness(cache, options);
    await freshness.stored(
      GROUP,
      { body: Buffer.from('v2'), validators: { etag: '"2"' } },
      policy,
      86_400,
      () => cache.set(ref('d'), image, 86_400),
    );
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('d')).toBe(image);
    expect(await cache.getOrigin(GROUP)).toMatchObject({ etag: '"2"', hash: sha(Buffer.from('v2')) });
  });

  it('has no policy without origin records, or with revalidateAfter false', () => {
    const plain: ImageCache = {
      get: async () => undefined,
      set: async () => undefined,
      purge: async () => 0,
    };
    expect(new OriginFreshness(plain, options).policyOf({})).toBeUndefined();
    const memory = new OriginFreshness(new MemoryImageCache(1024), options);
    expect(memory.policyOf({})).toEqual(policy);
    expect(memory.policyOf({ revalidateAfter: false })).toBeUndefined();
    expect(memory.policyOf({ revalidateAfter: 5, originMaxAge: 'longer-wins' })).toEqual({
      revalidateAfter: 5,
      originMaxAge: 'longer-wins',
    });
    expect(
      new OriginFreshness(new MemoryImageCache(1024), { ...options, revalidateAfter: false }).policyOf({}),
    ).toBeUndefined();
  });
});
