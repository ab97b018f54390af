import { Controller, Get, type INestApplication, Module, Res } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { Response } from 'express';
import { ImageResizeModule, ImageResizeService } from 'nestjs-image-resize';
import { ImageResizePrometheusExporter } from 'nestjs-image-resize/prometheus';
import { ImageResizeHealthIndicator } from 'nestjs-image-resize/terminus';
import sharp from 'sharp';
import request from 'supertest';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { startPrivateRedis, type PrivateRedis } from './support/redis-server';
import { LOOPBACK_ORIGIN, ORIGIN_URL, TestImagesController } from './support/test-app';
import { until } from './support/until';

/**
 * The probes of a Redis-backed instance: liveness and readiness stay up through a Redis outage (the
 * images are still served) and under load; readiness says the cache is down, and can be made to fail
 * on it; it fails as soon as shutdown begins. The Prometheus gauges follow the cache.
 */

@Controller()
class ProbesController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly images: ImageResizeHealthIndicator,
    private readonly exporter: ImageResizePrometheusExporter,
  ) {}

  @Get('health/live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.images.isLive('images')]);
  }

  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.images.isReady('images')]);
  }

  @Get('health/ready-with-cache')
  @HealthCheck()
  readyWithCache() {
    return this.health.check([() => this.images.isReady('images', { requireCache: true })]);
  }

  @Get('metrics')
  async metrics(@Res() res: Response) {
    res.type(this.exporter.contentType).send(await this.exporter.metrics());
  }
}

let origin: TestOrigin;
let redis: PrivateRedis;
let app: INestApplication;
let closed = false;
/** Requests for `/slow.png` wait for this to be called. */
let releaseSlow: () => void = () => undefined;
let slowGate = Promise.resolve();

beforeAll(async () => {
  const logo = await sharp({ create: { width: 80, height: 40, channels: 3, background: '#2563eb' } })
    .png()
    .toBuffer();
  origin = await startOrigin({
    '/logo.png': { contentType: 'image/png', body: logo },
    '/slow.png': (_req, res) => {
      void slowGate.then(() => res.writeHead(200, { 'Content-Type': 'image/png' }).end(logo));
    },
  });
  for (let i = 0; i < 12; i++) origin.routes.set(`/busy-${i}.png`, origin.routes.get('/slow.png')!);
  redis = await startPrivateRedis();
  @Module({
    imports: [
      TerminusModule,
      ImageResizeModule.forRoot({ redis: redis.url, sources: LOOPBACK_ORIGIN, keyPrefix: 'ready_' }),
    ],
    controllers: [TestImagesController, ProbesController],
    providers: [
      { provide: ORIGIN_URL, useValue: origin.url },
      ImageResizeHealthIndicator,
      ImageResizePrometheusExporter,
    ],
  })
  class ProbedAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [ProbedAppModule] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
});

afterAll(async () => {
  releaseSlow();
  if (!closed) await app?.close();
  await redis?.stop();
  await origin?.close();
});

const http = () => request(app.getHttpServer());
const holdSlowOrigin = () => {
  slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
};
const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('probes and gauges of an instance on Redis', () => {
  it('stay ready through a Redis outage, say the cache is down, and follow it back', async () => {
    expect((await http().get('/logo/logo.png')).headers['x-cache']).toBe('MISS');
    const before = await http().get('/health/ready');
    expect(before.status).toBe(200);
    expect(before.body.info.images).toMatchObject({ status: 'up', cache: 'up', hotTier: 'active' });
    await until(
      'the hot tier is active',
      async () => gauge((await http().get('/metrics')).text, 'image_resize_hot_tier_active') === 1,
    );
    const up = (await http().get('/metrics')).text;
    expect([gauge(up, 'image_resize_cache_up'), gauge(up, 'image_resize_cache_breaker_open')]).toEqual([
      1, 0,
    ]);
    expect(up).toMatch(/^image_resize_origin_fetches_total\{source="url",outcome="loaded"\} 1$/m);

    await redis.kill();
    // Known once the client has tried to reconnect and been refused.
    await until(
      'the problem is known',
      async () => (await app.get(ImageResizeService).health()).cacheProblem !== undefined,
    );
    const ready = await http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.images).toMatchObject({ status: 'up', cache: 'down', hotTier: 'off' });
    expect(ready.body.info.images.cacheProblem).toMatch(/^network: /);
    expect((await http().get('/health/live')).status).toBe(200);
    const strict = await http().get('/health/ready-with-cache');
    expect([strict.status, strict.body.error?.images?.cache]).toEqual([503, 'down']);
    const down = (await http().get('/metrics')).text;
    expect([gauge(down, 'image_resize_cache_up'), gauge(down, 'image_resize_hot_tier_active')]).toEqual([
      0, 0,
    ]);
    // Still served, without the cache.
    const served = await http().get('/logo/logo.png');
    expect(served.status).toBe(200);

    await redis.restart();
    await until('the cache is up again', async () => {
      const text = (await http().get('/metrics')).text;
      return gauge(text, 'image_resize_cache_up') === 1 && gauge(text, 'image_resize_hot_tier_active') === 1;
    });
    const back = await http().get('/health/ready-with-cache');
    expect([back.status, back.body.info.images.cache]).toEqual([200, 'up']);
    expect(back.body.info.images.cacheProblem).toBeUndefined();
  });

  it('stay ready with many misses in flight, and report them', async () => {
    holdSlowOrigin();
    const misses = Array.from({ length: 12 }, (_, i) =>
      http()
        .get(`/logo/busy-${i}.png`)
        .then((res) => res.status),
    );
    await until(
      'the misses are in flight',
      async () => (await app.get(ImageResizeService).health()).inFlight === 12,
    );
    const ready = await http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.images).toMatchObject({ status: 'up', inFlight: 12 });
    releaseSlow();
    expect(await Promise.all(misses)).toEqual(Array(12).fill(200));
  });

  it('turn not-ready as soon as shutdown begins, while the misses under way finish', async () => {
    holdSlowOrigin();
    const miss = http().get('/logo/slow.png');
    const status = miss.then((res) => res.status);
    await until(
      'the miss is in flight',
      async () => (await app.get(ImageResizeService).health()).inFlight === 1,
    );
    closed = true;
    const closing = app.close();
    await until('shutdown has begun', async () => (await app.get(ImageResizeService).health()).stopping);
    const service = app.get(ImageResizeService);
    expect(await service.health()).toMatchObject({ ready: false, stopping: true, inFlight: 1 });
    const probe = await http().get('/health/ready');
    expect([probe.status, probe.body.error?.images?.stopping]).toEqual([503, true]);
    releaseSlow();
    expect(await status).toBe(200);
    await closing;
  });
});
