import type { INestApplication } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { ImageResizeService } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { HTML_PAGE, photoJpeg, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedis, type TestRedis } from './support/redis-server';
import { createTestApp, LOOPBACK_ORIGIN } from './support/test-app';

let origin: TestOrigin;
let redis: TestRedis;
let prefixCounter = 0;
/** A key prefix per app, so tests never see each other's entries (also on a shared REDIS_URL). */
const uniquePrefix = () => `e2e_${process.pid}_${++prefixCounter}_`;

beforeAll(async () => {
  origin = await startOrigin({
    '/logo.png': { contentType: 'image/png', body: await transparentPng() },
    '/photo.jpg': { contentType: 'image/jpeg', body: await photoJpeg() },
    '/page.html': { contentType: 'image/png', body: HTML_PAGE },
    '/broken': { status: 500, contentType: 'text/plain', body: 'boom' },
  });
  redis = await startTestRedis();
});

afterAll(async () => {
  await origin?.close();
  await redis?.stop();
});

const backends = [
  { name: 'in-memory cache', options: () => ({ keyPrefix: uniquePrefix() }) },
  { name: 'Redis cache', options: () => ({ keyPrefix: uniquePrefix(), redis: redis.url }) },
];

describe.each(backends)('@ResizedImage() with the $name', ({ options }) => {
  let app: INestApplication;
  beforeEach(async () => {
    origin.hits.clear();
    app = await createTestApp(origin.url, options());
  });
  afterEach(async () => {
    await app.close();
  });

  it('answers a miss, then a hit with the same bytes and headers, fetching the origin once', async () => {
    const first = await request(app.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['content-type']).toBe('image/png');
    // A URL source is checked at its origin again after revalidateAfter (a day by default): no cache
    // downstream may keep it longer than that, although the server keeps it for its ttl (30 days).
    expect(first.headers['cache-control']).toBe('public, max-age=86400');
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(first.headers['etag']).toMatch(/^"[^"]+"$/);
    expect(Number(first.headers['content-length'])).toBe(first.body.length);
    const expires = Date.parse(first.headers['expires']);
    expect(expires - Date.now()).toBeGreaterThan(86400 * 1000 - 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(86400 * 1000);

    const second = await request(app.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    expect(second.status).toBe(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.headers['etag']).toBe(first.headers['etag']);
    expect(Buffer.compare(second.body, first.body)).toBe(0);
    expect(origin.hits.get('/logo.png')).toBe(1);

    const meta = await sharp(first.body).metadata();
    expect([meta.format, meta.width, meta.height, meta.hasAlpha]).toEqual(['png', 128, 64, true]);
  });

  it('answers If-None-Match with 304 and no body, and a stale tag with 200', async () => {
    const first = await request(app.getHttpServer()).get('/logo/logo.png');
    const etag = first.headers['etag'];
    const notModified = await request(app.getHttpServer()).get('/logo/logo.png').set('If-None-Match', etag);
    expect(notModified.status).toBe(304);
    expect(notModified.text ?? '').toBe('');
    expect(notModified.headers['etag']).toBe(etag);
    // The time left until the origin's next check: a second may have passed since the miss.
    expect(notModified.headers['cache-control']).toMatch(/^public, max-age=(86400|86399)$/);
    const stale = await request(app.getHttpServer()).get('/logo/logo.png').set('If-None-Match', '"other"');
    expect(stale.status).toBe(200);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const get = await request(app.getHttpServer()).get('/logo/logo.png');
    const head = await request(app.getHttpServer()).head('/logo/logo.png');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(head.headers['etag']).toBe(get.headers['etag']);
    expect(head.headers['content-type']).toBe('image/png');
    expect(head.body).toEqual({});
  });

  it('answers 404 when the handler returns null or the origin has no such image', async () => {
    const none = await request(app.getHttpServer()).get('/logo/none');
    expect(none.status).toBe(404);
    const missing = await request(app.getHttpServer()).get('/logo/missing.png');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/application\/json/);
    expect(missing.headers['x-cache']).toBeUndefined();
  });

  it('answers 422 for an HTML page sent as image/png, and caches nothing', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await request(app.getHttpServer()).get('/logo/page.html');
      expect(res.status).toBe(422);
      expect(res.body.message).toBe('Source is not a supported image');
      expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|at \w+ \(/);
    }
    expect(origin.hits.get('/page.html')).toBe(2);
  });

  it('answers 502 when the origin fails, without leaking its address', async () => {
    const res = await request(app.getHttpServer()).get('/logo/broken');
    expect(res.status).toBe(502);
    expect(JSON.stringify(res.body)).not.toContain('127.0.0.1');
  });

  it('serves JPEG with the spec of the route: cover crop and its own ttl', async () => {
    const res = await request(app.getHttpServer()).get('/thumb/photo.jpg').buffer(true).parse(binary);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.headers['cache-control']).toBe('public, max-age=120');
    const meta = await sharp(res.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 64, 64]);
  });

  it('ignores ?redraw when allowRedraw is off (the default)', async () => {
    await request(app.getHttpServer()).get('/logo/logo.png');
    const res = await request(app.getHttpServer()).get('/logo/logo.png?redraw=1');
    expect(res.headers['x-cache']).toBe('HIT');
    expect(origin.hits.get('/logo.png')).toBe(1);
  });

  it('purges every variant of a cacheKey and reports how many', async () => {
    await request(app.getHttpServer()).get('/logo/logo.png');
    await request(app.getHttpServer()).get('/logo-large/logo.png');
    await request(app.getHttpServer()).get('/logo/photo.jpg');
    const service = app.get(ImageResizeService);
    expect(await service.purge('logo_logo.png')).toBe(2);
    expect(await service.purge('logo_logo.png')).toBe(0);
    expect((await request(app.getHttpServer()).get('/logo/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await request(app.getHttpServer()).get('/logo-large/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await request(app.getHttpServer()).get('/logo/photo.jpg')).headers['x-cache']).toBe('HIT');
  });
});

describe('redraw', () => {
  let app: INestApplication;
  afterEach(async () => app?.close());

  it('re-creates the image when allowRedraw lets the request do it, and only then', async () => {
    origin.hits.clear();
    app = await createTestApp(origin.url, {
      keyPrefix: uniquePrefix(),
      redis: redis.url,
      allowRedraw: (req) => req.headers?.['x-admin'] === 'yes',
    });
    await request(app.getHttpServer()).get('/logo/logo.png');
    const refused = await request(app.getHttpServer()).get('/logo/logo.png?redraw=1');
    expect(refused.headers['x-cache']).toBe('HIT');
    const allowed = await request(app.getHttpServer()).get('/logo/logo.png?redraw=1').set('X-Admin', 'yes');
    expect(allowed.status).toBe(200);
    expect(allowed.headers['x-cache']).toBe('BYPASS');
    expect(origin.hits.get('/logo.png')).toBe(2);
    const after = await request(app.getHttpServer()).get('/logo/logo.png');
    expect(after.headers['x-cache']).toBe('HIT');
  });
});

describe('Redis storage', () => {
  let app: INestApplication;
  let other: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    await other?.close();
    other = undefined;
  });

  it('stores raw bytes with a small header and a TTL on every key', async () => {
    const keyPrefix = uniquePrefix();
    app = await createTestApp(origin.url, { keyPrefix, redis: redis.url });
    const res = await request(app.getHttpServer()).get('/thumb/photo.jpg').buffer(true).parse(binary);
    const service = app.get(ImageResizeService);
    const result = await service.resize(`${origin.url}/photo.jpg`, {
      width: 64,
      height: 64,
      format: 'jpeg',
      fit: 'cover',
      ttl: 120,
    });
    expect(result.cacheStatus).toBe('HIT');
    const key = result.key;
    expect(key.startsWith(keyPrefix)).toBe(true);
    expect(key).toMatch(/_64_64_jpeg_cover$/);
    const strlen = await redis.client.strlen(key);
    expect(strlen).toBeGreaterThanOrEqual(res.body.length);
    expect(strlen).toBeLessThanOrEqual(res.body.length + 512);
    const stored = await redis.client.getBuffer(key);
    expect(stored?.includes(res.body)).toBe(true);
    const pttl = await redis.client.pttl(key);
    expect(pttl).toBeGreaterThan(100_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
    const groupTtl = await redis.client.pttl(key.replace(/_64_64_jpeg_cover$/, '#variants'));
    expect(groupTtl).toBeGreaterThan(100_000);
  });

  it('uses the cacheKey in the key as <prefix><cacheKey>_<w>_<h>_<format>', async () => {
    const keyPrefix = uniquePrefix();
    app = await createTestApp(origin.url, { keyPrefix, redis: redis.url });
    await request(app.getHttpServer()).get('/logo/logo.png');
    expect(await redis.client.exists(`${keyPrefix}logo_logo.png_128_128_png`)).toBe(1);
    expect(await redis.client.smembers(`${keyPrefix}logo_logo.png#variants`)).toEqual([
      `${keyPrefix}logo_logo.png_128_128_png`,
    ]);
  });

  it('purges without touching keys of other applications', async () => {
    const keyPrefix = uniquePrefix();
    const sentinel = `${keyPrefix}logo_logo.png_other_app`;
    await redis.client.set(sentinel, 'keep me', 'EX', 60);
    await redis.client.set(`other_app_${keyPrefix}`, 'keep me too', 'EX', 60);
    app = await createTestApp(origin.url, { keyPrefix, redis: redis.url });
    await request(app.getHttpServer()).get('/logo/logo.png');
    expect(await app.get(ImageResizeService).purge('logo_logo.png')).toBe(1);
    expect(await redis.client.get(sentinel)).toBe('keep me');
    expect(await redis.client.get(`other_app_${keyPrefix}`)).toBe('keep me too');
  });

  it('lets two app instances on one Redis serve each other\u2019s hits', async () => {
    origin.hits.clear();
    const keyPrefix = uniquePrefix();
    app = await createTestApp(origin.url, { keyPrefix, redis: redis.url });
    other = await createTestApp(origin.url, { keyPrefix, redis: redis.url });
    const a = await request(app.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    const b = await request(other.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    expect(a.headers['x-cache']).toBe('MISS');
    expect(b.headers['x-cache']).toBe('HIT');
    expect(Buffer.compare(a.body, b.body)).toBe(0);
    expect(origin.hits.get('/logo.png')).toBe(1);
  });
});

describe('module registration', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('takes its options from ConfigService with forRootAsync', async () => {
    app = await createTestApp(origin.url, {
      async: {
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ IMAGE_TTL: 60 })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          ttl: config.getOrThrow<number>('IMAGE_TTL'),
          keyPrefix: uniquePrefix(),
          redis: redis.url,
          sources: LOOPBACK_ORIGIN,
        }),
      },
    });
    const res = await request(app.getHttpServer()).get('/logo/logo.png');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=60');
    const pttl = await redis.client.pttl(await keyOf(app));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('fails at boot with a message that names an invalid option', async () => {
    await expect(createTestApp(origin.url, { ttl: -5 })).rejects.toThrow(/option "ttl" must be an integer/);
    await expect(
      createTestApp(origin.url, { async: { useFactory: () => ({ redis: 'http://localhost:6379' }) } }),
    ).rejects.toThrow(
      new Error(
        'ImageResizeModule: option "redis" must be a URL with the redis: or rediss: scheme (got the scheme "http:")',
      ),
    );
  });
});

/** The Redis key of the test app's `/logo/logo.png` variant, through the service. */
async function keyOf(app: INestApplication): Promise<string> {
  const service = app.get(ImageResizeService);
  const result = await service.resize(
    { url: `${origin.url}/logo.png`, cacheKey: 'logo_logo.png' },
    { width: 128, height: 128, format: 'png' },
  );
  expect(result.cacheStatus).toBe('HIT');
  return result.key;
}
