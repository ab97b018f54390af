import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  findImageResizeModule,
  ImageResizeRecorder,
  ImageResizeTestingModule,
} from 'nestjs-image-resize/testing';
import sharp from 'sharp';
import request from 'supertest';
import { AppModule } from '../src/app.module';

describe('asset logos (e2e)', () => {
  let app: INestApplication;
  let recorder: ImageResizeRecorder;

  beforeAll(async () => {
    // A 600x300 PNG standing in for the original of the aurora logo.
    const logo = await sharp({ create: { width: 600, height: 300, channels: 4, background: '#1d4ed8' } })
      .png()
      .toBuffer();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(findImageResizeModule(AppModule))
      .useModule(
        ImageResizeTestingModule.forRoot({
          // The app points at http://127.0.0.1:<its port>/originals/<file>: answer by path.
          fixtures: (url) => (url.pathname === '/originals/aurora.png' ? logo : undefined),
          // As in the app's own registration: its originals are on loopback.
          sources: { allowPrivateNetworks: ['127.0.0.1'] },
        }),
      )
      .compile();
    app = moduleRef.createNestApplication();
    await app.init();
    recorder = app.get(ImageResizeRecorder);
  });

  afterAll(() => app.close());

  it('resizes the logo once, then serves it from the cache', async () => {
    const first = await request(app.getHttpServer()).get('/assets/aurora/logo_small.png');
    expect(first.status).toBe(200);
    expect(first.headers['x-cache']).toBe('MISS');
    const { width, height } = await sharp(first.body as Buffer).metadata();
    expect([width, height]).toEqual([256, 128]);

    const second = await request(app.getHttpServer()).get('/assets/aurora/logo_small.png');
    expect(second.headers['x-cache']).toBe('HIT');
    expect(recorder.resizes).toEqual([
      expect.objectContaining({ cacheKey: 'logo_aurora', width: 256, height: 256, format: 'png' }),
    ]);
  });

  it('answers 404 when the origin has no such original', async () => {
    // No fixture for basalt's logo: the origin "answers" 404.
    await request(app.getHttpServer()).get('/assets/basalt/logo_small.png').expect(404);
  });
});
