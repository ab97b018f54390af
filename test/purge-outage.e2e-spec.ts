import { type INestApplication, type LoggerService, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  CacheUnavailableError,
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
} from 'nestjs-image-resize';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import request from 'supertest';
import type { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { binary } from './support/binary';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController, UploadController } from './support/test-app';
import { tinyCachedImage, swatch } from './support/fixtures';
import { until } from './support/until';

/**
 * A purge made while Redis cannot be reached is kept and replayed once it answers: the caller gets a
 * 503 at once, the instance that purged stops serving the old image at once, and once Redis is back
 * (with its data: the old variants are still in it) no instance serves them again.
 *
 * `PURGE_OUTAGE_TIMINGS=1` prints what was measured.
 */

/** Keeps what the app logs, to check what an outage of purges says. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

let origin: TestOrigin;
let oldLogo: Buffer;
let newLogo: Buffer;
const apps: INestApplication[] = [];

beforeAll(async () => {
  [oldLogo, newLogo] = [await swatch('#dc2626'), await swatch('#16a34a')];
  const badge = await swatch('#1d4ed8');
  origin = await startOrigin({
    '/logo.png': { contentType: 'image/png', body: oldLogo },
    '/badge.png': { contentType: 'image/png', body: badge },
    '/keep.png': { contentType: 'image/png', body: badge },
  });
});
afterAll(async () => origin.close());
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function startApp(redis: PrivateRedis, keyPrefix: string, logger: LoggerService | false = false) {
  const options: ImageResizeModuleRootOptions = { sources: LOOPBACK_ORIGIN, redis: redis.url, keyPrefix };
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot(options)],
    controllers: [TestImagesController, UploadController],
    providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  apps.push(app);
  return app;
}

const cacheOf = (app: INestApplication) => app.get<RedisImageCache>(IMAGE_RESIZE_CACHE);
const tierOf = (app: INestApplication) => cacheOf(app).hot as HotImageTier;

const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

/** The purge's rejection (the test fails if it resolves). */
async function rejectionOf(purge: Promise<unknown>): Promise<CacheUnavailableError> {
  const outcome = await purge.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`purge resolved to ${String(outcome.value)} during an outage`);
  return outcome.error as CacheUnavailableError;
}

function report(facts: Record<string, unknown>): void {
  if (process.env.PURGE_OUTAGE_TIMINGS) process.stdout.write(`purge-outage: ${JSON.stringify(facts)}\n`);
}

describe('a purge during a Redis outage', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis({ persistent: true });
  });
  afterAll(async () => redis.stop());

  it('is answered 503, is kept, and is replayed once Redis is back with its data', async () => {
    const logger = new CapturingLogger();
    const a = await startApp(redis, 'po1_', logger);
    const b = await startApp(redis, 'po1_', logger);
    await until('hot tiers subscribed', () => tierOf(a).active && tierOf(b).active);
    const small = 'po1_logo_logo.png_128_128_png';
    const large = 'po1_logo_logo.png_256_256_png';
    const purgedKeys = [small, large, 'po1_logo_logo.png#variants', 'po1_logo_badge.png_128_128_png'];

    // Both instances serve the old logo and the badge, from their hot tiers.
    const before = await get(a, '/logo/logo.png');
    expect(before.headers['x-cache']).toBe('MISS');
    expect((await get(a, '/logo-large/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await get(a, '/logo/badge.png')).headers['x-cache']).toBe('MISS');
    expect((await get(a, '/logo/keep.png')).headers['x-cache']).toBe('MISS');
    for (const app of [a, b]) {
      for (const path of ['/logo/logo.png', '/logo-large/logo.png', '/logo/badge.png']) {
        expect((await get(app, path)).headers['x-cache']).toBe('HIT');
      }
      expect(tierOf(app).get(small)).toBeDefined();
    }
    expect(await redis.client.exists(...purgedKeys)).toBe(purgedKeys.length);

    // The logo is replaced at its origin, then Redis goes down (it keeps its data).
    origin.routes.set('/logo.png', { contentType: 'image/png', body: newLogo });
    await redis.client.set('po1_sentinel', 'kept');
    await redis.shutdown();
    await until('both instances see the outage', () =>
      [a, b].every((app) => cacheOf(app).client.status !== 'ready'),
    );

    // The upload endpoint answers 503, not 500; so does the service, at once.
    const upload = await request(a.getHttpServer()).post('/upload/logo.png');
    expect(upload.status).toBe(503);
    expect(upload.body).toMatchObject({ statusCode: 503 });
    expect(JSON.stringify(upload.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|\d{4,5}/);
    const purgeStarted = Date.now();
    const rejected = await rejectionOf(a.get(ImageResizeService).purge('logo_badge.png'));
    const rejectMs = Date.now() - purgeStarted;
    expect(rejected).toBeInstanceOf(CacheUnavailableError);
    expect(rejected.getStatus()).toBe(503);
    // The same cacheKey again: kept once.
    expect((await rejectionOf(a.get(ImageResizeService).purge('logo_logo.png'))).getStatus()).toBe(503);
    expect(cacheOf(a).keptPurges).toBe(2);

    // The instance that purged no longer serves the old logo, even from memory: the new one, uncached.
    expect(tierOf(a).get(small)).toBeUndefined();
    const during = await get(a, '/logo/logo.png');
    expect(during.status).toBe(200);
    expect(during.headers['x-cache']).toBe('BYPASS');
    expect(during.headers.etag).not.toBe(before.headers.etag);

    // Redis comes back with its data; the kept purges are replayed.
    let readyAt = 0;
    cacheOf(a).client.once('ready', () => (readyAt = Date.now()));
    const restartAt = Date.now();
    await redis.restart();
    await until('purges replayed', async () => (await redis.client.exists(...purgedKeys)) === 0);
    const replayedAt = Date.now();
    await until('kept purges done', () => cacheOf(a).keptPurges === 0);
    expect(await redis.client.get('po1_sentinel')).toBe('kept');
    expect(logger.lines).toContainEqual(expect.stringMatching(/^Replayed 2 purges kept while Redis/));

    // No instance serves the purged variants: each misses, and from then on serves the new logo.
    await until('both instances reconnected', () =>
      [a, b].every((app) => cacheOf(app).client.status === 'ready' && tierOf(app).active),
    );
    const afterA = await get(a, '/logo/logo.png');
    expect(afterA.headers['x-cache']).toBe('MISS');
    expect(afterA.headers.etag).toBe(during.headers.etag);
    expect((await get(b, '/logo-large/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await get(b, '/logo/badge.png')).headers['x-cache']).toBe('MISS');
    expect((await get(b, '/logo/logo.png')).headers.etag).toBe(afterA.headers.etag);
    for (const app of [a, b]) {
      const { dominant } = await sharp((await get(app, '/logo-large/logo.png')).body).stats();
      expect(dominant.g).toBeGreaterThan(dominant.r);
    }
    // What was not purged survived the restart: without the replay, the old logo would be a HIT.
    expect((await get(b, '/logo/keep.png')).headers['x-cache']).toBe('HIT');

    report({
      scenario: 'redis stopped',
      purgesReplayed: 2,
      rejectMs,
      replayedMsAfterRestartBegan: replayedAt - restartAt,
      replayedMsAfterReconnect: replayedAt - readyAt,
    });
  });

  it('is replayed to every hot tier when Redis was connected but not answering', async () => {
    origin.routes.set('/logo.png', { contentType: 'image/png', body: oldLogo });
    const c = await startApp(redis, 'po2_');
    const d = await startApp(redis, 'po2_');
    await until('hot tiers subscribed', () => tierOf(c).active && tierOf(d).active);
    const small = 'po2_logo_logo.png_128_128_png';
    const before = await get(c, '/logo/logo.png');
    expect(before.headers['x-cache']).toBe('MISS');
    expect((await get(d, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(tierOf(c).get(small)).toBeDefined();
    expect(tierOf(d).get(small)).toBeDefined();
    origin.routes.set('/logo.png', { contentType: 'image/png', body: newLogo });

    // Every command now waits longer than the 1 s command timeout; the tiers stay subscribed.
    const pauseMs = 3000;
    await redis.client.call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    const pausedAt = Date.now();
    const rejected = await rejectionOf(c.get(ImageResizeService).purge('logo_logo.png'));
    expect(rejected).toBeInstanceOf(CacheUnavailableError);
    expect(rejected.getStatus()).toBe(503);
    expect(tierOf(c).active).toBe(true);
    expect(tierOf(c).get(small)).toBeUndefined();
    const during = await get(c, '/logo/logo.png');
    expect(during.headers['x-cache']).not.toBe('HIT');
    expect(during.headers.etag).not.toBe(before.headers.etag);

    // Once Redis answers, the purge is replayed and announced: the other instance drops its copy.
    await until('pause over', () => Date.now() - pausedAt > pauseMs);
    await until('purge replayed', () => cacheOf(c).keptPurges === 0);
    await until('other tier told', () => tierOf(d).get(small) === undefined);
    const replayMs = Date.now() - pausedAt - pauseMs;
    expect((await get(d, '/logo/logo.png')).headers['x-cache']).toBe('MISS');
    const hit = await get(c, '/logo/logo.png');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers.etag).toBe(during.headers.etag);
    report({ scenario: 'redis paused', purgesReplayed: 1, replayMsAfterPauseEnded: replayMs });
  });
});

describe('RedisImageCache: kept purges', () => {
  let redis: PrivateRedis;
  let client: Redis;
  let monitor: Redis | undefined;
  const image = tinyCachedImage();
  const refOf = (name: string) => ({
    key: `kp_${name}_1_1_png`,
    group: `kp_${name}#variants`,
    lock: `kp_${name}_1_1_png#lock`,
  });

  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => redis.stop());
  beforeEach(() => {
    // The library's client settings; no reconnection, so that the test decides when Redis is back.
    client = new Redis(redis.url, {
      commandTimeout: 1000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
  });
  afterEach(async () => {
    monitor?.disconnect();
    monitor = undefined;
    client.disconnect();
  });

  async function seeded(names: string[], options?: ConstructorParameters<typeof RedisImageCache>[3]) {
    const cache = new RedisImageCache(client, undefined, undefined, options);
    cache.onModuleInit();
    await until('client ready', () => client.status === 'ready');
    for (const name of names) await cache.set(refOf(name), image, 60);
    return cache;
  }

  /** The groups Redis purged, in the order it ran the purges. */
  async function watchPurges(): Promise<string[]> {
    const purged: string[] = [];
    monitor = await redis.client.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase() === 'eval') purged.push(String(args[3]));
    });
    return purged;
  }

  it('replays the purges kept during an outage in the order they were made, each once', async () => {
    const cache = await seeded(['b', 'a', 'c']);
    client.disconnect();
    await until('client down', () => client.status === 'end');
    for (const name of ['b', 'a', 'b', 'c']) {
      expect((await rejectionOf(cache.purge(refOf(name).group))).getStatus()).toBe(503);
    }
    expect(cache.keptPurges).toBe(3);

    const purged = await watchPurges();
    await client.connect();
    await until('replayed', () => cache.keptPurges === 0);
    await until('seen by MONITOR', () => purged.length >= 3);
    expect(purged).toEqual(['kp_b#variants', 'kp_a#variants', 'kp_c#variants']);
    expect(await redis.client.exists(refOf('a').key, refOf('b').key, refOf('c').key)).toBe(0);
    // And with Redis up, a purge is made at once and says how many variants it removed.
    await cache.set(refOf('a'), image, 60);
    expect(await cache.purge(refOf('a').group)).toBe(1);
    await cache.onApplicationShutdown();
  });

  it('keeps at most maxKept purges: past it the oldest is dropped, with one warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const cache = await seeded(['d', 'e', 'f', 'g'], { maxKept: 2 });
      client.disconnect();
      await until('client down', () => client.status === 'end');
      for (const name of ['d', 'e', 'f', 'g']) await rejectionOf(cache.purge(refOf(name).group));
      expect(cache.keptPurges).toBe(2);
      const dropped = warn.mock.calls.filter(([message]) => /dropping the oldest/.test(String(message)));
      expect(dropped).toHaveLength(1);

      const purged = await watchPurges();
      await client.connect();
      await until('replayed', () => cache.keptPurges === 0);
      await until('seen by MONITOR', () => purged.length >= 2);
      expect(purged).toEqual(['kp_f#variants', 'kp_g#variants']);
      // The dropped purges' variants live on until their TTL.
      expect(await redis.client.exists(refOf('d').key, refOf('e').key)).toBe(2);
      await cache.onApplicationShutdown();
    } finally {
      warn.mockRestore();
    }
  });
});
