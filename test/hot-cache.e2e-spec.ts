import type { INestApplication } from '@nestjs/common';
import {
  HotImageTier,
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  type RedisImageCache,
} from 'nestjs-image-resize';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { createTestApp } from './support/test-app';

let redis: PrivateRedis;
let origin: TestOrigin;
const apps: INestApplication[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis();
  origin = await startOrigin({ '/logo.png': { contentType: 'image/png', body: await transparentPng() } });
});
afterAll(async () => {
  await origin.close();
  await redis.stop();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An app on the shared Redis with the hot tier (its default), under `keyPrefix`. */
async function startApp(keyPrefix: string, options: ImageResizeModuleRootOptions = {}) {
  const app = await createTestApp(origin.url, { redis: redis.url, keyPrefix, ...options });
  apps.push(app);
  // The tier is used once its subscription is up.
  await until(async () => tierOf(app).active);
  return app;
}

function tierOf(app: INestApplication): HotImageTier {
  return app.get<RedisImageCache>(IMAGE_RESIZE_CACHE).hot as HotImageTier;
}

/** How many GET commands Redis has answered so far. */
async function redisGets(): Promise<number> {
  const stats = await redis.client.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

async function until(condition: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const get = (app: INestApplication, path: string) =>
  request(app.getHttpServer()).get(path).buffer(true).parse(binary);

describe('the hot tier in front of Redis', () => {
  it('answers the images an instance served last without asking Redis', async () => {
    const [a, b] = [await startApp('hot1_'), await startApp('hot1_')];
    expect((await get(a, '/logo/logo.png')).headers['x-cache']).toBe('MISS');
    let gets = await redisGets();
    for (let i = 0; i < 5; i++) expect((await get(a, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(await redisGets()).toBe(gets);

    // Another instance reads it from Redis once, then holds it too.
    expect((await get(b, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(await redisGets()).toBe(gets + 1);
    gets += 1;
    expect((await get(b, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(await redisGets()).toBe(gets);
  });

  it('drops its copy when another instance re-makes the image, and serves the new bytes', async () => {
    const red = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#dc2626' } })
      .png()
      .toBuffer();
    const green = await sharp({ create: { width: 60, height: 60, channels: 3, background: '#16a34a' } })
      .png()
      .toBuffer();
    origin.routes.set('/swatch.png', { contentType: 'image/png', body: red });
    const [a, b] = [await startApp('hot2_', { allowRedraw: true }), await startApp('hot2_')];
    const before = await get(a, '/logo/swatch.png');
    expect((await get(b, '/logo/swatch.png')).headers.etag).toBe(before.headers.etag);

    origin.routes.set('/swatch.png', { contentType: 'image/png', body: green });
    const redrawn = await get(a, '/logo/swatch.png?redraw=1');
    expect(redrawn.headers['x-cache']).toBe('BYPASS');
    expect(redrawn.headers.etag).not.toBe(before.headers.etag);
    await until(async () => (await get(b, '/logo/swatch.png')).headers.etag === redrawn.headers.etag);
    const { dominant } = await sharp((await get(b, '/logo/swatch.png')).body).stats();
    expect(dominant.g).toBeGreaterThan(dominant.r);
  });

  it('is emptied when its subscription drops, and used again once it is back', async () => {
    const app = await startApp('hot3_');
    await get(app, '/logo/logo.png');
    await get(app, '/logo/logo.png');
    await redis.client.client('KILL', 'TYPE', 'pubsub');
    await until(async () => !tierOf(app).active);
    await until(async () => tierOf(app).active);
    // Announcements may have been missed while it was down: the next hit reads Redis again.
    const gets = await redisGets();
    expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(await redisGets()).toBe(gets + 1);
    expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    expect(await redisGets()).toBe(gets + 1);
  });

  it('never keeps a copy longer than its Redis entry lives', async () => {
    const app = await startApp('hot4_', { ttl: 1 });
    expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('MISS');
  });

  it('keeps nothing larger than hotCache.maxBytes: such hits read Redis every time', async () => {
    const app = await startApp('hot5_', { hotCache: { maxBytes: 1024 } });
    await get(app, '/logo/logo.png');
    const gets = await redisGets();
    for (let i = 1; i <= 3; i++) {
      expect((await get(app, '/logo/logo.png')).headers['x-cache']).toBe('HIT');
      expect(await redisGets()).toBe(gets + i);
    }
  });

  it('serves hot images while Redis is too slow to answer', async () => {
    const app = await startApp('hot6_');
    await get(app, '/logo/logo.png');
    await redis.client.call('CLIENT', 'PAUSE', '2500', 'ALL');
    try {
      // Redis would answer after the 1 s command timeout: a hit here came from the tier.
      const res = await get(app, '/logo/logo.png');
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('HIT');
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 2600));
    }
  });
});

describe('HotImageTier', () => {
  const image = (expiresInMs: number) => ({
    body: Buffer.from('image'),
    contentType: 'image/png',
    etag: '"5-abc"',
    width: 1,
    height: 1,
    format: 'png' as const,
    createdAt: Date.now(),
    expiresAt: Date.now() + expiresInMs,
  });
  const ref = { key: 'tier_k_1_1_png', group: 'tier_k#variants', lock: 'tier_k_1_1_png#lock' };
  let client: Redis;
  let tier: HotImageTier;
  beforeEach(async () => {
    client = new Redis(redis.url);
    tier = new HotImageTier(1024 * 1024, 'tier_invalidate');
    tier.start(client);
    await until(async () => tier.active);
  });
  afterEach(async () => {
    await tier.stop();
    client.disconnect();
  });

  it('does not keep what it read from Redis while another instance announced a change', async () => {
    const mark = tier.mark;
    await client.publish('tier_invalidate', `another-instance k ${ref.key}`);
    await until(async () => tier.mark !== mark);
    tier.keep(ref, image(60_000), mark);
    expect(tier.get(ref.key)).toBeUndefined();
    tier.keep(ref, image(60_000), tier.mark);
    expect(tier.get(ref.key)).toBeDefined();
  });

  it('drops a group that another instance purged, and ignores its own announcements', async () => {
    tier.keep(ref, image(60_000), tier.mark);
    tier.stored(client, { ...ref, key: 'tier_k_2_2_png' }, image(60_000));
    // Its own announcement of the store comes back over the subscription, before this one
    // (same connection, same order), and changes nothing.
    let mark = tier.mark;
    await client.publish('tier_invalidate', 'another-instance k tier_unrelated');
    await until(async () => tier.mark !== mark);
    expect(tier.get('tier_k_2_2_png')).toBeDefined();
    mark = tier.mark;
    await client.publish('tier_invalidate', `another-instance g ${ref.group}`);
    await until(async () => tier.mark !== mark);
    expect(tier.get(ref.key)).toBeUndefined();
    expect(tier.get('tier_k_2_2_png')).toBeUndefined();
  });

  it('keeps nothing without a known expiry, or past it', () => {
    tier.keep(ref, { ...image(0), expiresAt: undefined }, tier.mark);
    expect(tier.get(ref.key)).toBeUndefined();
    tier.keep(ref, image(-1), tier.mark);
    expect(tier.get(ref.key)).toBeUndefined();
  });
});
