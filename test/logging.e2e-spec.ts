import { Controller, Get, type INestApplication, type LoggerService, Query } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ImageResizeModule, ImageResizeService, ResizedImage } from 'nestjs-image-resize';
import request from 'supertest';
import { transparentPng } from './support/fixtures';
import { startOrigin, type TestOrigin } from './support/origin-server';

/** Every line the app logs, at every level. */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  private record(level: string) {
    return (message: unknown, context?: unknown) =>
      this.lines.push({
        level,
        message: String(message),
        context: typeof context === 'string' ? context : undefined,
      });
  }
  log = this.record('log');
  error = this.record('error');
  warn = this.record('warn');
  debug = this.record('debug');
  verbose = this.record('verbose');
}

@Controller()
class LogoController {
  @Get('logo')
  @ResizedImage({ width: 32, height: 32 })
  logo(@Query('url') url: string, @Query('key') cacheKey: string) {
    return { url, cacheKey };
  }

  @Get('signed')
  @ResizedImage({ signed: true })
  signed() {
    return { url: 'http://127.0.0.1:1/never', cacheKey: 'signed_logo' };
  }
}

describe('logging', () => {
  let app: INestApplication;
  let origin: TestOrigin;
  const logger = new RecordingLogger();

  beforeAll(async () => {
    origin = await startOrigin({ '/logo.png': { contentType: 'image/png', body: await transparentPng() } });
    const moduleRef = await Test.createTestingModule({
      imports: [
        ImageResizeModule.forRoot({
          sources: { allowPrivateNetworks: ['127.0.0.1'] },
          signing: { keys: ['logging-test-key-0123456789-0123456789'] },
        }),
      ],
      controllers: [LogoController],
    }).compile();
    app = moduleRef.createNestApplication({ logger });
    await app.init();
  });
  afterAll(async () => {
    await app.close();
    await origin.close();
  });

  it('logs a miss at debug and a failure at warn with the cacheKey, never credentials or signatures', async () => {
    const withCredentials = origin.url.replace('http://', 'http://admin:s3cr3t-pass@');
    expect(
      (
        await request(app.getHttpServer())
          .get('/logo')
          .query({ url: `${withCredentials}/logo.png`, key: 'logo_acme' })
      ).status,
    ).toBe(200);
    expect(
      (
        await request(app.getHttpServer())
          .get('/logo')
          .query({ url: `${withCredentials}/missing.png`, key: 'logo_gone' })
      ).status,
    ).toBe(404);
    const forged = app.get(ImageResizeService).signUrl('/signed', { w: 10, h: 10 }).replace('w=10', 'w=11');
    expect((await request(app.getHttpServer()).get(forged)).status).toBe(403);

    const ours = () => logger.lines.filter((line) => line.context === 'ImageResize');
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        message: expect.stringMatching(/^MISS image_resize_logo_acme_32_32_png/),
      }),
    );
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'Could not serve image logo_gone: 404 Image source not found',
      }),
    );
    // A valid signature for a size past the limit: refused before the handler, and still counted.
    const tooWide = app.get(ImageResizeService).signUrl('/signed', { w: 5000, h: 10 });
    expect((await request(app.getHttpServer()).get(tooWide)).status).toBe(400);
    expect(ours()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(/^Could not serve image \(key from the source\): 400 width must be/),
      }),
    );
    const everything = JSON.stringify(logger.lines);
    expect(everything).not.toContain('s3cr3t-pass');
    expect(everything).not.toContain('admin:');
    expect(everything).not.toContain(new URL(forged, 'http://x').searchParams.get('sig'));
  });
});
