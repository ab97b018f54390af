import { type INestApplication, Logger } from '@nestjs/common';
import { IMAGE_RESIZE_CACHE, type ImageResizeModuleRootOptions } from 'nestjs-image-resize';
import { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { tinyCachedImage, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { createTestApp } from './support/test-app';
import { until } from './support/until';

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
  await eventually(async () => tierOf(app).active);
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

const eventually = (condition: () => Promise<boolean>) => until('the condition holds', condition, 3000, 10);

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
    expect(tierOf(b).get('hot2_logo_swatch.png_128_128_png')).toBeDefined();

    origin.routes.set('/swatch.png', { contentType: 'image/png', body: green });
    const redrawn = await get(a, '/logo/swatch.png?redraw=1');
    expect(redrawn.headers['x-cache']).toBe('BYPASS');
    expect(redrawn.headers.etag).not.toBe(before.headers.etag);
    await eventually(async () => (await get(b, '/logo/swatch.png')).headers.etag === redrawn.headers.etag);
    const { dominant } = await sharp((await get(b, '/logo/swatch.png')).body).stats();
    expect(dominant.g).toBeGreaterThan(dominant.r);
  });

  it('is emptied when its subscription drops, and used again once it is back', async () => {
    const app = await startApp('hot3_');
    await get(app, '/logo/logo.png');
    await get(app, '/logo/logo.png');
    expect(tierOf(app).size).toBeGreaterThan(0);
    await redis.client.client('KILL', 'TYPE', 'pubsub');
    await eventually(async () => !tierOf(app).active);
    expect(tierOf(app).size).toBe(0);
    await eventually(async () => tierOf(app).active);
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
  const image = (expiresInMs: number) => tinyCachedImage({ expiresAt: Date.now() + expiresInMs });
  const ref = { key: 'tier_k_1_1_png', group: 'tier_k#variants', lock: 'tier_k_1_1_png#lock' };
  let client: Redis;
  let tier: HotImageTier;
  beforeEach(async () => {
    client = new Redis(redis.url);
    tier = new HotImageTier(1024 * 1024, 'tier_invalidate');
    tier.start(client);
    await eventually(async () => tier.active);
  });
  afterEach(async () => {
    await tier.stop();
    client.disconnect();
  });

  it('does not keep what it read from Redis while another instance announced a change', async () => {
    const mark = tier.mark;
    await client.publish('tier_invalidate', `another-instance k ${ref.key}`);
    await eventually(async () => tier.mark !== mark);
    tier.keep(ref, image(60_000), mark);
    expect(tier.get(ref.key)).toBeUndefined();
    tier.keep(ref, image(60_000), tier.mark);
    expect(tier.get(ref.key)).toBeDefined();
  });

  it('drops a group that another instance purged, and ignores its own announcements', async () => {
    tier.keep(ref, image(60_000), tier.mark);
    tier.stored(client, { ...ref, key: 'tier_k_2_2_png' }, image(60_000), tier.mark);
    // Its own announcement of the store comes back over the subscription, before this one
    // (same connection, same order), and changes nothing.
    let mark = tier.mark;
    await client.publish('tier_invalidate', 'another-instance k tier_unrelated');
    await eventually(async () => tier.mark !== mark);
    expect(tier.get('tier_k_2_2_png')).toBeDefined();
    mark = tier.mark;
    await client.publish('tier_invalidate', `another-instance g ${ref.group}`);
    await eventually(async () => tier.mark !== mark);
    expect(tier.get(ref.key)).toBeUndefined();
    expect(tier.get('tier_k_2_2_png')).toBeUndefined();
  });

  it('does not keep a read from Redis that began before its subscription was up', async () => {
    const late = new HotImageTier(1024 * 1024, 'tier_late_invalidate');
    try {
      // An announcement sent before the subscription is lost to it: what was read meanwhile may be stale.
      const mark = late.mark;
      late.start(client);
      await eventually(async () => late.active);
      late.keep(ref, image(60_000), mark);
      expect(late.get(ref.key)).toBeUndefined();
    } finally {
      await late.stop();
    }
  });

  it('does not keep what it stored when another instance purged the group meanwhile', async () => {
    const mark = tier.mark;
    await client.publish('tier_invalidate', `another-instance g ${ref.group}`);
    await eventually(async () => tier.mark !== mark);
    tier.stored(client, ref, image(60_000), mark);
    expect(tier.get(ref.key)).toBeUndefined();
  });

  it('keeps a copy of its own of what it read, not the reply buffer the bytes arrived in', () => {
    const reply = Buffer.alloc(64 * 1024, 1);
    const body = reply.subarray(100, 5100);
    tier.keep(ref, { ...image(60_000), body }, tier.mark);
    const kept = tier.get(ref.key)!;
    expect(kept.body.equals(body)).toBe(true);
    expect(kept.body.buffer.byteLength).toBe(5000);
  });

  it('drops a copy after maxAgeMs, whatever its Redis TTL, in case an announcement was lost', async () => {
    const brief = new HotImageTier(1024 * 1024, 'tier_brief_invalidate', { maxAgeMs: 150 });
    try {
      brief.start(client);
      await eventually(async () => brief.active);
      brief.keep(ref, image(60_000), brief.mark);
      expect(brief.get(ref.key)).toBeDefined();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(brief.get(ref.key)).toBeUndefined();
    } finally {
      await brief.stop();
    }
  });

  it('warns when Redis refuses the subscription, and subscribes once it is allowed', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await redis.client.call(
      'ACL',
      'SETUSER',
      'tier_nosub',
      'on',
      '>tier-pass',
      '~*',
      '+@all',
      'resetchannels',
    );
    const restricted = new Redis({
      port: Number(new URL(redis.url).port),
      username: 'tier_nosub',
      password: 'tier-pass',
    });
    const refused = new HotImageTier(1024 * 1024, 'tier_acl_invalidate', { retryMs: 50 });
    try {
      refused.start(restricted);
      await eventually(async () =>
        warn.mock.calls.some(([message]) =>
          /Hot cache off: could not subscribe to tier_acl_invalidate/.test(String(message)),
        ),
      );
      expect(refused.active).toBe(false);
      await redis.client.call('ACL', 'SETUSER', 'tier_nosub', 'allchannels');
      await eventually(async () => refused.active);
      expect(warn.mock.calls.filter(([message]) => /Hot cache off/.test(String(message)))).toHaveLength(1);
    } finally {
      warn.mockRestore();
      await refused.stop();
      restricted.disconnect();
      await redis.client.call('ACL', 'DELUSER', 'tier_nosub');
    }
  });

  it('keeps nothing without a known expiry, or past it', () => {
    tier.keep(ref, { ...image(0), expiresAt: undefined }, tier.mark);
    expect(tier.get(ref.key)).toBeUndefined();
    tier.keep(ref, image(-1), tier.mark);
    expect(tier.get(ref.key)).toBeUndefined();
  });
});
