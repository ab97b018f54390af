import { type INestApplication } from '@nestjs/common';
import { CacheModule } from '@nestjs/cache-manager';
import { Test } from '@nestjs/testing';
import { type CacheManagerStore, KeyvAdapter } from 'cache-manager';
import { redisStore } from 'cache-manager-ioredis-yet';
import { Keyv } from 'keyv';
import { ImageResizeModule, ImageResizeService } from 'nestjs-image-resize';
import request from 'supertest';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedis, type TestRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController } from './support/test-app';

let origin: TestOrigin;
let redis: TestRedis;

beforeAll(async () => {
  origin = await startOrigin({ '/logo.png': { contentType: 'image/png', body: await transparentPng() } });
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
