import { Controller, Get, Inject, type INestApplication, Param } from '@nestjs/common';
import { CacheModule } from '@nestjs/cache-manager';
import { Test } from '@nestjs/testing';
import { type CacheManagerStore, KeyvAdapter } from 'cache-manager';
import { redisStore } from 'cache-manager-ioredis-yet';
import { Keyv } from 'keyv';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import sharp from 'sharp';
import request from 'supertest';
import { binary } from './support/binary';
import { photoJpeg, transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedis, type TestRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController } from './support/test-app';

let origin: TestOrigin;
let redis: TestRedis;

/** A photo-like original whose pixels do not compress: the same pseudo-random bytes on every run. */
async function noisePng(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let i = 0; i < pixels.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    pixels[i] = seed >> 16;
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

beforeAll(async () => {
  origin = await startOrigin({
    '/logo.png': { contentType: 'image/png', body: await transparentPng() },
    '/halves.jpg': { contentType: 'image/jpeg', body: await photoJpeg() },
    '/noise.png': { contentType: 'image/png', body: await noisePng(1200, 900) },
  });
  redis = await startTestRedis();
});

afterAll(async () => {
  await origin.close();
  await redis.stop();
});

/** An app whose images go to the CACHE_MANAGER registered by `cacheModule`. */
async function createApp(cacheModule: ReturnType<typeof CacheModule.register>, keyPrefix: string) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      cacheModule,
      ImageResizeModule.forRoot({ useCacheManager: true, keyPrefix, sources: LOOPBACK_ORIGIN }),
    ],
    controllers: [TestImagesController],
    providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.init();
  return app;
}

/** The stores opened by the tests: the ioredis-yet store has no disconnect of its own. */
const openStores: Array<{ client: { disconnect(): void } }> = [];

/** A CacheModule on the test's Redis through the cache-manager-ioredis-yet store. */
const redisCacheModule = () =>
  CacheModule.registerAsync({
    isGlobal: true,
    useFactory: async () => {
      const { port, hostname } = new URL(redis.url);
      const store = await redisStore({ host: hostname, port: Number(port) });
      openStores.push(store);
      // The store's typings still name cache-manager 5's Store; at run time it is what KeyvAdapter takes.
      return { stores: [new Keyv({ store: new KeyvAdapter(store as unknown as CacheManagerStore) })] };
    },
  });

describe('useCacheManager: images in the application\u2019s CACHE_MANAGER', () => {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    openStores.splice(0).forEach((store) => store.client.disconnect());
  });

  it('caches and purges through the default in-memory store of CacheModule', async () => {
    origin.hits.clear();
    const app = await createApp(CacheModule.register({ isGlobal: true }), 'cm_mem_');
    apps.push(app);
    const first = await request(app.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    const second = await request(app.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    expect([first.status, first.headers['x-cache'], second.headers['x-cache']]).toEqual([200, 'MISS', 'HIT']);
    expect(Buffer.compare(first.body, second.body)).toBe(0);
    expect(second.headers['etag']).toBe(first.headers['etag']);
    await request(app.getHttpServer()).get('/logo-large/logo.png');
    expect(await app.get(ImageResizeService).purge('logo_logo.png')).toBe(2);
    expect((await request(app.getHttpServer()).get('/logo/logo.png')).headers['x-cache']).toBe('MISS');
    expect(origin.hits.get('/logo.png')).toBe(3);
  });

  it('shares images between two instances through Redis and the cache-manager-ioredis-yet store', async () => {
    origin.hits.clear();
    const keyPrefix = `cm_redis_${process.pid}_`;
    const a = await createApp(redisCacheModule(), keyPrefix);
    const b = await createApp(redisCacheModule(), keyPrefix);
    apps.push(a, b);
    const first = await request(a.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    const second = await request(b.getHttpServer()).get('/logo/logo.png').buffer(true).parse(binary);
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(Buffer.compare(first.body, second.body)).toBe(0);
    expect(origin.hits.get('/logo.png')).toBe(1);
    expect(await b.get(ImageResizeService).purge('logo_logo.png')).toBe(1);
    expect((await request(a.getHttpServer()).get('/logo/logo.png')).headers['x-cache']).toBe('MISS');
  });

  it('fails at boot, naming the option, when no CACHE_MANAGER is registered', async () => {
    await expect(
      Test.createTestingModule({ imports: [ImageResizeModule.forRoot({ useCacheManager: true })] }).compile(),
    ).rejects.toThrow(/option "useCacheManager" needs a CACHE_MANAGER/);
  });
});

/** Routes of a few sizes and formats; the cacheKey names the route and the original. */
@Controller()
class SizesController {
  constructor(@Inject(ORIGIN_URL) private readonly origin: string) {}

  @Get('png256/:name')
  @ResizedImage({ width: 256, height: 256, format: 'png' })
  png256(@Param('name') name: string) {
    return { url: `${this.origin}/${name}`, cacheKey: `png256_${name}` };
  }

  @Get('webp512/:name')
  @ResizedImage({ width: 512, height: 512, format: 'webp' })
  webp512(@Param('name') name: string) {
    return { url: `${this.origin}/${name}`, cacheKey: `webp512_${name}` };
  }

  @Get('jpeg1024/:name')
  @ResizedImage({ width: 1024, height: 1024, format: 'jpeg' })
  jpeg1024(@Param('name') name: string) {
    return { url: `${this.origin}/${name}`, cacheKey: `jpeg1024_${name}` };
  }
}

describe('bytes an image takes in Redis', () => {
  const cases = [
    'png256/logo.png',
    'png256/noise.png',
    'webp512/halves.jpg',
    'webp512/noise.png',
    'jpeg1024/noise.png',
  ];

  /** The one string key under `prefix` that holds the variant of `path`, and its STRLEN. */
  async function storedBytes(prefix: string, path: string): Promise<number> {
    const [route, name] = path.split('/');
    const pattern = `*${prefix}${route}_${name}_*`;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    const strings: string[] = [];
    for (const key of keys) if ((await redis.client.type(key)) === 'string') strings.push(key);
    expect(strings).toHaveLength(1);
    return redis.client.strlen(strings[0]);
  }

  it('costs 4/3 of the image through cache-manager-ioredis-yet (base64 in JSON), the image + a small header with `redis`', async () => {
    const cmPrefix = `cm_bytes_${process.pid}_`;
    const ownPrefix = `own_bytes_${process.pid}_`;
    const moduleRef = async (imageModule: ReturnType<typeof ImageResizeModule.forRoot>, extra: object[]) =>
      (
        await Test.createTestingModule({
          imports: [...(extra as never[]), imageModule],
          controllers: [SizesController],
          providers: [{ provide: ORIGIN_URL, useValue: origin.url }],
        }).compile()
      ).createNestApplication({ logger: ['error'] });
    const viaCacheManager = await moduleRef(
      ImageResizeModule.forRoot({ useCacheManager: true, keyPrefix: cmPrefix, sources: LOOPBACK_ORIGIN }),
      [redisCacheModule()],
    );
    const builtIn = await moduleRef(
      ImageResizeModule.forRoot({
        redis: redis.url,
        hotCache: false,
        keyPrefix: ownPrefix,
        sources: LOOPBACK_ORIGIN,
      }),
      [],
    );
    const rows: Array<{ image: string; body: number; viaCacheManager: number; builtIn: number }> = [];
    try {
      await viaCacheManager.init();
      await builtIn.init();
      for (const path of cases) {
        const responses = [];
        for (const app of [viaCacheManager, builtIn]) {
          const response = await request(app.getHttpServer()).get(`/${path}`).buffer(true).parse(binary);
          expect([response.status, response.headers['x-cache']]).toEqual([200, 'MISS']);
          responses.push(response.body as Buffer);
        }
        expect(Buffer.compare(responses[0], responses[1])).toBe(0);
        rows.push({
          image: path,
          body: responses[0].length,
          viaCacheManager: await storedBytes(cmPrefix, path),
          builtIn: await storedBytes(ownPrefix, path),
        });
      }
      for (const { image, body, viaCacheManager: stored, builtIn: own } of rows) {
        // Keyv writes the Buffer as base64 in JSON ({"value":":base64:...","expires":...}), and the
        // store JSON-encodes that string once more: 4/3 of the image and its ~150-byte header, plus
        // some 60 bytes of wrapping. So at least 4/3 of the body, and at most 4/3 of body + 512 + 128.
        expect({ image, atLeast: stored >= Math.ceil((body * 4) / 3) }).toEqual({ image, atLeast: true });
        expect({ image, atMost: stored <= ((body + 512) * 4) / 3 + 128 }).toEqual({ image, atMost: true });
        // The built-in cache stores the bytes as they are, behind a header of less than 512 bytes.
        expect({ image, header: own - body > 0 && own - body < 512 }).toEqual({ image, header: true });
      }
      // On images of some size, the ratio is 4/3 to within a percent.
      for (const { body, viaCacheManager: stored } of rows.filter((row) => row.body >= 20_000)) {
        expect(stored / body).toBeGreaterThanOrEqual(4 / 3);
        expect(stored / body).toBeLessThan(1.345);
      }
      if (process.env.CACHE_BYTES_TABLE) {
        const lines = rows.map(
          ({ image, body, viaCacheManager: stored, builtIn: own }) =>
            `| ${image} | ${body} | ${stored} | ${(stored / body).toFixed(3)} | ${own} | ${(own / body).toFixed(3)} |`,
        );
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      expect(await viaCacheManager.get(ImageResizeService).purge('png256_logo.png')).toBe(1);
    } finally {
      for (const path of cases) {
        const [route, name] = path.split('/');
        await builtIn.get(ImageResizeService).purge(`${route}_${name}`);
        await viaCacheManager.get(ImageResizeService).purge(`${route}_${name}`);
      }
      await Promise.all([viaCacheManager.close(), builtIn.close()]);
      openStores.splice(0).forEach((store) => store.client.disconnect());
    }
  });
});
