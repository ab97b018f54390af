import { Controller, Get, type INestApplication, Inject, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ImageResizeModule,
  type ImageResizeModuleRootOptions,
  ImageResizeService,
  renderImgAttributes,
  ResizedImage,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL } from './support/test-app';

/**
 * Images for the page: `imgAttributes()` writes only URLs the route accepts (every one is requested
 * here), sizes them from the original, and brings the placeholder, which is made once per original,
 * cached with its variants, removed by their purge, and served by the route's `?placeholder`.
 */

@Controller('logos')
class LogosController {
  constructor(@Inject(ORIGIN_URL) private readonly origin: string) {}

  @Get(':name')
  @ResizedImage({ width: 256, height: 256, format: 'png', widths: [128, 256], placeholder: true })
  logo(@Param('name') name: string) {
    return logoSource(this.origin, name);
  }

  @Get(':name/signed')
  @ResizedImage({ signed: true, width: 128, height: 128, format: 'webp' })
  signed(@Param('name') name: string) {
    return logoSource(this.origin, name);
  }
}

/** The navy of the wide original, as JPEG and WebP encode it. */
const NAVY = /^#1e3[9ab]8[9ab]$/;

const logoSource = (origin: string, name: string) => ({ url: `${origin}/${name}`, cacheKey: `logo_${name}` });

let origin: TestOrigin;

beforeAll(async () => {
  const wide = await sharp({ create: { width: 800, height: 500, channels: 3, background: '#1e3a8a' } })
    .jpeg()
    .toBuffer();
  const small = await sharp({ create: { width: 96, height: 96, channels: 4, background: '#dc262680' } })
    .png()
    .toBuffer();
  origin = await startOrigin({
    '/wide.jpg': { contentType: 'image/jpeg', body: wide },
    '/small.png': { contentType: 'image/png', body: small },
  });
});
afterAll(async () => origin.close());

async function startApp(extra: Partial<ImageResizeModuleRootOptions> = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ImageResizeModule.forRoot({
        sources: LOOPBACK_ORIGIN,
        signing: { keys: ['a-signing-key-of-at-least-32-characters!'] },
        ...extra,
      }),
    ],
    controllers: [LogosController],
    providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.setGlobalPrefix('api');
  await app.init();
  return app;
}

describe('imgAttributes and placeholders', () => {
  let app: INestApplication;
  let images: ImageResizeService;
  beforeAll(async () => {
    app = await startApp();
    images = app.get(ImageResizeService);
  });
  afterAll(async () => app.close());

  it('writes src, a 2x srcset and the size from the original, with its placeholder, all from one fetch', async () => {
    const source = logoSource(origin.url, 'wide.jpg');
    const before = origin.hits.get('/wide.jpg') ?? 0;
    const logo = await images.imgAttributes(
      [LogosController, 'logo'],
      { name: 'wide.jpg' },
      {
        source,
        choose: { width: 128, height: 128 },
      },
    );
    expect(logo).toMatchObject({
      src: '/api/logos/wide.jpg?w=128',
      srcset: '/api/logos/wide.jpg?w=128 1x, /api/logos/wide.jpg 2x',
      width: 128,
      height: 80,
    });
    expect(logo.placeholder).toMatchObject({ width: 800, height: 500, color: expect.stringMatching(NAVY) });
    expect(logo.placeholder!.dataUrl).toMatch(/^data:image\/webp;base64,/);
    expect(logo.placeholder!.bytes).toBeLessThan(1024);
    expect(logo.style).toMatch(/^background-image:url\("data:image\/svg\+xml,/);
    expect(origin.hits.get('/wide.jpg')).toBe(before + 1);

    // Another page view: the placeholder (and so the size) comes from the cache.
    const again = await images.imgAttributes(
      '/api/logos/:name',
      { name: 'wide.jpg' },
      {
        source,
        choose: { width: 128, height: 128 },
      },
    );
    expect(again).toEqual(logo);
    expect(origin.hits.get('/wide.jpg')).toBe(before + 1);

    // Every URL written is one the route serves, at the size the descriptor says.
    for (const [url, descriptor] of logo.srcset!.split(', ').map((entry) => entry.split(' '))) {
      const res = await request(app.getHttpServer()).get(url).buffer(true).parse(binary);
      expect(res.status).toBe(200);
      expect((await sharp(res.body).metadata()).width).toBe(descriptor === '2x' ? 256 : 128);
    }
  });

  it('does not offer a 2x of an original smaller than the box, and sizes it as it is', async () => {
    const logo = await images.imgAttributes(
      [LogosController, 'logo'],
      { name: 'small.png' },
      {
        source: logoSource(origin.url, 'small.png'),
        choose: { width: 128, height: 128 },
      },
    );
    expect(logo).toMatchObject({ src: '/api/logos/small.png?w=128', width: 96, height: 96 });
    expect(logo.srcset).toBeUndefined();
  });

  it('renders escaped attributes for a template', async () => {
    const logo = await images.imgAttributes(
      [LogosController, 'logo'],
      { name: 'wide.jpg' },
      {
        source: logoSource(origin.url, 'wide.jpg'),
        choose: { width: 128, height: 128 },
      },
    );
    const html = renderImgAttributes(logo);
    expect(html).toMatch(
      /^src="\/api\/logos\/wide\.jpg\?w=128" srcset="[^"]+ 2x" width="128" height="80" style="[^"]+"$/,
    );
    expect(html).not.toContain("'");
    expect(html).toContain('url(&quot;data:image/svg+xml,');
  });

  it('signs every URL of a signed route, and each is accepted', async () => {
    const logo = await images.imgAttributes(
      [LogosController, 'signed'],
      { name: 'wide.jpg' },
      {
        expiresIn: 600,
      },
    );
    const urls = [logo.src, ...(logo.srcset ?? '').split(', ').map((entry) => entry.split(' ')[0])];
    expect(urls.length).toBeGreaterThan(1);
    for (const url of urls) {
      expect(url).toMatch(/[?&]sig=/);
      expect((await request(app.getHttpServer()).get(url)).status).toBe(200);
    }
    const forged = logo.src.replace(/([?&])w=\d+/, '$1w=999');
    expect((await request(app.getHttpServer()).get(forged)).status).toBe(403);
  });

  it('serves the placeholder as JSON from ?placeholder, with an ETag and a 304', async () => {
    const res = await request(app.getHttpServer()).get('/api/logos/wide.jpg?placeholder');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ width: 800, height: 500, color: expect.stringMatching(NAVY) });
    expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
    const again = await request(app.getHttpServer())
      .get('/api/logos/wide.jpg?placeholder')
      .set('If-None-Match', res.headers.etag);
    expect(again.status).toBe(304);
  });

  it('names a route that is not a @ResizedImage() one, with the routes there are', async () => {
    await expect(images.imgAttributes('/api/nope/:id', { id: 1 })).rejects.toThrow(
      /"\/api\/nope\/:id" is not a @ResizedImage\(\) route of this application; its routes are: \/api\/logos\/:name \(LogosController\.logo\)/,
    );
  });
});

describe('placeholders in Redis', () => {
  let redis: PrivateRedis;
  let app: INestApplication;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    app = await startApp({ redis: redis.url, keyPrefix: 'page_' });
  });
  afterAll(async () => {
    await app.close();
    await redis.stop();
  });

  it('are kept in the cacheKey group, made once, and removed by its purge', async () => {
    const images = app.get(ImageResizeService);
    const source = logoSource(origin.url, 'small.png');
    const before = origin.hits.get('/small.png') ?? 0;
    const [first, second] = await Promise.all([images.placeholder(source), images.placeholder(source)]);
    expect(second).toEqual(first);
    expect(origin.hits.get('/small.png')).toBe(before + 1);
    expect(await redis.client.smembers('page_logo_small.png#variants')).toEqual([
      'page_logo_small.png#placeholder-webp16',
    ]);
    expect(await images.purge('logo_small.png')).toBe(1);
    expect(await redis.client.exists('page_logo_small.png#placeholder-webp16')).toBe(0);
    await images.placeholder(source);
    expect(origin.hits.get('/small.png')).toBe(before + 2);
  });
});
