import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheUnavailableError,
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
} from 'nestjs-image-resize';
import { Redis } from 'ioredis';
import request from 'supertest';
import { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { tinyCachedImage, swatch } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController, UploadController } from './support/test-app';
import { until } from './support/until';

/**
 * While Redis is down, an instance answers what it made lately from its outage tier (a short-lived
 * LRU, `hotCache.outageMaxAgeMs`) instead of fetching and resizing the original for every request. A
 * purge drops its copies at once; once Redis is back they are dropped, Redis being the truth again.
 *
 * `OUTAGE_TIER_REPORT=1 npx jest test/outage-tier.e2e-spec.ts` prints the origin fetches measured
 * during an outage, with the outage tier and without it (`outageMaxAgeMs: 0`, as before it existed).
 */

const REQUESTS = 6;

let redis: PrivateRedis;
let origin: TestOrigin;
let red: Buffer;
let green: Buffer;
const apps: INestApplication[] = [];

beforeAll(async () => {
  [red, green] = [await swatch('#dc2626'), await swatch('#16a34a')];
  origin = await startOrigin();
  redis = await startPrivateRedis({ persistent: true });
});
afterAll(async () => {
  await origin.close();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  // Every test leaves Redis running.
  if (!(await redis.client.ping().catch(() => undefined))) await redis.restart();
});

async function startApp(keyPrefix: string, options: ImageResizeModuleRootOptions = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, redis: redis.url, keyPrefix, ...options }),
    ],
    controllers: [TestImagesController, UploadController],
    providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
  }).compile();
  // The outages below are the point: what the library logs of them is tested elsewhere.
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  apps.push(app);
  await until('hot tier subscribed', () => tierOf(app).active);
  return app;
}

const cacheOf = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
const tierOf = (app: INestApplication) => cacheOf(app).hot as HotImageTier;
const fetches = (path: string) => origin.hits.get(path) ?? 0;

const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

const maxAge = (res: request.Response) =>
  Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1]);

async function outage(...instances: INestApplication[]): Promise<void> {
  await redis.shutdown();
  await until('the instances see the outage', () =>
    instances.every((app) => cacheOf(app).client.status !== 'ready' && !tierOf(app).active),
  );
}

async function back(...instances: INestApplication[]): Promise<void> {
  await redis.restart();
  await until('the instances are back', () =>
    instances.every((app) => cacheOf(app).client.status === 'ready' && tierOf(app).active),
  );
}

/** Origin fetches for `REQUESTS` requests of one warm logo during an outage. */
async function fetchesDuringOutage(keyPrefix: string, options: ImageResizeModuleRootOptions = {}) {
  const path = `/${keyPrefix}logo.png`;
  origin.routes.set(path, { contentType: 'image/png', body: red });
  const app = await startApp(keyPrefix, options);
  const warm = await get(app, `/logo${path}`);
  expect(warm.headers['x-cache']).toBe('MISS');
  expect((await get(app, `/logo${path}`)).headers['x-cache']).toBe('HIT');
  await outage(app);
  const before = fetches(path);
  const answers: request.Response[] = [];
  for (let i = 0; i < REQUESTS; i++) answers.push(await get(app, `/logo${path}`));
  return { app, path, warm, answers, originFetches: fetches(path) - before };
}

function report(facts: Record<string, unknown>): void {
  if (process.env.OUTAGE_TIER_REPORT) process.stdout.write(`outage-tier: ${JSON.stringify(facts)}\n`);
}

describe('the outage tier', () => {
  it('answers what the instance made lately while Redis is down: one origin fetch, not one per request', async () => {
    const { app, path, warm, answers, originFetches } = await fetchesDuringOutage('ot1_');
    report({ outageTier: 'on (default)', requests: REQUESTS, originFetches });
    expect(originFetches).toBe(1);
    for (const res of answers) {
      expect(res.status).toBe(200);
      // Not a HIT: Redis did not answer. The same image, though.
      expect(res.headers['x-cache']).toBe('BYPASS');
      expect(res.headers.etag).toBe(warm.headers.etag);
      expect(res.body.equals(warm.body)).toBe(true);
    }
    // The one made now may be kept as long as a fresh miss; the copies no longer than the tier keeps
    // them (30 s), since a purge made elsewhere meanwhile cannot reach this instance.
    expect(maxAge(answers[0])).toBe(maxAge(warm));
    for (const res of answers.slice(1)) expect(maxAge(res)).toBeLessThanOrEqual(30);

    // Once Redis is back it is the truth again: a hit there, no copy.
    await back(app);
    const after = await get(app, `/logo${path}`);
    expect(after.headers['x-cache']).toBe('HIT');
  });

  it('is what it was before it existed with outageMaxAgeMs: 0: every request fetches the original', async () => {
    const { answers, originFetches } = await fetchesDuringOutage('ot0_', {
      hotCache: { outageMaxAgeMs: 0 },
    });
    report({ outageTier: 'off (outageMaxAgeMs: 0)', requests: REQUESTS, originFetches });
    expect(originFetches).toBe(REQUESTS);
    for (const res of answers) expect(res.headers['x-cache']).toBe('BYPASS');
  });

  it('answers its copies while Redis is connected but not answering, until it answers again', async () => {
    const path = '/ot4_logo.png';
    origin.routes.set(path, { contentType: 'image/png', body: red });
    const app = await startApp('ot4_');
    // Every command now waits longer than the 1 s command timeout; after three, the circuit opens.
    const pauseMs = 6000;
    await redis.client.call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    const pausedAt = Date.now();
    const before = fetches(path);
    const answers: request.Response[] = [];
    for (let i = 0; i < REQUESTS; i++) answers.push(await get(app, `/logo${path}`));
    const originFetches = fetches(path) - before;
    report({ outageTier: 'on (default)', redis: 'paused', requests: REQUESTS, originFetches });
    expect(originFetches).toBe(1);
    expect(answers.map((res) => res.headers['x-cache'])).toEqual(Array(REQUESTS).fill('BYPASS'));
    expect(new Set(answers.map((res) => res.headers.etag)).size).toBe(1);

    // Redis answers again: it is the truth (it has nothing: the image was never stored).
    await until('pause over', () => Date.now() - pausedAt > pauseMs);
    await until('Redis answers', async () => (await get(app, `/logo${path}`)).headers['x-cache'] === 'MISS');
    expect(fetches(path)).toBe(before + 2);
  });

  it('drops the copies of a group purged during the outage at once, and keeps what is made after', async () => {
    const { app, path, warm } = await fetchesDuringOutage('ot2_');
    const cacheKey = `logo_${path.slice(1)}`;

    // The logo is replaced at its origin; the purge cannot be made now: 503, kept.
    origin.routes.set(path, { contentType: 'image/png', body: green });
    const upload = await request(app.getHttpServer()).post(`/upload${path}`);
    expect(upload.status).toBe(503);
    expect(cacheOf(app).keptPurges).toBe(1);

    // The next request does not get the old copy: it fetches the new original.
    let before = fetches(path);
    const replaced = await get(app, `/logo${path}`);
    expect(replaced.headers['x-cache']).toBe('BYPASS');
    expect(replaced.headers.etag).not.toBe(warm.headers.etag);
    expect(fetches(path)).toBe(before + 1);
    // What was made after the purge is fresh: it is kept like any other.
    before = fetches(path);
    const again = await get(app, `/logo${path}`);
    expect(again.headers.etag).toBe(replaced.headers.etag);
    expect(fetches(path)).toBe(before);

    // Redis is back with its data (the old variant): the purge is replayed, the new logo made and cached.
    await back(app);
    await until('the kept purge is made', () => cacheOf(app).keptPurges === 0);
    const made = await get(app, `/logo${path}`);
    expect(made.headers['x-cache']).toBe('MISS');
    expect(made.headers.etag).toBe(replaced.headers.etag);
    await expect(app.get(ImageResizeService).purge(cacheKey)).resolves.toBe(1);
  });

  it('forgets its copies once Redis is back: what another instance purged meanwhile is not served in the next outage', async () => {
    const path = '/ot3_logo.png';
    origin.routes.set(path, { contentType: 'image/png', body: red });
    const a = await startApp('ot3_');
    const b = await startApp('ot3_');
    const warm = await get(a, `/logo${path}`);
    expect(warm.headers['x-cache']).toBe('MISS');

    // A keeps a copy during an outage. The logo is replaced, and B is asked to purge it: kept.
    await outage(a, b);
    let before = fetches(path);
    for (let i = 0; i < 2; i++) expect((await get(a, `/logo${path}`)).headers.etag).toBe(warm.headers.etag);
    expect(fetches(path)).toBe(before + 1);
    origin.routes.set(path, { contentType: 'image/png', body: green });
    const purge = b.get(ImageResizeService).purge(`logo${path.replace('/', '_')}`);
    await expect(purge).rejects.toBeInstanceOf(CacheUnavailableError);

    // Redis is back, and B's purge is made there; A serves nothing meanwhile.
    await back(a, b);
    await until('the purge is made', () => cacheOf(b).keptPurges === 0);

    // Another outage: A's copy from the first one is gone, so it fetches the new logo.
    await outage(a, b);
    before = fetches(path);
    const res = await get(a, `/logo${path}`);
    expect(res.headers['x-cache']).toBe('BYPASS');
    expect(res.headers.etag).not.toBe(warm.headers.etag);
    expect(fetches(path)).toBe(before + 1);
  });
});

describe('RedisImageCache with an outage tier', () => {
  const image = tinyCachedImage();
  const ref = { key: 'otc_k_1_1_png', group: 'otc_k#variants', lock: 'otc_k_1_1_png#lock' };
  let client: Redis;
  let cache: RedisImageCache;

  beforeEach(async () => {
    // The library's client settings; no reconnection, so that the test decides when Redis is back.
    client = new Redis(redis.url, {
      commandTimeout: 1000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    cache = new RedisImageCache(client, undefined, new HotImageTier(1024 * 1024, 'otc_invalidate'));
    cache.onModuleInit();
    await until('client ready', () => client.status === 'ready');
  });
  afterEach(async () => {
    await cache.onApplicationShutdown();
    // (A client that has ended already would keep a 2 s timer of ioredis's for its closed stream.)
    if (client.status !== 'end') client.disconnect();
  });

  const outageTier = () => cache.hot!.outage!;

  it('keeps an image that it could not store, until Redis is back', async () => {
    client.disconnect();
    await until('client down', () => client.status === 'end');
    await expect(cache.set(ref, image, 60)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(outageTier().get(ref.key)?.image.etag).toBe(image.etag);
    // The cache itself still says it could not answer: the service asks the outage tier.
    await expect(cache.get(ref.key, ref)).rejects.toBeInstanceOf(CacheUnavailableError);

    await client.connect();
    await until('client ready', () => client.status === 'ready');
    expect(outageTier().get(ref.key)).toBeUndefined();
  });

  it('drops the copies of a group it purges, whether Redis makes the purge or keeps it', async () => {
    client.disconnect();
    await until('client down', () => client.status === 'end');
    await expect(cache.set(ref, image, 60)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(outageTier().get(ref.key)).toBeDefined();
    await expect(cache.purge(ref.group)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(outageTier().get(ref.key)).toBeUndefined();
    // While the purge is kept, an image of the group that could not be stored is not kept either: it
    // may have been made from an original loaded before the purge.
    await expect(cache.set(ref, image, 60)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(outageTier().get(ref.key)).toBeUndefined();
    const other = { key: 'otc_o_1_1_png', group: 'otc_o#variants', lock: 'otc_o_1_1_png#lock' };
    await expect(cache.set(other, image, 60)).rejects.toBeInstanceOf(CacheUnavailableError);
    expect(outageTier().get(other.key)).toBeDefined();
  });

  it('drops its copies when Redis answers a read, without a reconnection (the circuit closing)', async () => {
    const mark = outageTier().mark;
    outageTier().keep(ref, image, 60, mark);
    expect(outageTier().get(ref.key)).toBeDefined();
    expect(await cache.get('otc_absent', { ...ref, key: 'otc_absent' })).toBeUndefined();
    expect(outageTier().get(ref.key)).toBeUndefined();
  });
});
