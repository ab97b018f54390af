import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { AppModule } from '../src/app.module';
import { startTestRedis, type TestRedis } from './support/redis-server';

async function startExample(): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return app;
}

const LOGOS = [
  { slug: 'aurora', width: 256, height: 256, alpha: true },
  { slug: 'basalt', width: 256, height: 160, alpha: false },
  { slug: 'cobalt', width: 96, height: 96, alpha: true },
];

/** The attributes of the logos' `<img>` on the catalogue page, as written (HTML-escaped). */
function logosOf(page: string): Array<Record<string, string>> {
  return [...page.matchAll(/<img class="logo" ([^>]*)>/g)].map(([, attributes]) =>
    Object.fromEntries(
      [...attributes.matchAll(/([a-z]+)="([^"]*)"/g)].map(([, name, value]) => [name, value]),
    ),
  );
}

describe.each([
  { cache: 'in-memory', useRedis: false },
  { cache: 'Redis', useRedis: true },
])('example app with the $cache cache', ({ useRedis }) => {
  let app: INestApplication;
  let redis: TestRedis | undefined;
  const savedRedisUrl = process.env.REDIS_URL;

  beforeAll(async () => {
    if (useRedis) {
      redis = await startTestRedis();
      process.env.REDIS_URL = redis.url;
    } else {
      delete process.env.REDIS_URL;
    }
    app = await startExample();
  });

  /** Empties the cache of an asset's logo through the example app's own endpoint. */
  const purgeLogo = (slug: string) => request(app.getHttpServer()).post(`/assets/${slug}/logo/purge`);

  afterAll(async () => {
    // Leaves no key behind on a shared REDIS_URL: every size and format of each logo.
    if (useRedis && app) for (const { slug } of LOGOS) await purgeLogo(slug).expect(200);
    await app?.close();
    if (useRedis) await redis?.stop();
    if (savedRedisUrl === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = savedRedisUrl;
  });

  it('renders the catalogue with a logo cell per asset and a placeholder for the one without', async () => {
    const res = await request(app.getHttpServer()).get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    // Each logo 128 CSS px wide (never enlarged), with its 256 px image for 2x screens where the
    // original has the pixels, its size, and its placeholder painted behind it.
    const logos = logosOf(res.text);
    expect(logos.map(({ src, srcset, width, height, alt }) => ({ src, srcset, width, height, alt }))).toEqual(
      [
        {
          src: '/assets/aurora/logo?w=128',
          srcset: '/assets/aurora/logo?w=128 1x, /assets/aurora/logo 2x',
          width: '128',
          height: '128',
          alt: 'Aurora logo',
        },
        {
          src: '/assets/basalt/logo?w=128',
          srcset: '/assets/basalt/logo?w=128 1x, /assets/basalt/logo 2x',
          width: '128',
          height: '80',
          alt: 'Basalt logo',
        },
        {
          src: '/assets/cobalt/logo?w=128',
          srcset: undefined,
          width: '96',
          height: '96',
          alt: 'Cobalt logo',
        },
      ],
    );
    for (const logo of logos) {
      expect(logo.style).toMatch(
        /^background-image:url\(&quot;data:image\/svg\+xml,.*data:image\/webp;base64,/,
      );
    }
    expect(res.text).toMatch(/class="placeholder"[^>]*aria-label="Dune has no logo"/);
    expect(res.text).not.toContain('/assets/dune/');
  });

  it('serves each image the page names at the size the page gives it, times its density', async () => {
    const logos = logosOf((await request(app.getHttpServer()).get('/')).text);
    const served: string[] = [];
    for (const { src, srcset, width, height } of logos) {
      const candidates = srcset ? srcset.split(', ').map((entry) => entry.split(' ')) : [[src, '1x']];
      for (const [url, density] of candidates) {
        const scale = Number(density.replace(/x$/, ''));
        const res = await request(app.getHttpServer())
          .get(url)
          .set('Accept', 'image/avif,image/webp,*/*')
          .buffer(true)
          .parse(binary);
        const meta = await sharp(res.body).metadata();
        expect([url, res.status, meta.width, meta.height]).toEqual([
          url,
          200,
          Number(width) * scale,
          Number(height) * scale,
        ]);
        served.push(`${url} ${density}`);
      }
    }
    expect(served).toHaveLength(5); // aurora and basalt at 1x and 2x, cobalt at 1x
    // Only the widths the route lists.
    expect((await request(app.getHttpServer()).get('/assets/aurora/logo?w=100')).status).toBe(400);
  });

  it.each(LOGOS)('serves the $slug logo within 256x256, then from the cache', async (logo) => {
    await purgeLogo(logo.slug).expect(200);
    const url = `/assets/${logo.slug}/logo_small.png`;
    const first = await request(app.getHttpServer()).get(url).buffer(true).parse(binary);
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.headers['content-type']).toBe('image/png');
    const meta = await sharp(first.body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', logo.width, logo.height]);
    expect(meta.hasAlpha ?? false).toBe(logo.alpha);
    const second = await request(app.getHttpServer()).get(url).buffer(true).parse(binary);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(Buffer.compare(first.body, second.body)).toBe(0);
    if (useRedis) {
      // Under the logo's one cacheKey, `logo_<slug>`, as every other size and format of it.
      expect(await redis?.client.exists(`image_resize_logo_${logo.slug}_256_256_png`)).toBe(1);
    }
  });

  it('purges every size and format of one logo through the app: each of its routes misses again', async () => {
    const server = app.getHttpServer();
    // Every logo route of one asset, each in the formats and presets it serves: six variants of `logo_aurora`.
    const routes = [
      { url: '/assets/aurora/logo_small.png', accept: '*/*' },
      { url: '/assets/aurora/logo', accept: '*/*' },
      { url: '/assets/aurora/logo', accept: 'image/avif,image/webp,*/*' },
      { url: '/assets/aurora/logo', accept: 'image/webp,*/*' },
      { url: '/assets/aurora/logo?preset=small', accept: 'image/avif,image/webp,*/*' },
      { url: '/assets/aurora/logo?preset=large', accept: 'image/webp,*/*' },
    ];
    const served = async () => {
      const statuses: string[] = [];
      for (const { url, accept } of routes) {
        const res = await request(server).get(url).set('Accept', accept);
        expect([url, accept, res.status]).toEqual([url, accept, 200]);
        statuses.push(`${url} ${accept}: ${String(res.headers['x-cache'])}`);
      }
      return statuses;
    };
    const each = (status: string) => routes.map(({ url, accept }) => `${url} ${accept}: ${status}`);
    // Another asset's logo, cached before the purge: it stays.
    await request(server).get('/assets/basalt/logo_small.png').expect(200);

    await purgeLogo('aurora').expect(200); // whatever earlier tests left
    expect(await served()).toEqual(each('MISS'));
    expect(await served()).toEqual(each('HIT'));

    const purge = await purgeLogo('aurora');
    expect([purge.status, purge.body]).toEqual([200, { purged: routes.length }]);
    expect(await served()).toEqual(each('MISS'));
    expect((await request(server).get('/assets/basalt/logo_small.png')).headers['x-cache']).toBe('HIT');
  });

  it('refuses to purge in production, and answers 404 for an unknown asset', async () => {
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await purgeLogo('aurora').expect(403);
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = saved;
    }
    await purgeLogo('nope').expect(404);
  });

  it('serves the negotiated-format logo in its presets', async () => {
    const avif = await request(app.getHttpServer())
      .get('/assets/aurora/logo?preset=small')
      .set('Accept', 'image/avif,image/webp,*/*')
      .buffer(true)
      .parse(binary);
    expect([avif.status, avif.headers['content-type'], avif.headers['vary']]).toEqual([
      200,
      'image/avif',
      'Accept',
    ]);
    expect((await sharp(avif.body).metadata()).width).toBe(64);
    const fallback = await request(app.getHttpServer()).get('/assets/basalt/logo').set('Accept', '*/*');
    expect(fallback.headers['content-type']).toBe('image/jpeg');
    expect((await request(app.getHttpServer()).get('/assets/basalt/logo?preset=huge')).status).toBe(400);
  });

  it('reports health and Prometheus metrics of the image cache', async () => {
    await request(app.getHttpServer()).get('/assets/cobalt/logo_small.png');
    await request(app.getHttpServer()).get('/assets/nope/logo_small.png');
    for (const path of ['/health', '/health/ready']) {
      const health = await request(app.getHttpServer()).get(path);
      expect(health.status).toBe(200);
      expect(health.body.info.images).toMatchObject({
        status: 'up',
        stopping: false,
        cache: 'up',
        backend: useRedis ? 'RedisImageCache' : 'MemoryImageCache',
        inFlight: 0,
      });
    }
    const live = await request(app.getHttpServer()).get('/health/live');
    expect([live.status, live.body.info.images.status]).toEqual([200, 'up']);
    const metrics = await request(app.getHttpServer()).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/image_resize_requests_total\{cache_status="HIT"\} [1-9]/);
    expect(metrics.text).toMatch(/image_resize_resize_seconds_count [1-9]/);
    expect(metrics.text).toMatch(/image_resize_source_bytes_bucket/);
    expect(metrics.text).toContain('image_resize_in_flight 0');
  });

  it('answers 404 for an asset without a logo and for an unknown asset', async () => {
    expect((await request(app.getHttpServer()).get('/assets/dune/logo_small.png')).status).toBe(404);
    expect((await request(app.getHttpServer()).get('/assets/nope/logo_small.png')).status).toBe(404);
  });
});
