import type { ServerResponse } from 'node:http';
import { Controller, Get, type INestApplication, Param } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ResizedImage } from 'nestjs-image-resize';
import request from 'supertest';
import { transparentPng } from './support/fixtures';
import { heavyPng } from './support/hostile-fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';
import { LOOPBACK_ORIGIN } from './support/test-app';

let heavy: Buffer;
let logo: Buffer;
let origin: TestOrigin;
let releaseSlowOrigin: () => void = () => undefined;

@Controller()
class WorkController {
  @Get('heavy/:n')
  @ResizedImage({ width: 64, height: 64 })
  heavy(@Param('n') n: string) {
    return { buffer: heavy, cacheKey: `heavy_${n}` };
  }

  @Get('slow')
  @ResizedImage({ width: 64, height: 64 })
  slow() {
    return { url: `${origin.url}/slow.png`, cacheKey: 'slow' };
  }

  @Get('quick')
  @ResizedImage({ width: 64, height: 64 })
  quick() {
    return { buffer: logo, cacheKey: 'quick' };
  }
}

describe('bounded work under load', () => {
  let app: INestApplication;
  beforeAll(async () => {
    heavy = await heavyPng(3000);
    logo = await transparentPng();
    origin = await startOrigin({
      '/slow.png': (_req: unknown, res: ServerResponse) => {
        releaseSlowOrigin = () => {
          releaseSlowOrigin = () => undefined;
          res.writeHead(200, { 'Content-Type': 'image/png' }).end(logo);
        };
      },
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({
          concurrency: 1,
          maxQueue: 1,
          maxSourceBytes: 50_000_000,
          sources: LOOPBACK_ORIGIN,
        }),
      ],
      controllers: [WorkController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });
  afterAll(async () => {
    releaseSlowOrigin();
    await app.close();
    await origin.close();
  });

  it('answers 503 with Retry-After past concurrency + maxQueue, and serves the rest', async () => {
    const responses = await Promise.all(
      [1, 2, 3, 4].map((n) => request(app.getHttpServer()).get(`/heavy/${n}`)),
    );
    const statuses = responses.map((res) => res.status).sort();
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(2);
    const refused = responses.filter((res) => res.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const res of refused) {
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.message).toBe('Too many images being resized, retry shortly');
    }
  });

  it('does not let a slow origin hold the only resize slot', async () => {
    const slow = request(app.getHttpServer())
      .get('/slow')
      .then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const quick = await request(app.getHttpServer()).get('/quick');
    expect(quick.status).toBe(200);
    releaseSlowOrigin();
    expect((await slow).status).toBe(200);
  });
});
