import { Controller, Get, type INestApplication, type LoggerService, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { HotImageTier } from '../libs/image-resize/src/cache/hot-image.tier';
import type { RedisImageCache } from '../libs/image-resize/src/cache/redis-image.cache';
import {
  IMAGE_RESIZE_CACHE,
  type ImageResizeModuleOptions,
  ImageResizeModule,
  ImageResizeService,
  ResizedImage,
} from 'nestjs-image-resize';
import request from 'supertest';
import { binary } from './support/binary';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startTestRedisCluster, type TestRedisCluster } from './support/redis-cluster';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, untilCacheAnswers } from './support/test-app';

let origin: TestOrigin;
let logo: Buffer;
/** How long the origin takes to answer, so that concurrent misses overlap. */
const ORIGIN_DELAY_MS = 300;

@Controller()
class LogoController {
  @Get('logo/:name')
  @ResizedImage({ width: 96, height: 96, format: 'png' })
  logo(@Param('name') name: string) {
    return { url: `${origin.url}/${name}`, cacheKey: `logo_${name}` };
  }
}

/** Keeps what the app logs at warn and above, to count log lines per outage. */
class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  log(): void {}
  error(message: unknown): void {
    this.warnings.push(String(message));
  }
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

async function startApp(options: ImageResizeModuleOptions, logger: LoggerService | false = false) {
  const moduleRef = await Test.createTestingModule({
    imports: [ImageResizeModule.forRoot({ sources: LOOPBACK_ORIGIN, ...options })],
    controllers: [LogoController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

beforeAll(async () => {
  logo = await transparentPng();
  const slow = (_req: unknown, res: import('node:http').ServerResponse) =>
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(logo), ORIGIN_DELAY_MS);
  origin = await startOrigin({ '/slow.png': slow, '/a.png': slow, '/b.png': slow, '/c.png': slow });
});
afterAll(async () => origin.close());

/** The hot tier of an app on Redis, once its subscription is up. */
function tierOf(app: INestApplication): HotImageTier {
  return app.get<RedisImageCache>(IMAGE_RESIZE_CACHE).hot as HotImageTier;
}

async function tiersUp(apps: INestApplication[]): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!apps.every((app) => tierOf(app).active)) {
    if (Date.now() > deadline) throw new Error('hot tiers did not subscribe');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Requests `path` until it is a miss, as it is once the app has heard of a purge made elsewhere;
 * false if it never is within two seconds.
 */
async function eventuallyMiss(app: INestApplication, path: string): Promise<boolean> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    if ((await request(app.getHttpServer()).get(path)).headers['x-cache'] === 'MISS') return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}

/** `count` concurrent requests for one image, spread over the apps in turn. */
async function stampede(apps: INestApplication[], path: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      request(apps[i % apps.length].getHttpServer())
        .get(path)
        .buffer(true)
        .parse(binary),
    ),
  );
}

describe('one Redis, several instances', () => {
  let redis: PrivateRedis;
  const apps: INestApplication[] = [];
  beforeAll(async () => {
    redis = await startPrivateRedis();
    for (let i = 0; i < 2; i++) apps.push(await startApp({ redis: redis.url, keyPrefix: 'scale_' }));
    await tiersUp(apps);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await redis.stop();
  });

  it('makes a new image once for 50 concurrent requests spread over two instances', async () => {
    origin.hits.clear();
    const responses = await stampede(apps, '/logo/slow.png', 50);
    expect(responses.every((res) => res.status === 200)).toBe(true);
    expect(new Set(responses.map((res) => res.body.toString('base64'))).size).toBe(1);
    expect(origin.hits.get('/slow.png')).toBe(1);
    const statuses = responses.map((res) => res.headers['x-cache']);
    expect(statuses.filter((s) => s === 'MISS').length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 'MISS' || s === 'HIT')).toBe(true);
  });

  it('holds the lock of a variant being made with a TTL, and releases it', async () => {
    const pending = request(apps[0].getHttpServer()).get('/logo/a.png');
    const done = pending.then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, ORIGIN_DELAY_MS / 2));
    const lock = 'scale_logo_a.png_96_96_png#lock';
    const pttl = await redis.client.pttl(lock);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(21_000);
    expect((await done).status).toBe(200);
    expect(await redis.client.exists(lock)).toBe(0);
    expect(await redis.client.pttl('scale_logo_a.png_96_96_png')).toBeGreaterThan(0);
    expect(await redis.client.pttl('scale_logo_a.png#variants')).toBeGreaterThan(0);
  });

  it('sees a purge made through one instance from every instance, hot tiers included', async () => {
    await request(apps[0].getHttpServer()).get('/logo/b.png');
    expect((await request(apps[1].getHttpServer()).get('/logo/b.png')).headers['x-cache']).toBe('HIT');
    // Instance 0 holds the image in its hot tier until the purge's announcement arrives (pub/sub).
    expect(tierOf(apps[0]).get('scale_logo_b.png_96_96_png')).toBeDefined();
    expect(await apps[1].get(ImageResizeService).purge('logo_b.png')).toBe(1);
    expect(await eventuallyMiss(apps[0], '/logo/b.png')).toBe(true);
  });
});

describe('Redis outages', () => {
  let redis: PrivateRedis;
  let app: INestApplication;
  let logger: CapturingLogger;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    logger = new CapturingLogger();
    // Without the hot tier, so that every request goes to Redis (test/hot-cache.e2e-spec.ts has it).
    app = await startApp({ redis: redis.url, keyPrefix: 'outage_', hotCache: false }, logger);
  });
  afterAll(async () => {
    await app.close();
    await redis.stop();
  });

  it('serves every request uncached while Redis is down, logs the outage once, and resumes after', async () => {
    expect((await request(app.getHttpServer()).get('/logo/c.png')).headers['x-cache']).toBe('MISS');
    expect((await request(app.getHttpServer()).get('/logo/c.png')).headers['x-cache']).toBe('HIT');

    await redis.kill();
    logger.warnings.length = 0;
    for (let i = 0; i < 10; i++) {
      const res = await request(app.getHttpServer()).get('/logo/c.png').buffer(true).parse(binary);
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
      expect(res.body.length).toBeGreaterThan(0);
    }
    expect(await app.get(ImageResizeService).health()).toMatchObject({
      ready: true,
      stopping: false,
      cache: 'RedisImageCache',
      cacheUp: false,
      inFlight: 0,
      queued: 0,
      sourceBytesInFlight: 0,
    });
    expect(logger.warnings.filter((line) => /Redis/.test(line))).toEqual([
      expect.stringMatching(/^Redis unavailable, serving images without the cache/),
    ]);

    await redis.restart();
    let status: string | undefined;
    for (let attempt = 0; attempt < 100 && status !== 'MISS'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await request(app.getHttpServer()).get('/logo/c.png')).headers['x-cache'];
    }
    expect(status).toBe('MISS');
    expect((await request(app.getHttpServer()).get('/logo/c.png')).headers['x-cache']).toBe('HIT');
  });

  it('serves uncached, not 500, when Redis refuses writes', async () => {
    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.client.config('SET', 'maxmemory', '1');
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(app.getHttpServer()).get('/logo/a.png');
        expect(res.status).toBe(200);
        expect(res.headers['x-cache']).not.toBe('HIT');
      }
    } finally {
      await redis.client.config('SET', 'maxmemory', '0');
    }
  });

  it('times commands out, then opens the circuit and stops waiting on Redis at all', async () => {
    expect((await request(app.getHttpServer()).get('/logo/b.png')).headers['x-cache']).toBe('MISS');
    const pauseMs = 4000;
    logger.warnings.length = 0;
    await redis.client.call('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    const pausedAt = Date.now();
    for (let i = 0; i < 5; i++) {
      const res = await request(app.getHttpServer()).get('/logo/b.png');
      expect(res.status).toBe(200);
      expect(res.headers['x-cache']).toBe('BYPASS');
    }
    expect(logger.warnings).toContainEqual(expect.stringMatching(/Redis failed 3 commands in a row/));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pauseMs - (Date.now() - pausedAt)) + 100));
  });
});

describe('Redis Cluster (three masters)', () => {
  let cluster: TestRedisCluster;
  const apps: INestApplication[] = [];
  beforeAll(async () => {
    cluster = await startTestRedisCluster();
    for (let i = 0; i < 2; i++) {
      apps.push(await startApp({ redis: { cluster: [cluster.nodes[0]] }, keyPrefix: 'cluster_' }));
      await untilCacheAnswers(apps[apps.length - 1]);
    }
    await tiersUp(apps);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await cluster?.stop();
  });

  it('serves a miss, then hits from either instance, with every key of a cacheKey in one slot', async () => {
    const first = await request(apps[0].getHttpServer()).get('/logo/a.png').buffer(true).parse(binary);
    const second = await request(apps[1].getHttpServer()).get('/logo/a.png').buffer(true).parse(binary);
    expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['MISS', 'HIT']);
    expect(Buffer.compare(first.body, second.body)).toBe(0);
    const key = 'cluster_{logo_a.png}_96_96_png';
    expect(await cluster.client.exists(key)).toBe(1);
    expect(await cluster.client.smembers('cluster_{logo_a.png}#variants')).toEqual([key]);
    expect(await cluster.client.pttl(key)).toBeGreaterThan(0);
    expect(await cluster.client.pttl('cluster_{logo_a.png}#variants')).toBeGreaterThan(0);
  });

  it('purges every variant of a cacheKey, on every instance', async () => {
    await request(apps[0].getHttpServer()).get('/logo/b.png');
    expect(tierOf(apps[0]).get('cluster_{logo_b.png}_96_96_png')).toBeDefined();
    expect(await apps[1].get(ImageResizeService).purge('logo_b.png')).toBe(1);
    expect(await eventuallyMiss(apps[0], '/logo/b.png')).toBe(true);
  });

  it('makes a new image once for concurrent requests over two instances', async () => {
    origin.hits.clear();
    const responses = await stampede(apps, '/logo/slow.png', 20);
    expect(responses.every((res) => res.status === 200)).toBe(true);
    expect(origin.hits.get('/slow.png')).toBe(1);
  });
});
