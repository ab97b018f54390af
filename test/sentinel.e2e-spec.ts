import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import request from 'supertest';
import { transparentPng } from './support/fixtures';
import { startSentinelGroup, type TestSentinelGroup } from './support/redis-sentinel';

let logo: Buffer;

@Controller()
class LogoController {
  @Get('logo.png')
  @ResizedImage({ width: 64, height: 64, format: 'png' })
  logo() {
    return { buffer: logo, cacheKey: 'logo_acme' };
  }
}

const VARIANT = 'sentinel_logo_acme_64_64_png';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Redis Sentinel', () => {
  let group: TestSentinelGroup;
  let app: INestApplication;

  beforeAll(async () => {
    logo = await transparentPng();
    group = await startSentinelGroup();
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({
          redis: { sentinels: [group.sentinel], name: group.name },
          keyPrefix: 'sentinel_',
        }),
      ],
      controllers: [LogoController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await group?.stop();
  });

  it('follows a failover at once: a purge made right after it removes the image on the new master', async () => {
    const server = app.getHttpServer();
    expect((await request(server).get('/logo.png')).headers['x-cache']).toBe('MISS');
    expect((await request(server).get('/logo.png')).headers['x-cache']).toBe('HIT');
    const { from, to } = await group.failover();
    expect(to).not.toBe(from);
    // The variant was replicated: the new master holds it too.
    expect(await group.node(to).exists(VARIANT)).toBe(1);

    // Right after the switch, as an upload endpoint would: a purge that the cache cannot take yet
    // fails with 503 (and is kept and retried); one that it takes goes to the new master.
    const images = app.get(ImageResizeService);
    await images.purge('logo_acme').catch((error: { getStatus?: () => number }) => {
      expect(error.getStatus?.()).toBe(503);
    });
    const deadline = Date.now() + 15_000;
    while ((await group.node(to).exists(VARIANT)) === 1 && Date.now() < deadline) await sleep(100);
    expect(await group.node(to).exists(VARIANT)).toBe(0);

    // Served again only once made again, from the new master.
    let status: string | undefined;
    while (Date.now() < deadline) {
      status = (await request(server).get('/logo.png')).headers['x-cache'];
      if (status !== 'BYPASS') break;
      await sleep(100);
    }
    expect(status).toBe('MISS');
    expect(await group.node(to).exists(VARIANT)).toBe(1);
  }, 60_000);
});
