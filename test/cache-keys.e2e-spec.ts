import { createHash } from 'node:crypto';
import { Controller, Get, Inject, type INestApplication, Module, Param } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleRootOptions,
  ImageResizeModule,
  ImageResizeService,
  ResizedImage,
  type ResizeSpec,
} from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { MemoryImageCache } from '../libs/image-resize/src/cache/memory-image.cache';
import { hashedCacheKey } from '../libs/image-resize/src/spec/variant.keys';
import { noisyJpeg, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedisCluster, type TestRedisCluster } from './support/redis-cluster';
import { LOOPBACK_ORIGIN, untilCacheAnswers } from './support/test-app';

const ORIGIN = Symbol('ORIGIN');

/** `/trusted` serves the app's own URL; `/mine/:key` lets the caller choose the cacheKey. */
@Controller()
class KeysController {
  constructor(@Inject(ORIGIN) private readonly origin: string) {}

  @Get('trusted')
  @ResizedImage({ width: 32, height: 32, format: 'png' })
  trusted() {
    return `${this.origin}/trusted.png`;
  }

  @Get('mine/:key')
  @ResizedImage({ width: 32, height: 32, format: 'png' })
  mine(@Param('key') key: string) {
    return { url: `${this.origin}/attacker.png`, cacheKey: key };
  }
}

const solid = (r: number, g: number, b: number) =>
  sharp({ create: { width: 40, height: 40, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

const firstPixel = async (png: Buffer) => [...(await sharp(png).raw().toBuffer()).subarray(0, 3)];

/** The derivation of URL keys before issue 12: `url_` and 40 hex characters, which a cacheKey may spell. */
const formerUrlKey = (url: string) =>
  `url_${createHash('sha256').update(new URL(url).href).update('\0').digest('hex').slice(0, 40)}`;

describe('derived cache keys cannot be named by a caller', () => {
  let origin: TestOrigin;
  let app: INestApplication;

  beforeAll(async () => {
    origin = await startOrigin({
      '/trusted.png': { contentType: 'image/png', body: await solid(0, 0, 255) },
      '/attacker.png': { contentType: 'image/png', body: await solid(255, 0, 0) },
    });
    @Module({
      imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN })],
      controllers: [KeysController],
      providers: [{ provide: ORIGIN, useValue: origin.url }],
    })
    class KeysAppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [KeysAppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await origin?.close();
  });

  it('keeps a caller-chosen cacheKey from poisoning the entry of a route that derives its key', async () => {
    const server = app.getHttpServer();
    const poison = await request(server).get(`/mine/${formerUrlKey(`${origin.url}/trusted.png`)}`);
    expect([poison.status, await firstPixel(poison.body)]).toEqual([200, [255, 0, 0]]);

    const trusted = await request(server).get('/trusted');
    expect(trusted.status).toBe(200);
    expect(trusted.headers['x-cache']).toBe('MISS');
    expect(await firstPixel(trusted.body)).toEqual([0, 0, 255]);
    expect(origin.hits.get('/trusted.png')).toBe(1);
  });

  it('refuses a cacheKey that spells a derived key of today', async () => {
    const derived = hashedCacheKey('url', new URL(`${origin.url}/trusted.png`).href);
    const response = await request(app.getHttpServer()).get(`/mine/${encodeURIComponent(derived)}`);
    expect(response.status).toBe(400);
    expect(origin.hits.get('/attacker.png')).toBe(1);
  });
});

describe('derived keys in a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let origin: TestOrigin;
  let app: INestApplication;

  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    origin = await startOrigin({
      '/trusted.png': { contentType: 'image/png', body: await solid(0, 0, 255) },
    });
    @Module({
      imports: [
        ImageResizeModule.forRoot({
          sources: LOOPBACK_ORIGIN,
          redis: { cluster: [cluster.nodes[0]] },
          keyPrefix: 'derived_',
          hotCache: false,
        }),
      ],
      controllers: [KeysController],
      providers: [{ provide: ORIGIN, useValue: origin.url }],
    })
    class ClusterKeysAppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [ClusterKeysAppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await untilCacheAnswers(app);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await origin?.close();
    await cluster?.stop();
  });

  it('keeps a derived key, its #variants set and its lock in one hash slot', async () => {
    const first = await request(app.getHttpServer()).get('/trusted');
    const second = await request(app.getHttpServer()).get('/trusted');
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    const tagged = `derived_{${hashedCacheKey('url', new URL(`${origin.url}/trusted.png`).href)}}`;
    expect(tagged).toMatch(/^derived_\{url~[0-9a-f]{40}\}$/);
    const key = `${tagged}_32_32_png`;
    expect(await cluster.client.exists(key)).toBe(1);
    expect(await cluster.client.smembers(`${tagged}#variants`)).toEqual([key]);
    expect(await cluster.client.exists(`${key}#lock`)).toBe(0); // taken for the miss, then released
    expect(await cluster.client.pttl(key)).toBeGreaterThan(0);
    const slots = await Promise.all(
      [key, `${tagged}#variants`, `${key}#lock`].map((name) => cluster.client.cluster('KEYSLOT', name)),
    );
    expect(new Set(slots).size).toBe(1);
  });
});

/** What a changed setting must do to a cached variant: never serve the bytes made under the old one. */
describe('every encoder setting is in the key, whatever negotiation chose', () => {
  const shared = new MemoryImageCache(64 * 1024 * 1024);
  const modules: TestingModule[] = [];
  let photo: Buffer;
  let logo: Buffer;

  async function serviceWith(options: ImageResizeModuleRootOptions): Promise<ImageResizeService> {
    const moduleRef = await Test.createTestingModule({ imports: [ImageResizeModule.forRoot(options)] })
      .overrideProvider(IMAGE_RESIZE_CACHE)
      .useValue(shared)
      .compile();
    modules.push(moduleRef);
    return moduleRef.get(ImageResizeService);
  }

  beforeAll(async () => {
    // Noise, so that every quality gives other bytes.
    photo = await noisyJpeg();
    logo = await transparentPng();
  });

  afterAll(async () => {
    await Promise.all(modules.map((moduleRef) => moduleRef.close()));
  });

  const rows: Array<{
    name: string;
    setting: ImageResizeModuleRootOptions['encoders'];
    spec: Partial<ResizeSpec>;
    source: 'photo' | 'logo';
    format: string;
  }> = [
    {
      name: 'jpeg-fallback',
      setting: { jpeg: { quality: 20 } },
      spec: { format: 'auto' },
      source: 'photo',
      format: 'jpeg',
    },
    {
      name: 'jpeg-fixed',
      setting: { jpeg: { quality: 20 } },
      spec: { format: 'jpeg' },
      source: 'photo',
      format: 'jpeg',
    },
    {
      name: 'jpeg-named-fallback',
      setting: { jpeg: { quality: 20 } },
      spec: { format: 'auto', fallback: 'jpeg' },
      source: 'photo',
      format: 'jpeg',
    },
    {
      name: 'webp-negotiated',
      setting: { webp: { quality: 20 } },
      spec: { format: 'auto', accept: 'image/webp' },
      source: 'photo',
      format: 'webp',
    },
    {
      name: 'avif-quality',
      setting: { avif: { quality: 20 } },
      spec: { format: 'auto', accept: 'image/avif' },
      source: 'photo',
      format: 'avif',
    },
    {
      name: 'avif-effort',
      setting: { avif: { effort: 6 } },
      spec: { format: 'auto', accept: 'image/avif' },
      source: 'photo',
      format: 'avif',
    },
    {
      name: 'png-fallback',
      setting: { png: { palette: true } },
      spec: { format: 'auto' },
      source: 'logo',
      format: 'png',
    },
    {
      name: 'png-fixed',
      setting: { png: { palette: true } },
      spec: { format: 'png' },
      source: 'logo',
      format: 'png',
    },
  ];

  it.each(rows)(
    '$name: a changed setting makes a new entry',
    async ({ name, setting, spec, source, format }) => {
      const before = await serviceWith({});
      const after = await serviceWith({ encoders: setting });
      const input = source === 'photo' ? photo : logo;
      const full: ResizeSpec = { width: 64, height: 64, cacheKey: `row_${name}`, ...spec };

      const first = await before.resize(input, full);
      expect([first.cacheStatus, first.format]).toEqual(['MISS', format]);
      expect((await before.resize(input, full)).cacheStatus).toBe('HIT'); // the cache is shared and used

      const changed = await after.resize(input, full);
      expect([changed.cacheStatus, changed.format]).toEqual(['MISS', format]);
      expect(changed.key).not.toBe(first.key);
      // Another effort may happen to give the same bytes; another quality or a palette does not.
      if (setting?.avif?.effort === undefined) expect(changed.etag).not.toBe(first.etag);
    },
  );
});
